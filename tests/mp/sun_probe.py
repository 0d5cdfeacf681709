"""MicroPython side of tests/test_sun_polar.py: the firmware's SunSwitch over whole days."""
from lamppost import sun


def dark(lat, lon, t, elev=-0.833):
    return sun.SunSwitch(lat, lon, elev).dark(t)


def scan(lat, lon, t0, n, elev=-0.833):
    """[(t, dark)] at t0 and at every second in [t0, t0 + n) where the switch changes."""
    sw = sun.SunSwitch(lat, lon, elev)
    last = sw.dark(t0)
    out = [(t0, last)]
    for t in range(t0 + 1, t0 + n):
        d = sw.dark(t)
        if d != last:
            out.append((t, d))
            last = d
    return out


def photocell_days(lat, lon, t0, days, thr_deg, step=10):
    """Photocell events of a schedule fed by a healthy cell (dark below thr_deg), every step s."""
    from math import sin, radians
    from lamppost.reading import Reading
    from lamppost.schedule import Schedule
    s = Schedule({"lat": lat, "lon": lon, "photocell": True, "pc_window_min": 30},
                 sun.SunSwitch(lat, lon))
    ev = []
    s.out = lambda kind, f: ev.append((kind, f.get("state")))
    r = Reading()
    thr = sin(radians(thr_deg))
    for t in range(t0, t0 + days * 86400, step):
        r.dark = sun.sin_elev(t, lat, lon) < thr
        s.decide(t, r)
    return ev
