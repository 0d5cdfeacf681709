"""The astronomical clock: is the sun below the switching elevation at time t?

The sun's elevation comes from the NOAA solar position formulas (as astral
uses them; within about 0.01 degrees of astral). The switch works night by
night: a night runs from one true solar noon to the next, the sun's set is
the first second after noon at which it is below the switching elevation,
its rise the first second after true midnight at which it is not; both are
found by bisection on the elevation itself. So polar night (below at noon:
dark from noon to noon) and midnight sun (above at midnight: no dark second)
need no special case, and every second of the day is covered: the tolerance
is stated in elevation (TOL_DEG), not in time, because near the poles the
sun skims the horizon for hours.

The work is done once per half day (about 60 elevations) on small
day-relative numbers, so the single-precision floats of an ESP32 keep their
precision; dark(t) per tick compares small ints and allocates nothing.
"""
from math import sin, cos, radians, pi
from micropython import const

_DAY = const(86400)
_HALF_DAY = const(43200)
POLAR_NIGHT = const(1)
MIDNIGHT_SUN = const(2)
PC_BAND_DEG = 3.0  # the photocell decides while the sun is this close to the switching elevation
TOL_DEG = 0.05  # the switch is right wherever the sun is further than this from it


def solar_day(t, lon):
    """Index of the local mean-solar day (midnight to midnight) that contains t."""
    return (t + int(lon * 240)) // _DAY


def _pos(t, lon):
    """(sin decl, cos decl, hour angle rad) of the sun at 2000-epoch t (NOAA formulas)."""
    s = t - _HALF_DAY  # seconds since J2000.0 (2000-01-01T12:00Z; TT-UT is below a second's worth)
    n = s // _DAY
    f = (s - n * _DAY) / _DAY
    jc = (n + f) / 36525.0
    l0 = radians(((0.98564736 * n) % 360.0 + 0.98564736 * f + 280.46646 + 0.0003032 * jc * jc) % 360.0)
    m = radians(((0.98560028 * n) % 360.0 + 0.98560028 * f + 357.52911) % 360.0)
    e = 0.016708634 - 0.000042037 * jc
    c = radians(sin(m) * (1.914602 - 0.004817 * jc) + sin(2 * m) * (0.019993 - 0.000101 * jc)
                + sin(3 * m) * 0.000289)
    om = radians(125.04 - 1934.136 * jc)
    lam = l0 + c - radians(0.00569 + 0.00478 * sin(om))
    eps = radians(23.439291 - 0.0130042 * jc + 0.00256 * cos(om))
    sd = sin(eps) * sin(lam)
    y = sin(eps / 2) / cos(eps / 2)
    y *= y
    eqt = (y * sin(2 * l0) - 2 * e * sin(m) + 4 * e * y * sin(m) * cos(2 * l0)
           - 0.5 * y * y * sin(4 * l0) - 1.25 * e * e * sin(2 * m))  # radians of hour angle
    ha = ((t % _DAY) / _DAY + lon / 360.0) * 2 * pi + eqt - pi
    return sd, (1 - sd * sd) ** 0.5, ha


def sin_elev(t, lat, lon):
    """Sine of the sun's geometric elevation at the post at 2000-epoch time t."""
    sd, cd, ha = _pos(t, lon)
    p = radians(lat)
    return sin(p) * sd + cos(p) * cd * cos(ha)


def true_noon(k, lon):
    """2000-epoch second of true solar noon on local mean day k (mean noon minus the equation of time)."""
    mean = k * _DAY + _HALF_DAY - int(lon * 240)
    ha = _pos(mean, lon)[2]
    while ha > pi:
        ha -= 2 * pi
    while ha < -pi:
        ha += 2 * pi
    return mean - int(ha * 13750.987)  # 86400 / 2 pi seconds per radian


def first(a, b, lat, lon, s, below):
    """First second in [a, b] at which the sun is below (or, below False, not below) sin-elevation s.

    a if it already is at a, b if it is not even at b. Bisection assumes one crossing in
    between, which holds between true noon and true midnight (and midnight and noon).
    """
    if (sin_elev(a, lat, lon) < s) == below:
        return a
    if (sin_elev(b, lat, lon) < s) != below:
        return b
    while b - a > 1:
        m = (a + b) // 2
        if (sin_elev(m, lat, lon) < s) == below:
            b = m
        else:
            a = m
    return b


def night(t, lat, lon, elev=-0.833):
    """(noon, next noon, set, rise) of the night around t: dark is set <= t < rise."""
    k = (t + int(lon * 240) - _HALF_DAY) // _DAY
    a = true_noon(k, lon)
    if t < a:
        k -= 1
        a = true_noon(k, lon)
    b = true_noon(k + 1, lon)
    if t >= b:
        a, b = b, true_noon(k + 2, lon)
    mid = (a + b) // 2
    s = sin(radians(elev))
    return a, b, first(a, mid, lat, lon, s, True), first(mid, b, lat, lon, s, False)


def rise_set(n, lat, lon, elev=-0.833):
    """(rise, set, flag) in 2000-epoch seconds for local mean solar day n (safe mode, Status).

    flag is 0 normally, POLAR_NIGHT when the sun stays below `elev` all day
    (rise == set == true noon), MIDNIGHT_SUN when it stays above (rise and set
    the true midnights around the day). The last answer is cached: safe mode asks every tick.
    """
    c = _last
    if c[0] == n and c[1] == lat and c[2] == lon and c[3] == elev:
        return c[4]
    c[4] = _rise_set(n, lat, lon, elev)
    c[0], c[1], c[2], c[3] = n, lat, lon, elev
    return c[4]


_last: list = [None, None, None, None, None]  # n, lat, lon, elev, answer


def _rise_set(n, lat, lon, elev):
    noon = true_noon(n, lon)
    pa, pb, _, rise = night(noon - 1, lat, lon, elev)
    a, b, set_, _ = night(noon, lat, lon, elev)
    if set_ == a:
        return noon, noon, POLAR_NIGHT
    if set_ == (a + b) // 2 and rise == (pa + pb) // 2:
        return noon - _HALF_DAY, noon + _HALF_DAY, MIDNIGHT_SUN
    return rise, set_, 0


class SunSwitch:
    """Tells whether the lamp should burn at time t; caches one night (noon to noon).

    Besides set/rise it keeps, for the photocell, when the sun is within
    PC_BAND_DEG of the switching elevation (where a clock cannot know whether
    clouds make it dark) and whether set/rise are real crossings.
    """

    def __init__(self, lat, lon, elev=-0.833):
        self.lat = lat
        self.lon = lon
        self.elev = elev
        self.day = None  # None: recompute at the next call (lat/lon/elev changed)
        self.lo = self.hi = 0  # the cached night: true noon to true noon
        self.rise = 0
        self.set = 0
        self.real = 0  # bit 0: set is a real sunset, bit 1: rise a real sunrise
        self.b0 = self.b1 = self.b2 = self.b3 = 0  # band: [b0, b1) evening, [b2, b3) morning

    def _night(self, t):
        lat, lon, e = self.lat, self.lon, self.elev
        self.lo, self.hi, self.set, self.rise = night(t, lat, lon, e)
        a, b = self.lo, self.hi
        mid = (a + b) // 2
        self.real = (1 if a < self.set < mid else 0) | (2 if mid < self.rise < b else 0)
        hi = sin(radians(e + PC_BAND_DEG))
        lo = sin(radians(e - PC_BAND_DEG))
        self.b0 = first(a, mid, lat, lon, hi, True)
        self.b1 = first(a, mid, lat, lon, lo, True)
        self.b2 = first(mid, b, lat, lon, lo, False)
        self.b3 = first(mid, b, lat, lon, hi, False)
        self.day = 1

    def dark(self, t):
        if self.day is None or not (self.lo <= t < self.hi):
            self._night(t)
        return self.set <= t < self.rise

    def uncertain(self, t, window):
        """True where the photocell decides: within `window` s of a real sunset or sunrise,
        or while the sun is within PC_BAND_DEG of the switching elevation. Call dark(t) first."""
        if self.b0 <= t < self.b1 or self.b2 <= t < self.b3:
            return True
        if self.real & 1 and -window <= t - self.set <= window:
            return True
        return self.real & 2 and -window <= t - self.rise <= window
