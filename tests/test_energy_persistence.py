"""Energy accounting across random power cuts, on MicroPython (firmware/lamppost/energy.py)."""
from __future__ import annotations

from hypothesis import given, settings, strategies as st

SAVE_S = 600

segment = st.tuples(st.sampled_from([0, 0, 5, 60, 150]), st.integers(1, 2000),
                    st.sampled_from(["", "", "cut", "gasp", "on", "off"]))


def _true_wh(plan):
    """(time, cumulative true Wh) at every second, mirroring the harness's clock."""
    t, wh, line = 1000, 0.0, [(1000, 0.0)]
    for watts, secs, ev in plan:
        for _ in range(secs):
            t += 1
            wh += watts / 3600
            line.append((t, wh))
        if ev == "gasp":
            t += 1
            line.append((t, wh))
        if ev in ("cut", "gasp"):
            t += 5
    return line


@settings(max_examples=40, deadline=None)
@given(plan=st.lists(segment, min_size=1, max_size=25))
def test_power_cuts_never_jump_and_lose_at_most_one_interval(mp, plan):
    cuts, writes, per_day = mp.call("meter_harness", "energy_cuts", [list(s) for s in plan], SAVE_S, 48)
    line = dict(_true_wh(plan))
    prev_after = 0.0
    for t, before, after, ev in cuts:
        assert after <= before + 1e-6  # never jumps forwards
        assert after >= prev_after - 1e-6  # never backwards past what was saved
        lost = before - after
        window = line[t] - line[max(1000, t - SAVE_S - 1)]
        assert lost <= window + 1e-6, (t, lost, window)  # at most one save interval
        prev_after = after
    assert per_day <= 48


def test_a_corrupt_record_falls_back_to_the_previous_one_not_zero(mp):
    total, restored, seq = mp.call("meter_harness", "energy_corrupt")
    # saves at 61 s and 121 s; the 121-s record is corrupt: the 61-s one is used
    assert restored == 61 and total == 130
    assert seq >= 1


def test_gasp_saves_when_the_hold_up_allows(mp):
    # 1 h burning, then the mains goes: the last gasp saves it all (last save > MIN_GAP ago)
    cuts, writes, _ = mp.call("meter_harness", "energy_cuts", [[60, 3000, "gasp"]], 3600, 48)
    (_t, before, after, _ev), = cuts
    assert after == before and before > 49
    cuts, _, _ = mp.call("meter_harness", "energy_cuts", [[60, 3000, "cut"]], 3600, 48)
    (_t, before, after, _ev), = cuts
    assert after == 0 and before > 49  # a hard cut before the first hourly save loses it
