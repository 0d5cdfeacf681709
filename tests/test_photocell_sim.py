"""A photocell on the real firmware under the simulator: it brings the lamp on early on a dark
evening, and a stuck one neither burns the lamp by day nor leaves the street dark at night,
and is reported (`ev: photocell`, scored as `photocell`) and cleared after repair."""
from __future__ import annotations

import datetime as dt

import documented

from simulator.models.photocell import Photocell, sun_elevation
from simulator.runner import Simulation
from simulator.scenario import loads

LAT, LON = 52.03, 5.56
SUNSET_ELEV = -0.833  # the firmware's clock
WINDOW_S = 30 * 60  # pc_window_min default: the photocell decides this near sunrise/sunset
PC_FAULT_S = documented.photocell_fault_s()  # docs/console.md: a cell that disagrees for 10 min is reported
SUN_ERR_S = 240  # the firmware's sunrise equation is within ~3.5 min of the truth at 52 N


def unix(iso: str) -> int:
    return int(dt.datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp())


def post(start: str, duration: str, seed: int = 7, extra: str = "") -> str:
    return (f'[post]\nid = "NL-0070"\nlatitude = {LAT}\nlongitude = {LON}\nphotocell = true\n\n'
            f'[run]\nstart = "{start}"\nduration = "{duration}"\nseed = {seed}\n{extra}')


def fault(kind: str, at: str, until: str) -> str:
    return f'\n[[fault]]\nkind = "{kind}"\nat = "{at}"\nuntil = "{until}"\n'


def simulate(tmp_path, text: str, name: str):
    sc = loads(text, name)
    sim = Simulation(sc, flash_dir=tmp_path / name)
    try:
        res = sim.run()
    finally:
        sim.close()
    assert not res.crashes, res.crashes[0]
    return res


def switches(res) -> list[tuple[int, str]]:
    return [(unix(r["t"]), r["lamp"]) for r in res.reports if r.get("ev") == "switch"]


def pc_events(res) -> list[tuple[int, str]]:
    return [(unix(r["t"]), r["state"]) for r in res.reports if r.get("ev") == "photocell"]


def crossing(t0: int, t1: int, elev: float, rising: bool) -> int:
    """The second the sun crosses `elev` between t0 and t1."""
    for t in range(t0, t1, 10):
        a, b = sun_elevation(t, LAT, LON), sun_elevation(t + 10, LAT, LON)
        if (a < elev <= b) if rising else (a >= elev > b):
            return t + 10
    raise AssertionError("no crossing")


def lit_by_day(res) -> list[int]:
    """Ticks the relay was on with the sun above the horizon (0 deg)."""
    return [t for t, relay, *_ in res.trace if relay and sun_elevation(t, LAT, LON) > 0.0]


def dark_at_night(res) -> list[int]:
    """Ticks the relay was off after civil dusk (sun below -6 deg)."""
    return [t for t, relay, *_ in res.trace if not relay and sun_elevation(t, LAT, LON) < -6.0]


def test_a_working_photocell_switches_on_earlier_than_the_clock_on_a_dark_overcast_evening(tmp_path):
    evening = unix("2026-01-15T16:00:00Z")
    seed = next(s for s in range(1, 500)
                if Photocell(s, LAT, LON).sky(evening)[0] in ("overcast", "fog")
                and Photocell(s, LAT, LON).threshold(evening) > SUNSET_ELEV + 0.3)
    text = post("2026-01-15T15:00:00Z", "2h", seed)
    with_pc = simulate(tmp_path, text, "pc.toml")
    clock = simulate(tmp_path, text + "\n[firmware]\nphotocell = false\n", "clock.toml")
    (on_pc, lamp), = [s for s in switches(with_pc) if s[1] == "on"]
    (on_clock, _), = [s for s in switches(clock) if s[1] == "on"]
    model = Photocell(seed, LAT, LON)
    first_dark = next(t for t in range(unix("2026-01-15T15:00:00Z"), evening + 3600) if model.dark(t))
    assert on_pc == first_dark  # the firmware follows the cell inside the window, to the second
    assert 60 < on_clock - on_pc < WINDOW_S  # earlier than the clock, never before the window
    assert abs(on_clock - crossing(evening - 3600, evening + 3600, SUNSET_ELEV, False)) < SUN_ERR_S
    assert not with_pc.alarms() and not pc_events(with_pc) and not with_pc.false_alarms


def test_stuck_dark_never_burns_the_lamp_by_day_and_is_reported_and_cleared(tmp_path):
    text = post("2026-01-15T09:00:00Z", "3090m",
                extra=fault("photocell_stuck_dark", "2026-01-15T12:00:00Z", "2026-01-16T00:00:00Z")
                + fault("photocell_stuck_dark", "2026-01-16T20:00:00Z", "2026-01-17T12:00:00Z"))
    res = simulate(tmp_path, text, "dark.toml")
    a, b = res.faults
    rise16 = crossing(unix("2026-01-16T06:00:00Z"), unix("2026-01-16T10:00:00Z"), SUNSET_ELEV, True)
    rise17 = crossing(unix("2026-01-17T06:00:00Z"), unix("2026-01-17T10:00:00Z"), SUNSET_ELEV, True)
    # stuck at noon: wrong at once, reported PC_FAULT_S later; repaired at midnight it reads
    # right only by day, so it is cleared the next morning, once out of the twilight window
    assert a.detected and a.latency_s == PC_FAULT_S
    assert abs(a.cleared_at - (rise16 + WINDOW_S + PC_FAULT_S)) < SUN_ERR_S
    # stuck at night: invisible until dawn, where the cell decides for pc_window_min; then
    # the clock switches off and the fault is reported PC_FAULT_S later; cleared 10 min after repair
    assert b.detected and abs(b.raised_at - (rise17 + WINDOW_S + PC_FAULT_S)) < SUN_ERR_S
    # visible when a working cell would read light: on a clear dawn a few minutes before the
    # clock's sunrise, so the worst latency is ~45 min: that lead + the window + PC_FAULT_S
    assert 0 <= rise17 - b.observable_at < 600
    assert b.latency_s < 600 + WINDOW_S + PC_FAULT_S + SUN_ERR_S
    assert b.cleared_at == unix("2026-01-17T12:00:00Z") + PC_FAULT_S
    assert [s for _, s in pc_events(res)] == ["fault", "ok", "fault", "ok"]  # no daily flapping
    # never lit by day except that one dawn inside the window, and lit every night
    burn = lit_by_day(res)
    assert burn and min(burn) > rise17 and max(burn) <= rise17 + WINDOW_S + SUN_ERR_S
    assert not dark_at_night(res)
    assert not res.false_alarms and not res.alarms()


def test_stuck_light_never_leaves_the_street_dark_at_night_and_is_reported(tmp_path):
    text = post("2026-01-15T15:00:00Z", "51h",
                extra=fault("photocell_stuck_light", "2026-01-15T20:00:00Z", "2026-01-16T20:00:00Z")
                + fault("photocell_stuck_light", "2026-01-17T12:00:00Z", "2026-01-17T18:00:00Z"))
    res = simulate(tmp_path, text, "light.toml")
    c, d = res.faults
    set16 = crossing(unix("2026-01-16T15:00:00Z"), unix("2026-01-16T17:00:00Z"), SUNSET_ELEV, False)
    set17 = crossing(unix("2026-01-17T15:00:00Z"), unix("2026-01-17T17:00:00Z"), SUNSET_ELEV, False)
    # stuck at night: reported PC_FAULT_S later, ignored from then on, so the next evening
    # the clock switches on at sunset; repaired at night, it reads dark and is cleared
    assert c.detected and c.latency_s == PC_FAULT_S
    assert c.cleared_at == unix("2026-01-16T20:00:00Z") + PC_FAULT_S
    on16 = [t for t, s in switches(res) if s == "on" and set16 - 3600 < t < set16 + 3600]
    assert len(on16) == 1 and abs(on16[0] - set16) < SUN_ERR_S
    # stuck by day: at dusk the cell decides for pc_window_min (the lamp stays off that long
    # in civil twilight), then the clock switches on and the fault is reported
    on17 = [t for t, s in switches(res) if s == "on" and set17 - 3600 < t < set17 + 3600]
    assert len(on17) == 1 and abs(on17[0] - (set17 + WINDOW_S)) < SUN_ERR_S
    assert d.detected and abs(d.raised_at - (on17[0] + PC_FAULT_S)) <= 1
    assert not dark_at_night(res) and not lit_by_day(res)
    assert [s for _, s in pc_events(res)] == ["fault", "ok", "fault"]
    assert not res.false_alarms and not res.alarms()
