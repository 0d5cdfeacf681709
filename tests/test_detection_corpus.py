"""A fast subset of the detection corpus through the real firmware on MicroPython (the full
corpus runs in `make bench`), the scorer's verdicts, and the threshold baseline."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from simulator import baseline, corpus
from simulator.scenario import loads
from simulator.score import score

SCEN = Path(__file__).resolve().parent / "scenarios"
SUBSET = ["corpus_led_lamp_dead_dimmed", "corpus_led_driver_fault_high_dimmed",
          "corpus_hps_capacitor_failed_dimmed", "corpus_hps_supply_sag_dimmed",
          "corpus_led_overheat_dimmed"]


@pytest.mark.parametrize("name", SUBSET)
def test_corpus_scenario_is_detected_without_false_alarms(name):
    r = corpus.run_one(str(SCEN / f"{name}.toml"))
    ours = r["ours"]
    assert ours["crashes"] == 0
    assert [f["kind"] for f in ours["faults"] if not f["detected"]] == []
    assert ours["false_alarms"] == []


def test_mains_loss_sends_last_gasp_and_clears_after_reboot(tmp_path):
    from simulator.runner import Simulation
    from simulator.scenario import load
    sim = Simulation(load(SCEN / "mains_loss_led_night.toml"), flash_dir=tmp_path)
    try:
        res = sim.run()
    finally:
        sim.close()
    loss = [r for r in res.alarms() if r["alarm"] == "supplyLoss"]
    assert [r["state"] for r in loss] == ["raised", "cleared"]
    assert loss[0]["t"] == "2026-01-15T21:30:00Z"  # sent during the hold-up: the last gasp
    assert res.boots == 2, (res.crashes, res.alarms(), res.garbage)
    assert loss[1]["supplyLossCount"] == 1
    state = json.loads((tmp_path / "state.json").read_text())
    assert state["alarm_counts"]["supplyLoss"] == 1 and "supplyLoss" not in state["alarms_active"]


MISSED = """
[post]
lamp = "led"
[run]
start = "2026-01-15T09:00:00Z"
duration = "3h"
[[fault]]
kind = "lamp_dead"
at = "2026-01-15T10:00:00Z"
until = "2026-01-15T11:00:00Z"
"""


def test_score_strict_fails_on_a_miss_and_passes_a_clean_run(tmp_path):
    # a lamp that dies and is repaired by day, while switched off, cannot be seen: a miss
    p = tmp_path / "missed.toml"
    p.write_text(MISSED)
    cmd = [sys.executable, "-m", "simulator.cli", "score", "--strict", "--json"]
    bad = subprocess.run(cmd + [str(p)], capture_output=True, text=True, timeout=120)
    assert bad.returncode == 1, bad.stderr
    assert json.loads(bad.stdout)["missed"] == [[str(p), "lamp_dead"]]
    good = subprocess.run(cmd + [str(SCEN / "mains_loss_led_night.toml")], capture_output=True,
                          text=True, timeout=120)
    assert good.returncode == 0, good.stdout + good.stderr


def test_score_reports_a_bad_scenario_without_traceback(tmp_path):
    p = tmp_path / "bad.toml"
    p.write_text(MISSED.replace("lamp_dead", "lamp_deda"))
    r = subprocess.run([sys.executable, "-m", "simulator.cli", "score", str(p)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "lamp_deda" in r.stderr and "Traceback" not in r.stderr


def test_unexplained_and_wrong_alarms_are_false_alarms():
    sc = loads(MISSED)
    t = sc.faults[0].at
    alarms = [{"alarm": "lampFailure", "state": "raised", "time": t + 5},
              {"alarm": "lampPowerTooHigh", "state": "raised", "time": t + 6},  # wrong alarm
              {"alarm": "lampFailure", "state": "raised", "time": sc.faults[0].until + 60}]  # after repair
    faults, false = score(sc.faults, {0: t}, alarms, sc.end)
    assert faults[0].detected and faults[0].latency_s == 5
    assert [a["time"] for a in false] == [t + 6, sc.faults[0].until + 60]


def test_baseline_holds_ten_seconds_and_ignores_the_switched_off_lamp():
    trace = [(t, 1, 100, 230.0, 0.0, 10.0, 0.9, 25.0, 1) for t in range(0, 30)]
    trace += [(t, 0, 100, 230.0, 0.0, 0.0, 0.0, 25.0, 1) for t in range(30, 60)]
    a = baseline.run(trace, 60.0)
    assert [(x["alarm"], x["state"], x["time"]) for x in a] == [("PowerLow", "raised", 10)]


def test_score_rejects_paths_it_cannot_score(tmp_path):
    (tmp_path / "results.json").write_text("{")
    (tmp_path / "notes.txt").write_text("x")
    for p, why in ((tmp_path / "results.json", "not a results file"), (tmp_path / "notes.txt", "not a scenario"),
                   (tmp_path / "empty", "no scenarios")):
        if p.name == "empty":
            p.mkdir()
        r = subprocess.run([sys.executable, "-m", "simulator.cli", "score", str(p)],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 2 and why in r.stderr and "Traceback" not in r.stderr, r.stderr
