"""Auth, event log and switching schedule, on MicroPython."""
import os
from lamppost import clock, servicepin as auth, sun
from lamppost.eventlog import EventLog, PER_FILE
from lamppost.reading import Reading
from lamppost.schedule import Schedule

PC_FAULT_S = 600  # docs/console.md: a photocell that disagrees with the clock for 10 min is reported

T0 = clock.parse_iso("2026-01-15T00:00:00Z")


class St:
    fails = 0
    locked_until = 0


def test_lockout_after_three_wrong_pins_refuses_even_the_right_one():
    st = St()
    assert auth.check(st, 100, "1111", "4711") and auth.check(st, 101, "2222", "4711")
    err = auth.check(st, 102, "3333", "4711")
    assert "locked out for 60 s" in err
    assert "locked out" in auth.check(st, 110, "4711", "4711")
    assert auth.check(st, 162, "4711", "4711") is None and st.fails == 0


def test_lockout_doubles_with_each_further_failure_up_to_an_hour():
    st = St()
    locks = []
    t = 0
    for _ in range(12):
        auth.check(st, t, "0000", "4711")
        locks.append(max(0, st.locked_until - t))
        t = max(t, st.locked_until) + 1
    assert locks[:2] == [0, 0] and locks[2:6] == [60, 120, 240, 480] and max(locks) == 3600


def _rm(prefix):
    for i in (0, 1):
        try:
            os.remove(prefix + "%d.log" % i)
        except OSError:
            pass


def test_event_log_is_bounded_survives_reboot_and_keeps_order():
    prefix = "evtest_"  # in this test's own directory
    _rm(prefix)
    log = EventLog(prefix)
    n = 3 * PER_FILE + 5
    for i in range(n):
        log.add(i * 10, "switch", "e%d" % i)
        log.tick(i * 10)
    log.flush(n * 10)
    assert log.writes < n  # batched, not one write per entry
    again = EventLog(prefix)  # reboot: read back from flash
    tail = again.tail(2 * PER_FILE + 10)
    assert PER_FILE <= len(tail) <= 2 * PER_FILE
    assert tail[-1][3] == "e%d" % (n - 1)
    seqs = [e[0] for e in tail]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    again.add(n * 10 + 5, "boot", "b", True)  # urgent: written at once
    assert EventLog(prefix).tail(1)[0][3] == "b"
    _rm(prefix)


def test_event_log_skips_a_torn_last_line():
    prefix = "evtorn_"
    _rm(prefix)
    log = EventLog(prefix)
    log.add(1, "boot", "x", True)
    with open(prefix + "0.log", "a") as f:
        f.write('[7, 12, "swi')  # power cut mid-write
    assert [e[3] for e in EventLog(prefix).tail(5)] == ["x"]
    _rm(prefix)


def cfg(**kw):
    c = {"lat": 52.0, "lon": 0.0}
    c.update(kw)
    return c


def sched(**kw):
    c = cfg(**kw)
    events = []
    s = Schedule(c, sun.SunSwitch(c["lat"], c["lon"]), lambda kind, f: events.append((kind, f.get("state"))))
    return s, events


def test_dimming_window_on_solar_time():
    s, _ = sched(dim_level=50, dim_from_min=0, dim_to_min=300)
    r = Reading()
    assert s.decide(T0 - 3600, r) == (True, 100)  # 23:00
    assert s.decide(T0 + 3600, r) == (True, 50)  # 01:00
    assert s.decide(T0 + 5 * 3600, r) == (True, 100)  # 05:00, still dark in January
    assert s.decide(T0 + 12 * 3600, r)[0] is False  # noon


def test_dimming_window_wraps_midnight_on_utc_offset_clock():
    s, _ = sched(dim_level=30, dim_from_min=23 * 60, dim_to_min=60, sched_clock="utc",
                 utc_offset_min=60, lon=30.0)
    r = Reading()
    assert s.local_minute(T0) == 60
    assert s.decide(T0 - 1800, r) == (True, 30)  # 23:30 local
    assert s.decide(T0 + 1800, r) == (True, 100)  # 01:30 local


def test_override_returns_to_auto_after_timeout():
    s, ev = sched(override_s=600)
    r = Reading()
    noon = T0 + 12 * 3600
    s.set_override(noon, relay=True, dim=40)
    assert s.decide(noon + 599, r) == (True, 40)
    assert s.decide(noon + 600, r)[0] is False
    assert ev == [("override", "expired")] and s.override() is None


def test_photocell_wins_near_sunset_but_a_stuck_one_is_reported_and_ignored():
    s, ev = sched(photocell=True, pc_window_min=30)
    r = Reading()
    s.decide(T0 + 12 * 3600, r)
    sunset = s.sun.set
    r.dark = True  # cloudy evening: dark 20 min before sunset
    assert s.decide(sunset - 1200, r)[0] is True
    r.dark = False  # still light 20 min after sunset (e.g. under a street light)
    assert s.decide(sunset + 1200, r)[0] is False
    # far from twilight a photocell saying "light" at midnight is wrong: the clock wins
    t = T0 + 86400
    for i in range(PC_FAULT_S + 1):
        on, _ = s.decide(t + i, r)
        assert on is True
    assert ev == [("photocell", "fault")]
    assert s.decide(s.sun.set + 1200, r)[0] is True  # faulty photocell ignored near sunset too


def test_a_stuck_photocell_is_not_cleared_by_agreeing_half_the_day_only_by_reading_right():
    s, ev = sched(photocell=True, pc_window_min=30)
    r = Reading()
    noon = T0 + 12 * 3600
    r.dark = True  # stuck dark: wrong by day
    for i in range(PC_FAULT_S + 1):
        assert s.decide(noon + i, r)[0] is False  # the clock wins by day
    assert ev == [("photocell", "fault")]
    midnight = T0 + 86400
    for i in range(3 * PC_FAULT_S):  # agrees at night, as a cell stuck dark always does
        s.decide(midnight + i, r)
    assert ev == [("photocell", "fault")] and s.pc_fault
    dawn = s.sun.rise + 600  # inside the window: the faulty cell is ignored, the clock wins
    assert s.decide(dawn, r)[0] is False
    r.dark = False  # repaired: reads light by day
    noon += 86400
    for i in range(PC_FAULT_S + 1):
        s.decide(noon + i, r)
    assert ev == [("photocell", "fault"), ("photocell", "ok")] and not s.pc_fault
