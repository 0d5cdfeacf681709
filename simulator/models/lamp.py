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
from dataclasses import dataclass, field

from simulator.models.params import fault_param


@dataclass
class Load:
    p1: float = 0.0  # fundamental active power, W
    q1: float = 0.0  # fundamental reactive power, var (+ lagging/inductive, - leading)
    # harmonic currents: (order, A rms, phase rad relative to the voltage fundamental)
    harm: list = field(default_factory=list)
    lit: bool = False  # the lamp gives light
    inrush: float = 0.0  # A peak of a switch-on spike this tick (0 = none)


def _cap_current(v1: float, w: float, c_f: float, vharm) -> Load:
    """A capacitor alone on the supply: leading current that amplifies voltage harmonics."""
    harm = [(h, f * v1 * h * w * c_f, ph + math.pi / 2) for h, f, ph in vharm]
    return Load(0.0, -v1 * v1 * w * c_f, harm)


_LED_HARM = tuple((h, a / math.sqrt(0.64 + 0.25 + 0.09 + 0.0225))
                  for h, a in ((3, 0.8), (5, 0.5), (7, 0.3), (9, 0.15)))


class LedLamp:
    """Constant-power LED driver: power follows the dim level, not the voltage."""

    kind = "led"

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
        self._lit = None  # (dim, faults, *_lit_load): the lit load of the last dim level and faults

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
            return Load()
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
        if got is None or got[0] != dim or got[1] is not faults:
            got = self._lit = (dim, faults, *self._lit_load(dim, faults))
        _, _, p, q, hyp, shape, lit = got
        i1 = hyp / v1
        return Load(p, q, [(h, k * i1, ph) for h, k, ph in shape], lit, inrush)

    def _lit_load(self, dim: int, faults: dict) -> tuple:
        """What a lit driver's load is at this dim level with these faults, whatever the
        voltage: (P, Q, hypot(P, Q), ((order, THD share, phase), ...), lit). The current's
        harmonics are k * i1 for i1 = hypot(P, Q) / V1: step() pays only that per tick."""
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
        shape = tuple((h, thd * share, h * phi + math.pi) for h, share in _LED_HARM)
        return p, q, math.hypot(p, q), shape, ok > 0 and "lamp_dead" not in faults


class HpsLamp:
    """High-pressure sodium on a magnetic ballast with a PF-correction capacitor."""

    kind = "hps"
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
            return Load()
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
