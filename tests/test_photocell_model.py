"""The photocell model: the sun's elevation against astral, and a cell that reads dark in
twilight, earlier under cloud and fog, never in daylight, always at night, the same every run."""
from __future__ import annotations

import datetime as dt

from astral import Observer
from astral.sun import elevation
from hypothesis import given, settings
from hypothesis import strategies as st

import documented
from simulator.models.photocell import Photocell, sun_elevation

# the model is checked against what docs/scenarios.md documents, not against its own constants
CLEAR_ELEV, MAX_DARK_ELEV, NIGHT_ELEV = documented.photocell_elevations()
SKIES_DOC = documented.photocell_skies()
from simulator.models.world import World
from simulator.scenario import loads

SUNSET_ELEV = -0.833  # the firmware's clock (lamppost/sun.py), geometric elevation
WINDOW_S = 30 * 60  # the firmware's default pc_window_min: the photocell decides within it

times = st.integers(int(dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc).timestamp()),
                    int(dt.datetime(2040, 12, 31, tzinfo=dt.timezone.utc).timestamp()))
lats = st.floats(-60, 60)
lons = st.floats(-180, 180)
seeds = st.integers(0, 2**31)


@settings(max_examples=300, deadline=None)
@given(t=times, lat=st.floats(-89, 89), lon=lons)
def test_sun_elevation_matches_astral_within_a_hundredth_of_a_degree(t, lat, lon):
    ref = elevation(Observer(latitude=lat, longitude=lon),
                    dt.datetime.fromtimestamp(t, dt.timezone.utc), with_refraction=False)
    assert abs(sun_elevation(t, lat, lon) - ref) < 0.01


@settings(max_examples=300, deadline=None)
@given(t=times, lat=st.floats(-89, 89), lon=lons, seed=seeds)
def test_never_dark_in_daylight_always_dark_at_night(t, lat, lon, seed):
    pc = Photocell(seed, lat, lon)
    e = sun_elevation(t, lat, lon)
    assert CLEAR_ELEV <= pc.threshold(t) <= MAX_DARK_ELEV
    if e >= MAX_DARK_ELEV:
        assert not pc.dark(t)
    if e < NIGHT_ELEV:
        assert pc.dark(t)
    if e < CLEAR_ELEV:  # cloud only ever darkens: dark under a clear sky is dark under any
        assert pc.dark(t)


def _crossing(f, a: int, b: int) -> int:
    """First second in (a, b] at which f turns from False to True (f(a) False, f(b) True)."""
    while b - a > 1:
        m = (a + b) // 2
        a, b = (m, b) if not f(m) else (a, m)
    return b


def _dusk(lat: float, lon: float, t: int) -> int:
    """The clock's sunset (elevation -0.833 on the way down) in the 24 h after t."""
    step = 600
    for k in range(0, 86400, step):
        a, b = t + k, t + k + step
        if sun_elevation(a, lat, lon) >= SUNSET_ELEV > sun_elevation(b, lat, lon):
            return _crossing(lambda x: sun_elevation(x, lat, lon) < SUNSET_ELEV, a, b)
    raise AssertionError("no sunset")


@settings(max_examples=150, deadline=None)
@given(t=times, lat=lats, lon=lons, seed=seeds)
def test_the_cell_switches_within_minutes_of_sunset_inside_the_firmware_window(t, lat, lon, seed):
    """Clear skies a few minutes after sunset, cloud and fog a few minutes earlier; always
    within the firmware's 30 min window, so the photocell, not the clock, decides that dusk."""
    pc = Photocell(seed, lat, lon)
    sunset = _dusk(lat, lon, t)
    lo, hi = sunset - 2 * WINDOW_S, sunset + 2 * WINDOW_S
    assert not pc.dark(lo) and pc.dark(hi)
    on = _crossing(pc.dark, lo, hi)
    assert abs(on - sunset) < WINDOW_S
    name, darkening = pc.sky(on)
    if name == "clear":
        assert on > sunset  # a clean cell under a clear sky waits for some twilight
    rate = abs(sun_elevation(on + 30, lat, lon) - sun_elevation(on - 30, lat, lon))  # deg/min
    assert abs((on - sunset) / 60 - (SUNSET_ELEV - CLEAR_ELEV - darkening) / rate) < 1.5


@settings(max_examples=50, deadline=None)
@given(seed=seeds, lat=lats, lon=lons, t=times)
def test_weather_is_seeded_and_the_same_for_every_reader(seed, lat, lon, t):
    a, b = Photocell(seed, lat, lon), Photocell(seed, lat, lon)
    assert [a.sky(t + k * 43200) for k in range(6)] == [b.sky(t + k * 43200) for k in range(6)]
    assert a.sky(t) == a.sky(t + 60) or a.twilight(t) != a.twilight(t + 60)
    assert a.read(t, {"photocell_stuck_dark": {}}) is True
    assert a.read(t, {"photocell_stuck_light": {}}) is False
    assert a.read(t, {"lamp_dead": {}}) == a.dark(t)


def test_skies_come_in_their_proportions():
    pc = Photocell(1, 52.03, 5.56)
    t0 = int(dt.datetime(2026, 1, 1, 18, tzinfo=dt.timezone.utc).timestamp())
    names = [pc.sky(t0 + k * 43200)[0] for k in range(4000)]
    assert set(names) == set(SKIES_DOC)
    for name, (p, lo, hi) in SKIES_DOC.items():
        assert abs(names.count(name) / len(names) - p) < 0.03, name
    for k in range(400):  # each sky darkens the cell by the documented range, capped
        name, darkening = pc.sky(t0 + k * 43200)
        lo, hi = SKIES_DOC[name][1:]
        assert lo - 1e-9 <= darkening <= hi + 1e-9, (name, darkening)


def _world(photocell: bool):
    text = ('[post]\nphotocell = %s\n[run]\nstart = "2026-01-15T15:00:00Z"\nduration = "2h"\n'
            'seed = 5\n[supply]\ndips_per_day = 200\n' % ("true" if photocell else "false"))
    return World(loads(text))


def test_fitting_a_photocell_leaves_the_rest_of_the_world_unchanged():
    with_pc, without = _world(True), _world(False)
    t0 = with_pc.sc.start
    darks = []
    for k in range(0, 7200, 7):
        a, _ = with_pc.step(t0 + k, True, 100)
        b, _ = without.step(t0 + k, True, 100)
        assert (a.v, a.p, a.pf, a.temp) == (b.v, b.p, b.pf, b.temp)
        assert not b.dark
        darks.append(a.dark)
    assert darks[0] is False and darks[-1] is True  # 15:00 light, 17:00 dark in January
    assert darks == sorted(darks)  # one switch at dusk, no flicker
