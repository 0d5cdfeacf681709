"""Every file the firmware keeps on flash, corrupted every way, under the real firmware on MicroPython.

A flash directory from a real run (config, state and its backup, energy records, event log,
auth counter) gets one file missing, empty, truncated, of another JSON type, with wrong field
types, with a non-UTF-8 byte, replaced by a directory, huge or nested 10,000 deep. The post must
boot once (no crash), light at dusk, raise the alarm of a fault injected after the boot, name
the file in one `ev: error` report, and boot again cleanly (docs/persistence.md).
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from simulator.runner import Simulation, firmware_config
from simulator.scenario import loads

POST = """
[post]
id = "NL-0007"
latitude = 52.03
longitude = 5.56
holdup_s = 0
"""
# sunset at the post on 2026-01-15 is 15:55 UTC
BASE = POST + """
[run]
start = "2026-01-15T15:30:00Z"
duration = "62m"
seed = 4

[[fault]]
at = "2026-01-15T16:05:00Z"
kind = "lamp_dead"
until = "2026-01-15T16:10:00Z"
"""
CHECK = POST + """
[run]
start = "2026-01-15T16:35:00Z"
duration = "8m"
seed = 5

[[fault]]
at = "2026-01-15T16:38:00Z"
kind = "lamp_dead"
"""
AGAIN = POST + """
[run]
start = "2026-01-15T16:50:00Z"
duration = "1m"
seed = 6
"""
FILES = ("config.json", "state.json", "state.b.json", "energy.a.json", "energy.b.json",
         "events0.log", "events1.log", "auth.json")
UNIX_NOW = 1768494600  # 2026-01-15T16:30Z: a counter the post accepted before the check run


def _run(text: str, flash: Path):
    sim = Simulation(loads(text, "corrupt.toml"), flash_dir=flash)
    try:
        return sim.run()
    finally:
        sim.close()


@pytest.fixture(scope="module")
def baseline(tmp_path_factory) -> Path:
    """A flash directory as a real post leaves it: one evening, one lampFailure raised and cleared."""
    flash = tmp_path_factory.mktemp("base") / "flash"
    flash.mkdir()
    cfg = firmware_config(loads(BASE, "base.toml"))
    cfg.update({"pin": "4711", "mqtt_host": "127.0.0.1", "mqtt_port": 9, "cmd_key": "k3y"})
    (flash / "config.json").write_text(json.dumps(cfg))
    res = _run(BASE, flash)
    assert not res.crashes and [a["state"] for a in res.alarms()] == ["raised", "cleared"]
    (flash / "auth.json").write_text(json.dumps({"ctr": UNIX_NOW}))
    for name in ("state.json", "energy.b.json", "events0.log"):  # one energy save (hourly)
        assert (flash / name).exists(), name
    return flash


def _corrupt(path: Path, kind: str, data: st.DataObject | None) -> None:
    old = path.read_bytes() if path.is_file() else b'{"a": 1}\n'
    if path.is_file():
        path.unlink()
    if kind == "missing":
        return
    if kind == "directory":
        path.mkdir()
        (path / "x").write_text("x")
        return
    if kind == "empty":
        new = b""
    elif kind == "truncated":
        cut = data.draw(st.integers(1, max(1, len(old) - 1))) if data else len(old) // 2
        new = old[:cut]
    elif kind == "list":
        new = b"[1, 2, 3]"
    elif kind == "non_utf8":
        at = data.draw(st.integers(0, len(old))) if data else len(old) // 2
        new = old[:at] + bytes([data.draw(st.integers(0x80, 0xFF)) if data else 0xFF]) + old[at:]
    elif kind == "huge":
        new = b'{"id": "' + b"x" * 300_000 + b'"}'
    elif kind == "nested":
        new = b'{"a": ' * 10_000 + b"1" + b"}" * 10_000
    elif kind == "wrong_types":  # every field of a JSON object (or line) replaced by junk
        junk = data.draw(st.sampled_from(['"x"', "null", "[]", "{}", "-1", "1e400", "1.5",
                                          "true", "10" * 20])) if data else '"x"'
        if path.suffix == ".log":
            new = b"".join(b'[%s, %s, %s, %s]\n' % ((junk.encode(),) * 4) for _ in old.splitlines())
        else:
            obj = json.loads(old) if old.strip() else {}
            new = ("{" + ", ".join(f'"{k}": {junk}' for k in obj) + "}").encode()
    else:
        raise AssertionError(kind)
    path.write_bytes(new)


def _check(baseline: Path, tmp: Path, name: str, kind: str, data=None) -> None:
    flash = tmp / "flash"
    if flash.exists():
        shutil.rmtree(flash)
    shutil.copytree(baseline, flash)
    _corrupt(flash / name, kind, data)
    res = _run(CHECK, flash)
    assert res.crashes == [] and res.boots == 1, (name, kind, res.crashes[:1])
    evs = res.reports
    assert any(r.get("ev") == "switch" and r.get("lamp") == "on" for r in evs), (name, kind)  # lights
    raised = [r for r in res.alarms() if r["alarm"] == "lampFailure" and r["state"] == "raised"]
    assert raised, (name, kind)  # detects
    errors = [r["error"] for r in evs if r.get("ev") == "error"]
    named = [e for e in errors if name in e]
    assert len(named) <= 1 and len(errors) == len(named), (name, kind, errors)
    if kind in ("empty", "list", "non_utf8", "directory", "huge", "nested"):
        assert len(named) == 1, (name, kind, errors)  # reported, once
    res2 = _run(AGAIN, flash)  # and the next boot is clean: no crash loop
    assert res2.crashes == [] and res2.boots == 1, (name, kind, res2.crashes[:1])
    # (a config.json set aside is provisioned again by the simulator, as `lampctl deploy` does)
    again = [r["error"] for r in res2.reports if r.get("ev") == "error"]
    assert again == [], (name, kind, again)


# the cases of issue 10 that crashed every boot (or once) on the firmware before
ISSUE_CASES = [
    ("state.json", '{"boots": "x"}'), ("state.json", '{"boots": null}'),
    ("state.json", '{"alarm_counts": "x"}'), ("state.json", '{"kwh": "x"}'),
    ("events0.log", None), ("config.json", "nested"),
]


@pytest.mark.parametrize("name,content", ISSUE_CASES, ids=[f"{n}-{c}" for n, c in ISSUE_CASES])
def test_issue_cases_boot_light_detect_and_report_once(baseline, tmp_path, name, content):
    flash = tmp_path / "flash"
    shutil.copytree(baseline, flash)
    if name == "events0.log":  # one non-UTF-8 byte in a line of the log
        raw = (flash / name).read_bytes()
        (flash / name).write_bytes(raw[:20] + b"\xff" + raw[20:])
        _check_prepared(flash, name)
        return
    if content == "nested":
        (flash / name).write_bytes(b'{"a": ' * 10_000 + b"1" + b"}" * 10_000)
    else:
        st_ = json.loads((flash / name).read_text())
        st_.update(json.loads(content))
        (flash / name).write_text(json.dumps(st_))
        (flash / "state.b.json").unlink(missing_ok=True)  # no backup: the fields alone
    _check_prepared(flash, name)


def _check_prepared(flash: Path, name: str) -> None:
    res = _run(CHECK, flash)
    assert res.crashes == [] and res.boots == 1, res.crashes[:1]
    assert any(r.get("ev") == "switch" and r.get("lamp") == "on" for r in res.reports)
    assert any(r["alarm"] == "lampFailure" and r["state"] == "raised" for r in res.alarms())
    errors = [r["error"] for r in res.reports if r.get("ev") == "error"]
    assert len([e for e in errors if name in e]) == 1, errors


def test_events_log_as_a_directory_is_set_aside(baseline, tmp_path):
    _check(baseline, tmp_path, "events0.log", "directory")
    assert (tmp_path / "flash" / "events0.bad" / "x").exists()  # kept for a look, not deleted


def test_time_as_text_keeps_the_after_the_fact_supply_loss(baseline, tmp_path):
    """"t" stored as a string: the boot after a silent power cut still reports the supplyLoss."""
    flash = tmp_path / "flash"
    shutil.copytree(baseline, flash)
    for name in ("state.json", "state.b.json"):
        if (flash / name).exists():
            st_ = json.loads((flash / name).read_text())
            st_.update({"t": "x", "run": 1})
            (flash / name).write_text(json.dumps(st_))
    res = _run(CHECK, flash)
    assert res.crashes == [] and res.boots == 1, res.crashes[:1]
    loss = [a for a in res.alarms() if a["alarm"] == "supplyLoss"]
    assert [a["state"] for a in loss] == ["raised", "cleared"], loss
    assert loss[0]["lastGasp"] is False and "since" in loss[0]


def test_corrupt_state_keeps_the_active_alarm_so_its_clear_is_sent(tmp_path):
    """A lampFailure raised before the reboot; state.json is corrupt at the next boot, the
    lamp has been repaired: the alarm must clear (state.b.json remembers it)."""
    flash = tmp_path / "flash"
    flash.mkdir()
    raise_it = POST + """
[run]
start = "2026-01-15T16:00:00Z"
duration = "10m"
seed = 4

[[fault]]
at = "2026-01-15T16:05:00Z"
kind = "lamp_dead"
"""
    res = _run(raise_it, flash)
    assert [(a["alarm"], a["state"]) for a in res.alarms()] == [("lampFailure", "raised")]
    (flash / "state.json").write_bytes(b'{"boots": 1, "alarms_active": ["lampFai')
    res = _run(AGAIN.replace('duration = "1m"', 'duration = "5m"'), flash)
    assert res.crashes == []
    lamp = [a for a in res.alarms() if a["alarm"] == "lampFailure"]  # (supplyLoss: the cut)
    assert [a["state"] for a in lamp] == ["cleared"], res.alarms()
    assert lamp[0]["count"] == 1  # the count survived too
    errors = [r["error"] for r in res.reports if r.get("ev") == "error"]
    assert len(errors) == 1 and "state.json" in errors[0] and "state.b.json" in errors[0]


KINDS = ("missing", "empty", "truncated", "list", "wrong_types", "non_utf8", "directory",
         "huge", "nested")


@settings(max_examples=6, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(name=st.sampled_from(FILES), kind=st.sampled_from(KINDS), data=st.data())
@example(name="config.json", kind="truncated", data=None)
@example(name="config.json", kind="non_utf8", data=None)
@example(name="state.json", kind="directory", data=None)
@example(name="energy.b.json", kind="wrong_types", data=None)
@example(name="auth.json", kind="list", data=None)
def test_any_corrupt_file_boots_lights_detects_and_reports_it_once(baseline, tmp_path, name, kind, data):
    _check(baseline, tmp_path, name, kind, data)
