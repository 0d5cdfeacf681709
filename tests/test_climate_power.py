"""The world's climate ([climate], issue 11 class 12) and the board's hold-up capacitor (class 8)."""
from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from simulator.models.power import HoldUp
from simulator.models.world import Thermal, World
from simulator.scenario import loads

T = st.integers(946684800, 4102444799)  # 2000-2099
CLIMATE = st.fixed_dictionaries({"mean": st.floats(-40, 45), "daily": st.floats(0, 20),
                                 "seasonal": st.floats(0, 30)})


@settings(deadline=None)
@given(t=T, phase=st.floats(0, 2 * math.pi))
def test_without_a_climate_the_ambient_is_the_old_day_cycle(t, phase):
    th = Thermal(60.0, phase)
    assert th.ambient(t) == 10.0 + 6.0 * math.sin(2 * math.pi * t / 86400 + phase)


@settings(max_examples=300, deadline=None)
@given(t=T, c=CLIMATE, lat=st.floats(-89, 89), lon=st.floats(-180, 180))
def test_ambient_stays_within_the_swings_and_the_hemispheres_mirror(t, c, lat, lon):
    north = Thermal(60.0, 0.0, c, abs(lat), lon)
    south = Thermal(60.0, 0.0, c, -abs(lat) - 1e-9, lon)
    a = north.ambient(t)
    assert c["mean"] - c["daily"] - c["seasonal"] - 1e-9 <= a <= c["mean"] + c["daily"] + c["seasonal"] + 1e-9
    # the seasonal part is opposite in the other hemisphere, the daily part the same
    daily = Thermal(60.0, 0.0, dict(c, seasonal=0.0), lat, lon).ambient(t) - c["mean"]
    assert math.isclose(a + south.ambient(t), 2 * (c["mean"] + daily), abs_tol=1e-6)


def test_warmest_at_three_in_the_afternoon_local_time_and_in_july_up_north():
    c = {"mean": 20.0, "daily": 8.0, "seasonal": 10.0}
    th = Thermal(60.0, 0.0, c, 40.0, -75.0)  # 75 W: local mean time is UTC - 5 h
    day = 1784592000  # 2026-07-21T00:00Z
    hottest = max(range(day, day + 86400, 600), key=th.ambient)
    assert (hottest - day) // 3600 == 20  # 15:00 local mean time = 20:00 UTC
    jan = Thermal(60.0, 0.0, c, 40.0, -75.0).ambient(hottest - 182 * 86400)
    assert th.ambient(hottest) - jan > 19  # seasonal swing +-10 degC


def test_a_hot_climate_heats_the_controller_in_the_world():
    base = '[post]\nlatitude = 33.45\nlongitude = -112.07\n[run]\nstart = "2026-07-20T20:00:00Z"\nduration = "1h"\n'
    cool, hot = World(loads(base)), World(loads(base + "[climate]\nmean = 24\ndaily = 8\nseasonal = 10\n"))
    t0 = 1784577600
    for t in range(t0, t0 + 600):
        a, _ = cool.step(t, False, 100)
        b, _ = hot.step(t, False, 100)
    assert a.temp < 40 < b.temp  # ~40 degC air at 13:00 local time in July, +15 K enclosure


# -- the hold-up capacitor ---------------------------------------------------------------------

@settings(max_examples=300, deadline=None)
@given(holdup=st.integers(0, 10), mains=st.lists(st.booleans(), min_size=1, max_size=200))
def test_every_interruption_gets_the_full_hold_up(holdup, mains):
    """The board rides through the first `holdup` seconds of every interruption, however many
    interruptions came before in the same boot (the capacitor recharges with the mains)."""
    cap = HoldUp(holdup)
    out_for = 0
    for m in mains:
        out_for = 0 if m else out_for + 1
        assert cap.step(m) == (m or out_for <= holdup)
