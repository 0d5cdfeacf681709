"""Properties of the scorer: every raised alarm is either explained by a cause or a false alarm."""
from __future__ import annotations

from hypothesis import given, strategies as st

from simulator.scenario_types import CAUSES, Fault
from simulator.score import score

ALARMS = sorted({a for v in CAUSES.values() for a in v})

faults_st = st.lists(st.builds(
    lambda kind, at, length: Fault(kind, at, at + length if length else None),
    st.sampled_from(sorted(CAUSES)), st.integers(0, 1000), st.one_of(st.none(), st.integers(1, 500))),
    max_size=4)
alarms_st = st.lists(st.fixed_dictionaries({
    "alarm": st.sampled_from(ALARMS), "state": st.sampled_from(["raised", "cleared"]),
    "time": st.integers(0, 2000)}), max_size=20)


# The documented rule (simulator/score.py docstring, docs/detection.md), written out here on
# its own rather than through score.window, the function under test: an alarm explains a fault
# when the fault's cause should raise it and it is raised from the fault's onset until its
# repair (or the run's end); a mains loss also counts a supplyLoss up to 60 s after the
# mains returned (a board without hold-up reports it after the fact).
GRACE_AFTER_REPAIR_S = {"mains_loss": 60}
TALQ = {"lamp_dead": {"lampFailure"}, "relay_welded": {"lampUnexpectedOn", "relayFailure"},
        "relay_open": {"relayFailure", "lampFailure"}, "hid_end_of_life": {"cyclingFailure"},
        "led_string_open": {"lampPowerTooLow"}, "driver_fault_high": {"lampPowerTooHigh"},
        "capacitor_failed": {"powerFactorTooLow"}, "supply_sag": {"supplyVoltageTooLow"},
        "supply_swell": {"supplyVoltageTooHigh"}, "mains_loss": {"supplyLoss"},
        "dimming_stuck": {"dimmingFailure"}, "overheat": {"highTemperature"},
        "photocell_stuck_dark": {"photocell"}, "photocell_stuck_light": {"photocell"}}


def _explains(f, a, end):
    if a["alarm"] not in TALQ[f.kind]:
        return False
    if f.until is None:
        return f.at <= a["time"] <= end
    return f.at <= a["time"] <= f.until + GRACE_AFTER_REPAIR_S.get(f.kind, 0)


def test_the_oracle_names_every_cause():
    assert set(TALQ) == set(CAUSES)


def test_window_edges_by_hand():
    """Onset and repair are inside the window; one second out is a false alarm."""
    for kind, alarm, after in (("lamp_dead", "lampFailure", 0), ("mains_loss", "supplyLoss", 60)):
        f = Fault(kind, 100, 200)
        for t, hit in ((99, False), (100, True), (200, True), (200 + after, True),
                       (201 + after, False)):
            (s,), false = score([f], {0: 100}, [{"alarm": alarm, "state": "raised", "time": t}], 1000)
            assert s.detected == hit and (false == []) == hit, (kind, t)


@given(faults_st, alarms_st)
def test_raised_alarms_are_explained_or_false_never_both(faults, alarms):
    end = 2000
    scores, false = score(faults, {i: f.at for i, f in enumerate(faults)}, alarms, end)
    raised = [a for a in alarms if a["state"] == "raised"]
    for a in raised:
        explains = any(_explains(f, a, end) for f in faults)
        assert (a in false) != explains or raised.count(a) > 1
    for f, s in zip(faults, scores):
        hits = [a for a in raised if _explains(f, a, end)]
        assert s.detected == bool(hits)
        if hits:
            assert s.raised_at == hits[0]["time"] and s.latency_s == hits[0]["time"] - f.at


def test_a_supply_loss_reported_after_the_fact_detects_the_mains_loss():
    """No hold-up, no last gasp: the board raises supplyLoss at its first tick after the
    mains returns (until + 1); that detects the outage, with its whole length as latency.
    Other causes get no such grace: their alarm must come while the fault is there."""
    loss, dead = Fault("mains_loss", 100, 700), Fault("lamp_dead", 100, 700)
    (s,), false = score([loss], {0: 100}, [{"alarm": "supplyLoss", "state": "raised", "time": 701},
                                          {"alarm": "supplyLoss", "state": "cleared", "time": 703}], 2000)
    assert s.detected and s.latency_s == 601 and s.cleared_at == 703 and false == []
    (s,), false = score([dead], {0: 100}, [{"alarm": "lampFailure", "state": "raised", "time": 701}], 2000)
    assert not s.detected and len(false) == 1
