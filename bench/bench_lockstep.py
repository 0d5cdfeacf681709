"""Lockstep speed: simulated seconds per wall second for the demo scenario."""
import json
from pathlib import Path

from testbed.cli import DEMO
from simulator.runner import Simulation
from simulator.scenario import load


def main(out: Path) -> None:
    sc = load(DEMO)
    sim = Simulation(sc)
    try:
        res = sim.run()
    finally:
        sim.close()
    ratio = res.ticks / res.wall_s
    print(f"demo scenario: {res.ticks} ticks in {res.wall_s:.2f} s wall = {ratio:,.0f}x real time, "
          f"{1e6 * res.wall_s / res.ticks:.1f} us per tick (firmware + world + link)")
    (out / "lockstep.json").write_text(json.dumps(
        {"ticks": res.ticks, "wall_s": res.wall_s, "speedup": ratio}, indent=1))
