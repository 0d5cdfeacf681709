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
