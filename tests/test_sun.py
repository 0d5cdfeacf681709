"""The firmware's sun switch, run on MicroPython, against astral (CPython reference)."""
from __future__ import annotations

import datetime as dt

from astral import Observer
from astral.sun import sunrise, sunset
from hypothesis import given, settings
from hypothesis import strategies as st

EPOCH2000 = 946684800
TOLERANCE_S = 240  # 20,000 random cases: within 50 s at the equator, 205 s at 50-60 degrees


@settings(max_examples=60, deadline=None)
@given(lat=st.floats(-60, 60), lon=st.floats(-180, 180),
       day=st.dates(dt.date(2024, 1, 1), dt.date(2040, 12, 31)))
def test_rise_and_set_match_astral_within_3_minutes(mp, lat, lon, day):
    local = dt.timezone(dt.timedelta(minutes=round(lon * 4)))  # local mean time, the firmware's day
    noon = dt.datetime(day.year, day.month, day.day, 12, tzinfo=local)
    t = int(noon.timestamp()) - EPOCH2000
    n = mp.call("lamppost.sun", "solar_day", t, lon)
    rise, set_, flag = mp.call("lamppost.sun", "rise_set", n, lat, lon)
    assert flag == 0
    obs = Observer(latitude=lat, longitude=lon)
    ref_rise = sunrise(obs, day, local).timestamp() - EPOCH2000
    ref_set = sunset(obs, day, local).timestamp() - EPOCH2000
    assert abs(rise - ref_rise) < TOLERANCE_S
    assert abs(set_ - ref_set) < TOLERANCE_S


def test_polar_night_keeps_the_lamp_on_and_midnight_sun_off(mp):
    # Tromso (69.6 N): polar night in late December, midnight sun in late June
    dec = (dt.datetime(2026, 12, 21, 12, tzinfo=dt.timezone.utc).timestamp()) - EPOCH2000
    jun = (dt.datetime(2026, 6, 21, 12, tzinfo=dt.timezone.utc).timestamp()) - EPOCH2000
    n_dec = mp.call("lamppost.sun", "solar_day", int(dec), 18.9)
    n_jun = mp.call("lamppost.sun", "solar_day", int(jun), 18.9)
    assert mp.call("lamppost.sun", "rise_set", n_dec, 69.6, 18.9)[2] == 1  # POLAR_NIGHT
    assert mp.call("lamppost.sun", "rise_set", n_jun, 69.6, 18.9)[2] == 2  # MIDNIGHT_SUN
