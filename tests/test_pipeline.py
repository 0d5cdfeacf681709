"""Ticks in flight give lockstep's results (simulator/runner.py Simulation._pipeline).

A plain run keeps up to `depth` T frames in flight, each computed on the outputs the
simulator last saw and naming them; the firmware drops those that assumed other outputs
(firmware/hal/host.py) and the simulator undoes the world and computes again. Each
scenario here runs twice, pipelined and in plain lockstep (ahead=False), and everything a
run observes must be the same: reports, trace, visibility, boots, crashes and the score.
The scenarios switch and dim the lamp, lose the mains (ridden through and cut), crash,
reset and die silently, and read the ADC and CSE7766 front ends; each must have undone at
least one tick computed ahead, so the redo path is what is compared.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from simulator.link import EPOCH2000
from simulator.runner import Simulation
from simulator.scenario import load

from firmware_prelude import boot_with

CORPUS = Path(__file__).resolve().parent / "scenarios"
WALL = ("heap_free", "uptime_ms")  # the interpreter's heap and clock, not the simulation's


def observed(res) -> dict:
    """Everything a run returns that lockstep fixes."""
    return {"ticks": res.ticks, "boots": res.boots, "crashes": res.crashes,
            "reports": [{k: v for k, v in r.items() if k not in WALL} for r in res.reports],
            "garbage": res.garbage, "trace": res.trace, "observable": res.observable,
            "faults": [f.to_dict() for f in res.faults], "false_alarms": res.false_alarms,
            "wrong_switching": res.wrong_switching, "expectations": res.expectations}


def both(tmp_path: Path, name: str, duration: int | None = None, sensor: str | None = None,
         depth: int = 16) -> tuple[dict, dict, int]:
    """(lockstep's observations, the pipeline's, the ticks the pipeline computed again)."""
    got, undone = [], []
    for ahead in (False, True):
        sc = load(CORPUS / name)
        if duration:
            sc.duration = duration
        if sensor:
            sc.post.sensor = sensor
        sim = Simulation(sc, flash_dir=tmp_path / f"flash-{ahead}", ahead=ahead, depth=depth)
        assert sim.pipelined is ahead
        undo = sim._undo
        sim._undo = lambda t, used: (undone.append(t), undo(t, used))
        try:
            got.append(observed(sim.run()))
        finally:
            sim.close()
    return got[0], got[1], len(undone)


def same(plain: dict, piped: dict) -> None:
    for key in plain:
        assert piped[key] == plain[key], key


def test_dimming_and_switching_as_in_lockstep(tmp_path):
    """22:00 to 07:00: the lamp dims to 50 % and back, a stuck dimmer raises and clears."""
    plain, piped, undone = both(tmp_path, "corpus_led_dimming_stuck_dimmed.toml")
    assert [r["dim"] for r in plain["reports"] if r.get("ev") == "switch"] == [100, 50, 100]
    assert plain["faults"][0]["detected"]
    same(plain, piped)
    assert undone >= 2  # each dim change voided ticks in flight


def test_mains_loss_ridden_through_and_cut_as_in_lockstep(tmp_path):
    """Dusk, a 1 s blip with a last gasp, then 10 min without mains: a power cut and a boot."""
    plain, piped, undone = both(tmp_path, "corpus_led_mains_loss_reblip.toml")
    gasps = [r for r in plain["reports"] if r.get("ev") == "alarm" and r.get("Voltage") == 0.0]
    assert plain["boots"] == 2 and len(gasps) == 2  # sent on the capacitor, both times
    same(plain, piped)
    assert undone


@pytest.mark.parametrize("sensor", ["adc", "cse7766"])
def test_front_ends_as_in_lockstep(tmp_path, sensor):
    """The ADC window and the CSE7766 stream (its draws depend on the truth) through dusk."""
    plain, piped, undone = both(tmp_path, "corpus_led_lamp_dead_night.toml", 3600 + 1800, sensor)
    assert any(r.get("lamp") == "on" for r in plain["reports"] if r.get("ev") == "switch")
    same(plain, piped)
    assert undone


def test_crashes_resets_and_silent_deaths_as_in_lockstep(tmp_path, monkeypatch):
    """The firmware raises (X 1), asks for a reset (X 0) in the tick it switches the lamp
    on, and dies without a word (the board's watchdog): each tick counted, each boot and
    crash recorded, the ticks in flight to the dead process computed again."""
    sc = load(CORPUS / "corpus_led_lamp_dead_night.toml")
    switch = sc.start + 3345 - EPOCH2000  # 15:55:45, the switch at dusk (lockstep's reports say)
    boot_with(monkeypatch, tmp_path, (
        "import sys\n"
        "from hal import host\n"
        "_read = host.Hal.uart_read\n"
        "def uart_read(self):\n"
        f"    if self.now == {sc.start + 600 - EPOCH2000}:\n"
        "        raise ValueError('injected')\n"
        f"    if self.now == {switch}:\n"
        "        self.reset(0)\n"
        f"    if self.now == {switch + 20}:\n"
        "        sys.exit(3)\n"
        "    return _read(self)\n"
        "host.Hal.uart_read = uart_read\n"))
    plain, piped, undone = both(tmp_path, "corpus_led_lamp_dead_night.toml", 3600 + 600)
    assert plain["boots"] == 4 and len(plain["crashes"]) == 2  # X 0 is no crash
    assert "injected" in plain["crashes"][0]
    assert [r["restart"] for r in plain["reports"] if r.get("ev") == "boot"] == \
        ["power-on", "software", "software", "watchdog"]
    same(plain, piped)
    assert undone >= 3
