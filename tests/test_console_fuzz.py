"""Fuzzing the real firmware's console with arbitrary byte lines while a fault develops.

The console must answer every probe after any garbage, never crash or reboot,
never change a setting, and the detection loop must keep running: a dead
lamp, made visible by switching it on during the fuzzing, is
reported while the garbage flows: the lamp is switched on after 20 of the
150 examples, so this holds however loaded the machine is.
"""
from __future__ import annotations

import time

from hypothesis import HealthCheck, example, given, settings, strategies as st

from console_sim import running, scenario_text
from host_tools.lampctl import serial_link as sl

garbage = st.one_of(
    st.binary(max_size=400),
    st.lists(st.sampled_from([b"Config", b"config id", b"Relay off", b"Dim 300", b"Log -5",
                              b"Calibrate voltage 1e9", b"Login", b"Login 1", b"\xff\xfe",
                              b"\x00", b" ", b"Status nope", b"Log 99999999999999999999",
                              b"Config dim_level 10", b"\r", b"\n"]),
             max_size=8).map(b"".join),
)


def _login(dev, wall_s=60.0):
    """Log in with the right PIN, waiting out a lockout that the fuzzed wrong PINs earned.

    A lockout is correct behaviour (at most an hour of virtual time, seconds of
    wall time at the run's speed), so the test waits for it instead of failing.
    """
    deadline = time.monotonic() + wall_s
    while True:
        r = dev.request("Login", "0000")
        if "error" not in r:
            return r
        assert "locked out" in r["error"] and time.monotonic() < deadline, r
        time.sleep(0.05)


def test_console_survives_garbage_and_detection_goes_on(tmp_path):
    # by day, with the lamp dead from the start: invisible until the lamp is switched on
    text = scenario_text(("lamp_dead", "2026-01-15T10:00:00Z"), start="2026-01-15T10:00:00Z")
    with running(tmp_path, text, 500.0) as sim:
        with sl.Device(sim.serial_path, timeout=5) as dev:
            assert "error" not in dev.request("Login", "0000")
            assert "error" not in dev.request("Config", "override_s 86400")
            dev.request("Logout")
            before = dev.request("Status", "config")
            seen = {"n": 0}

            @settings(max_examples=150, deadline=None, database=None,
                      suppress_health_check=list(HealthCheck))
            @given(garbage)
            @example(b"Login 1\nLogin 1\nLogin 1\nLogin 1\nLogin 1")  # earns a lockout before the switch-on
            def fuzz(line):
                seen["n"] += 1
                if seen["n"] == 20:  # mid-fuzz: switch the dead lamp on, then keep fuzzing
                    seen["t_on"] = dev.request("Status", "fw")["fw"]["time"]
                    assert dev.request("Alarms")["active"] == []  # invisible while off
                    _login(dev)
                    assert dev.request("Relay", "on")["lamp"] == "on"
                    dev.request("Logout")
                dev.send_raw(line + b"\n")
                assert dev.request("\nAlarms")["cmd"] == "alarms"

            fuzz()
            after = dev.request("Status", "config")
            fw = dev.request("Status", "fw")["fw"]
            alarms = [e for e in dev.events if e.get("ev") == "alarm"]
    assert seen["n"] > 100
    assert after["config"] == before["config"]  # a wrong "Login 1" never let anything through
    assert fw["boots"] == 1 and fw["login"] == "no"
    assert alarms, dev.events
    assert alarms[0]["alarm"] == "lampFailure" and alarms[0]["state"] == "raised"
    assert seen["t_on"] <= alarms[0]["t"] < fw["time"]  # raised while the fuzzing went on
