"""Lamp and driver loads: what current the lamp draws at its terminals, second by second.

Each model's step() takes the supply seen at the terminals and the injected
fault causes, and returns a Load: the fundamental active and reactive power
plus the harmonic currents. world.py turns that into waveforms and exact
Vrms/Irms/P/PF. Models keep state (HPS arc heat, LED driver power-up) so each
world keeps its own instances.

LED: a constant-power driver with N strings, PF and THD that worsen when
dimmed, a standby draw with its EMI capacitor, inrush at power-up.
HPS: a lamp on a magnetic ballast with a PF capacitor: power follows V^2,
3-5 min warm-up with high current, no restrike while hot, end-of-life cycling;
magnetic ballasts do not dim.
"""
from __future__ import annotations

import math

from simulator.models.params import fault_param


class Shape:
    """The fixed part of a load's harmonic currents: their orders and phases (rad, relative
    to the voltage fundamental), while only the amplitudes change tick to tick (an LED
    driver's at one dim level, a capacitor's on one supply). With `ks` the amplitudes are
    k * x for one number x a tick (Load.scale), else given a tick (Load.amps); with `fund`
    its loads' fundamental P1 and Q1 are fixed as well (an LED driver's). Immutable:
    world.py caches what it derives from one (cos/sin of the phases, where each order sits)
    on it."""

    __slots__ = ("orders", "phases", "ks", "fund", "plans")

    def __init__(self, orders, phases, ks=None, fund: tuple | None = None):
        self.orders, self.phases = tuple(orders), tuple(phases)
        self.ks = None if ks is None else tuple(ks)
        self.fund = fund  # (P1, Q1) of every Load of this shape, when they are fixed too
        self.plans = None  # world.py: (the supply's harmonics list, what it derived), one

    def amps(self, load: "Load") -> list:
        """This tick's amplitudes of a load of this shape."""
        return load.amps if self.ks is None else [k * load.scale for k in self.ks]

    def __deepcopy__(self, memo):  # immutable: a twin shares it (and what was derived)
        return self

    def __copy__(self):
        return self


NO_HARMONICS = Shape((), ())


class Load:
    """What the lamp draws this tick. The harmonic currents are (order, A rms, phase rad
    relative to the voltage fundamental); a model whose phases stay put gives them as a
    Shape and this tick's amplitudes, or the one number they scale with (`harm` builds the
    list when someone reads it)."""

    __slots__ = ("p1", "q1", "_harm", "lit", "inrush", "shape", "amps", "scale")

    def __init__(self, p1: float = 0.0, q1: float = 0.0, harm: list | None = None,
                 lit: bool = False, inrush: float = 0.0, shape: Shape | None = None,
                 amps=(), scale: float = 0.0):
        self.p1 = p1  # fundamental active power, W
        self.q1 = q1  # fundamental reactive power, var (+ lagging/inductive, - leading)
        self.lit = lit  # the lamp gives light
        self.inrush = inrush  # A peak of a switch-on spike this tick (0 = none)
        self.scale = scale  # x of a Shape with ks: the amplitudes are k * x
        if harm is not None:
            self._harm, self.shape, self.amps = harm, None, ()
        else:
            self._harm, self.shape, self.amps = None, shape or NO_HARMONICS, amps

    @property
    def harm(self) -> list:
        """[(order, A rms, phase rad)] of the harmonic currents."""
        if self._harm is not None:
            return self._harm
        s = self.shape
        return list(zip(s.orders, s.amps(self), s.phases))

    @harm.setter
    def harm(self, value: list) -> None:
        self._harm, self.shape, self.amps = value, None, ()

    def __repr__(self) -> str:
        return (f"Load(p1={self.p1!r}, q1={self.q1!r}, harm={self.harm!r}, lit={self.lit!r}, "
                f"inrush={self.inrush!r})")

    def __eq__(self, other) -> bool:
        if not isinstance(other, Load):
            return NotImplemented
        return ((self.p1, self.q1, self.harm, self.lit, self.inrush)
                == (other.p1, other.q1, other.harm, other.lit, other.inrush))


NO_LOAD = Load()  # nothing drawn: one object, read and never changed


def _cap_shape(vharm) -> tuple:
    """(Shape, ((f, h), ...)) of a capacitor's current on this supply: order h leads the
    voltage's by 90 degrees, its amplitude is f * v1 * h * w * C."""
    return (Shape([h for h, _, _ in vharm], [ph + math.pi / 2 for _, _, ph in vharm]),
            tuple((f, h) for h, f, _ in vharm))


_CAP: list = [None, None]  # [the supply's harmonics list, _cap_shape of it]: one supply a run


def _cap_current(v1: float, w: float, c_f: float, vharm) -> Load:
    """A capacitor alone on the supply: leading current that amplifies voltage harmonics."""
    if _CAP[0] is not vharm:
        _CAP[1] = _cap_shape(vharm)
        _CAP[0] = vharm
    shape, fh = _CAP[1]
    return Load(0.0, -v1 * v1 * w * c_f, None, False, 0.0, shape,
                [f * v1 * h * w * c_f for f, h in fh])


_LED_HARM = tuple((h, a / math.sqrt(0.64 + 0.25 + 0.09 + 0.0225))
                  for h, a in ((3, 0.8), (5, 0.5), (7, 0.3), (9, 0.15)))


class LedLamp:
    """Constant-power LED driver: power follows the dim level, not the voltage."""

    kind = "led"
    STATE = ("powered",)  # what step() changes (World.snapshot); the rest: settings, caches

    def __init__(self, rated_w: float, strings: int = 4, standby_w: float = 0.3,
                 pf: float = 0.96, x_cap_f: float = 0.06e-6, min_v: float = 90.0,
                 nominal_v: float = 230.0):
        self.rated_w = rated_w
        self.strings = strings
        self.standby_w = standby_w
        self.pf = pf
        self.x_cap_f = x_cap_f  # EMI X-capacitor across the driver input
        self.min_v = min_v * nominal_v / 230.0  # below this the driver drops out (90 V of 230)
        self.powered = False
        self._lit = None  # (dim, faults, *_lit_load(dim, faults)) of the last lit tick

    def pf_at(self, d: float) -> float:
        """Power factor at dim fraction d (0..1]: falls at low dim levels."""
        return max(0.3, self.pf - 0.35 * (1 - d) ** 2)

    @staticmethod
    def thd_at(d: float) -> float:
        return 0.08 + 0.35 * (1 - d) ** 2

    def step(self, dt: float, v1: float, hz: float, closed: bool, dim: int, faults: dict,
             vharm) -> Load:
        if not closed or v1 < 1.0:
            self.powered = False
            return NO_LOAD
        inrush = 0.0
        if not self.powered:
            self.powered = True
            inrush = min(60.0, 0.4 * self.rated_w)
        if "lamp_dead" in faults or v1 < self.min_v or dim <= 0:
            cap = _cap_current(v1, 2 * math.pi * hz, self.x_cap_f, vharm)
            cap.p1 = self.standby_w
            cap.inrush = inrush
            return cap
        got = self._lit
        # the same dim level and faults (the same dict, or none: a caller may pass a new {})
        if got is None or got[0] != dim or (got[1] is not faults and (got[1] or faults)):
            got = self._lit = (dim, faults, *self._lit_load(dim, faults))
        load = got[3]  # this state's Load, of this tick from here: its harmonics k * i1
        load.scale = got[2] / v1  # i1 = hypot(P, Q) / V1
        load.inrush = inrush
        return load

    def _lit_load(self, dim: int, faults: dict) -> tuple:
        """What a lit driver's load is at this dim level with these faults, whatever the
        voltage: (hypot(P, Q), Load). The current's harmonics are k * i1 for
        i1 = hypot(P, Q) / V1 (a Shape with ks): step() sets only that (Load.scale) and the
        inrush of the tick on the one Load of this state (its caller uses it at once)."""
        d = min(100, dim) / 100.0
        ok = 1.0
        if "led_string_open" in faults:
            k = fault_param(faults["led_string_open"], "led_string_open", "strings_open")
            ok = max(0.0, self.strings - k) / self.strings
        p = self.standby_w + (self.rated_w - self.standby_w) * d * ok
        if "driver_fault_high" in faults:
            p *= fault_param(faults["driver_fault_high"], "driver_fault_high", "factor")
        thd = self.thd_at(d)
        pf = self.pf_at(d)
        if "capacitor_failed" in faults:  # the PFC stage has failed: peaky rectifier current
            pf = fault_param(faults["capacitor_failed"], "capacitor_failed", "pf")
            thd = max(thd, 0.9)
        kd = 1 / math.sqrt(1 + thd * thd)
        cos_phi = min(1.0, pf / kd)
        q = -p * math.tan(math.acos(cos_phi))  # PFC + EMI filter: slightly leading
        phi = math.atan2(-q, p)  # current phase (leads when q < 0)
        shape = Shape([h for h, _ in _LED_HARM], [h * phi + math.pi for h, _ in _LED_HARM],
                      [thd * share for _, share in _LED_HARM], (p, q))
        return math.hypot(p, q), Load(p, q, None, ok > 0 and "lamp_dead" not in faults, 0.0,
                                      shape)


class HpsLamp:
    """High-pressure sodium on a magnetic ballast with a PF-correction capacitor."""

    kind = "hps"
    STATE = ("heat", "lit", "lit_full_s")  # what step() changes (World.snapshot)
    WARM_TAU = 70.0  # s: 95% of full output after ~3.5 min
    RESTRIKE_HEAT = 0.35  # arc tube must cool below this before a hot restrike
    BRANCH_PF = 0.45  # lamp + ballast alone
    LINE_PF = 0.92  # with the capacitor, at full output and nominal voltage

    def __init__(self, rated_w: float, nominal_v: float = 230.0, hz: float = 50.0):
        self.rated_w = rated_w
        self.nominal_v = nominal_v
        qb = rated_w * math.tan(math.acos(self.BRANCH_PF))
        ql = rated_w * math.tan(math.acos(self.LINE_PF))
        self.cap_f = (qb - ql) / (nominal_v ** 2 * 2 * math.pi * hz)
        self.heat = 0.0  # 0 cold .. 1 full arc temperature
        self.lit = False
        self.lit_full_s = 0.0  # seconds at full output (end-of-life timer)

    def step(self, dt: float, v1: float, hz: float, closed: bool, dim: int, faults: dict,
             vharm) -> Load:
        w = 2 * math.pi * hz
        eol = faults.get("hid_end_of_life")
        cool_s = fault_param(eol, "hid_end_of_life", "cool_s") if eol is not None else 60.0
        powered = closed and v1 > 1.0
        if self.lit and (not powered or v1 < 0.55 * self.nominal_v or "lamp_dead" in faults):
            self.lit = False  # arc goes out
        if self.lit and eol is not None and self.lit_full_s >= fault_param(
                eol, "hid_end_of_life", "lit_s"):
            self.lit = False  # end of life: arc voltage exceeds what the ballast can hold
        if not self.lit:
            self.lit_full_s = 0.0
            self.heat *= math.exp(-dt * math.log(1 / self.RESTRIKE_HEAT) / cool_s)
            if powered and v1 >= 0.8 * self.nominal_v and "lamp_dead" not in faults \
                    and self.heat < self.RESTRIKE_HEAT:
                self.lit = True  # the ignitor strikes the arc
        if not powered:
            return NO_LOAD
        cap_f = 0.0 if "capacitor_failed" in faults else self.cap_f
        cap = _cap_current(v1, w, cap_f, vharm)
        if not self.lit:
            cap.p1 = 0.5  # ballast and capacitor losses, ignitor pulses
            return cap
        self.heat += (1 - self.heat) * (1 - math.exp(-dt / self.WARM_TAU))
        if self.heat > 0.95:
            self.lit_full_s += dt
        h = self.heat
        scale = (v1 / self.nominal_v) ** 2
        p = self.rated_w * scale * (0.3 + 0.7 * h)
        bpf = self.BRANCH_PF
        if "capacitor_failed" in faults:
            bpf = fault_param(faults["capacitor_failed"], "capacitor_failed", "pf")
        i_b = self.rated_w * scale / (v1 * bpf) * (1.4 - 0.4 * h)  # branch current
        qb = math.sqrt(max(0.0, (v1 * i_b) ** 2 - p * p))
        phi_b = -math.atan2(qb, p)
        harm = [(h_, f * i_b, h_ * phi_b + math.pi) for h_, f in ((3, 0.12), (5, 0.05), (7, 0.02))]
        harm += cap.harm
        return Load(p, qb + cap.q1, harm, True)


def make_lamp(kind: str, rated_w: float, strings: int = 4, nominal_v: float = 230.0,
              hz: float = 50.0):
    if kind == "hps":
        return HpsLamp(rated_w, nominal_v, hz)
    return LedLamp(rated_w, strings, nominal_v=nominal_v)
