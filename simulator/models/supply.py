"""Mains supply: 230 V / 50 Hz behaving as EN 50160 allows, seeded and reproducible.

Slow variation (a daily swing plus a bounded random walk, both within ±10%),
a small frequency drift, a fixed harmonic spectrum (3rd..13th, scaled to the
configured THD) and, when the scenario asks for them, random dips, swells and
short or long interruptions. Every random choice comes from one seeded RNG and
step() is called once per simulated second, so a run repeats exactly.
"""
from __future__ import annotations

import math
import random

from simulator.models.normals import Normals
from simulator.models.params import SUPPLY

NOMINAL_V = 230.0
NOMINAL_HZ = 50.0
_TWO_PI = 2 * math.pi
_TICKS_A_BLOCK = 1024  # Supply.step's draws made at a time

# relative shape of the voltage harmonics of an LV network (odd, 3..13)
_SHAPE = ((3, 0.45), (5, 0.75), (7, 0.40), (9, 0.15), (11, 0.25), (13, 0.15))


def supply_defaults() -> dict:
    return {k: v[2] for k, v in SUPPLY.items()}


class Supply:
    """One feeder. step(t) -> (Vrms, Hz); Vrms is 0 during an interruption."""

    def __init__(self, seed: int, cfg: dict | None = None):
        c = supply_defaults()
        c.update(cfg or {})
        self.cfg = c
        self.nominal = c["nominal_v"]
        self.hz0 = c["hz"]
        self.rng = random.Random(seed)
        self.phase = self.rng.random() * 2 * math.pi
        self.walk = 0.0
        self.fwalk = 0.0
        norm = math.sqrt(sum(a * a for _, a in _SHAPE))
        # (harmonic order, amplitude relative to the fundamental, phase rad)
        self.harmonics = [(h, c["thd"] * a / norm, self.rng.uniform(-math.pi, math.pi))
                          for h, a in _SHAPE]
        self.event: str | None = None  # "dip", "swell", "interruption" while one lasts
        # (kind, chance a second) of the random events the scenario asks for, in draw order
        self._rates = tuple((kind, c[key] / 86400.0) for kind, key in (
            ("dip", "dips_per_day"), ("swell", "swells_per_day"),
            ("interruption", "short_interruptions_per_day"),
            ("long_interruption", "long_interruptions_per_day")) if c[key] > 0)
        self._event_end = 0
        self._event_level = 1.0
        self._walk_max, self._fwalk_max = c["walk"], c["freq_drift"]
        self._variation = c["variation"]
        # without events step() is the rng's only user: its normals drawn in blocks
        self._normals = None if self._rates else Normals(self.rng)
        self._draws = iter(())  # step()'s three draws a tick, of the block drawn last

    def _block(self):
        """step()'s draws for the next ticks: what rng.gauss(0, 0.0005), rng.gauss(0, 0.002)
        and rng.gauss(0, 0.002) return, tick after tick."""
        it = iter(self._normals.block(3 * _TICKS_A_BLOCK))
        return iter([(0.0 + a * 0.0005, 0.0 + b * 0.002, 0.0 + c * 0.002)
                     for a, b, c in zip(it, it, it)])

    def _maybe_start_event(self, t: int) -> None:
        rng = self.rng
        for kind, per_s in self._rates:
            if rng.random() < per_s:
                if kind == "dip":
                    level, dur = rng.uniform(0.4, 0.9), rng.randint(1, 60)
                elif kind == "swell":
                    level, dur = rng.uniform(1.1, 1.2), rng.randint(1, 60)
                elif kind == "interruption":
                    level, dur = 0.0, rng.randint(1, 180)
                else:
                    level, dur = 0.0, rng.randint(181, 7200)
                self.event = "interruption" if level == 0.0 else kind
                self._event_end = t + dur
                self._event_level = level
                return

    def step(self, t: int) -> tuple[float, float]:
        """(Vrms, Hz) at unix time t: a daily swing, a bounded random walk and any event."""
        if self._normals is None:  # events draw from the rng too: one draw at a time
            rng = self.rng
            g1, g2, g3 = rng.gauss(0, 0.0005), rng.gauss(0, 0.002), rng.gauss(0, 0.002)
        else:  # the same draws, a block at a time (simulator/models/normals.py)
            try:
                g1, g2, g3 = next(self._draws)
            except StopIteration:
                self._draws = self._block()
                g1, g2, g3 = next(self._draws)
        # max(-w, min(w, x)) without the calls
        w, x = self._walk_max, self.walk + g1
        x = x if x < w else w
        self.walk = x = x if x > -w else -w
        fd, y = self._fwalk_max, self.fwalk + g2
        y = y if y < fd else fd
        self.fwalk = y = y if y > -fd else -fd
        daily = self._variation * math.sin(_TWO_PI * t / 86400 + self.phase)
        hz = self.hz0 + y + g3
        v = self.nominal * (1 + daily + x)
        if not self._rates:  # no events asked for: none ever starts
            return v, hz
        if self.event and t >= self._event_end:
            self.event = None
        if self.event is None and self._rates:
            self._maybe_start_event(t)
        if self.event:
            v = self.nominal * self._event_level * (1 + self.walk) if self._event_level else 0.0
        return v, hz
