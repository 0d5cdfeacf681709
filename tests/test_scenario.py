"""Scenario files: valid ones load, broken ones fail with file, line and field."""
from __future__ import annotations

import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from testbed.cli import DEMO, main
from simulator.scenario import MAX_DURATION_S, CAUSES, ScenarioError, load, loads, parse_duration

GOOD = """[post]
id = "NL-0042"
lamp = "hps"
rated_w = 100
latitude = 48.1
longitude = 11.6

[run]
start = "2026-06-01T00:00:00Z"
duration = "36h"
seed = 11

[[fault]]
at = "2026-06-01T22:00:00Z"
kind = "lamp_dead"

[[fault]]
at = "2026-06-02T09:00:00Z"
kind = "relay_welded"
until = "2026-06-02T10:00:00Z"
"""


def test_demo_and_a_full_file_load():
    sc = load(DEMO)
    assert sc.post.id == "NL-0001" and sc.duration == 2 * 86400 and len(sc.faults) == 2
    sc = loads(GOOD, "good.toml")
    assert (sc.post.lamp, sc.post.rated_w, sc.seed) == ("hps", 100.0, 11)
    assert sc.faults[1].until - sc.faults[1].at == 3600
    assert sc.faults[0].expected == ("lampFailure",)


@pytest.mark.parametrize("old,new,message", [
    ('kind = "lamp_dead"', 'kind = "lamp_deda"', "good.toml:15: fault[0].kind: 'lamp_deda' is not one of"),
    ('lamp = "hps"', 'lamp = "sodium"', "good.toml:3: post.lamp: 'sodium' is not one of led, hps"),
    ('latitude = 48.1', 'latitude = 123', "good.toml:5: post.latitude: 123 is outside -90..90"),
    ('duration = "36h"', 'duration = "36 hours"', "good.toml:10: run.duration: '36 hours' is not a duration"),
    ('start = "2026-06-01T00:00:00Z"', 'start = "yesterday"', "good.toml:9: run.start: 'yesterday' is not an ISO time"),
    ('until = "2026-06-02T10:00:00Z"', 'until = "2026-06-02T08:00:00Z"', "good.toml:20: fault[1].until: must be after `at`"),
    ('seed = 11', 'seed = "eleven"', "good.toml:11: run.seed: 'eleven' is not a whole number"),
    ('rated_w = 100', 'rated_w = true', "good.toml:4: post.rated_w: True is not a number"),
])
def test_bad_field_names_file_line_and_field(old, new, message):
    with pytest.raises(ScenarioError) as e:
        loads(GOOD.replace(old, new), "good.toml")
    assert str(e.value).startswith(message), str(e.value)


def test_missing_run_and_broken_toml_are_named():
    with pytest.raises(ScenarioError, match=r"x.toml: run: missing \[run\] table"):
        loads('[post]\nid = "a"\n', "x.toml")
    with pytest.raises(ScenarioError, match=r"x.toml:1: syntax: not valid TOML"):
        loads("[post\nid = ", "x.toml")
    with pytest.raises(ScenarioError, match=r"x.toml:\d+: fault\[0\].at: missing|x.toml: fault\[0\].at: missing"):
        loads(GOOD.replace('at = "2026-06-01T22:00:00Z"\n', ""), "x.toml")
    with pytest.raises(ScenarioError, match=r"x.toml:\d+: lamps: unknown table"):
        loads(GOOD + "\n[lamps]\nx = 1\n", "x.toml")


def test_cli_reports_an_unreadable_scenario_and_exits_2(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text(GOOD.replace('kind = "lamp_dead"', 'kind = "lamp_deda"'))
    assert main(["run", str(bad)]) == 2
    err = capsys.readouterr().err
    assert f"{bad}:15: fault[0].kind" in err and "Traceback" not in err
    assert main(["run", str(tmp_path / "missing.toml")]) == 2
    assert "cannot read" in capsys.readouterr().err


def test_cli_runs_a_scenario_and_writes_results(tmp_path):
    sc = tmp_path / "short.toml"
    sc.write_text('[run]\nstart = "2026-01-15T21:00:00Z"\nduration = "2h"\n'
                  '[[fault]]\nat = "2026-01-15T22:00:00Z"\nkind = "lamp_dead"\n')
    out = tmp_path / "r.json"
    p = subprocess.run([sys.executable, "-m", "testbed.cli", "run", str(sc), "--out", str(out),
                        "--strict", "--quiet"], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "lamp_dead" in p.stdout and "yes" in p.stdout and "false alarms: none" in p.stdout
    assert out.exists()


@given(st.integers(0, 10**12), st.sampled_from(["", "s", "m", "h", "d"]))
def test_durations_parse_in_every_unit(n, unit):
    s = n * {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[unit]
    if s <= MAX_DURATION_S:
        assert parse_duration(f"{n}{unit}") == s
    else:  # longer than the firmware's clock can run: refused, never inf or an overflow
        with pytest.raises(ValueError, match="longer than"):
            parse_duration(f"{n}{unit}")


@settings(max_examples=200, deadline=None)  # a whole scenario load: no wall-clock limit on a loaded machine
@given(st.text(max_size=300))
def test_arbitrary_text_is_a_scenario_or_a_scenario_error(text):
    try:
        loads(text, "fuzz.toml")
    except ScenarioError as e:
        assert str(e).startswith("fuzz.toml")


@settings(max_examples=100, deadline=None)  # a whole scenario load: no wall-clock limit on a loaded machine
@given(kind=st.text(max_size=20), at=st.text(max_size=25))
def test_arbitrary_fault_fields_fail_cleanly(kind, at):
    text = GOOD.replace('kind = "lamp_dead"', f"kind = {kind!r}".replace("'", '"') if '"' not in kind and "\\" not in kind else 'kind = "x"')
    text = text.replace('at = "2026-06-01T22:00:00Z"', f'at = "{at}"' if '"' not in at and "\\" not in at else 'at = "x"')
    try:
        sc = loads(text, "f.toml")
    except ScenarioError as e:
        assert str(e).startswith("f.toml")
    else:
        assert sc.faults[0].kind in CAUSES


@pytest.mark.parametrize("old,new,message", [
    ("rated_w = 100", "ratedw = 100", "good.toml:4: post.ratedw: unknown key"),
    ("seed = 11", "seed = 11\nbogus = 1", "good.toml:12: run.bogus: unknown key"),
    ("[[fault]]", "[firmware]\ndim_levle = 50\n\n[[fault]]",
     "good.toml:14: firmware.dim_levle: not a firmware config key"),
    ("[[fault]]", "[firmware]\ndim_level = 500\n\n[[fault]]", "good.toml:14: firmware.dim_level: must be within"),
    ("[[fault]]", "[supply]\nvariation = 0.08\nwalk = 0.05\n\n[[fault]]",
     "good.toml:15: supply.walk: variation + walk is 0.13"),
])
def test_typos_and_bad_firmware_keys_are_errors_not_defaults(old, new, message):
    with pytest.raises(ScenarioError) as e:
        loads(GOOD.replace(old, new, 1), "good.toml")
    assert str(e.value).startswith(message), str(e.value)


def test_firmware_table_is_checked_and_typed_by_the_firmware_schema():
    sc = loads(GOOD.replace("[[fault]]", "[firmware]\ndim_level = 50\nmqtt_keepalive = 30\n\n[[fault]]", 1))
    assert sc.firmware == {"dim_level": 50, "mqtt_keepalive": 30}


PHOTOCELL = GOOD.replace('longitude = 11.6', 'longitude = 11.6\nphotocell = true').replace(
    'kind = "lamp_dead"', 'kind = "photocell_stuck_dark"')


def test_photocell_is_a_post_key_that_provisions_the_firmware():
    from simulator.runner import firmware_config
    old = loads(GOOD, "good.toml")  # version-1 files: no photocell, config unchanged
    assert old.post.photocell is False and "photocell" not in firmware_config(old)
    sc = loads(PHOTOCELL, "pc.toml")
    assert sc.post.photocell is True and firmware_config(sc)["photocell"] is True
    assert sc.faults[0].expected == ("photocell",)
    # [firmware] still has the last word: a fitted cell the firmware is told to ignore
    off = loads(PHOTOCELL.replace("[[fault]]", "[firmware]\nphotocell = false\n\n[[fault]]", 1))
    assert firmware_config(off)["photocell"] is False


@pytest.mark.parametrize("old,new,message", [
    ("photocell = true", 'photocell = "yes"', "pc.toml:7: post.photocell: 'yes' is not true or false"),
    ("photocell = true\n", "", "pc.toml:15: fault[0].kind: photocell_stuck_dark needs a photocell"),
    ("photocell = true", "photocel = true", "pc.toml:7: post.photocel: unknown key"),
])
def test_photocell_mistakes_are_named(old, new, message):
    with pytest.raises(ScenarioError) as e:
        loads(PHOTOCELL.replace(old, new, 1), "pc.toml")
    assert str(e.value).startswith(message), str(e.value)


def test_the_scorer_counts_photocell_events_as_the_alarm_photocell():
    from simulator.score import alarm_records
    reports = [{"t": "2026-01-15T12:10:00Z", "ev": "photocell", "state": "fault"},
               {"t": "2026-01-15T12:11:00Z", "ev": "alarm", "alarm": "lampFailure", "state": "raised"},
               {"t": "2026-01-15T12:12:00Z", "ev": "switch", "lamp": "on"},
               {"t": "2026-01-16T12:10:00Z", "ev": "photocell", "state": "ok"}]
    assert [(a["alarm"], a["state"]) for a in alarm_records(reports)] == [
        ("photocell", "raised"), ("lampFailure", "raised"), ("photocell", "cleared")]
