"""Lamp and driver loads: what current and power the lamp draws at its terminals."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass
class LedLamp:
    """Constant-power LED driver: power follows the dim level, not the voltage."""

    rated_w: float
    standby_w: float = 0.3
    pf: float = 0.95

    def load(self, v: float, dim: int, dead: bool = False) -> tuple[float, float]:
        """(active power W, power factor) when powered at v volts."""
        if dead or v < 80:
            return self.standby_w, 0.3
        return max(self.standby_w, self.rated_w * dim / 100.0), self.pf
