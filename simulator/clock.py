"""The run's clock: virtual time as fast as the firmware goes, or paced against the wall
clock for a person watching (`--realtime`, `--speed`), as SimPy's Environment and
RealtimeEnvironment. The simulated second itself is always the tick counter."""
from __future__ import annotations

import time


class VirtualClock:
    """Ticks follow one another as fast as the firmware answers."""

    speed: float | None = None

    def start(self, t0: int) -> None:
        self.t0 = t0
        self.wall0 = time.monotonic()

    def pace(self, t: int) -> None:
        """Called before tick t is run: returns at once."""

    def wall_s(self) -> float:
        """Wall seconds since start()."""
        return time.monotonic() - self.wall0


class PacedClock(VirtualClock):
    """Tick t runs no earlier than (t - t0) / speed wall seconds after start (1.0: real time)."""

    def __init__(self, speed: float):
        if not speed > 0:
            raise ValueError(f"speed {speed} must be above 0")
        self.speed = speed

    def pace(self, t: int) -> None:
        lag = (t - self.t0) / self.speed - (time.monotonic() - self.wall0)
        if lag > 0:
            time.sleep(lag)


def clock_for(speed: float | None) -> VirtualClock:
    """PacedClock(speed) when a speed is given, else a VirtualClock."""
    return PacedClock(speed) if speed else VirtualClock()
