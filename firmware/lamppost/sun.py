"""Sunrise and sunset from latitude and longitude, for the astronomical switch.

Implements the sunrise equation (NOAA / Wikipedia form): within a minute of
astral near the equator, within about 3.5 minutes up to 60 degrees latitude. Float work stays on small day-relative
numbers so that the single-precision floats of an ESP32 keep their precision.
"""
from math import sin, cos, asin, acos, radians, degrees
from micropython import const

DAY = const(86400)
HALF_DAY = const(43200)
POLAR_NIGHT = const(1)
MIDNIGHT_SUN = const(2)


def solar_day(t, lon):
    """Index of the local mean-solar day (midnight to midnight) that contains t."""
    return (t + int(lon * 240)) // DAY


def rise_set(n, lat, lon, elev=-0.833):
    """(rise, set, flag) in 2000-epoch seconds for solar day n.

    flag is 0 normally, POLAR_NIGHT when the sun stays below `elev` all day
    (rise == set == solar noon), MIDNIGHT_SUN when it stays above.
    """
    jstar = n - lon / 360.0  # days since J2000.0 of mean solar noon
    m = (357.5291 + (0.98560028 * jstar) % 360.0) % 360.0
    mr = radians(m)
    c = 1.9148 * sin(mr) + 0.02 * sin(2 * mr) + 0.0003 * sin(3 * mr)
    lam = radians((m + c + 282.9372) % 360.0)
    frac = -lon / 360.0 + 0.0053 * sin(mr) - 0.0069 * sin(2 * lam)
    noon = HALF_DAY + n * DAY + int(frac * DAY)
    decl = asin(sin(lam) * sin(radians(23.4397)))
    phi = radians(lat)
    cw = (sin(radians(elev)) - sin(phi) * sin(decl)) / (cos(phi) * cos(decl))
    if cw >= 1.0:
        return noon, noon, POLAR_NIGHT
    if cw <= -1.0:
        return noon - HALF_DAY, noon + HALF_DAY, MIDNIGHT_SUN
    half = int(degrees(acos(cw)) / 360.0 * DAY)
    return noon - half, noon + half, 0


class SunSwitch:
    """Tells whether the lamp should burn at time t; caches one day's sun times."""

    def __init__(self, lat, lon, elev=-0.833):
        self.lat = lat
        self.lon = lon
        self.elev = elev
        self.day = None
        self.rise = 0
        self.set = 0

    def dark(self, t):
        n = solar_day(t, self.lon)
        if n != self.day:
            self.rise, self.set, _ = rise_set(n, self.lat, self.lon, self.elev)
            self.day = n
        return not (self.rise <= t < self.set)
