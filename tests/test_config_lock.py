"""A config.json whose PIN cannot be read locks the post; it never falls back to PIN 0000.

Through the simulator's serial pty, against the real firmware on MicroPython (issue 10,
finding 6; rules in docs/persistence.md).
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from console_sim import running, scenario_text
from host_tools.lampctl import serial_link as sl
from simulator.runner import Simulation, firmware_config
from simulator.scenario import loads

SPEED = 200.0
SHORT = scenario_text().replace('duration = "1d"', 'duration = "2m"')


def _boot_once(flash: Path, text: str = SHORT):
    sim = Simulation(loads(text, "lock.toml"), flash_dir=flash)
    try:
        return sim.run()
    finally:
        sim.close()


def _good_config(flash: Path) -> dict:
    cfg = firmware_config(loads(SHORT, "lock.toml"))
    cfg.update({"pin": "4711", "dim_level": 40, "dim_from_min": 0, "dim_to_min": 1439})
    flash.mkdir(parents=True, exist_ok=True)
    (flash / "config.json").write_text(json.dumps(cfg))
    return cfg


CORRUPT = {
    "truncated": lambda good: good[: len(good) // 2],
    "empty": lambda good: b"",
    "list": lambda good: b"[1, 2]",
    "non_utf8": lambda good: good[:10] + b"\xff" + good[10:],
    "bad_pin": lambda good: good.replace(b'"pin": "4711"', b'"pin": 4711'),
}


@pytest.mark.parametrize("kind", list(CORRUPT))
def test_unreadable_pin_refuses_state_changes_keeps_the_file_and_lights_on_last_good(tmp_path, kind):
    flash = tmp_path / "flash"
    cfg = _good_config(flash)
    res = _boot_once(flash)  # a good boot: config.good remembers these settings
    assert not res.crashes
    good = (flash / "config.json").read_bytes()
    bad = CORRUPT[kind](good)
    (flash / "config.json").write_bytes(bad)
    with running(tmp_path, SHORT.replace('duration = "2m"', 'duration = "1d"'), SPEED) as sim:
        with sl.Device(sim.serial_path) as dev:
            for pin in ("0000", "4711"):
                r = dev.request("Login", pin)
                assert "locked" in r.get("error", ""), r
            r = dev.request("Config", "dim_level 70")
            assert "locked" in r.get("error", ""), r
            assert "locked" in dev.request("Relay", "off").get("error", "")
            r = dev.request("Config")
            lit = dev.request("Readings")
    conf = r["config"]
    assert conf["id"] == cfg["id"] and conf["dim_level"] == 40  # the last good settings
    assert lit["lamp"] == "on" and lit["dim"] == 40, lit
    if kind == "bad_pin":  # readable: it stays where it is, untouched
        assert (flash / "config.json").read_bytes() == bad
    else:  # set aside byte for byte, never rewritten with defaults
        assert (flash / "config.bad").read_bytes() == bad
        assert not (flash / "config.json").exists()


def test_a_post_that_lost_its_config_stays_locked_at_the_next_boot(tmp_path):
    flash = tmp_path / "flash"
    _good_config(flash)
    assert not _boot_once(flash).crashes
    (flash / "config.json").write_bytes(b'{"id": "NL-0042", "pin": "47')
    res = _boot_once(flash)
    errors = [r["error"] for r in res.reports if r.get("ev") == "error"]
    assert len(errors) == 1 and "config.bad" in errors[0] and "refused" in errors[0], errors
    # the simulator would provision a missing config.json: hold it off with an unreadable one
    (flash / "config.json").mkdir()
    res = _boot_once(flash)
    errors = [r["error"] for r in res.reports if r.get("ev") == "error"]
    assert len(errors) == 1 and "config.json" in errors[0] and "refused" in errors[0], errors
    assert not res.crashes


def test_config_set_then_reboot_reports_no_errors(tmp_path):
    """After a Config set the saved file holds null for unset thresholds: no error at boot."""
    with running(tmp_path, scenario_text(), SPEED) as sim:
        with sl.Device(sim.serial_path) as dev:
            assert "error" not in dev.request("Login", "0000")
            assert dev.request("Config", "dim_level 50").get("saved") is True
    res = _boot_once(tmp_path / "flash", scenario_text().replace('duration = "1d"', 'duration = "1m"')
                     .replace("18:00:00", "20:00:00"))
    assert not res.crashes
    assert [r for r in res.reports if r.get("ev") == "error"] == []
