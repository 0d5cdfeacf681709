"""MicroPython side of tests/test_dst.py: the schedule's local civil time under a DST rule."""
from lamppost import sun
from lamppost.schedule import Schedule

_s = {}


def local_minute(offset_min, dst, t):
    s = _s.get((offset_min, dst))
    if s is None:
        cfg = {"sched_clock": "utc", "utc_offset_min": offset_min, "dst": dst,
               "dim_level": 50, "dim_from_min": 23 * 60, "dim_to_min": 5 * 60}
        s = _s[(offset_min, dst)] = Schedule(cfg, sun.SunSwitch(52.0, 5.0))
    return s.local_minute(t)


def minutes(offset_min, dst, ts):
    return [local_minute(offset_min, dst, t) for t in ts]
