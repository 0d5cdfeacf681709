"""The simulated world of one post: supply, relay, lamp and injected faults.

Each tick the world is computed twice, with and without the active faults;
a fault is observable while the two differ (a dead lamp is invisible by day
when it is switched off). Detection latency is measured from that moment.
"""
from __future__ import annotations

from dataclasses import dataclass

from simulator.models.lamp import LedLamp
from simulator.models.supply import Supply
from simulator.scenario import Fault, Scenario


@dataclass
class Truth:
    v: float
    i: float
    p: float
    pf: float
    hz: float
    temp: float
    mains: bool
    lit: bool


class World:
    def __init__(self, sc: Scenario):
        self.sc = sc
        self.supply = Supply(sc.seed)
        self.lamp = LedLamp(sc.post.rated_w)
        self.faults = sc.faults

    def active(self, t: int) -> list[Fault]:
        return [f for f in self.faults if f.at <= t and (f.until is None or t < f.until)]

    def _electrical(self, v, hz, relay: bool, dim: int, kinds: set[str]) -> Truth:
        closed = (relay or "relay_welded" in kinds) and "relay_open" not in kinds
        if not closed:
            return Truth(v, 0.0, 0.0, 0.0, hz, 25.0, True, False)
        p, pf = self.lamp.load(v, dim, dead="lamp_dead" in kinds)
        i = p / (v * pf) if v > 0 else 0.0
        return Truth(v, i, p, pf, hz, 25.0, True, p > 0.2 * self.lamp.rated_w)

    def step(self, t: int, relay: bool, dim: int) -> tuple[Truth, list[Fault]]:
        """The faulted truth at t and the faults whose effect is observable now."""
        v, hz = self.supply.step(t)
        active = self.active(t)
        truth = self._electrical(v, hz, relay, dim, {f.kind for f in active})
        visible = []
        if active:
            healthy = self._electrical(v, hz, relay, dim, set())
            for f in active:
                alone = self._electrical(v, hz, relay, dim, {f.kind})
                if abs(alone.p - healthy.p) > max(1.0, 0.05 * self.lamp.rated_w):
                    visible.append(f)
        return truth, visible
