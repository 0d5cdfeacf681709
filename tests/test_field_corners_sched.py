"""Issue 11's schedule, power and climate corners through the real firmware, on a short run of
each corpus scenario (tests/scenarios/generate.py, the `sched` block; `make bench` runs them whole).

Each failed before its fix: the midnight-sun lamp lit ~90 s a night, the healthy photocell at
the end of polar night was reported faulty, the second mains loss after a ridden-through blip
got no last gasp, and the dimming window kept a fixed offset across the DST change.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from simulator.runner import Simulation
from simulator.scenario import loads

SCEN = Path(__file__).resolve().parent / "scenarios"


def _run(name: str, start: str | None = None, duration: str | None = None, tmp_path=None):
    text = (SCEN / f"{name}.toml").read_text()
    if start:
        text = re.sub(r'^start = ".*"$', f'start = "{start}"', text, flags=re.M)
    if duration:
        text = re.sub(r'^duration = ".*"$', f'duration = "{duration}"', text, flags=re.M)
    sim = Simulation(loads(text, name), flash_dir=tmp_path)
    try:
        return sim.run()
    finally:
        sim.close()


def test_midnight_sun_never_lights_the_lamp(tmp_path):
    # local mean midnight at 18.9 E is 22:44 UTC: the old clock lit the lamp there for ~90 s
    res = _run("corpus_led_midnight_sun_clean", "2026-06-19T21:30:00Z", "3h", tmp_path)
    assert res.crashes == []
    switches = [r for r in res.reports if r.get("ev") == "switch"]
    assert res.wrong_switching == [] and all(r["lamp"] == "off" for r in switches), switches
    assert max(row[1] for row in res.trace) == 0  # never commanded on


def test_a_healthy_photocell_at_the_end_of_polar_night_is_not_reported(tmp_path):
    res = _run("corpus_led_polar_photocell_clean", "2026-01-13T09:00:00Z", "3h", tmp_path)
    assert res.false_alarms == [] and res.wrong_switching == []
    assert res.expectations == [{"alarm": "photocell", "rightly_not_raised": True, "raised_at": None}]
    # the cell, deciding in the noon twilight, switched the lamp off for a while
    assert 0 in {row[1] for row in res.trace[60:]}


def test_the_next_interruption_after_a_ridden_through_blip_still_gets_its_last_gasp(tmp_path):
    res = _run("corpus_led_mains_loss_reblip", "2026-01-15T19:55:00Z", "80m", tmp_path)
    assert [(f.detected, f.latency_s) for f in res.faults] == [(True, 0), (True, 0)]
    raised = [r for r in res.alarms() if r["state"] == "raised"]
    assert [r.get("lastGasp", True) for r in raised] == [True, True]
    assert res.boots == 2  # the blip did not reboot the board, the 10 min loss did


def test_dimming_follows_amsterdam_civil_time_across_the_spring_change(tmp_path):
    # 23:00 CET is 22:00 UTC; 05:00 CEST (the night 02:00 became 03:00) is 03:00 UTC
    for start, step, t_step in (("2026-03-28T21:50:00Z", (100, 50), 1774735200),
                                ("2026-03-29T02:50:00Z", (50, 100), 1774753200)):
        res = _run("corpus_led_dst_spring_clean", start, "20m", tmp_path / start[11:13])
        assert res.wrong_switching == [], res.wrong_switching
        lit = [(t, d) for t, relay, d, *_ in res.trace[5:] if relay]
        assert len(lit) == len(res.trace) - 5  # a March night: lit throughout
        before = {d for t, d in lit if t <= t_step}
        after = {d for t, d in lit if t >= t_step + 2}  # the command reaches the lamp a tick later
        assert (before, after) == ({step[0]}, {step[1]}), (before, after)


@pytest.mark.parametrize("name", ["corpus_led_hot_climate_clean"])
def test_a_hot_climate_stays_inside_the_temperature_margin(tmp_path, name):
    res = _run(name, "2026-07-20T18:00:00Z", "4h", tmp_path)
    temps = [row[7] for row in res.trace]
    assert max(temps) > 50  # it is hot: ambient ~34 degC plus the enclosure and the lamp
    assert res.expectations[0]["rightly_not_raised"], res.alarms()
