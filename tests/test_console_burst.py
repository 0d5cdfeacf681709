"""A burst of console lines in one write, against the real firmware through the simulator's pty.

Before: `b"Status\\n" * 10` hung the run for ever (the firmware blocked writing
its UART, the simulator blocked waiting for the next link frame). Now the
simulator drains the UART while it waits, the firmware's UART writes are
bounded, and a line that arrives once a tick's UART budget is spent is answered
`busy`: every line gets its reply or `busy`, in order, and time goes on.
"""
from __future__ import annotations

import os
import time

import pytest
import serial
from hypothesis import HealthCheck, given, settings, strategies as st

from console_sim import running, scenario_text

WALL_S = 120.0  # a guard for a hang only: the replies come within a few ticks


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    with running(tmp_path_factory.mktemp("burst"), scenario_text(), None) as s:
        with serial.Serial(s.serial_path, 115200, timeout=0) as port:
            s.port = port
            yield s


def _name(line: bytes) -> str:
    return line.decode().strip().partition(" ")[0].lower()[:32]


def _burst(sim, lines: list[bytes]) -> list[dict]:
    """Write lines in ONE write; the replies (dicts with "cmd") the firmware wrote, in order."""
    want = [_name(x) for x in lines if x.strip()]
    start = len(sim.results.reports)
    sim.port.write(b"".join(x + b"\n" for x in lines))
    deadline = time.monotonic() + WALL_S
    while True:
        sim.port.read(65536)  # a person's terminal keeps reading
        got = [r for r in sim.results.reports[start:] if "cmd" in r]
        if len(got) >= len(want):
            break
        assert time.monotonic() < deadline, f"only {len(got)} of {len(want)} replies: the run stalled"
        time.sleep(0.01)
    assert [r["cmd"] for r in got] == want  # one reply per line, in order, nothing lost
    ticks = sim.results.ticks
    while sim.results.ticks < ticks + 5:  # virtual time goes on after the burst
        assert time.monotonic() < deadline, "virtual time stopped after the burst"
        sim.port.read(65536)
        time.sleep(0.01)
    return got


@pytest.mark.parametrize("n", [10, 50, 500])
def test_a_burst_of_status_lines_is_answered_or_refused_busy_never_a_stall(sim, n):
    got = _burst(sim, [b"Status"] * n)
    done = [r for r in got if r.get("error") != "busy"]
    assert done and all("fw" in r for r in done)  # the first ones ran: full Status replies
    assert all(set(r) == {"cmd", "error"} for r in got if r.get("error") == "busy")


def test_lines_after_a_burst_run_normally(sim):
    _burst(sim, [b"Status"] * 50)
    r = _burst(sim, [b"Alarms"])[0]
    assert r["active"] == [] and "error" not in r


_word = st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=20)
_line = st.one_of(
    st.sampled_from(["Status", "status fw", "Status mem", "Help", "Alarms", "Readings", "Log 5",
                     "Log", "Frobnicate", "Config dim_level", "Relay"]),
    st.tuples(_word, st.text(alphabet=" abc123", max_size=20)).map(" ".join),
).map(str.encode)


@settings(max_examples=15, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(st.lists(_line, min_size=1, max_size=300))
def test_any_burst_gets_one_reply_or_busy_per_line_in_order(sim, lines):
    got = _burst(sim, lines)
    for r in got:  # each is a command's own answer or its error, or `busy`: never a garbled line
        assert isinstance(r["cmd"], str) and not str(r.get("error", "")).startswith("internal")


def test_a_uart_nobody_drains_never_stops_the_firmware(tmp_path):
    """The line's other end stops reading (a stuck adapter): the firmware keeps ticking, its
    UART writes give up after a bounded wait, and it answers again once the line drains."""
    import threading

    from host_tools.lampctl import serial_link as sl
    from simulator.runner import Simulation
    from simulator.scenario import load

    path = tmp_path / "sc.toml"
    path.write_text(scenario_text())
    s = Simulation(load(str(path)), flash_dir=tmp_path / "flash", hold=True)
    pump, fds = s.bridge.pump, s.bridge.fds
    s.bridge.pump = lambda: []  # nobody reads what the firmware writes
    s.bridge.fds = lambda: ([], [])
    box: dict = {}
    th = threading.Thread(target=lambda: box.setdefault("res", s.run()), daemon=True)
    th.start()
    try:
        assert s.ready.wait(30)
        os.write(s.bridge.fw_master, b"Status\n" * 600)  # ~40 KB of replies: the pty holds ~18
        t0 = s.results.ticks
        deadline = time.monotonic() + WALL_S
        while s.results.ticks < t0 + 300:
            assert time.monotonic() < deadline and th.is_alive(), "the firmware blocked on its UART"
            time.sleep(0.05)
        s.bridge.pump, s.bridge.fds = pump, fds  # the line drains again
        with sl.Device(s.serial_path, timeout=10) as dev:
            assert "fw" in dev.request("Status", "fw")
    finally:
        s.stop()
        th.join(timeout=20)
        s.close()
    assert box.get("res") is not None and not box["res"].crashes
