"""A fast subset of the detection corpus through the real firmware on MicroPython (the full
corpus runs in `make bench`), the scorer's verdicts, and the threshold baseline."""
from __future__ import annotations

import datetime as dt
import functools
import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from simulator import baseline, corpus
from simulator.scenario import CAUSES, LAMPS, loads
from simulator.score import score

SCEN = Path(__file__).resolve().parent / "scenarios"


CLEAN = "clean"  # the stratum of scenarios with no fault to detect ([expect] not_raised, corners)


@functools.cache  # parsed once per session: the sampler asks for it per seed
def _corpus() -> dict[tuple[str, str], list[str]]:
    """(cause, lamp) -> the corpus scenarios of that pair. The lamp is the scenario's own; the
    cause is the one its name says (corpus_<lamp>_<cause>_<variant>.toml, tests/scenarios/
    generate.py) and one of its faults, or CLEAN when none of its faults is a detection cause
    (fault-free corners such as corpus_hps_dimmed_notraised: nothing may be raised)."""
    out: dict[tuple[str, str], list[str]] = {}
    for p in sorted(SCEN.glob("corpus_*.toml")):
        sc = loads(p.read_text(), str(p))
        lamp, rest = p.stem[len("corpus_"):].split("_", 1)
        assert lamp == sc.post.lamp and lamp in LAMPS, p.name
        kinds = {f.kind for f in sc.faults} & set(CAUSES)
        cause = rest.rsplit("_", 1)[0]
        if not kinds:
            cause = CLEAN
        assert cause == CLEAN or cause in kinds, f"{p.name}: name says {cause}, faults are {kinds}"
        out.setdefault((cause, lamp), []).append(p.stem)
    return out


def sample(seed: int) -> list[str]:
    """A stratified sample of the corpus: every cause once, on a lamp type and in a variant
    (day, night, dimmed) chosen by seed, one scenario without a fault to detect (nothing may be
    raised), and every lamp type at least once. The seed rotates daily (UTC date), so over days
    the whole corpus runs; LAMPPOST_CORPUS_SEED=N repeats a day's sample, LAMPPOST_CORPUS=all
    runs all of it."""
    rng = random.Random(seed)
    corpus_ = _corpus()
    picked = []
    for cause in sorted({c for c, _ in corpus_}):
        lamps = sorted(lamp for c, lamp in corpus_ if c == cause)
        picked.append(rng.choice(corpus_[(cause, rng.choice(lamps))]))
    for lamp in LAMPS:  # a lamp type the draw missed gets one scenario of its own
        if not any(f"corpus_{lamp}_" in p for p in picked):
            picked.append(rng.choice([p for (c, lp), ps in corpus_.items() if lp == lamp for p in ps]))
    return picked


SEED = int(os.environ.get("LAMPPOST_CORPUS_SEED") or dt.date.today().toordinal())
SAMPLE = (sorted(p for ps in _corpus().values() for p in ps)
          if os.environ.get("LAMPPOST_CORPUS") == "all" else sample(SEED))


def test_every_sample_covers_every_cause_and_lamp_type():
    pair = {n: key for key, names in _corpus().items() for n in names}  # name -> (cause, lamp)
    assert {c for c, _ in pair.values()} == {*CAUSES, CLEAN}  # every cause, and fault-free ones
    for seed in range(200):
        names = sample(seed)
        assert {pair[n][0] for n in names} == {*CAUSES, CLEAN}
        assert len(names) == len(set(names))
        assert {pair[n][1] for n in names} == set(LAMPS)
    assert len({tuple(sample(s)) for s in range(30)}) > 20  # it rotates


@pytest.mark.parametrize("name", SAMPLE)
def test_corpus_scenario_is_detected_without_false_alarms(name):
    """Today's sample (seed printed on failure: LAMPPOST_CORPUS_SEED repeats it)."""
    r = corpus.run_one(str(SCEN / f"{name}.toml"))
    ours = r["ours"]
    assert ours["crashes"] == 0, f"LAMPPOST_CORPUS_SEED={SEED}"
    assert [f["kind"] for f in ours["faults"] if not f["detected"]] == [], f"LAMPPOST_CORPUS_SEED={SEED}"
    assert ours["false_alarms"] == [], f"LAMPPOST_CORPUS_SEED={SEED}"
    assert [f for f in ours["faults"] if f.get("cleared_early_at") is not None] == [], f"LAMPPOST_CORPUS_SEED={SEED}"


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
    cmd = [sys.executable, "-m", "testbed.cli", "score", "--strict", "--json"]
    bad = subprocess.run(cmd + [str(p)], capture_output=True, text=True, timeout=120)
    assert bad.returncode == 1, bad.stderr
    assert json.loads(bad.stdout)["missed"] == [[str(p), "lamp_dead"]]
    good = subprocess.run(cmd + [str(SCEN / "mains_loss_led_night.toml")], capture_output=True,
                          text=True, timeout=120)
    assert good.returncode == 0, good.stdout + good.stderr


def test_score_reports_a_bad_scenario_without_traceback(tmp_path):
    p = tmp_path / "bad.toml"
    p.write_text(MISSED.replace("lamp_dead", "lamp_deda"))
    r = subprocess.run([sys.executable, "-m", "testbed.cli", "score", str(p)],
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
        r = subprocess.run([sys.executable, "-m", "testbed.cli", "score", str(p)],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 2 and why in r.stderr and "Traceback" not in r.stderr, r.stderr
