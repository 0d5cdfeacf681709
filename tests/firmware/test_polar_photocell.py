"""Photocell against the clock where the clock cannot know, on MicroPython (issue 11, class 2)."""
from math import sin, radians
from lamppost import clock, sun
from lamppost.reading import Reading
from lamppost.schedule import Schedule

CELL = sin(radians(-1.5))  # a clean cell under a clear sky reads dark below -1.5 degrees


def sched(lat, lon):
    c = {"lat": lat, "lon": lon, "photocell": True, "pc_window_min": 30}
    events = []
    s = Schedule(c, sun.SunSwitch(lat, lon), lambda kind, f: events.append((kind, f.get("state"))))
    return s, events


def test_a_healthy_cell_at_the_end_of_polar_night_is_not_reported():
    # 69.7 N in mid January: the sun peaks at -1.3..-0.97 degrees, so the clock says dark all
    # day while a working cell sees bright twilight at noon; the cell must decide there
    lat, lon = 69.7, 18.9
    s, ev = sched(lat, lon)
    r = Reading()
    t0 = clock.parse_iso("2026-01-12T00:00:00Z")
    lit_by_cell = 0
    for t in range(t0, t0 + 3 * 86400, 5):
        r.dark = sun.sin_elev(t, lat, lon) < CELL
        on, _ = s.decide(t, r)
        assert on == r.dark or s.why == "clock"
        lit_by_cell += not on
    assert ev == [], ev
    assert lit_by_cell > 0  # the cell switched the lamp off in the noon twilight


def test_disagreement_inside_the_window_does_not_count_toward_the_fault_timer():
    s, ev = sched(52.0, 0.0)
    r = Reading()
    noon = clock.parse_iso("2026-01-15T12:00:00Z")
    s.decide(noon + 3600, r)
    opens, closes = s.sun.set - 1800, s.sun.set + 1801  # the 30 min window (wider than the band)
    r.dark = True  # a storm darkens the sky 8 min before the window: the clock says light
    for t in range(opens - 480, opens):
        assert s.decide(t, r)[0] is False
    r.dark = False  # the cell decides inside the window, whatever it reads
    for t in range(opens, closes):
        s.decide(t, r)
    for t in range(closes, closes + 180):  # then reads light at night for 3 min (a headlight)
        assert s.decide(t, r)[0] is True
    assert ev == [], ev  # 11 min of disagreement, but never 10 min outside the window
    for t in range(closes + 180, closes + 180 + 601):  # stuck light for 10 min at night: faulty
        s.decide(t, r)
    assert ev == [("photocell", "fault")], ev


def test_deep_polar_night_still_judges_the_cell():
    # 78 N in December: the sun stays below -12 degrees; a cell reading light at noon is faulty
    s, ev = sched(78.2, 15.6)
    r = Reading()
    t0 = clock.parse_iso("2026-12-20T10:00:00Z")
    for t in range(t0, t0 + 700):
        assert s.decide(t, r)[0] is True
    assert ev == [("photocell", "fault")], ev
