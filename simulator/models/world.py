"""The simulated world of one post: supply, relay, lamp, temperature and injected faults.

Each tick the world is computed for the real post (all active faults), for a
healthy twin and for one twin per fault with only that fault active. The
models keep state (HPS arc heat, driver temperature), so each twin keeps its
own instances. A fault is observable while its twin differs from the healthy
one (a dead lamp is invisible by day, while it is switched off); detection
latency is measured from then.

Only what differs is computed: until a fault first acts, the healthy twin IS the
post (one model stepped, not two); a fault's twin is the healthy twin's copy from
the tick its fault starts (stepping it with no fault before would give exactly that
state) and is dropped when the fault ends (nothing reads it afterwards).

Truth carries the exact electrical state (from the harmonic spectra of voltage
and current, so Vrms, Irms, P and PF agree with the waveforms the sensor front
ends synthesise) plus the spectra themselves.
"""
from __future__ import annotations

import cmath
import copy
import math
from operator import attrgetter

from simulator.models.lamp import NO_LOAD, Load, Shape, make_lamp
from simulator.models.params import fault_param
from simulator.models.photocell import STUCK, Photocell
from simulator.models.supply import Supply
from simulator.scenario_types import Fault, Scenario


class Truth:
    """The world's state this tick, as the sensors see it. vh and ih, the spectra (order, rms
    amplitude, phase rad; order 1 first), are built when first read (only the adc front end
    and tests read them): spectra_truth keeps what they are made of."""

    __slots__ = ("v", "i", "p", "pf", "hz", "temp", "mains", "lit", "s", "q", "_vh", "_ih",
                 "inrush", "closed", "dark", "_src")

    def __init__(self, v: float, i: float, p: float, pf: float, hz: float, temp: float,
                 mains: bool, lit: bool, s: float = 0.0, q: float = 0.0, vh: list | None = None,
                 ih: list | None = None, inrush: float = 0.0, closed: bool = False,
                 dark: bool = False, _src: tuple | None = None):
        self.v = v  # V rms (with harmonics); 0 during a mains loss
        self.i = i  # A rms
        self.p = p  # W, active
        self.pf = pf
        self.hz = hz
        self.temp = temp  # controller/driver temperature, degC
        self.mains = mains
        self.lit = lit
        self.s = s  # VA
        self.q = q  # var, fundamental (+ inductive)
        self._vh = [] if vh is None and _src is None else vh
        self._ih = [] if ih is None and _src is None else ih
        self.inrush = inrush  # A peak of a switch-on spike this tick
        self.closed = closed  # the relay contacts are closed
        self.dark = dark  # the photocell reads dark (tick flag bit 1); False when none is fitted
        self._src = _src  # (_Plan, V1, I1 re, im, harmonic amplitudes, their scale)

    @property
    def vh(self) -> list:
        if self._vh is None:
            self._vh, self._ih = self._src[0].spectra(*self._src[1:])
        return self._vh

    @vh.setter
    def vh(self, value: list) -> None:
        self._vh = value

    @property
    def ih(self) -> list:
        if self._ih is None:
            self._vh, self._ih = self._src[0].spectra(*self._src[1:])
        return self._ih

    @ih.setter
    def ih(self, value: list) -> None:
        self._ih = value

    _FIELDS = ("v", "i", "p", "pf", "hz", "temp", "mains", "lit", "s", "q", "vh", "ih",
               "inrush", "closed", "dark")

    def __repr__(self) -> str:
        return "Truth(" + ", ".join(f"{k}={getattr(self, k)!r}" for k in self._FIELDS) + ")"

    def __eq__(self, other) -> bool:
        if not isinstance(other, Truth):
            return NotImplemented
        return all(getattr(self, k) == getattr(other, k) for k in self._FIELDS)


YEAR_S = 365.2422 * 86400
NORTH_PEAK = 964569600  # 2000-07-26T00:00Z: the warmest time of year north of the equator
WARMEST_S = 15 * 3600  # the warmest time of day, local mean solar time
_TWO_PI = 2 * math.pi


class Thermal:
    """Controller/driver temperature: ambient (climate) + enclosure + self-heating + an overheat source.

    Without a climate the ambient is the legacy 10 +- 6 degC day cycle at a seeded phase. With
    one ([climate] mean, daily, seasonal) it is the mean, plus the daily swing peaking at 15:00
    local mean solar time, plus the seasonal swing peaking in late July north of the equator
    and half a year later south of it.
    """

    STATE = ("rise", "extra")  # what step() changes (World.snapshot); the rest: settings, caches

    def __init__(self, rated_w: float, phase: float, climate: dict | None = None,
                 lat: float = 0.0, lon: float = 0.0):
        self.rated_w = rated_w
        self.phase = phase
        self.climate = climate or None
        self.lon = lon
        self.peak = NORTH_PEAK if lat >= 0 else NORTH_PEAK + YEAR_S / 2
        self.rise = 0.0
        self.extra = 0.0
        # 1 - exp(-dt / tau) of the last dt (and tau): the same every tick of a run
        self._k_rise = (None, 0.0)  # (dt, k)
        self._k_extra = (None, None, 0.0)  # (dt, tau, k)

    def ambient(self, t: float) -> float:
        """Air temperature around the post at unix time t, degC."""
        c = self.climate
        if c is None:
            return 10.0 + 6.0 * math.sin(_TWO_PI * t / 86400 + self.phase)
        solar = (t + self.lon * 240.0 - WARMEST_S) % 86400
        return (c["mean"] + c["daily"] * math.cos(2 * math.pi * solar / 86400)
                + c["seasonal"] * math.cos(2 * math.pi * (t - self.peak) / YEAR_S))

    def step(self, t: int, dt: float, p: float, overheat: dict | None) -> float:
        if self.climate is None:  # self.ambient(t), inline
            amb = 10.0 + 6.0 * math.sin(_TWO_PI * t / 86400 + self.phase)
        else:
            amb = self.ambient(t)
        got = self._k_rise
        if got[0] != dt:
            got = self._k_rise = (dt, 1 - math.exp(-dt / 1200.0))
        load = p / self.rated_w
        rise = self.rise
        self.rise = rise = rise + (12.0 * (load if load < 2.0 else 2.0) - rise) * got[1]  # min(2, load)
        normal = amb + 15.0 + rise  # the enclosure runs warmer than the air
        if overheat is not None:
            target = fault_param(overheat, "overheat", "temp") - normal
            tau = fault_param(overheat, "overheat", "tau_s")
        elif self.extra == 0.0:  # settled (or never heated): 0.0 + (0.0 - 0.0) * k stays 0.0
            return normal + 0.0
        else:
            target, tau = 0.0, 300.0
        got = self._k_extra
        if got[0] != dt or got[1] != tau:
            got = self._k_extra = (dt, tau, 1 - math.exp(-dt / tau))
        self.extra += (target - self.extra) * got[2]
        return normal + self.extra


class PhysicalPost:
    """The post's physics (one twin: its own lamp model and thermal state); the post as
    configured is simulator/scenario_types.py Post."""

    def __init__(self, sc: Scenario, phase: float):
        p = sc.post
        # the lamp is rated for the post's nominal supply, not the feeder's actual level
        self.nominal = getattr(p, "nominal_v", 230.0)
        self.lamp = make_lamp(p.lamp, p.rated_w, p.strings, self.nominal, getattr(p, "hz", 50))
        self.thermal = Thermal(p.rated_w, phase, getattr(sc, "climate", None), p.latitude, p.longitude)
        self.stuck: float | None = None
        self._vharm = None  # the harmonics list root_thd was computed for (the supply's, fixed)
        self._root_thd = 1.0
        # what step() changes, its own and its models' (their STATE): World.snapshot keeps
        # it so that a step computed ahead can be undone; the rest are settings and caches
        # (tests/test_spectra_fast.py checks that step() changes nothing else)
        self._state_names = (("stuck",) + tuple("lamp." + k for k in type(self.lamp).STATE)
                             + tuple("thermal." + k for k in Thermal.STATE))
        self._state_of = attrgetter(*self._state_names)

    @property
    def state(self) -> tuple:
        """What step() changes (_state_names), as a tuple; set back from one."""
        return self._state_of(self)

    @state.setter
    def state(self, values: tuple) -> None:
        for name, value in zip(self._state_names, values):
            owner, _, attr = name.rpartition(".")
            setattr(getattr(self, owner) if owner else self, attr, value)

    def step(self, t: int, dt: float, v: float, hz: float, vharm, relay: bool, dim: int,
             faults: dict) -> Truth:
        if not faults:  # what the checks below come to with none
            mains = v > 0.3 * self.nominal
            self.stuck = None
            closed = True if relay else False
        else:
            if "supply_sag" in faults:
                fp = faults["supply_sag"]
                v *= float(fp.get("level", fp.get("depth", 0.80)))  # residual voltage
            if "supply_swell" in faults:
                v = v * fault_param(faults["supply_swell"], "supply_swell", "level")
            if "mains_loss" in faults:
                v = 0.0
            mains = v > 0.3 * self.nominal
            if "dimming_stuck" in faults:
                if self.stuck is None:
                    lv = fault_param(faults["dimming_stuck"], "dimming_stuck", "level")
                    self.stuck = dim if lv < 0 else lv
                dim = int(self.stuck)
            else:
                self.stuck = None
            closed = (relay or "relay_welded" in faults) and "relay_open" not in faults
        if vharm is not self._vharm:
            self._vharm, self._root_thd = vharm, math.sqrt(1 + sum(f * f for _, f, _ in vharm))
        v1 = v / self._root_thd
        if v > 0:
            load = self.lamp.step(dt, v1, hz, closed, dim, faults, vharm)
        else:
            load = NO_LOAD
            self.lamp.step(dt, 0.0, hz, False, dim, faults, vharm)
        tr = spectra_truth(v1, hz, vharm, load)
        tr.temp = self.thermal.step(t, dt, tr.p, faults.get("overheat") if faults else None)
        tr.mains = mains
        tr.closed = closed
        return tr


_VORDERS: tuple = (None, {})  # (the supply's harmonics list, {order: index in vh}), cached


def spectra_reference(v1: float, hz: float, vharm, load: Load) -> Truth:
    """Exact Vrms, Irms, P, PF from the fundamental and harmonic phasors, any load: the
    formula spectra_truth's fast path computes with the same operations
    (tests/test_spectra_fast.py holds them to each other)."""
    global _VORDERS
    vh = [(1, v1, 0.0)] + [(h, f * v1, ph) for h, f, ph in vharm]
    if _VORDERS[0] is not vharm:  # the supply's spectrum is fixed: its orders' places once
        _VORDERS = (vharm, {h: k for k, (h, _, _) in enumerate(vh)})
    where = _VORDERS[1]
    rect = cmath.rect
    i1 = math.hypot(load.p1, load.q1) / v1 if v1 > 0 else 0.0
    phasors = {1: rect(i1, -math.atan2(load.q1, load.p1) if i1 else 0.0)}
    for h, a, ph in load.harm:
        phasors[h] = phasors.get(h, 0j) + rect(a, ph)
    ih = [(h, abs(z), cmath.phase(z)) for h, z in sorted(phasors.items())]
    # P = sum over the orders both carry of Re(V_h conj(I_h)), in the current's order
    p = sum([(rect(vh[where[h]][1], vh[where[h]][2]) * z.conjugate()).real
             for h, z in phasors.items() if h in where])
    vrms = math.sqrt(sum([a * a for _, a, _ in vh]))
    irms = math.sqrt(sum([a * a for _, a, _ in ih]))
    s = vrms * irms
    return Truth(vrms, irms, p, p / s if s > 1e-9 else 0.0, hz, 25.0, True, load.lit,
                 s, load.q1, vh, ih, load.inrush)


# sum() of floats adds them one by one from 0 (Python 3.11; 3.12 compensates rounding)
_PLAIN_SUM = sum([1e16, 1.0, -1e16]) == 0.0


def _sum(terms: list) -> str:
    """Python for sum() of these terms, as _Plan.compute writes it."""
    if _PLAIN_SUM:  # the same additions without building a tuple and calling sum
        return "(0.0 + " + " + ".join(f"({t})" for t in terms) + ")"
    return "sum((" + ", ".join(terms) + ",))"


class _Plan:
    """What spectra_truth derives once from a load's Shape on one supply: the cos and sin of
    every phase, where each current order meets a voltage order, the orders sorted, and
    `truth`, spectra_reference's arithmetic for this shape unrolled into one function of
    this tick's numbers (see _unrolled)."""

    __slots__ = ("vfs", "vorders", "vphases", "ks", "fund", "cs", "ss", "slots", "by_order",
                 "meet", "vcs", "vss", "source", "truth")

    def __init__(self, shape: Shape, vharm):
        self.vfs = (1.0,) + tuple(f for _, f, _ in vharm)  # 1.0 * v1 is v1, exactly
        self.vorders = (1,) + tuple(h for h, _, _ in vharm)
        self.vphases = (0.0,) + tuple(ph for _, _, ph in vharm)
        self.ks = shape.ks
        self.fund = None  # with fixed P1, Q1: (hypot(P1, Q1), cos, sin of -atan2(Q1, P1))
        if shape.fund is not None:
            p1, q1 = shape.fund
            phi = -math.atan2(q1, p1)
            self.fund = (math.hypot(p1, q1), math.cos(phi), math.sin(phi))
        self.cs = tuple(math.cos(ph) for ph in shape.phases)
        self.ss = tuple(math.sin(ph) for ph in shape.phases)
        self.slots = (1,) + shape.orders  # the current's orders: the fundamental, then each
        self.by_order = tuple(sorted(range(len(self.slots)), key=self.slots.__getitem__))
        where = {h: k for k, h in enumerate(self.vorders)}
        # the harmonic currents that meet a voltage harmonic: (index in the current's
        # harmonics, index in vh), in the current's order, and cos, sin of that voltage's phase
        self.meet = tuple((j, where[h]) for j, h in enumerate(shape.orders) if h in where)
        self.vcs = tuple(math.cos(self.vphases[k]) for _, k in self.meet)
        self.vss = tuple(math.sin(self.vphases[k]) for _, k in self.meet)
        self.source = self._unrolled()
        space: dict = {}
        exec(compile(self.source, f"<spectra plan {self.slots} on {self.vorders}>", "exec"),
             {"sqrt": math.sqrt, "hypot": math.hypot, "atan2": math.atan2, "cos": math.cos,
              "sin": math.sin, "NEW": object.__new__, "Truth": Truth, "PLAN": self}, space)
        self.truth = space["truth"]

    @staticmethod
    def fits(shape: Shape, vharm) -> bool:
        """Whether the fast path computes what spectra_reference does: every current
        harmonic of its own order above the fundamental, the voltage's orders distinct,
        every fixed number finite (written into `truth` as a literal)."""
        vorders = [h for h, _, _ in vharm]
        numbers = ([f for _, f, _ in vharm] + [ph for _, _, ph in vharm] + list(shape.phases)
                   + list(shape.ks or ()) + list(shape.fund or ()))
        return (len(set(shape.orders)) == len(shape.orders) and 1 not in shape.orders
                and len(set(vorders)) == len(vorders) and 1 not in vorders
                and all(math.isfinite(x) for x in numbers))

    def _unrolled(self) -> str:
        """truth(v1, hz, load) -> Truth: spectra_reference's operations, in its order, on
        floats, with this plan's fixed numbers as literals (repr() of a float reads back as
        the same float). v1: the voltage fundamental; load: of this plan's shape.
        cmath.rect(r, phi) is (r cos phi, r sin phi) (for phi = +-0.0 too), a harmonic of
        an order of its own 0j + that, Re(V conj(I)) is Vr Ir - Vi (-Ii)
        (V1 = rect(v1, 0.0): (v1, v1 * 0.0)), abs() of a phasor is the C hypot (as cmath's,
        not math.hypot)."""
        n = len(self.cs)
        lines = ["def truth(v1, hz, load):"]
        if self.fund is not None:  # i1 = hypot(P1, Q1) / v1, phi = -atan2(Q1, P1): fixed
            hyp, c1, s1 = self.fund
            lines += [f"    i1 = ({hyp!r}) / v1 if v1 > 0 else 0.0",
                      "    if i1:",
                      f"        r1 = i1 * ({c1!r})",
                      f"        m1 = i1 * ({s1!r})"]
        else:
            lines += ["    p1 = load.p1",
                      "    q1 = load.q1",
                      "    i1 = hypot(p1, q1) / v1 if v1 > 0 else 0.0",
                      "    if i1:",
                      "        phi = -atan2(q1, p1)",
                      "        r1 = i1 * cos(phi)",
                      "        m1 = i1 * sin(phi)"]
        lines += ["    else:",
                  "        r1 = m1 = i1 * 0.0  # cmath.rect(0.0, 0.0)"]
        if self.ks is not None:
            lines += ["    amps = None", "    x = load.scale"]
            lines += [f"    a{j} = ({k!r}) * x" for j, k in enumerate(self.ks)]
        else:
            lines += ["    amps = load.amps", "    x = 0.0"]
            if n:
                lines.append("    " + ", ".join(f"a{j}" for j in range(n)) + ", = amps")
        for k in range(1, len(self.vfs)):  # the voltage harmonics' amplitudes: f * v1
            lines.append(f"    vh{k} = ({self.vfs[k]!r}) * v1")
        for j in range(n):  # 0j + rect(a, ph)
            lines.append(f"    hr{j} = 0.0 + a{j} * ({self.cs[j]!r})")
            lines.append(f"    hm{j} = 0.0 + a{j} * ({self.ss[j]!r})")
        terms = ["v1 * r1 - v1 * 0.0 * -m1"]
        terms += [f"vh{k} * ({vc!r}) * hr{j} - vh{k} * ({vs!r}) * -hm{j}"
                  for (j, k), vc, vs in zip(self.meet, self.vcs, self.vss)]
        lines.append(f"    p = {_sum(terms)}")
        # abs(r + m * 1j) is abs(complex(r, m)) (only a zero's sign may differ), for less
        lines.append("    g0 = abs(r1 + m1 * 1j)")
        for j in range(n):
            lines.append(f"    g{j + 1} = abs(hr{j} + hm{j} * 1j)")
        vsq = ["v1 * v1"] + [f"vh{k} * vh{k}" for k in range(1, len(self.vfs))]
        isq = [f"g{k} * g{k}" for k in self.by_order]
        # Truth(vrms, irms, p, pf, hz, 25.0, True, load.lit, s, load.q1, inrush=load.inrush),
        # its spectra made of PLAN and this tick's numbers when read; set without __init__
        lines += [f"    vrms = sqrt({_sum(vsq)})",
                  f"    irms = sqrt({_sum(isq)})",
                  "    s = vrms * irms",
                  "    tr = NEW(Truth)",
                  "    tr.v = vrms",
                  "    tr.i = irms",
                  "    tr.p = p",
                  "    tr.pf = p / s if s > 1e-9 else 0.0",
                  "    tr.hz = hz",
                  "    tr.temp = 25.0",
                  "    tr.mains = True",
                  "    tr.lit = load.lit",
                  "    tr.s = s",
                  "    tr.q = load.q1",
                  "    tr._vh = None",
                  "    tr._ih = None",
                  "    tr.inrush = load.inrush",
                  "    tr.closed = False",
                  "    tr.dark = False",
                  "    tr._src = (PLAN, v1, r1, m1, amps, x)",
                  "    return tr"]
        return "\n".join(lines) + "\n"

    def spectra(self, v1: float, r1: float, m1: float, amps, x: float) -> tuple[list, list]:
        """(vh, ih) of a tick truth() was given these for: the same operations again."""
        if self.ks is not None:
            amps = [k * x for k in self.ks]
        va = [f * v1 for f in self.vfs]
        res = [0.0 + a * c for a, c in zip(amps, self.cs)]
        ims = [0.0 + a * s for a, s in zip(amps, self.ss)]
        zs = [complex(r1, m1)] + [complex(r, m) for r, m in zip(res, ims)]
        return (list(zip(self.vorders, va, self.vphases)),
                [(self.slots[k], abs(zs[k]), cmath.phase(zs[k])) for k in self.by_order])


# plans by what they are made of ((orders, phases, ks) of a shape, the supply's spectrum):
# a model that makes a new Shape of the same numbers again finds its plan here
_PLANS: dict = {}


def _plan(shape: Shape, vharm) -> _Plan | None:
    """The plan of this shape on this supply (None: spectra_reference computes it)."""
    key = (shape.orders, shape.phases, shape.ks, shape.fund, tuple(vharm))
    plan = _PLANS.get(key, False)
    if plan is False:
        if len(_PLANS) >= 256:  # a bound, should a model make shapes without end
            _PLANS.clear()
        plan = _PLANS[key] = _Plan(shape, vharm) if _Plan.fits(shape, vharm) else None
    return plan


def spectra_truth(v1: float, hz: float, vharm, load: Load) -> Truth:
    """Exact Vrms, Irms, P, PF from the fundamental and harmonic phasors.

    A load given as a Shape and amplitudes (the models' usual case) takes the fast path:
    spectra_reference's operations on floats, in the same order, with the cos and sin of
    the fixed phases worked out once (_Plan) and no phasor dict or spectra lists built
    (Truth builds vh and ih when read). Any other load: spectra_reference."""
    shape = load.shape
    if shape is None:
        return spectra_reference(v1, hz, vharm, load)
    got = shape.plans
    if got is None or got[0] is not vharm:
        got = shape.plans = (vharm, _plan(shape, vharm))
    plan = got[1]
    if plan is None:
        return spectra_reference(v1, hz, vharm, load)
    return plan.truth(v1, hz, load)


class World:
    def __init__(self, sc: Scenario):
        self.sc = sc
        self.supply = Supply(sc.seed, sc.supply)
        phase = self.supply.rng.random() * 2 * math.pi
        self.post = PhysicalPost(sc, phase)  # the real one, every active fault
        self.healthy = self.post  # the same model until a fault first acts (step splits them)
        self.twins: list[PhysicalPost | None] = [None] * len(sc.faults)  # while its fault acts, alone
        self.lamp = self.post.lamp
        self.faults = sc.faults
        # seeded from its own stream, so fitting a photocell leaves the supply's draws unchanged
        self.photocell = (Photocell(sc.seed, sc.post.latitude, sc.post.longitude)
                          if sc.post.photocell else None)
        self.last_t: int | None = None
        self._mains_at: tuple[int, tuple[float, float]] | None = None  # the supply's (V, Hz) at t
        # fixed for the run: what each fault's twin steps with, which faults are a photocell's,
        # the times where the set of active faults changes (World._faults_at) and the watts a
        # sensor tells apart (differs)
        self._alone = [{f.kind: f.params} for f in sc.faults]
        self._stuck = [f.kind in STUCK for f in sc.faults]
        self._bounds = sorted({b for f in sc.faults for b in (f.at, f.until) if b is not None})
        self._span: tuple = (0, -1, None)  # (from, until, _faults_at's answer there)
        self._tol = max(1.0, 0.05 * sc.post.rated_w)
        self._since_merge = 0  # ticks since the last World._merge

    def _supply(self, t: int) -> tuple[float, float]:
        """The supply at t, drawn once per t: a step undone and redone (restore) sees the same
        draw, so the supply needs no snapshot (it does not depend on the outputs)."""
        got = self._mains_at
        if got is None or got[0] != t:
            got = self._mains_at = (t, self.supply.step(t))
        return got[1]

    def snapshot(self) -> tuple:
        """Everything step() changes, so a step computed ahead (runner: while the firmware
        runs the tick before) can be undone when the firmware's outputs turn out different:
        which models are the twins and each model's state (PhysicalPost.state)."""
        post, healthy, twins = self.post, self.healthy, self.twins
        if healthy is post and not any(twins):  # one model: most ticks of a run
            return (self.last_t, post, twins.copy(), ((post, post._state_of(post)),))
        posts = [post] if healthy is post else [post, healthy]
        for p in twins:  # each twin once: one may be the post itself
            if p is not None and p is not post and p is not healthy:
                posts.append(p)
        return (self.last_t, healthy, twins.copy(), [(p, p._state_of(p)) for p in posts])

    def restore(self, snap: tuple) -> None:
        """Back to the state of snapshot() (see there)."""
        self.last_t, self.healthy, twins, posts = snap
        self.twins = list(twins)
        for p, state in posts:
            p.state = state

    def active(self, t: int) -> list[Fault]:
        return [f for f in self.faults if f.active(t)]

    def _faults_at(self, t: int) -> tuple:
        """(active faults, on per fault, kinds, solo, stuck) at t. They change only where a
        fault starts or ends, so they are worked out again only when t leaves the span
        between two such times they were worked out for. solo: the index of the one fault
        acting, when exactly one acts (its twin steps just as the post does); stuck: what a
        stuck photocell reads (None: no photocell fault acts)."""
        got = self._span
        if got[0] <= t < got[1]:
            return got[2]
        active = self.active(t)
        on = [f.active(t) for f in self.faults]
        kinds = {f.kind: f.params for f in active}
        solo = on.index(True) if len(active) == 1 else None
        stuck = next((value for kind, value in STUCK.items() if kind in kinds), None)
        lo = max((b for b in self._bounds if b <= t), default=-math.inf)
        hi = min((b for b in self._bounds if b > t), default=math.inf)
        got = (active, on, kinds, solo, stuck)
        self._span = (lo, hi, got)
        return got

    def step(self, t: int, relay: bool, dim: int) -> tuple[Truth, list[Fault]]:
        """The faulted truth at t and the faults whose effect is observable now."""
        last = self.last_t
        if last is None:
            dt = 1.0
        else:
            d = t - last  # float(max(0, d)), 1.0 each tick of a run
            dt = 1.0 if d == 1 else float(d if d > 0 else 0)
        self.last_t = t
        got = self._mains_at  # self._supply(t), inline
        if got is None or got[0] != t:
            got = self._mains_at = (t, self.supply.step(t))
        v, hz = got[1]
        vharm = self.supply.harmonics
        got = self._span  # self._faults_at(t), the same span's answer inline
        active, on, kinds, solo, stuck = got[2] if got[0] <= t < got[1] else self._faults_at(t)
        post, twins, faults = self.post, self.twins, self.faults
        if active and self.healthy is post:
            self.healthy = copy.deepcopy(post)  # both still in the state of no fault at all
        self._since_merge += 1
        if self._since_merge >= MERGE_EVERY:
            self._merge(active, solo)
        if not active:  # what the loops below come to while no fault acts
            if any(twins):
                for k in range(len(twins)):
                    twins[k] = None
            truth = post.step(t, dt, v, hz, vharm, relay, dim, kinds)
            if self.healthy is not post:  # not merged yet: it keeps its own state
                self.healthy.step(t, dt, v, hz, vharm, relay, dim, _NO_FAULTS)
            if self.photocell is not None:
                truth.dark = self.photocell.dark(t)
            return truth, []
        for k, f in enumerate(faults):
            twin = twins[k]
            if not on[k]:
                twins[k] = None  # ended (or not begun): nothing reads its twin
            elif twin is None and not self._stuck[k]:
                # as if stepped fault-free until now; while its fault is the only one and the
                # post is in the state of the healthy twin, the twin IS the post
                twins[k] = (post if k == solo and same_state(post, self.healthy)
                            else copy.deepcopy(self.healthy))
            elif twin is post and k != solo:  # another fault acts on the post: part from here
                twins[k] = copy.deepcopy(post)
        truth = post.step(t, dt, v, hz, vharm, relay, dim, kinds)
        healthy = (truth if self.healthy is post
                   else self.healthy.step(t, dt, v, hz, vharm, relay, dim, _NO_FAULTS))
        visible = []
        sees = None  # what a working photocell reads now (None: none fitted)
        if self.photocell is not None:
            sees = self.photocell.dark(t)
            truth.dark = sees if stuck is None else stuck  # Photocell.read, with dark(t) once
        tol = self._tol
        for k, twin in enumerate(twins):
            if self._stuck[k]:  # a wrong reading is visible while a working cell would differ
                if on[k] and sees is not None and STUCK[faults[k].kind] != sees:
                    visible.append(faults[k])
                continue
            if twin is None:
                continue
            alone = (truth if twin is post
                     else twin.step(t, dt, v, hz, vharm, relay, dim, self._alone[k]))
            if differs(alone, healthy, tol):
                visible.append(faults[k])
        return truth, visible


    def _merge(self, active: list, solo: int | None) -> None:
        """Twins that have come to exactly the post's state step just as it does from now on
        (lags settle to the same floats hours after a fault): the healthy twin once no fault
        acts, a fault's twin while its fault is the only one."""
        self._since_merge = 0
        post = self.post
        if not active and self.healthy is not post and same_state(self.healthy, post):
            self.healthy = post
        if solo is not None and self.twins[solo] not in (None, post) and same_state(self.twins[solo], post):
            self.twins[solo] = post


MERGE_EVERY = 60  # ticks between looks for twins that have come to the post's state (World._merge)
_NO_FAULTS: dict = {}  # what the healthy twin steps with (one object: the lamps' caches hold)


def same_state(a: PhysicalPost, b: PhysicalPost) -> bool:
    """Whether two twins are in exactly the same state (caches, the _ names, aside)."""
    if a is b:
        return True
    return all({k: v for k, v in vars(x).items() if not k.startswith("_") and k not in ("lamp", "thermal")}
               == {k: v for k, v in vars(y).items() if not k.startswith("_") and k not in ("lamp", "thermal")}
               for x, y in ((a, b), (a.lamp, b.lamp), (a.thermal, b.thermal)))


def differs(a: Truth, b: Truth, tol_w: float) -> bool:
    """Would a sensor see a difference between these two states?"""
    if a.mains != b.mains or abs(a.p - b.p) > tol_w or abs(a.temp - b.temp) > 5.0:
        return True
    if abs(a.v - b.v) > 0.05 * max(a.v, b.v, 1.0):
        return True
    return max(a.p, b.p) > tol_w and abs(a.pf - b.pf) > 0.1
