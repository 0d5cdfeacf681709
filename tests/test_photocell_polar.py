"""A healthy photocell is never reported faulty, at any latitude and season (issue 11, class 2).

The cell reads dark below a switching elevation anywhere a real clean cell under some sky
does (-1.5 to +1 degrees, simulator/models/photocell.py); the firmware's schedule runs on
MicroPython over whole days of it, polar night and midnight sun included.
"""
from __future__ import annotations

import datetime as dt

from hypothesis import given, settings
from hypothesis import strategies as st

EPOCH2000 = 946684800


@settings(max_examples=8, deadline=None)
@given(lat=st.one_of(st.floats(60, 75), st.floats(-75, -60), st.floats(-60, 60)),
       lon=st.floats(-180, 180), day=st.dates(dt.date(2001, 1, 1), dt.date(2098, 12, 30)),
       thr=st.floats(-1.5, 1.0))
def test_a_healthy_cell_is_never_reported(mp, lat, lon, day, thr):
    t0 = int(dt.datetime(day.year, day.month, day.day, tzinfo=dt.timezone.utc).timestamp()) - EPOCH2000
    assert mp.call("sun_probe", "photocell_days", lat, lon, t0, 1, thr, 30) == []


def test_end_of_polar_night_at_69_7_north(mp):
    # the field report: 12-15 January, the clock dark all day, the cell light at noon
    t0 = int(dt.datetime(2026, 1, 12, tzinfo=dt.timezone.utc).timestamp()) - EPOCH2000
    for thr in (-1.5, -1.0, 0.0):
        assert mp.call("sun_probe", "photocell_days", 69.7, 18.9, t0, 3, thr, 30) == []
