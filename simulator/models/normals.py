"""Gaussian draws in blocks: exactly the values random.Random.gauss returns, for less.

A model that draws rng.gauss(0, sigma) every tick pays ~0.5 us a call for the method's
bookkeeping; Normals draws the same standard normals (random.gauss's Box-Muller pairs from
the same rng, in the same order) a block at a time, so a seeded run repeats exactly as
before. Valid only while nothing else draws from that rng in between: a block draws ahead.
"""
from __future__ import annotations

import math
import random

_TWOPI = 2.0 * math.pi
BLOCK = 4096  # normals drawn at a time (even: whole Box-Muller pairs)


def _pairs(rng: random.Random, n: int) -> list:
    """2n standard normals, as 2n calls of rng.gauss(0.0, 1.0) would return them."""
    rnd, log, sqrt, cos, sin = rng.random, math.log, math.sqrt, math.cos, math.sin
    out = []
    add = out.append
    for _ in range(n):
        x2pi = rnd() * _TWOPI  # random.gauss, Python 3.11: the same operations in this order
        g2rad = sqrt(-2.0 * log(1.0 - rnd()))
        add(cos(x2pi) * g2rad)
        add(sin(x2pi) * g2rad)
    return out


def _same_as_gauss() -> bool:
    """Whether _pairs reproduces this Python's random.gauss (else Normals calls it)."""
    a, b = random.Random(12345), random.Random(12345)
    return _pairs(a, 32) == [b.gauss(0.0, 1.0) for _ in range(64)] and a.getstate() == b.getstate()


EXACT = _same_as_gauss()


class Normals:
    """rng's standard normal draws: block(n) gives the next n values that n calls of
    rng.gauss(0.0, 1.0) would have (rng.gauss(0, s) is 0.0 + z * s of them)."""

    __slots__ = ("rng", "_left")

    def __init__(self, rng: random.Random):
        self.rng = rng
        self._left: list = []  # drawn, not handed out yet

    def block(self, n: int) -> list:
        got = self._left
        while len(got) < n:
            got = got + self._fill()
        self._left = got[n:]
        return got[:n]

    def _fill(self) -> list:
        rng = self.rng
        if not EXACT:
            return [rng.gauss(0.0, 1.0) for _ in range(BLOCK)]
        head = []
        if getattr(rng, "gauss_next", None) is not None:  # the second of a pair already drawn
            head, rng.gauss_next = [rng.gauss_next], None
        return head + _pairs(rng, BLOCK // 2)
