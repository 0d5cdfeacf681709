"""Lockstep speed on the demo scenario (two days, serial only): FIL ticks per wall second,
the firmware-bound limit (ticks per second of the firmware's own CPU time, from the child
process's rusage) and their ratio, in one run. A ratio of 1 means the simulator costs
nothing beside the firmware; the goal (issue 12) is wall <= 1.25x the firmware's CPU,
a ratio of at least 0.8."""
import json
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


def main(out: Path) -> None:
    compiled_dir(FIRMWARE_DIR)  # the .mpy cache is built before the clock starts (no mpy-cross in the figures)
    sc = load(DEMO)
    sim = Simulation(sc)
    kids0, self0, wall0 = _cpu(resource.RUSAGE_CHILDREN), _cpu(resource.RUSAGE_SELF), time.monotonic()
    try:
        res = sim.observe()
    finally:
        sim.close()
    wall = time.monotonic() - wall0
    fw_cpu = _cpu(resource.RUSAGE_CHILDREN) - kids0  # every firmware process, reaped
    sim_cpu = _cpu(resource.RUSAGE_SELF) - self0
    fil = res.ticks / wall
    limit = res.ticks / fw_cpu
    ratio = fil / limit
    print(f"demo scenario: {res.ticks} ticks, {res.boots} boot(s)")
    print(f"  {'FIL (simulator + firmware)':<34} {fil:>10,.0f} ticks/s   wall {wall:6.1f} s")
    print(f"  {'firmware-bound limit':<34} {limit:>10,.0f} ticks/s   firmware CPU {fw_cpu:6.1f} s")
    print(f"  {'ratio FIL / limit':<34} {ratio:>10.2f}           goal >= {GOAL} "
          f"({'met' if ratio >= GOAL else 'not met'})")
    print(f"  simulator process CPU {sim_cpu:.1f} s ({1e6 * sim_cpu / res.ticks:.0f} us per tick), "
          f"firmware {1e6 * fw_cpu / res.ticks:.0f} us per tick")
    (out / "lockstep.json").write_text(json.dumps(
        {"ticks": res.ticks, "wall_s": wall, "fil_ticks_per_s": fil, "firmware_cpu_s": fw_cpu,
         "firmware_bound_ticks_per_s": limit, "ratio": ratio, "simulator_cpu_s": sim_cpu,
         "goal": GOAL, "speedup": fil}, indent=1))
