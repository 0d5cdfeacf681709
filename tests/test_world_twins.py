"""The world computes only what differs (simulator/models/world.py): the healthy twin is the
post until a fault first acts, a fault's twin exists only while its fault does. What it
returns is exactly what stepping every twin every tick returns (the eager reference below),
tick for tick, over the sample corpus's faults with the relay and dim changing."""
from __future__ import annotations

import math
from pathlib import Path

import pytest

from simulator.models.photocell import STUCK
from simulator.models.world import PhysicalPost, World, differs
from simulator.scenario import load

CORPUS = Path(__file__).resolve().parent / "scenarios"


class EagerWorld(World):
    """The world as it was: the healthy twin and every fault's twin stepped every tick."""

    def __init__(self, sc):
        super().__init__(sc)
        rng = type(self.supply)(sc.seed, sc.supply).rng
        phase = rng.random() * 2 * math.pi
        self.healthy = PhysicalPost(sc, phase)
        self.eager = [PhysicalPost(sc, phase) for _ in sc.faults]

    def step(self, t, relay, dim):
        dt = 1.0 if self.last_t is None else float(max(0, t - self.last_t))
        self.last_t = t
        v, hz = self.supply.step(t)
        vharm = self.supply.harmonics
        active = self.active(t)
        kinds = {f.kind: f.params for f in active}
        truth = self.post.step(t, dt, v, hz, vharm, relay, dim, kinds)
        healthy = self.healthy.step(t, dt, v, hz, vharm, relay, dim, {})
        visible, sees = [], None
        if self.photocell is not None:
            sees = self.photocell.dark(t)
            truth.dark = self.photocell.read(t, kinds)
        tol = max(1.0, 0.05 * self.sc.post.rated_w)
        for f, twin in zip(self.faults, self.eager):
            on = f in active
            if f.kind in STUCK:
                if on and sees is not None and STUCK[f.kind] != sees:
                    visible.append(f)
                continue
            alone = twin.step(t, dt, v, hz, vharm, relay, dim, {f.kind: f.params} if on else {})
            if on and differs(alone, healthy, tol):
                visible.append(f)
        return truth, visible


def _scenarios():
    paths = sorted(CORPUS.glob("*.toml"))
    demo = CORPUS.parent.parent / "scenarios" / "demo.toml"  # two faults, one after the other
    return [demo] + paths[:: max(1, len(paths) // 8)]  # a spread of causes and lamp types


@pytest.mark.parametrize("path", _scenarios(), ids=lambda p: p.stem)
def test_lazy_twins_see_exactly_what_eager_twins_see(path):
    sc = load(path)
    lazy, eager = World(sc), EagerWorld(sc)
    times = sorted({sc.start + k for f in sc.faults for a in (f.at, f.until or f.at)
                    for k in range(a - sc.start - 30, a - sc.start + 400)} | set(range(sc.start, sc.start + 300)))
    times = [t for t in times if sc.start <= t < sc.end]
    for n, t in enumerate(times):
        relay, dim = (n // 97) % 3 != 0, (100, 60, 30)[(n // 151) % 3]  # outputs that change
        a, va = lazy.step(t, relay, dim)
        b, vb = eager.step(t, relay, dim)
        assert (a.v, a.i, a.p, a.pf, a.temp, a.mains, a.lit, a.dark) == (b.v, b.i, b.p, b.pf, b.temp, b.mains, b.lit, b.dark), t
        assert [sc.faults.index(f) for f in va] == [sc.faults.index(f) for f in vb], t


@pytest.mark.parametrize("path", _scenarios()[:4], ids=lambda p: p.stem)
def test_a_step_computed_ahead_and_undone_leaves_no_trace(path):
    """The runner steps the world one tick ahead on the outputs it assumes; when the firmware
    sets others it restores the snapshot and steps again: the result is the plain run's."""
    sc = load(path)
    ahead, plain = World(sc), World(sc)
    times = [t for t in range(sc.start, sc.end, 37)][:600]
    for f in sc.faults:
        times += [t for t in range(f.at - 5, f.at + 300) if sc.start <= t < sc.end]
    times = sorted(set(times))
    for n, t in enumerate(times):
        relay, dim = (n // 11) % 2 == 0, (100, 50)[(n // 7) % 2]
        snap = ahead.snapshot()
        ahead.step(t, not relay, 100 - dim + 1)  # a guess the firmware then contradicts
        ahead.restore(snap)
        a, va = ahead.step(t, relay, dim)
        b, vb = plain.step(t, relay, dim)
        assert (a.v, a.i, a.p, a.pf, a.temp, a.mains, a.lit, a.hz) == (b.v, b.i, b.p, b.pf, b.temp, b.mains, b.lit, b.hz), t
        assert [sc.faults.index(f) for f in va] == [sc.faults.index(f) for f in vb], t


def test_a_run_with_the_world_computed_ahead_is_the_plain_run(tmp_path):
    """Simulation(ahead=True) through dusk (the firmware switches the lamp on: one step undone)
    and a dead lamp: the same trace, reports and score as the plain lockstep run."""
    from simulator.runner import Simulation
    sc = load(CORPUS / "corpus_led_lamp_dead_night.toml")
    sc.duration = 6 * 3600  # through the switch-on at dusk and the fault at 20:00
    got, undone = [], []
    for ahead in (False, True):
        sim = Simulation(sc, flash_dir=tmp_path / f"flash-{ahead}", ahead=ahead)
        sim.preempted_s = math.inf  # every tick ahead, however the scheduler places the firmware
        restore = sim.world.restore
        sim.world.restore = lambda snap: (undone.append(1), restore(snap))
        try:
            got.append(sim.run())
        finally:
            sim.close()
    assert undone  # the firmware switched: a tick computed ahead was undone and redone
    plain, early = got
    assert any(r[1] for r in plain.trace) and not plain.trace[0][1]  # the lamp did switch on
    assert early.trace == plain.trace and early.observable == plain.observable
    assert [f.to_dict() for f in early.faults] == [f.to_dict() for f in plain.faults]
    assert plain.faults[0].detected
    drop = ("heap_free", "uptime_ms")
    assert [{k: v for k, v in r.items() if k not in drop} for r in early.reports] == \
        [{k: v for k, v in r.items() if k not in drop} for r in plain.reports]


OVERLAPPING = """
[post]
lamp = "{lamp}"
rated_w = 70

[run]
start = "2026-01-15T19:50:00Z"
duration = "2h"
seed = 3

[[fault]]
at = "2026-01-15T20:00:00Z"
kind = "{first}"
until = "2026-01-16T01:00:00Z"

[[fault]]
at = "2026-01-15T21:00:00Z"
kind = "{second}"
until = "2026-01-15T21:20:00Z"
"""


@pytest.mark.parametrize("lamp,first,second", [("led", "led_string_open", "supply_sag"),
                                               ("led", "lamp_dead", "overheat"),
                                               ("hps", "capacitor_failed", "relay_open")])
def test_a_twin_that_is_the_post_parts_from_it_when_a_second_fault_acts(lamp, first, second):
    """A fault's twin is the post while its fault is the only one (the first fault of the
    run: both start from the no-fault state); when a second fault acts on the post the twin
    goes on alone from the state they share, and may merge back once the second has ended
    and the states agree again. Tick for tick what eager twins see."""
    from simulator.scenario import loads
    sc = loads(OVERLAPPING.format(lamp=lamp, first=first, second=second))
    lazy, eager = World(sc), EagerWorld(sc)
    shared = parted = False
    for n, t in enumerate(range(sc.start, sc.end)):
        relay, dim = True, (100, 60)[(n // 900) % 2]
        a, va = lazy.step(t, relay, dim)
        b, vb = eager.step(t, relay, dim)
        assert (a.v, a.i, a.p, a.pf, a.temp, a.mains, a.lit) == (b.v, b.i, b.p, b.pf, b.temp, b.mains, b.lit), t
        assert [sc.faults.index(f) for f in va] == [sc.faults.index(f) for f in vb], t
        shared |= lazy.twins[0] is lazy.post
        parted |= lazy.twins[0] is not None and lazy.twins[0] is not lazy.post
    assert shared and parted  # both ways were taken
