"""The sun's elevation at the post and a photocell that sees it through the day's weather.

A streetlight photocell switches on a light level (ANSI C136.10: turn-on at
1-3 footcandles, ~10-30 lux), which under a clear sky comes a little after
sunset, in civil twilight (sun 0..-6 degrees). Cloud and fog darken the sky,
so the cell reads dark earlier in the evening and later in the morning: the
model shifts its switching elevation up by the twilight's `darkening`
(degrees), drawn per twilight from the scenario's seed. One degree of
elevation is ~4 min at the equator and ~7-8 min at 52 N in winter, so a
cloudy dusk moves the switch by a few minutes, a dark overcast or foggy one
by up to ~15 min at 52 N; never above MAX_DARK_ELEV, so never in daylight.

Stuck faults (`photocell_stuck_dark`, `photocell_stuck_light`) replace the
reading. Everything is a pure function of time and seed: the same instant
reads the same in every run and in every twin of the world.
"""
from __future__ import annotations

import math
import random

CLEAR_ELEV = -1.5  # deg: a clean cell under a clear sky reads dark below this (~20-30 lux)
MAX_DARK_ELEV = 1.0  # deg: with the sun higher than this no sky is dark enough to read dark
NIGHT_ELEV = -6.0  # deg: end of civil twilight; every working cell reads dark below it

# sky of one twilight: (name, probability, darkening range in degrees of elevation)
SKIES = (
    ("clear", 0.45, (0.0, 0.0)),
    ("cloudy", 0.30, (0.3, 1.0)),
    ("overcast", 0.15, (1.0, 2.0)),
    ("fog", 0.10, (1.5, 2.5)),
)
STUCK = {"photocell_stuck_dark": True, "photocell_stuck_light": False}


def sun_elevation(t: float, lat: float, lon: float) -> float:
    """Geometric elevation of the sun's centre, degrees (NOAA solar position, no refraction).

    t is unix seconds (UTC). The firmware's sunset (elev -0.833) is in the same
    geometric terms: refraction and the sun's radius are folded into that number.
    """
    jd = t / 86400.0 + 2440587.5
    jc = (jd - 2451545.0) / 36525.0
    l0 = (280.46646 + jc * (36000.76983 + jc * 0.0003032)) % 360.0
    m = math.radians(357.52911 + jc * (35999.05029 - 0.0001537 * jc))
    e = 0.016708634 - jc * (0.000042037 + 0.0000001267 * jc)
    c = (math.sin(m) * (1.914602 - jc * (0.004817 + 0.000014 * jc))
         + math.sin(2 * m) * (0.019993 - 0.000101 * jc) + math.sin(3 * m) * 0.000289)
    omega = math.radians(125.04 - 1934.136 * jc)
    app_long = math.radians(l0 + c - 0.00569 - 0.00478 * math.sin(omega))
    eps0 = 23 + (26 + (21.448 - jc * (46.815 + jc * (0.00059 - jc * 0.001813))) / 60) / 60
    eps = math.radians(eps0 + 0.00256 * math.cos(omega))
    decl = math.asin(math.sin(eps) * math.sin(app_long))
    y = math.tan(eps / 2) ** 2
    l0r = math.radians(l0)
    eqt = 4 * math.degrees(y * math.sin(2 * l0r) - 2 * e * math.sin(m)
                           + 4 * e * y * math.sin(m) * math.cos(2 * l0r)
                           - 0.5 * y * y * math.sin(4 * l0r) - 1.25 * e * e * math.sin(2 * m))
    tst = (t % 86400) / 60.0 + eqt + 4 * lon  # true solar time, minutes
    ha = math.radians(tst / 4.0 - 180.0)
    phi = math.radians(lat)
    cz = math.sin(phi) * math.sin(decl) + math.cos(phi) * math.cos(decl) * math.cos(ha)
    return 90.0 - math.degrees(math.acos(max(-1.0, min(1.0, cz))))


class Photocell:
    """The photocell on one post: dark(t) for a working cell, read(t, faults) with faults."""

    def __init__(self, seed: int, lat: float, lon: float):
        self.seed, self.lat, self.lon = seed, lat, lon
        self._sky: dict[tuple[int, int], tuple[str, float]] = {}

    def twilight(self, t: float) -> tuple[int, int]:
        """(local mean solar day, 0 morning / 1 evening): the twilight nearest t shares its sky."""
        local = t + self.lon * 240.0
        return int(local // 86400), int(local % 86400 >= 43200)

    def sky(self, t: float) -> tuple[str, float]:
        """(sky name, darkening in degrees) of the twilight around t, drawn from the seed."""
        key = self.twilight(t)
        got = self._sky.get(key)
        if got is None:
            rng = random.Random(f"photocell:{self.seed}:{key[0]}:{key[1]}")
            u, acc = rng.random(), 0.0
            for name, p, (lo, hi) in SKIES:
                acc += p
                if u < acc:
                    break
            got = (name, rng.uniform(lo, hi))
            self._sky[key] = got
        return got

    def threshold(self, t: float) -> float:
        """Sun elevation (deg) below which the cell reads dark at t."""
        return min(CLEAR_ELEV + self.sky(t)[1], MAX_DARK_ELEV)

    def dark(self, t: float) -> bool:
        """What a working photocell reads at t."""
        return sun_elevation(t, self.lat, self.lon) < self.threshold(t)

    def read(self, t: float, faults) -> bool:
        """The reading with the active faults (kinds, or a {kind: params} dict) applied."""
        for kind, value in STUCK.items():
            if kind in faults:
                return value
        return self.dark(t)
