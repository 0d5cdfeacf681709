"""Per-post threshold overrides in config.json change what the real firmware reports.

A lamp whose arc tube cools faster than the 150 s the
`hps` lamp type allows for gets a shorter restrike wait (`cool_s`) from the technician, and
the firmware calls a dead lamp sooner, with no other change of behaviour.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from simulator.runner import Simulation
from simulator.scenario import loads

NIGHT = (Path(__file__).parent / "scenarios" / "corpus_hps_lamp_dead_night.toml").read_text()


def _lamp_dead_latency(extra: str) -> int:
    text = NIGHT.replace("[firmware]\n", "[firmware]\n" + extra, 1)
    sim = Simulation(loads(text, "hps-night.toml"))
    try:
        res = sim.run()
    finally:
        sim.close()
    assert res.crashes == [] and res.false_alarms == []
    (f,) = res.faults
    assert f.detected and f.alarm == "lampFailure", f
    return f.latency_s


def test_a_shorter_restrike_wait_reports_a_dead_hps_lamp_sooner():
    cool_s = 90  # the model's arc tube cools in ~60 s: lower would call a dip's restrike dead
    default = _lamp_dead_latency("")
    tuned = _lamp_dead_latency(f"cool_s = {cool_s}\n")
    assert default > 150  # the magnetic ballast's restrike wait
    assert tuned <= cool_s + 3 < default


def test_an_out_of_range_override_is_refused_naming_the_key():
    from simulator.scenario import ScenarioError
    with pytest.raises(ScenarioError, match="cool_s"):
        loads(NIGHT.replace("[firmware]\n", "[firmware]\ncool_s = 5000\n", 1), "bad.toml")
