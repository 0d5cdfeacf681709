"""The dimming schedule through the real firmware: the lamp dims on local solar time and
the detection engine never mistakes the dimmed lamp for a fault."""
from __future__ import annotations

import json

from simulator.firmware_proc import provision
from simulator.runner import Simulation, firmware_config
from simulator.scenario import load

from console_sim import scenario_text


def test_night_dimming_switches_at_solar_midnight_without_false_alarms(tmp_path):
    path = tmp_path / "sc.toml"
    path.write_text(scenario_text().replace('duration = "1d"', 'duration = "14h"'))
    sc = load(str(path))
    cfg = firmware_config(sc) | {"dim_level": 40, "dim_from_min": 0, "dim_to_min": 300}
    provision(tmp_path / "flash", cfg)
    sim = Simulation(sc, flash_dir=tmp_path / "flash")
    try:
        res = sim.run()
    finally:
        sim.close()
    switches = [(r["t"], r["lamp"], r["dim"]) for r in res.reports if r.get("ev") == "switch"]
    # longitude 5.56 E: local mean solar midnight is 22 min 14 s before 00:00 UTC
    assert ("2026-01-15T23:37:46Z", "on", 40) in switches
    assert ("2026-01-16T04:37:46Z", "on", 100) in switches
    assert not res.false_alarms and not res.alarms() and not res.crashes
    assert json.loads((tmp_path / "flash" / "config.json").read_text())["dim_level"] == 40


def test_selftest_after_power_on_when_configured(tmp_path):
    path = tmp_path / "sc.toml"
    path.write_text(scenario_text(start="2026-01-15T12:00:00Z").replace('"1d"', '"2m"'))
    sc = load(str(path))
    provision(tmp_path / "flash", firmware_config(sc) | {"selftest_boot": True})
    sim = Simulation(sc, flash_dir=tmp_path / "flash")
    try:
        res = sim.run()
    finally:
        sim.close()
    tests = [r for r in res.reports if r.get("ev") == "selftest"]
    assert len(tests) == 1 and tests[0]["state"] == "pass"
    assert tests[0]["Power"]["on"] > 50 and tests[0]["Power"]["off"] < 1
    # by day the lamp ends switched off again, and the switching never raised an alarm
    switches = [(r["lamp"], r["dim"]) for r in res.reports if r.get("ev") == "switch"]
    assert switches[-1] == ("off", 100) and ("on", 50) in switches
    assert not res.alarms()
