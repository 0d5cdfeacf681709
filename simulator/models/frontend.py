"""Sensor front ends: turn the true electrical state into the bytes the firmware reads."""
from __future__ import annotations

import random
import struct


class IdealMeter:
    """An exact metering IC: Vrms, Irms, P, PF, Hz as five little-endian floats, with tiny noise."""

    kind = "ideal"

    def __init__(self, seed: int):
        self.rng = random.Random(seed ^ 0x5EED)

    def encode(self, v: float, i: float, p: float, pf: float, hz: float) -> bytes:
        n = 1 + self.rng.gauss(0, 0.001)
        return struct.pack("<fffff", v * n, i * n, p * n, pf, hz)
