"""The scorer's new outcomes (issue 11, class 14): cleared while the fault is still active,
switched when it should not, rightly not raised. Graded against independent references
(astral for the sun, zoneinfo for civil time), never against the scorer's own helpers."""
from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from astral import Observer
from astral.sun import elevation
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from simulator.scenario import loads
from simulator.score import expectations, score, switching


def _scenario(extra: str = "", lat: float = 52.0, lon: float = 5.0, start: int = 1768435200,
              post: str = "") -> object:
    start_iso = dt.datetime.fromtimestamp(start, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return loads(f'[post]\nlatitude = {lat}\nlongitude = {lon}\n{post}\n'
                 f'[run]\nstart = "{start_iso}"\nduration = "2d"\n{extra}')


def _row(t, relay, dim=100, mains=1):
    return (t, relay, dim, 230.0, 0.1, 20.0, 0.9, 25.0, mains)


def _sun(lat, lon, t):
    return elevation(Observer(lat, lon), dt.datetime.fromtimestamp(t, dt.timezone.utc), with_refraction=False)


# -- cleared while its fault is still active ---------------------------------------------------

FAULT = '[[fault]]\nkind = "led_string_open"\nat = "2026-01-15T20:00:00Z"\nuntil = "2026-01-15T23:00:00Z"\n'


@settings(max_examples=200, deadline=None)
@given(raise_s=st.integers(0, 10_000), clear_s=st.integers(0, 14_000))
def test_a_clear_inside_the_fault_is_early_and_one_after_the_repair_is_not(raise_s, clear_s):
    sc = _scenario(FAULT)
    f = sc.faults[0]
    at, until = f.at, f.until
    alarms = [{"alarm": "lampPowerTooLow", "state": "raised", "time": at + raise_s},
              {"alarm": "lampPowerTooLow", "state": "cleared", "time": at + raise_s + 1 + clear_s}]
    (s,), _ = score(sc.faults, {0: at}, alarms, sc.end)
    cleared = at + raise_s + 1 + clear_s
    if at + raise_s > until:
        assert not s.detected  # raised after the repair: no detection, nothing to clear early
    elif cleared < until:
        assert s.cleared_early_at == cleared
    else:
        assert s.cleared_early_at is None and s.cleared_at == cleared


def test_a_clear_of_an_unrelated_alarm_is_not_an_early_clear():
    sc = _scenario(FAULT)
    at = sc.faults[0].at
    alarms = [{"alarm": "lampPowerTooLow", "state": "raised", "time": at + 3},
              {"alarm": "highTemperature", "state": "cleared", "time": at + 60}]
    (s,), _ = score(sc.faults, {0: at}, alarms, sc.end)
    assert s.detected and s.cleared_early_at is None


# -- switched when it should not ---------------------------------------------------------------

def _truth_trace(lat, lon, start, n, step=1):
    """A trace whose relay follows the sun exactly (astral), decided a tick earlier."""
    return [_row(t, int(_sun(lat, lon, t - 1) < -0.833)) for t in range(start, start + n, step)]


@settings(max_examples=25, deadline=None)
@given(lat=st.floats(-70, 70), lon=st.floats(-180, 180),
       day=st.dates(dt.date(2001, 1, 1), dt.date(2098, 12, 31)), flip=st.integers(10, 1190))
def test_a_lamp_that_follows_the_sun_is_never_wrong_and_one_wrong_second_is_found(lat, lon, day, flip):
    obs = Observer(lat, lon)
    try:  # around sunset, where a wrong switch is hardest to tell
        from astral.sun import sunset
        t0 = int(sunset(obs, day).timestamp()) - 600
    except ValueError:
        t0 = int(dt.datetime(day.year, day.month, day.day, 12, tzinfo=dt.timezone.utc).timestamp())
    sc = _scenario(lat=lat, lon=lon, start=t0)
    trace = _truth_trace(lat, lon, t0, 1200)
    assert switching(sc, trace) == []
    t = t0 + flip
    e = _sun(lat, lon, t - 1)
    assume(abs(e + 0.833) > 0.2 and flip > 3)  # clearly on one side; the boot settle is over
    relay = trace[flip][1]
    trace[flip] = _row(t, 1 - relay)
    got = switching(sc, trace)
    assert [(w["kind"], w["from"], w["seconds"]) for w in got] == [("on" if relay == 0 else "off", t, 1)]


def test_midnight_sun_lamp_on_is_reported_and_mains_loss_is_not_judged():
    t0 = int(dt.datetime(2026, 6, 20, 22, 40, tzinfo=dt.timezone.utc).timestamp())
    sc = _scenario(lat=69.7, lon=18.9, start=t0)
    trace = [_row(t0 + i, 1 if 200 <= i < 290 else 0) for i in range(600)]
    trace += [_row(t0 + 600 + i, 1, mains=0) for i in range(30)]  # no mains: not judged
    trace += [_row(t0 + 630 + i, 1 if i < 2 else 0) for i in range(30)]  # booting: settles first
    got = switching(sc, trace)
    assert [(w["kind"], w["from"] - t0, w["seconds"]) for w in got] == [("on", 200, 90)]


def test_a_stuck_photocell_excuses_what_it_makes_the_lamp_do():
    t0 = int(dt.datetime(2026, 1, 15, 12, tzinfo=dt.timezone.utc).timestamp())
    fault = ('[[fault]]\nkind = "photocell_stuck_dark"\nat = "2026-01-15T12:00:00Z"\n'
             'until = "2026-01-15T12:10:00Z"\n')
    sc = _scenario(fault, start=t0, post="photocell = true")
    trace = [_row(t0 + i, 1) for i in range(1200)]  # lit at noon: excused while the cell is stuck
    got = switching(sc, trace)
    assert [(w["kind"], w["from"] - t0, w["seconds"]) for w in got] == [("on", 600, 600)]


def _dim_trace(zone_offset, start, n, level=50, a=23 * 60, b=5 * 60):
    """A lit night whose dim level follows 23:00-05:00 on the clock zone_offset(t) gives."""
    out = []
    for t in range(start, start + n, 1):
        m = zone_offset(t - 1)
        inside = m >= a or m < b
        out.append(_row(t, 1, level if inside else 100))
    return out


def test_dimming_is_judged_on_the_zones_civil_clock():
    ams = ZoneInfo("Europe/Amsterdam")

    def civil(t):
        d = dt.datetime.fromtimestamp(t, ams)
        return d.hour * 60 + d.minute

    def fixed(t):  # UTC+1 all year: an hour off in summer
        return (t + 3600) % 86400 // 60

    extra = ('[firmware]\ndim_level = 50\ndim_from_min = 1380\ndim_to_min = 300\n'
             '[expect]\ntimezone = "Europe/Amsterdam"\n')
    t0 = int(dt.datetime(2026, 7, 1, 20, tzinfo=dt.timezone.utc).timestamp())  # lit: 69.7 S, July
    sc = _scenario(extra, lat=-69.7, lon=5.0, start=t0)
    assert switching(sc, _dim_trace(civil, t0, 10 * 3600)) == []
    got = switching(sc, _dim_trace(fixed, t0, 10 * 3600))
    # an hour late at 23:00 and an hour late at 05:00 (the scorer allows the tick the command takes)
    assert [w["kind"] for w in got] == ["dim", "dim"] and all(3598 <= w["seconds"] <= 3600 for w in got)


# -- rightly not raised ------------------------------------------------------------------------

def test_not_raised_expectations_and_the_baselines_margins():
    sc = _scenario('[expect]\nnot_raised = ["photocell", "lampPowerTooLow"]\n')
    t = sc.start + 100
    ours = [{"alarm": "photocell", "state": "cleared", "time": t}]
    base = [{"alarm": "PowerLow", "talq": ["lampPowerTooLow", "lampFailure"], "state": "raised", "time": t}]
    assert expectations(sc, ours) == [
        {"alarm": "photocell", "rightly_not_raised": True, "raised_at": None},
        {"alarm": "lampPowerTooLow", "rightly_not_raised": True, "raised_at": None}]
    assert [x["rightly_not_raised"] for x in expectations(sc, base)] == [True, False]


@settings(deadline=None)  # scenario loads with zone lookups: no wall-clock limit on a loaded machine
@given(name=st.text(st.characters(blacklist_categories=("Cc", "Cs")), max_size=40))
def test_a_bad_expectation_is_a_clear_scenario_error(name):
    from simulator.scenario import ScenarioError
    import json
    for table in (f"[expect]\ntimezone = {json.dumps(name, ensure_ascii=False)}\n", f"[expect]\nnot_raised = [{json.dumps(name, ensure_ascii=False)}]\n"):
        try:
            sc = _scenario(table)
        except ScenarioError as e:
            assert "expect." in str(e)
        else:
            assert sc.expect  # a real zone or alarm name
