"""Lockstep speed on the demo scenario (two days, serial only): FIL ticks per wall second,
the firmware-bound limit (ticks per second of the firmware's own CPU time, from the child
process's rusage) and their ratio, in one run; then the same with the world's next tick
computed while the firmware runs (Simulation(ahead=True)). A ratio of 1 means the simulator
costs nothing beside the firmware; the goal (issue 12) is wall <= 1.25x the firmware's CPU,
a ratio of at least 0.8."""
import json
import os
import resource
import time
from pathlib import Path

from simulator.firmware_proc import FIRMWARE_DIR
from simulator.mpy_cache import compiled_dir
from simulator.runner import Simulation
from simulator.scenario import load
from testbed.cli import DEMO

GOAL = 0.8  # firmware CPU / wall: wall within 1.25x of the firmware's own CPU time


def _cpu(who) -> float:
    u = resource.getrusage(who)
    return u.ru_utime + u.ru_stime


def _run(ahead: bool) -> dict:
    sim = Simulation(load(DEMO), ahead=ahead)
    kids0, self0, wall0 = _cpu(resource.RUSAGE_CHILDREN), _cpu(resource.RUSAGE_SELF), time.monotonic()
    try:
        res = sim.observe()
    finally:
        sim.close()
    wall = time.monotonic() - wall0
    fw_cpu = _cpu(resource.RUSAGE_CHILDREN) - kids0  # every firmware process, reaped
    sim_cpu = _cpu(resource.RUSAGE_SELF) - self0
    return {"ahead": ahead, "ticks": res.ticks, "boots": res.boots, "wall_s": wall,
            "fil_ticks_per_s": res.ticks / wall, "firmware_cpu_s": fw_cpu,
            "firmware_bound_ticks_per_s": res.ticks / fw_cpu, "ratio": fw_cpu / wall,
            "simulator_cpu_s": sim_cpu}


def main(out: Path) -> None:
    compiled_dir(FIRMWARE_DIR)  # the .mpy cache is built before the clock starts (no mpy-cross in the figures)
    load1 = os.getloadavg()[0]
    runs = [_run(False), _run(True)]
    r = runs[0]
    print(f"demo scenario: {r['ticks']} ticks, {r['boots']} boot(s); load average {load1:.1f} on "
          f"{os.cpu_count()} cores at the start")
    print(f"  {'':<26} {'FIL ticks/s':>12} {'limit ticks/s':>14} {'ratio':>6}  {'wall':>7} "
          f"{'firmware CPU':>13} {'simulator CPU':>14}")
    for r in runs:
        name = "world computed ahead" if r["ahead"] else "lockstep (default)"
        print(f"  {name:<26} {r['fil_ticks_per_s']:>12,.0f} {r['firmware_bound_ticks_per_s']:>14,.0f} "
              f"{r['ratio']:>6.2f}  {r['wall_s']:>5.1f} s {r['firmware_cpu_s']:>11.1f} s "
              f"{r['simulator_cpu_s']:>12.1f} s")
    print(f"  ratio = FIL / firmware-bound limit = firmware CPU / wall; goal >= {GOAL} "
          f"({'met' if max(x['ratio'] for x in runs) >= GOAL else 'not met'}); simulator "
          f"{1e6 * runs[0]['simulator_cpu_s'] / runs[0]['ticks']:.0f} us per tick, firmware "
          f"{1e6 * runs[0]['firmware_cpu_s'] / runs[0]['ticks']:.0f} us")
    (out / "lockstep.json").write_text(json.dumps(
        {**runs[0], "goal": GOAL, "speedup": runs[0]["fil_ticks_per_s"], "ahead_run": runs[1],
         "load_average": load1}, indent=1))
