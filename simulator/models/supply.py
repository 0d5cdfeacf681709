"""Mains supply: 230 V / 50 Hz with slow, seeded variation well inside EN 50160."""
from __future__ import annotations

import math
import random

NOMINAL_V = 230.0
NOMINAL_HZ = 50.0


class Supply:
    def __init__(self, seed: int):
        self.rng = random.Random(seed)
        self.phase = self.rng.random() * 2 * math.pi
        self.walk = 0.0

    def step(self, t: int) -> tuple[float, float]:
        """(Vrms, Hz) at unix time t: a daily swing of ±2% plus a bounded random walk."""
        self.walk = max(-0.02, min(0.02, self.walk + self.rng.gauss(0, 0.0005)))
        daily = 0.02 * math.sin(2 * math.pi * t / 86400 + self.phase)
        return NOMINAL_V * (1 + daily + self.walk), NOMINAL_HZ + self.rng.gauss(0, 0.01)
