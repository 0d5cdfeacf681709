"""The board's power: a hold-up capacitor that keeps it running briefly after the mains goes.

The board runs for `holdup_s` on its capacitor after the mains goes (time for a last gasp),
and the supply recharges the capacitor when the mains returns: a board that rides through
one blip has its full hold-up for the next interruption. A supercapacitor behind the
board's PSU charges in well under a second, so by default it is full again after one tick
of mains (RECHARGE_S); a partial recharge keeps what is left.
"""
from __future__ import annotations

RECHARGE_S = 1.0  # seconds of mains to recharge the capacitor from empty


class HoldUp:
    """Energy left in the hold-up capacitor, in seconds of board running time."""

    def __init__(self, holdup_s: float, recharge_s: float = RECHARGE_S):
        self.capacity = float(holdup_s)
        self.recharge_s = recharge_s
        self.left = self.capacity

    def step(self, mains: bool, dt: float = 1.0) -> bool:
        """One tick of dt seconds; True while the board has power (mains, or the capacitor)."""
        if mains:
            rate = self.capacity / self.recharge_s if self.recharge_s > 0 else float("inf")
            self.left = min(self.capacity, self.left + rate * dt)
            return True
        if self.left > 0:
            self.left -= dt
            return True
        return False
