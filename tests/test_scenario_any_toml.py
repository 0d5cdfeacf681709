"""Any TOML document is a scenario or a clean `file:line: field: message`, never a traceback.

Documents are generated structurally (tomli-w writes them): the real tables and keys with
plausible and hostile values, junk keys, values where tables belong, arrays where a single
table belongs ([[post]]), deep nesting, huge numbers, times outside the firmware's clock.
The loader runs in-process for speed; a few CLI runs check what a user sees.
"""
from __future__ import annotations

import datetime as dt
import re
import subprocess
import sys

import pytest
import tomli_w
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from simulator.models.params import FAULT, SUPPLY
from simulator.scenario import (CAUSES, LAMPS, SENSORS, TIME_MAX, TIME_MIN, Scenario,
                                ScenarioError, loads)

PATH = "any.toml"
_KEY = r'(?:[A-Za-z0-9_-]+|"(?:[^"\\]|\\.)*")'
CLEAN = re.compile(rf"^{re.escape(PATH)}(?::(\d+))?: {_KEY}(?:\[\d+\])?(?:\.{_KEY})?: \S[^\n]*$")

UTC = dt.timezone.utc


def _fw_keys() -> list[str]:
    from lamppost_common.firmware import schema
    return list(schema())


junk_key = st.text(min_size=1, max_size=8)
datetimes = st.one_of(
    st.datetimes(min_value=dt.datetime(1, 1, 1), max_value=dt.datetime(9999, 12, 31),
                 timezones=st.just(UTC)),
    st.datetimes(min_value=dt.datetime(1998, 1, 1), max_value=dt.datetime(2101, 1, 1),
                 timezones=st.sampled_from([UTC, dt.timezone(dt.timedelta(hours=-12)),
                                            dt.timezone(dt.timedelta(hours=14))])),
    st.datetimes(),  # a local time: no zone
)
scalars = st.one_of(
    st.integers(), st.integers(min_value=-10**400, max_value=10**400),
    st.floats(), st.booleans(), st.text(max_size=12), datetimes, st.dates(), st.times(),
    st.sampled_from(["6h", "90", "2d", "0s", "1.5h", "9" * 400, "-1h", "2026-01-15T22:00:00Z",
                     "1999-12-31T23:59:59Z", "9999-01-01T00:00:00Z", "led", "hps", "adc",
                     *CAUSES, *LAMPS, *SENSORS, "link_down", "slow"]),
)
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(junk_key, inner, max_size=3)), max_leaves=8)


def _table(keys: list[str], good: dict) -> st.SearchStrategy[dict]:
    """A table over real keys: each key absent, plausible or any value, plus junk keys."""
    real = st.fixed_dictionaries({}, optional={
        k: (st.one_of(st.just(good[k]), values) if k in good else values) for k in keys})
    extra = st.dictionaries(junk_key, values, max_size=1)  # empty half the time
    return st.builds(lambda a, b: {**a, **b}, real, extra)


POST_GOOD = {"id": "NL-0007", "lamp": "hps", "rated_w": 100, "latitude": 52.0, "longitude": 5.0,
             "sensor": "adc", "holdup_s": 2, "strings": 4, "ct_a": 0, "photocell": True}
RUN_GOOD = {"start": dt.datetime(2026, 1, 15, 22, tzinfo=UTC), "duration": "6h", "seed": 3}
FAULT_GOOD = {"kind": "lamp_dead", "at": "2026-01-15T23:00:00Z", "until": "2026-01-16T01:00:00Z"}
NET_GOOD = {"kind": "link_down", "at": "2026-01-15T23:00:00Z", "until": "2026-01-16T00:00:00Z",
            "delay": "5s"}


SHAPES = {
    "post": _table(list(POST_GOOD), POST_GOOD),
    "run": _table(list(RUN_GOOD), RUN_GOOD),
    "supply": _table(list(SUPPLY), {k: v[2] for k, v in SUPPLY.items()}),
    "firmware": _table(_fw_keys(), {"dim_level": 50, "tele_period": 300}),
    "fault": _table(["kind", "at", "until", *sorted({p for ps in FAULT.values() for p in ps})],
                    FAULT_GOOD),
    "network": _table(list(NET_GOOD), NET_GOOD),
}


@st.composite
def documents(draw) -> dict:
    """A TOML document: real tables in any shape, junk tables, sometimes a wrong type."""
    doc = {}
    for name, table in SHAPES.items():
        shape = draw(st.sampled_from(["absent", "table", "table", "list", "value"]))
        if name == "run" and draw(st.integers(0, 3)):
            shape = "table"  # mostly present, so later fields get exercised
        if shape == "table":
            doc[name] = draw(table)
        elif shape == "list":  # [[name]]; for post/run/supply/firmware a later format may allow it
            doc[name] = draw(st.lists(st.one_of(table, values), max_size=3))
        elif shape == "value":
            doc[name] = draw(values)
    doc.update(draw(st.dictionaries(junk_key, values, max_size=1)))
    return doc


def check(text: str) -> Scenario | None:
    """Load text; a refusal must be one clean line naming the file, maybe a line, and a field."""
    try:
        sc = loads(text, PATH)
    except ScenarioError as e:
        msg = str(e)
        m = CLEAN.match(msg)
        assert m, msg
        if m.group(1):
            assert 1 <= int(m.group(1)) <= max(1, len(text.splitlines())), msg
        return None
    assert TIME_MIN <= sc.start and sc.end <= TIME_MAX and 0 < sc.duration
    assert 0 <= sc.seed < 2**32
    for f in [*sc.faults, *sc.network]:
        assert TIME_MIN <= f.at < TIME_MAX and (f.until is None or f.at < f.until < TIME_MAX)
    return sc


ISSUE_10_CASES = {  # issue 10 finding 12: each was a traceback
    "post = 0.5\n": "post",
    "fault = [1]\n": "fault[0]",
    "network = [1]\n": "network[0]",
    '[[post]]\nid = "x"\n': "post",
    '[run]\nstart = 2026-01-15T22:00:00Z\nduration = "' + "9" * 400 + '"\n': "run.duration",
    '[post]\nsensor = "adc"\n[run]\nstart = 2026-01-15T22:00:00Z\nduration = "1h"\nseed = -1\n': "run.seed",
    '[run]\nstart = 9999-12-31T22:00:00Z\nduration = "1h"\n': "run.start",
    '[run]\nstart = 1999-12-31T22:00:00Z\nduration = "1h"\n': "run.start",
    '[run]\nstart = 2099-12-31T22:00:00Z\nduration = "1d"\n': "run.duration",
    "x = " + "[" * 3000 + "]" * 3000 + "\n": "syntax",
    "x = 1" + "0" * 5000 + "\n": "syntax",
}
RUN_OK = '[run]\nstart = 2026-01-15T22:00:00Z\nduration = "1h"\n'


@pytest.mark.parametrize("text,field", list(ISSUE_10_CASES.items()))
def test_issue_10_scenarios_are_refused_by_field(text, field):
    if "[run]" not in text:
        text += RUN_OK
    with pytest.raises(ScenarioError) as e:
        loads(text, PATH)
    assert CLEAN.match(str(e.value)) and f": {field}: " in str(e.value), str(e.value)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents())
@example({"post": 0.5, "run": RUN_GOOD})
@example({"post": [POST_GOOD], "run": RUN_GOOD})
@example({"run": {**RUN_GOOD, "seed": -1}, "post": {"sensor": "adc"}})
def test_any_toml_document_loads_or_is_refused_cleanly(doc):
    check(tomli_w.dumps(doc))


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=80))
def test_any_text_loads_or_is_refused_cleanly(text):
    check(RUN_OK + text)
    check(text)


def test_generated_documents_also_load():
    """The generator reaches valid scenarios too (else the property tests only refusals)."""
    ok = {"post": POST_GOOD, "run": RUN_GOOD, "fault": [FAULT_GOOD], "network": [NET_GOOD],
          "supply": {}, "firmware": {"dim_level": 50}}
    sc = check(tomli_w.dumps(ok))
    assert sc is not None and sc.post.lamp == "hps" and len(sc.faults) == 1


@pytest.mark.parametrize("text,field", [(t, f) for t, f in ISSUE_10_CASES.items()
                                        if f in ("post", "fault[0]", "run.seed", "run.start")][:4])
def test_cli_exits_2_with_one_clean_line(tmp_path, text, field):
    p = tmp_path / "s.toml"
    p.write_text(text if "[run]" in text else text + RUN_OK)
    r = subprocess.run([sys.executable, "-m", "testbed.cli", "run", "--no-mqtt", "--quiet", str(p)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr
    assert r.stderr.startswith(f"lamppost-sim: {p}:") and f": {field}: " in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr


def test_cli_runs_a_valid_document_to_exit_0(tmp_path):
    p = tmp_path / "ok.toml"
    p.write_text(tomli_w.dumps({"post": {"id": "NL-0009"}, "run": {**RUN_GOOD, "duration": "10m"}}))
    r = subprocess.run([sys.executable, "-m", "testbed.cli", "run", "--no-mqtt", "--quiet", str(p)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
