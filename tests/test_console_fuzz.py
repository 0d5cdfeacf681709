"""Fuzzing the real firmware's console with arbitrary byte lines while a fault develops.

The console must answer every probe after any garbage, never crash or reboot,
never change a setting, and the detection loop must keep running: a lamp
that dies during the fuzzing is still reported.
"""
from __future__ import annotations

from hypothesis import HealthCheck, given, settings, strategies as st

from console_sim import running, scenario_text
from host_tools.lampctl import serial_link as sl

garbage = st.one_of(
    st.binary(max_size=400),
    st.lists(st.sampled_from([b"Config", b"config id", b"Relay on", b"Dim 300", b"Log -5",
                              b"Calibrate voltage 1e9", b"Login", b"\xff\xfe", b"\x00", b" ",
                              b"Status nope", b"Log 99999999999999999999", b"\r", b"\n"]),
             max_size=8).map(b"".join),
)


def test_console_survives_garbage_and_detection_goes_on(tmp_path):
    # speed 500: the ~1 s of fuzzing spans several hundred virtual seconds; the lamp dies at +60 s
    text = scenario_text(("lamp_dead", "2026-01-15T18:01:00Z"))
    with running(tmp_path, text, 500.0) as sim:
        with sl.Device(sim.serial_path, timeout=5) as dev:
            before = dev.request("Status", "config")
            t_start = dev.request("Status", "fw")["fw"]["time"]

            @settings(max_examples=150, deadline=None, database=None,
                      suppress_health_check=list(HealthCheck))
            @given(garbage)
            def fuzz(line):
                dev.send_raw(line + b"\n")
                assert "alarms" in dev.request("\nAlarms")["cmd"]

            fuzz()
            after = dev.request("Status", "config")
            fw = dev.request("Status", "fw")["fw"]
            alarms = [e for e in dev.events if e.get("ev") == "alarm"]
    assert after["config"] == before["config"]
    assert fw["boots"] == 1 and fw["login"] == "no"
    assert alarms, dev.events
    assert alarms[0]["alarm"] == "lampFailure" and alarms[0]["state"] == "raised"
    assert t_start < alarms[0]["t"] < fw["time"]  # raised while the fuzzing went on
