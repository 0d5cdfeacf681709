"""The world's fast paths (simulator/models/world.py, lamp.py, normals.py) against the
straightforward computation they replace: spectra_truth's unrolled plan equals
spectra_reference (the phasor-dict formula) to the last bit, over random lamp states,
voltages and supply spectra; block-drawn normals are random.gauss's sequence; and a model's
step() changes only what its STATE names (World.snapshot keeps only that)."""
from __future__ import annotations

import copy
import math
import random

import pytest
from hypothesis import given, settings, strategies as st

from simulator.models.lamp import LedLamp, Load, Shape, _cap_current
from simulator.models.normals import Normals
from simulator.models.supply import Supply
from simulator.models.world import PhysicalPost, World, spectra_reference, spectra_truth
from simulator.scenario import loads

FIELDS = ("v", "i", "p", "pf", "hz", "temp", "mains", "lit", "s", "q", "vh", "ih", "inrush",
          "closed", "dark")


def _same(fast, ref) -> None:
    """Bit-for-bit, and within 1e-9 relative field by field (the message says which)."""
    for k in FIELDS:
        a, b = getattr(fast, k), getattr(ref, k)
        if isinstance(a, float):
            assert a == pytest.approx(b, rel=1e-9, abs=1e-12), k
        assert a == b, (k, a, b)


def _explicit(load: Load) -> Load:
    """The same load with its harmonics as a plain list: spectra_truth computes it with
    spectra_reference."""
    return Load(load.p1, load.q1, list(load.harm), load.lit, load.inrush)


@settings(max_examples=300, deadline=None)
@given(seed=st.integers(0, 10_000), thd=st.floats(0.0, 0.08), v1=st.floats(0.0, 300.0),
       hz=st.floats(45.0, 65.0), dim=st.integers(0, 100), rated=st.floats(10.0, 400.0),
       faults=st.sets(st.sampled_from(["lamp_dead", "led_string_open", "driver_fault_high",
                                       "capacitor_failed"])),
       closed=st.booleans())
def test_led_loads_take_the_fast_path_to_the_reference_truth(seed, thd, v1, hz, dim, rated,
                                                             faults, closed):
    vharm = Supply(seed, {"thd": thd}).harmonics
    lamp = LedLamp(rated)
    kinds = {k: {} for k in faults}
    for _ in range(2):  # powered up, then the next tick (no inrush)
        load = lamp.step(1.0, v1, hz, closed, dim, kinds, vharm)
        fast = spectra_truth(v1, hz, vharm, load)
        assert load.shape is not None  # the models' loads are shapes: the fast path ran
        _same(fast, spectra_reference(v1, hz, vharm, _explicit(load)))


@settings(max_examples=200, deadline=None)
@given(seed=st.integers(0, 10_000), thd=st.floats(0.0, 0.08), v1=st.floats(1.0, 300.0),
       hz=st.floats(45.0, 65.0), c_f=st.floats(0.0, 1e-4), p1=st.floats(0.0, 5.0))
def test_capacitor_loads_take_the_fast_path_to_the_reference_truth(seed, thd, v1, hz, c_f, p1):
    vharm = Supply(seed, {"thd": thd}).harmonics
    load = _cap_current(v1, 2 * math.pi * hz, c_f, vharm)
    load.p1 = p1  # as the LED's standby and the HPS ballast's losses set it
    _same(spectra_truth(v1, hz, vharm, load), spectra_reference(v1, hz, vharm, _explicit(load)))


@settings(max_examples=200, deadline=None)
@given(seed=st.integers(0, 10_000), v1=st.one_of(st.just(0.0), st.floats(1e-3, 300.0)),
       p1=st.floats(-50, 500),
       q1=st.floats(-500, 500), x=st.floats(0.0, 3.0),
       harm=st.lists(st.tuples(st.integers(2, 15), st.floats(0.0, 1.0),
                               st.floats(-math.pi, math.pi)), max_size=6,
                     unique_by=lambda h: h[0]))
def test_any_shape_takes_the_fast_path_to_the_reference_truth(seed, v1, p1, q1, x, harm):
    """Shapes beyond the lamps' own: any orders and phases, scaled (ks) or given amplitudes,
    with a fixed fundamental or not, and an order the voltage lacks (finite phasors: a V1 of
    1e-308 V would make I1 infinite, where cmath.rect has cases of its own)."""
    vharm = Supply(seed).harmonics
    orders = [h for h, _, _ in harm]
    phases = [ph for _, _, ph in harm]
    ks = [a for _, a, _ in harm]
    for shape, load in (
            (s := Shape(orders, phases), Load(p1, q1, None, True, 1.5, s, ks)),
            (s := Shape(orders, phases, ks), Load(p1, q1, None, False, 0.0, s, scale=x)),
            (s := Shape(orders, phases, ks, (p1, q1)), Load(p1, q1, None, True, 0.0, s, scale=x))):
        fast = spectra_truth(v1, 50.0, vharm, load)
        _same(fast, spectra_reference(v1, 50.0, vharm, _explicit(load)))


def test_a_wrong_fast_path_is_caught():
    """The comparison above fails when the fast path's numbers are off in the last bit."""
    vharm = Supply(3).harmonics
    load = LedLamp(60).step(1.0, 229.0, 50.0, True, 100, {}, vharm)
    ref = spectra_reference(229.0, 50.0, vharm, _explicit(load))
    fast = spectra_truth(229.0, 50.0, vharm, load)
    fast.p = math.nextafter(fast.p, math.inf)
    with pytest.raises(AssertionError):
        _same(fast, ref)


@settings(max_examples=50, deadline=None)
@given(seed=st.integers(0, 2**32), before=st.integers(0, 3), n=st.integers(0, 5000))
def test_block_drawn_normals_are_random_gauss_sequence(seed, before, n):
    a, b = random.Random(seed), random.Random(seed)
    for _ in range(before):  # a pair half used: its second value comes first
        a.gauss(0, 1)
        b.gauss(0, 1)
    assert Normals(a).block(n) == [b.gauss(0.0, 1.0) for _ in range(n)]


def test_supply_and_meter_draw_what_one_draw_at_a_time_gives():
    """Supply.step without events and IdealMeter.encode take their normals in blocks: the
    values of the plain random.gauss calls they replaced."""
    from simulator.models.frontend import IdealMeter
    sup = Supply(11)
    rng = random.Random(11)
    rng.random()
    [rng.uniform(-math.pi, math.pi) for _ in range(6)]  # the phase and harmonics' draws
    walk = fwalk = 0.0
    for t in range(3000):
        v, hz = sup.step(t)
        walk = max(-0.02, min(0.02, walk + rng.gauss(0, 0.0005)))
        fwalk = max(-0.05, min(0.05, fwalk + rng.gauss(0, 0.002)))
        daily = 0.02 * math.sin(2 * math.pi * t / 86400 + sup.phase)
        assert (v, hz) == (230.0 * (1 + daily + walk), 50.0 + fwalk + rng.gauss(0, 0.002)), t
    meter, rng = IdealMeter(5), random.Random(5 ^ 0x5EED)
    for _ in range(3000):
        meter.encode(230.0, 1.0, 200.0, 0.9, 50.0)
        assert meter._n == 1 + rng.gauss(0, 0.001)


SCENARIO = """
[post]
lamp = "{lamp}"
rated_w = 70
photocell = true

[run]
start = "2026-01-15T15:00:00Z"
duration = "6h"
seed = 5

[[fault]]
at = "2026-01-15T16:00:00Z"
kind = "{fault}"
until = "2026-01-15T17:30:00Z"
"""


@pytest.mark.parametrize("lamp,fault", [("led", "dimming_stuck"), ("led", "overheat"),
                                        ("hps", "hid_end_of_life"), ("hps", "mains_loss")])
def test_step_changes_nothing_but_the_state_snapshot_keeps(lamp, fault):
    """World.snapshot keeps only each model's STATE: step() may change nothing else of a
    model but caches (_ names), or an undone step would leave a trace."""
    sc = loads(SCENARIO.format(lamp=lamp, fault=fault))
    w = World(sc)
    changed = set()
    for n, t in enumerate(range(sc.start, sc.end, 3)):
        models = {id(m): m for p in {w.post, w.healthy, *w.twins} - {None}
                  for m in (p, p.lamp, p.thermal)}
        before = {k: copy.copy(vars(m)) for k, m in models.items()}
        w.step(t, (n // 200) % 2 == 0, (100, 40, 0)[(n // 70) % 3])
        for k, m in models.items():
            state = {"stuck"} if isinstance(m, PhysicalPost) else set(type(m).STATE)
            changed |= {(type(m).__name__, a) for a, v in vars(m).items()
                        if not a.startswith("_") and a not in state and before[k].get(a) != v}
    assert not changed
