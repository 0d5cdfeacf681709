"""Local civil time with daylight saving (issue 11, class 13): the firmware's schedule clock
against CPython's zoneinfo (the IANA database) over random instants 2000-2099.

A dimming window set in local time ("50 % from 23:00 to 05:00") must follow the clocks on
the wall: with `sched_clock = "utc"`, `utc_offset_min` the standard offset and `dst` the rule.
"""
from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from hypothesis import example, given, settings
from hypothesis import strategies as st

EPOCH2000 = 946684800
ZONES = {"eu": ("Europe/Amsterdam", 60), "us": ("America/New_York", -300)}
END = int(dt.datetime(2100, 1, 1, tzinfo=dt.timezone.utc).timestamp()) - EPOCH2000


def _civil_minute(t2000: int, zone: str) -> int:
    local = dt.datetime.fromtimestamp(t2000 + EPOCH2000, ZoneInfo(zone))
    return local.hour * 60 + local.minute


def _transitions(zone: str, year: int) -> list[int]:
    """UTC 2000-epoch seconds at which the zone's offset changes in that year (hour search)."""
    z = ZoneInfo(zone)
    t = int(dt.datetime(year, 1, 1, tzinfo=dt.timezone.utc).timestamp())

    def off(x):
        return dt.datetime.fromtimestamp(x, z).utcoffset()

    out = []
    for d in range(366):
        a = t + d * 86400
        if off(a) != off(a + 86400):
            h = next(h for h in range(1, 25) if off(a + h * 3600) != off(a))
            out.append(a + h * 3600 - EPOCH2000)  # both zones change on a whole UTC hour
    return out


@settings(max_examples=300, deadline=None)
@given(rule=st.sampled_from(sorted(ZONES)), t=st.integers(0, END - 1))
@example(rule="eu", t=int(dt.datetime(2026, 7, 1, 21, 30, tzinfo=dt.timezone.utc).timestamp()) - EPOCH2000)
@example(rule="us", t=int(dt.datetime(2006, 4, 2, 7, 0, tzinfo=dt.timezone.utc).timestamp()) - EPOCH2000)
def test_local_minute_matches_zoneinfo(mp, rule, t):
    zone, std = ZONES[rule]
    assert mp.call("dst_probe", "local_minute", std, rule, t) == _civil_minute(t, zone)


@settings(max_examples=12, deadline=None)
@given(rule=st.sampled_from(sorted(ZONES)), year=st.integers(2000, 2099))
def test_the_clock_changes_on_the_second_the_zone_does(mp, rule, year):
    zone, std = ZONES[rule]
    for tr in _transitions(zone, year):
        ts = [tr - 1, tr, tr + 1]
        got = mp.call("dst_probe", "minutes", std, rule, ts)
        assert got == [_civil_minute(t, zone) for t in ts], (year, tr)


def test_no_rule_keeps_the_fixed_offset(mp):
    t = int(dt.datetime(2026, 7, 1, 21, 30, tzinfo=dt.timezone.utc).timestamp()) - EPOCH2000
    assert mp.call("dst_probe", "local_minute", 60, "none", t) == 22 * 60 + 30
