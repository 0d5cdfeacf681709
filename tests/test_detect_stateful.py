"""The detection engine, on MicroPython, against a simple model of a lamppost (hypothesis stateful).

Random sequences of switching, dimming, faults and repairs, supply events and
time passing. Invariants: no lamp alarm during the blanking after a switch or
dim change; no alarm without a fault in the recent past; counts rise by one
per raise and raises/clears alternate; and once every fault is repaired, a
night and a day later every alarm has cleared.
"""
from __future__ import annotations

import itertools

import documented

from hypothesis import HealthCheck, settings, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

LAMP_ALARMS = {"lampFailure", "lampUnexpectedOn", "relayFailure", "lampPowerTooLow",
               "lampPowerTooHigh", "powerFactorTooLow", "dimmingFailure", "cyclingFailure"}
FAULTS = ("lamp_dead", "relay_welded", "relay_open", "string_open", "overdrive", "cap_failed",
          "dim_stuck", "sag", "swell", "mains_off", "overheat")
LED_ONLY = {"string_open", "overdrive", "dim_stuck"}
BLANK_S = documented.blank_s()  # docs/detection.md: "blanking 2 s instead of 120 s"
QUIET_S = 400  # after the last fault: HPS restrike and run-up are over
_keys = itertools.count()


class Lamppost:
    """What the sensors read, given the command, the faults and the lamp's physics (simplified)."""

    def __init__(self, lamp: str, rated: float):
        self.lamp, self.rated = lamp, rated
        self.cmd_on, self.dim = False, 100
        self.faults: set[str] = set()
        self.struck_at: int | None = None  # when the HPS arc last struck
        self.stuck_dim = 100

    def reading(self, t: int) -> tuple:
        """(V, P, PF, temp, mains) at t."""
        f = self.faults
        if "mains_off" in f:
            self.struck_at = None
            return 0.0, 0.0, 0.0, 30.0, False
        v = 230.0 * (0.8 if "sag" in f else 1.15 if "swell" in f else 1.0)
        temp = 85.0 if "overheat" in f else 30.0
        closed = (self.cmd_on or "relay_welded" in f) and "relay_open" not in f
        if not closed or "lamp_dead" in f:
            self.struck_at = None
            return v, (0.3 if closed else 0.0), 0.0, temp, True
        pf = 0.45 if "cap_failed" in f else 0.95
        if self.lamp == "hps":
            if self.struck_at is None:
                self.struck_at = t
            run_up = 0.4 if t - self.struck_at < 240 else 1.0
            return v, self.rated * run_up * (v / 230.0) ** 2, pf, temp, True
        dim = self.stuck_dim if "dim_stuck" in f else (self.dim if self.cmd_on else 100)
        p = self.rated * dim / 100.0
        p *= 0.75 if "string_open" in f else 1.4 if "overdrive" in f else 1.0
        return v, max(p, 0.3), pf, temp, True


class DetectionMachine(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self.events: list[list] = []
        self.t = 1000
        self.changed = -10**6  # last switch or dim change
        self.fault_seen = -10**6  # last tick any fault was active
        self.counts: dict[str, int] = {}
        self.active: set[str] = set()

    @initialize(lamp=st.sampled_from(["led", "hps"]), rated=st.sampled_from([40.0, 60.0, 100.0]))
    def setup(self, lamp, rated):
        self.key = f"e{next(_keys)}"
        self.cfg = {"lamp": lamp, "rated_w": rated}
        self.world = Lamppost(lamp, rated)
        self.mp.call("detect_rpc", "new", self.key, self.cfg)

    def _advance(self, seconds: int) -> None:
        segs = []
        end = self.t + seconds
        w = self.world
        while self.t < end:
            n = min(30, end - self.t)
            segs.append([self.t, n, w.cmd_on, w.dim if w.cmd_on else 100, *w.reading(self.t)])
            if w.faults:
                self.fault_seen = self.t + n
            self.t += n
        for ev in self.mp.call("detect_rpc", "run", self.key, segs):
            self._check(ev)

    def _check(self, ev) -> None:
        t, name, state, count = ev
        if state == "raised":
            assert name not in self.active, f"{name} raised twice without a clear"
            assert count == self.counts.get(name, 0) + 1, f"{name} count {count} did not rise by one"
            if name in LAMP_ALARMS:
                assert t - self.changed >= BLANK_S, f"{name} raised {t - self.changed} s after a switch"
            assert t - self.fault_seen < QUIET_S, f"{name} raised at {t} with no fault since {self.fault_seen}"
            self.active.add(name)
            self.counts[name] = count
        else:
            assert name in self.active, f"{name} cleared but not raised"
            self.active.discard(name)
        self.events.append(ev)

    @rule(on=st.booleans())
    def switch(self, on):
        if on != self.world.cmd_on:
            self.world.cmd_on = on
            self.changed = self.t
        self._advance(1)

    @rule(dim=st.sampled_from([100, 50, 25]))
    def dim_to(self, dim):
        if dim != self.world.dim and self.world.cmd_on:
            self.changed = self.t
        self.world.dim = dim
        self._advance(1)

    @rule(fault=st.sampled_from(FAULTS))
    def inject(self, fault):
        if fault in LED_ONLY and self.world.lamp != "led":
            return
        if fault == "dim_stuck":
            self.world.stuck_dim = self.world.dim if self.world.cmd_on else 100
        if fault in ("sag", "swell"):
            self.world.faults -= {"sag", "swell"}
        self.world.faults.add(fault)
        self.fault_seen = self.t
        self._advance(1)

    @precondition(lambda self: bool(self.world.faults))
    @rule(data=st.data())
    def repair(self, data):
        f = data.draw(st.sampled_from(sorted(self.world.faults)))
        self.world.faults.discard(f)
        self.fault_seen = self.t
        self._advance(1)

    @rule(seconds=st.integers(1, 900))
    def wait(self, seconds):
        self._advance(seconds)

    @invariant()
    def agrees_with_engine(self):
        if hasattr(self, "key"):
            st_ = self.mp.call("detect_rpc", "state", self.key)
            assert set(st_["active"]) == self.active
            assert {k: v for k, v in st_["counts"].items() if v} == self.counts

    def teardown(self):
        if not hasattr(self, "key"):
            return
        # repair everything; a night (run-up, a steady burn of 2 x cyc_window_s that clears
        # cycling), a dimmed spell, a day
        self.world.faults.clear()
        self.fault_seen = self.t
        for on, dim, secs in ((True, 100, 7300), (True, 50, 600), (True, 100, 600), (False, 100, 600)):
            if on != self.world.cmd_on or (on and dim != self.world.dim):
                self.changed = self.t
            self.world.cmd_on, self.world.dim = on, dim
            self._advance(secs)
        assert not self.active, f"still raised after every fault was repaired: {self.active}"


def test_detection_engine_state_machine(mp):
    DetectionMachine.mp = mp
    run = DetectionMachine.TestCase
    run.settings = settings(max_examples=60, stateful_step_count=25, deadline=None,
                            suppress_health_check=[HealthCheck.too_slow])
    run("runTest").runTest()
