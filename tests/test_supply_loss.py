"""supplyLoss through the real firmware on MicroPython: with a last gasp, after the fact, never twice.

A board whose hold-up is too short for a last gasp (`[post] holdup_s = 0`) learns
of the outage only at its next power-on boot: the previous run left "run": 1 in
state.json (no last gasp, no Reboot), so it raises supplyLoss then, counts it and
clears it 2 s later. A Reboot or a crash reset is no supply loss.
"""
from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
import serial

from simulator import board
from simulator.runner import Simulation
from simulator.scenario import loads, parse_time

SC = (Path(__file__).resolve().parent / "scenarios" / "mains_loss_led_night.toml").read_text() \
    .replace('"2h"', '"1h"')
AT, UNTIL = parse_time("2026-01-15T21:30:00Z"), parse_time("2026-01-15T21:40:00Z")
NO_LOSS = SC[:SC.index("[[fault]]")]  # the same night without the outage


def _run(text, tmp_path, on_tick=None, broker=None):
    sim = Simulation(loads(text, "sc.toml"), flash_dir=tmp_path / "flash", on_tick=on_tick,
                     broker=broker)
    try:
        res = sim.run()
    finally:
        sim.close()
    state = json.loads((tmp_path / "flash" / "state.json").read_text())
    return sim, res, state


def _loss(res):
    return [r for r in res.alarms() if r["alarm"] == "supplyLoss"]


def test_no_hold_up_reports_the_loss_after_the_fact_once(tmp_path):
    _, res, state = _run(SC.replace("holdup_s = 2", "holdup_s = 0"), tmp_path)
    loss = _loss(res)
    assert [r["state"] for r in loss] == ["raised", "cleared"], (res.alarms(), res.crashes)
    up, down = loss
    assert res.boots == 2 and not res.crashes
    # raised at the first tick after the power-on boot, saying what is known of the outage
    assert parse_time(up["t"]) == UNTIL + 1 and up["until"] == up["t"]
    assert up["lastGasp"] is False and parse_time(up["since"]) <= AT  # began after "since"
    assert up["supplyLossCount"] == up["count"] == 1 and down["supplyLossCount"] == 1
    assert parse_time(down["t"]) == UNTIL + 3  # the mains back 2 s: cleared
    assert state["alarm_counts"]["supplyLoss"] == 1 and "supplyLoss" not in state["alarms_active"]
    # the scorer counts it, honestly late: the outage plus the boot
    (f,) = res.faults
    assert f.detected and f.latency_s == UNTIL + 1 - AT and f.cleared_at == UNTIL + 3
    assert res.false_alarms == []


@pytest.mark.parametrize("holdup", ["1", "2"])
def test_a_last_gasp_is_not_reported_again_at_the_next_boot(tmp_path, holdup):
    _, res, state = _run(SC.replace("holdup_s = 2", f"holdup_s = {holdup}"), tmp_path)
    loss = _loss(res)
    assert [r["state"] for r in loss] == ["raised", "cleared"], res.alarms()
    assert parse_time(loss[0]["t"]) == AT and "lastGasp" not in loss[0]  # the last gasp itself
    assert loss[1]["supplyLossCount"] == 1 and state["alarm_counts"]["supplyLoss"] == 1
    (f,) = res.faults
    assert f.detected and f.latency_s == 0 and res.false_alarms == []


def test_a_reboot_command_is_no_supply_loss(tmp_path):
    port = {}
    start = parse_time("2026-01-15T21:00:00Z")

    def on_tick(t):  # a technician on the console: log in, then Reboot
        if t == start + 60:
            port["p"].write(b"Login 0000\n")
        elif t == start + 62:
            port["p"].write(b"Reboot\n")

    sim = Simulation(loads(NO_LOSS, "sc.toml"), flash_dir=tmp_path / "flash", on_tick=on_tick)
    try:
        port["p"] = serial.Serial(sim.serial_path, 115200, timeout=0)
        res = sim.run()
        port["p"].close()
    finally:
        sim.close()
    boots = [r["restart"] for r in res.reports if r.get("ev") == "boot"]
    assert boots == ["power-on", "command"] and not res.crashes
    assert _loss(res) == [] and res.alarms() == []


def test_a_crash_reset_is_no_supply_loss(tmp_path, monkeypatch):
    procs = []

    class Recorded(board.FirmwareProcess):
        def __init__(self, *a, **kw):
            super().__init__(*a, **kw)
            procs.append(self)

    monkeypatch.setattr(board, "FirmwareProcess", Recorded)
    start = parse_time("2026-01-15T21:00:00Z")

    def on_tick(t):  # the firmware dies mid-run (a panic or a hang): the board resets
        if t == start + 60:
            procs[-1].proc.kill()

    _, res, state = _run(NO_LOSS, tmp_path, on_tick)
    boots = [r["restart"] for r in res.reports if r.get("ev") == "boot"]
    assert boots == ["power-on", "watchdog"] and len(res.crashes) == 1
    assert _loss(res) == [] and res.alarms() == []
    assert state.get("alarm_counts", {}).get("supplyLoss", 0) == 0


def test_the_late_supply_loss_reaches_the_collector_over_mqtt(tmp_path):
    from host_tools.collector.listen import Listener
    from host_tools.collector.store import Register
    from simulator.broker import Broker, kind_from_env

    b = Broker(kind_from_env())
    reg = Register()
    lis = Listener(reg, b.host, b.port, client_id=f"collector-{threading.get_ident()}-{id(reg)}")
    try:
        assert lis.wait_ready()
        _, res, _ = _run(SC.replace("holdup_s = 2", "holdup_s = 0"), tmp_path, broker=b.addr)
        serial_loss = [(r["state"], r["t"]) for r in _loss(res)]
        got = lambda: [(a["state"], a["t"]) for a in reg.events("T-LOSS-1")  # noqa: E731
                       if a["alarm"] == "supplyLoss"]
        import time
        end = time.monotonic() + 60  # a safety net: the collector has them in milliseconds
        while time.monotonic() < end and got() != serial_loss:
            time.sleep(0.05)
        assert got() == serial_loss and len(serial_loss) == 2
    finally:
        lis.close()
        reg.close()
        b.close()
