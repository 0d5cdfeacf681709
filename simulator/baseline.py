"""A baseline detector the way threshold firmware does it (Tasmota energy margins).

Tasmota compares each 1 s reading with fixed margins - PowerLow, PowerHigh,
VoltageLow, VoltageHigh - while the relay is on, and a margin must be crossed
for `hold_s` (its MaxPowerHold, 10 s) before it is reported. It knows nothing
of dim levels, warm-up, restrikes or the commanded state. It runs in CPython on
the per-tick trace a simulation recorded (what the same sensors saw), so it is
scored on exactly the same runs as the firmware.
"""
from __future__ import annotations

# baseline margin -> the TALQ alarms it stands for when scored against a cause
TALQ = {
    "PowerLow": ("lampFailure", "lampPowerTooLow"),
    "PowerHigh": ("lampPowerTooHigh",),
    "VoltageLow": ("supplyVoltageTooLow",),
    "VoltageHigh": ("supplyVoltageTooHigh",),
}


class Margins:
    """Tasmota-style margins for one post: thresholds from the rated power and nominal supply."""

    def __init__(self, rated_w: float, tol: float = 0.15, v_nom: float = 230.0,
                 v_low: float = 0.85, v_high: float = 1.10, hold_s: int = 10):
        # the same tolerances our firmware uses, so the comparison is about method, not numbers
        self.limits = {
            "PowerLow": lambda p, v: p < (1 - tol) * rated_w,
            "PowerHigh": lambda p, v: p > (1 + tol) * rated_w,
            "VoltageLow": lambda p, v: v < v_low * v_nom,
            "VoltageHigh": lambda p, v: v > v_high * v_nom,
        }
        self.hold_s = hold_s
        self.state = {k: False for k in self.limits}
        self.since = {k: None for k in self.limits}

    def step(self, t: int, relay: bool, v: float, p: float, mains: bool) -> list[dict]:
        """Alarm changes at tick t: [{"alarm", "state", "time"}]."""
        changes = []
        for name, crossed in self.limits.items():
            if not mains or not relay:  # Tasmota checks margins only while powered on
                self.since[name] = None
                continue
            cond = crossed(p, v)
            if cond == self.state[name]:
                self.since[name] = None
                continue
            if self.since[name] is None:
                self.since[name] = t
            if t - self.since[name] >= self.hold_s:
                self.state[name] = cond
                self.since[name] = None
                changes.append({"alarm": name, "state": "raised" if cond else "cleared",
                                "time": t, "talq": TALQ[name]})
        return changes


def run(trace: list[tuple], rated_w: float, v_nom: float = 230.0) -> list[dict]:
    """Every alarm change the baseline reports over a run's trace (t, relay, dim, V, I, P, PF, temp, mains)."""
    m = Margins(rated_w, v_nom=v_nom)
    alarms: list[dict] = []
    for t, relay, _dim, v, _i, p, _pf, _temp, mains in trace:
        alarms += m.step(t, bool(relay), v, p, bool(mains))
    return alarms
