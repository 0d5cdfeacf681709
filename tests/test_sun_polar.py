"""The astronomical clock is right for every second of the day at any latitude, polar cases too.

Reference: astral's solar elevation (geometric, no refraction: the firmware's -0.833 degrees
folds refraction and the sun's radius in). The firmware's stated tolerance is in elevation
(lamppost/sun.py TOL_DEG), not in time, because near the poles the sun skims the horizon for
hours: the lamp must burn wherever the sun is more than TOL_DEG below the switching elevation
and be off wherever it is more than TOL_DEG above it.
"""
from __future__ import annotations

import datetime as dt

from astral import Observer
from astral.sun import elevation
from hypothesis import example, given, settings
from hypothesis import strategies as st

EPOCH2000 = 946684800
TOL_DEG = 0.05  # firmware/lamppost/sun.py TOL_DEG
ELEV = -0.833


def _elev(lat, lon, t2000):
    when = dt.datetime.fromtimestamp(t2000 + EPOCH2000, dt.timezone.utc)
    return elevation(Observer(lat, lon), when, with_refraction=False)


def _t(y, m, d, hh=0, mm=0, ss=0):
    return int(dt.datetime(y, m, d, hh, mm, ss, tzinfo=dt.timezone.utc).timestamp()) - EPOCH2000


# corners: leap days, New Year, both sides of the date line, both poles
SPECIAL = st.sampled_from([_t(2000, 2, 29, 12), _t(2024, 2, 29, 23, 59, 59), _t(2096, 2, 29),
                           _t(2026, 12, 31, 23, 59, 59), _t(2027, 1, 1), _t(2099, 12, 31, 12),
                           _t(2026, 6, 21, 0, 30), _t(2026, 12, 21, 11, 50)])
INSTANT = st.one_of(st.integers(0, _t(2099, 12, 31, 23, 59, 59)), SPECIAL)
LON = st.one_of(st.floats(-180, 180), st.sampled_from([-180.0, 180.0, 179.99, -179.99, 0.0]))
LAT = st.one_of(st.floats(-89, 89), st.floats(60, 89), st.floats(-89, -60),
                st.sampled_from([69.7, -69.7, 66.56, -66.56, 89.0, -89.0]))


@settings(max_examples=300, deadline=None)
@given(lat=LAT, lon=LON, t=INSTANT)
@example(lat=69.7, lon=18.9, t=_t(2026, 6, 21, 22, 45))  # ~local mean midnight: was lit ~90 s
def test_lamp_is_on_exactly_when_the_sun_is_below_the_switching_elevation(mp, lat, lon, t):
    dark = mp.call("sun_probe", "dark", lat, lon, t)
    e = _elev(lat, lon, t)
    if abs(e - ELEV) > TOL_DEG:
        assert dark == (e < ELEV), f"sun at {e:.3f} deg, lamp {'on' if dark else 'off'}"


@settings(max_examples=12, deadline=None)
@given(lat=st.one_of(st.floats(60, 89), st.floats(-89, -60), st.floats(-66, 66)), lon=LON,
       day=st.one_of(st.dates(dt.date(2000, 1, 1), dt.date(2099, 12, 31)),
                     st.sampled_from([dt.date(2024, 2, 29), dt.date(2026, 12, 31),
                                      dt.date(2027, 1, 1), dt.date(2026, 6, 21)])))
def test_every_second_of_a_day_is_right(mp, lat, lon, day):
    """The switch's state at every second of a UTC day (its transitions, scanned on MicroPython),
    against the sun each minute and at each transition."""
    t0 = _t(day.year, day.month, day.day)
    changes = mp.call("sun_probe", "scan", lat, lon, t0, 86400)
    for t, dark in changes[1:]:  # a switch happens where the sun crosses, within the tolerance
        assert abs(_elev(lat, lon, t) - ELEV) <= TOL_DEG + 0.005, (t, dark)
    k = 0
    for t in range(t0, t0 + 86400, 60):
        while k + 1 < len(changes) and changes[k + 1][0] <= t:
            k += 1
        e = _elev(lat, lon, t)
        if abs(e - ELEV) > TOL_DEG:
            assert changes[k][1] == (e < ELEV), (t, e)


def test_midnight_sun_and_polar_night_cover_every_second(mp):
    # Tromso area (69.7 N): a fortnight of June never dark, ten December days never light
    for start, days, want in ((_t(2026, 6, 14), 14, False), (_t(2026, 12, 8), 10, True)):
        changes = mp.call("sun_probe", "scan", 69.7, 18.9, start, days * 86400)
        assert changes == [[start, want]], changes[:5]
