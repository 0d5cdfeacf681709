"""Properties of the scorer: every raised alarm is either explained by a cause or a false alarm."""
from __future__ import annotations

from hypothesis import given, strategies as st

from simulator.scenario import CAUSES, Fault
from simulator.score import score

ALARMS = sorted({a for v in CAUSES.values() for a in v})

faults_st = st.lists(st.builds(
    lambda kind, at, length: Fault(kind, at, at + length if length else None),
    st.sampled_from(sorted(CAUSES)), st.integers(0, 1000), st.one_of(st.none(), st.integers(1, 500))),
    max_size=4)
alarms_st = st.lists(st.fixed_dictionaries({
    "alarm": st.sampled_from(ALARMS), "state": st.sampled_from(["raised", "cleared"]),
    "time": st.integers(0, 2000)}), max_size=20)


@given(faults_st, alarms_st)
def test_raised_alarms_are_explained_or_false_never_both(faults, alarms):
    end = 2000
    scores, false = score(faults, {i: f.at for i, f in enumerate(faults)}, alarms, end)
    raised = [a for a in alarms if a["state"] == "raised"]
    for a in raised:
        explains = any(a["alarm"] in f.expected and f.at <= a["time"] <= (f.until or end)
                       for f in faults)
        assert (a in false) != explains or raised.count(a) > 1
    for f, s in zip(faults, scores):
        hits = [a for a in raised if a["alarm"] in f.expected and f.at <= a["time"] <= (f.until or end)]
        assert s.detected == bool(hits)
        if hits:
            assert s.raised_at == hits[0]["time"] and s.latency_s == hits[0]["time"] - f.at
