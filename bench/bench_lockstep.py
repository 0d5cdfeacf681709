"""Link speed on the demo scenario (two days, serial only): FIL ticks per wall second, the
firmware-bound limit (ticks per second of the firmware's own CPU time, from the child
process's rusage) and their ratio, in one run, for: the default (a plain run keeps up to
Simulation.depth ticks in flight, simulator/runner.py _pipeline), one tick ahead (what a
watched run does: the next tick computed while the firmware runs this one) and plain
lockstep (ahead=False). A ratio of 1 means the simulator costs nothing beside the
firmware; the goal (issue 12) is wall <= 1.25x the firmware's CPU, a ratio of at least
0.8. The CPU per tick of each side and the context switches per tick are printed too: on
a machine shared with other work the wall time (and so the ratio) depends on what else
runs, the CPU per tick much less. BENCH_LOCKSTEP_DAYS shortens the scenario (a quick look).
"""
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
MODES = (("pipelined (default)", {}), ("one ahead (watched)", {"depth": 1}),
         ("lockstep (ahead=False)", {"ahead": False}))


def _use(who) -> tuple[float, int]:
    """(CPU seconds, context switches) so far."""
    u = resource.getrusage(who)
    return u.ru_utime + u.ru_stime, u.ru_nvcsw + u.ru_nivcsw


def _run(name: str, kw: dict, days: float | None = None) -> dict:
    sc = load(DEMO)
    days = days or float(os.environ.get("BENCH_LOCKSTEP_DAYS") or 0)
    if days:
        sc.duration = round(days * 86400)
    sim = Simulation(sc, **kw)
    kids0, self0, wall0 = _use(resource.RUSAGE_CHILDREN), _use(resource.RUSAGE_SELF), time.monotonic()
    try:
        res = sim.observe()
    finally:
        sim.close()
    wall = time.monotonic() - wall0
    kids1, self1 = _use(resource.RUSAGE_CHILDREN), _use(resource.RUSAGE_SELF)
    fw_cpu = kids1[0] - kids0[0]  # every firmware process, reaped
    sim_cpu = self1[0] - self0[0]
    return {"mode": name, "ahead": kw.get("ahead", True), "depth": sim.depth if sim.pipelined else 1,
            "ticks": res.ticks, "boots": res.boots, "wall_s": wall,
            "fil_ticks_per_s": res.ticks / wall, "firmware_cpu_s": fw_cpu,
            "firmware_bound_ticks_per_s": res.ticks / fw_cpu, "ratio": fw_cpu / wall,
            "simulator_cpu_s": sim_cpu, "firmware_switches": kids1[1] - kids0[1],
            "simulator_switches": self1[1] - self0[1]}


def main(out: Path) -> None:
    compiled_dir(FIRMWARE_DIR)  # the .mpy cache is built before the clock starts (no mpy-cross in the figures)
    for name, kw in MODES:  # imports, caches and the first boot's page faults before the clock
        _run(name, kw, days=0.02)
    load1 = os.getloadavg()[0]
    runs = [_run(name, kw) for name, kw in MODES]  # the default first
    r = runs[0]
    print(f"demo scenario: {r['ticks']} ticks, {r['boots']} boot(s), {r['depth']} ticks in flight by "
          f"default; load average {load1:.1f} on {os.cpu_count()} cores at the start")
    print(f"  {'':<24} {'FIL ticks/s':>11} {'limit ticks/s':>13} {'ratio':>5} {'wall':>7} "
          f"{'firmware CPU':>12} {'simulator CPU':>13} {'us/tick fw':>10} {'sim':>4} {'switches/tick fw':>16} {'sim':>4}")
    for r in runs:
        n = r["ticks"]
        print(f"  {r['mode']:<24} {r['fil_ticks_per_s']:>11,.0f} {r['firmware_bound_ticks_per_s']:>13,.0f} "
              f"{r['ratio']:>5.2f} {r['wall_s']:>5.1f} s {r['firmware_cpu_s']:>10.1f} s "
              f"{r['simulator_cpu_s']:>11.1f} s {1e6 * r['firmware_cpu_s'] / n:>10.0f} "
              f"{1e6 * r['simulator_cpu_s'] / n:>4.0f} {r['firmware_switches'] / n:>16.2f} "
              f"{r['simulator_switches'] / n:>4.2f}")
    print(f"  ratio = FIL / firmware-bound limit = firmware CPU / wall; goal >= {GOAL} "
          f"({'met' if runs[0]['ratio'] >= GOAL else 'not met'} by the default)")
    (out / "lockstep.json").write_text(json.dumps(
        {**runs[0], "goal": GOAL, "speedup": runs[0]["fil_ticks_per_s"], "one_ahead_run": runs[1],
         "lockstep_run": runs[2], "load_average": load1}, indent=1))
    world_alone()


def world_alone(ticks: int = 100_000) -> float:
    """CPU us per tick of the simulator's own part without the firmware and the link: the
    demo's World.step and front-end frame (the lamp switched on from 16:00 to 08:00)."""
    from simulator.models.frontend import make_frontend
    from simulator.models.world import World
    sc = load(DEMO)
    world, fe = World(sc), make_frontend(sc)
    cpu0 = time.process_time()
    for t in range(sc.start, sc.start + ticks):
        h = (t // 3600) % 24
        fe.frame(world.step(t, h >= 16 or h < 8, 100)[0])
    us = 1e6 * (time.process_time() - cpu0) / ticks
    print(f"  world+frontend alone: {us:.1f} us/tick (CPU, World.step + frame, {ticks:,} ticks "
          f"of the demo)")
    return us
