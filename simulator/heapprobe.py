"""Heap of the real firmware over a long run: asks `Status mem` over the serial console periodically.

The firmware answers with `heap_free` after a gc.collect (Status mem), so the
high-water mark of free heap per simulated day is the live heap's complement:
a day whose mark sits lower than the day before's is a leak.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field

from simulator.firmware_proc import DEFAULT_HEAP
from simulator.runner import Simulation
from simulator.scenario import loads

DAY = 86400

WEEK = """
[post]
id = "NL-0001"
lamp = "led"
rated_w = 60
latitude = 52.03
longitude = 5.56

[run]
start = "2026-01-12T12:00:00Z"
duration = "{days}d"
seed = 11

[[fault]]
at = "2026-01-12T22:00:00Z"
kind = "lamp_dead"
until = "2026-01-13T10:00:00Z"

[[fault]]
at = "2026-01-14T12:00:00Z"
kind = "relay_welded"
until = "2026-01-14T16:00:00Z"
"""


def week_scenario(days: int = 7):
    """A post through `days` days with a lamp failure and a welded relay, to exercise every path."""
    return loads(WEEK.format(days=days), "heap-week.toml")


def _find(d, key):
    if isinstance(d, dict):
        if key in d:
            return d[key]
        for v in d.values():
            got = _find(v, key)
            if got is not None:
                return got
    return None


@dataclass
class HeapRun:
    samples: list[tuple[int, int]] = field(default_factory=list)  # (seconds since start, heap_free)
    ticks: int = 0
    wall_s: float = 0.0
    crashes: int = 0
    heap: str = ""

    def high_water(self) -> dict[int, int]:
        """Day number (0 = first) -> most free heap seen that day."""
        out: dict[int, int] = {}
        for t, free in self.samples:
            out[t // DAY] = max(out.get(t // DAY, 0), free)
        return out

    def low_water(self) -> dict[int, int]:
        out: dict[int, int] = {}
        for t, free in self.samples:
            day = t // DAY
            out[day] = min(out.get(day, free), free)
        return out


class HeapProbe(Simulation):
    """A Simulation that types `Status mem` on the console every `every` simulated seconds."""

    COMMAND = b"status mem\n"

    def __init__(self, sc, every: int = 600, command: bytes = COMMAND, **kw):
        # the command goes out from on_tick, which runs every tick: _collect runs only when the
        # firmware wrote lines, and on a quiet post that is almost never at the minute's end
        super().__init__(sc, on_tick=self._ask, **kw)
        self.every = every
        self.command = command
        self.run_info = HeapRun(heap=kw.get("heap", ""))

    def _ask(self, t: int) -> None:
        if (t - self.sc.start) % self.every == self.every - 1:
            self.bridge.send_to_firmware(self.command)

    def _collect(self, lines):
        super()._collect(lines)
        t = self._t  # the tick being run
        for raw in lines:
            try:
                d = json.loads(raw)
            except ValueError:
                continue
            if isinstance(d, dict) and d.get("cmd") == "status":
                free = _find(d, "heap_free")
                if isinstance(free, int):
                    self.run_info.samples.append((t - self.sc.start, free))


def measure(days: int = 7, heap: str = DEFAULT_HEAP, every: int = 600,
            broker: str | None = None) -> HeapRun:
    """Run `days` days in `heap`, sampling free heap every `every` s; with `broker` (host:port) MQTT is on."""
    sim = HeapProbe(week_scenario(days), every=every, heap=heap, broker=broker)
    try:
        res = sim.run()
    finally:
        sim.close()
    info = sim.run_info
    info.ticks, info.wall_s, info.crashes = res.ticks, res.wall_s, len(res.crashes)
    return info
