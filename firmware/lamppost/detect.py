"""Fault detection: each TALQ alarm is a small state machine over the readings.

An alarm's condition is only judged while it is observable (lampFailure only
while the lamp is commanded on, past the blanking after a switch and, for HID
lamps, past the warm-up); otherwise the alarm holds its state. A condition
must persist `raise_s` seconds to raise and be absent `clear_s` seconds to
clear, which filters restrikes, inrush and single noisy samples. Expected
power comes from the lamp type's dim profile (lamptypes.py), so dimming never
looks like a fault. Each alarm counts its raises (DALI-2 Part 253 style); the
caller persists counts and active alarms so both survive a reboot.
"""
import sys
from array import array
from micropython import const

RAISED = const(1)
CLEARED = const(2)

SUPPLY_LOSS = "supplyLoss"
# Engine state is indexed by alarm: one tuple of names, small arrays (a 64 KB heap)
NAMES = ("lampFailure", "lampUnexpectedOn", "cyclingFailure", "lampPowerTooLow",
         "lampPowerTooHigh", "powerFactorTooLow", "supplyVoltageTooLow", "supplyVoltageTooHigh",
         SUPPLY_LOSS, "relayFailure", "dimmingFailure", "highTemperature")
_FAIL = const(0)
_UON = const(1)
_CYC = const(2)
_PLOW = const(3)
_PHIGH = const(4)
_PF = const(5)
_VLOW = const(6)
_VHIGH = const(7)
_LOSS = const(8)
_RELAY = const(9)
_DIM = const(10)
_TEMP = const(11)

_NEVER = const(-1000000)


class Alarm:
    """What out() is told about a change: the alarm's name, count and new state (reused)."""
    name = ""
    count = 0
    active = False


class Engine:
    """Judges every alarm once per tick against the expected power of the lamp."""

    # thresholds lamptypes.apply() sets at boot, declared for the type check (no code, no RAM)
    profile: tuple
    rated_w: float
    v_exp: float
    v_nom: float
    v_low: float
    v_high: float
    v_hyst: float
    v_dip: float
    temp_max: float
    temp_hyst: float
    blank_s: int
    on_w: float
    fail_frac: float
    warmup_s: int
    cool_s: int
    cyc_window_s: int
    cyc_outs: int
    tol: float
    dimmable: bool
    pf_min: float

    def __init__(self, cfg, counts=None, active=None):
        counts = counts or {}
        active = active or ()
        from lamppost import lamptypes
        th = lamptypes.thresholds(cfg)
        lamptypes.apply(self, th)  # thresholds -> attributes; that code is unloaded too
        lr, lc, vr = th["lamp_raise_s"], th["lamp_clear_s"], th["v_raise_s"]
        # read once at boot: unload the tables (~3 KB of a 64 KB heap)
        sys.modules.pop("lamppost.lamptypes", None)
        try:
            import lamppost
            delattr(lamppost, "lamptypes")
        except (AttributeError, ImportError):
            pass
        # per alarm: raise/clear persistence (s), raised?, since when disagreeing, count
        self._rs = (lr, lr, 0, lr, lr, 5, vr, vr, 0, lr, lr, 10)
        self._cs = (lc, lc, 60, lc, lc, 10, 10, 10, 2, lc, lc, 60)
        self._act = bytearray(len(NAMES))
        self._since = array("i", [-1] * len(NAMES))
        self._cnt = [counts.get(n, 0) for n in NAMES]
        for i in range(len(NAMES)):
            if NAMES[i] in active:
                self._act[i] = 1
        self._view = Alarm()
        self.switched = _NEVER  # last change of on/off or dim level
        self.cmd = None  # last commanded on/off seen by step()
        self.dim = 100
        self.dim_prev = 100  # dim level before the last change
        self.lit_at = -1  # when the lamp last lit (strike), -1 while dark
        self.out_at = _NEVER  # when the lamp last went out while commanded on
        self.v_bad = _NEVER  # last tick the supply was outside the dip band
        self.outs = []  # times of unexplained lamp outs while commanded on (cycling)

    def switch(self, now):
        """Tell the engine the lamp was just switched or dimmed (starts blanking)."""
        self.switched = now

    def expected_w(self, dim, v=0.0):
        """Expected active power at dim level (0-100) and supply v (0: nominal)."""
        pr = self.profile
        x = dim / 25.0
        k = int(x)
        if k >= 4:
            f = pr[4]
        elif k < 0:
            f = pr[0]
        else:
            f = pr[k] + (pr[k + 1] - pr[k]) * (x - k)
        w = self.rated_w * f
        if self.v_exp and v > 0.0:
            w *= (v / self.v_nom) ** self.v_exp
        return w

    def _u(self, i, now, observable, cond, out):
        """Judge alarm i: raise after its condition held raise_s, clear after absent clear_s."""
        if not observable or cond == (self._act[i] == 1):
            self._since[i] = -1
            return
        since = self._since[i]
        if since < 0:
            self._since[i] = since = now
        if now - since >= (self._rs[i] if cond else self._cs[i]):
            self._set(i, cond, out)

    def _set(self, i, cond, out):
        """Raise (counted) or clear alarm i now and tell out()."""
        self._act[i] = 1 if cond else 0
        self._since[i] = -1
        if cond:
            self._cnt[i] += 1
        v = self._view
        v.name = NAMES[i]
        v.count = self._cnt[i]
        v.active = cond
        out(v, RAISED if cond else CLEARED)

    def supply_lost(self, out):
        """Raise supplyLoss now for an outage seen only after it ended (no last gasp got out).

        Counted like any raise; step() clears it once the mains has been back
        clear_s, as it clears a last gasp's alarm after the reboot.
        """
        self._set(_LOSS, True, out)

    def step(self, now, cmd_on, dim, r, out):
        """Judge the alarms; call out(alarm, RAISED|CLEARED) for each change."""
        act = self._act
        if cmd_on != self.cmd:
            self.cmd = cmd_on
            self.switched = now
            self.lit_at = -1
            self.out_at = _NEVER
        if dim != self.dim:
            self.dim_prev = self.dim
            self.dim = dim
            self.switched = now
        self._u(_LOSS, now, True, not r.mains, out)
        if not r.mains or not r.ok:
            self.lit_at = -1  # no supply: the lamp is dark, judge nothing else
            return
        self._u(_TEMP, now, True, r.temp > (self.temp_max - self.temp_hyst if act[_TEMP]
                                            else self.temp_max), out)
        v = r.V
        vn = v / self.v_nom
        hy = self.v_hyst
        self._u(_VLOW, now, True, vn < (self.v_low + hy if act[_VLOW] else self.v_low), out)
        self._u(_VHIGH, now, True, vn > (self.v_high - hy if act[_VHIGH] else self.v_high),
                out)
        if vn < self.v_dip or vn > self.v_high:
            self.v_bad = now
        p = r.P
        settled = now - self.switched >= self.blank_s
        supply_ok = now - self.v_bad >= self.blank_s
        if not cmd_on:
            lit = p > self.on_w
            self._u(_UON, now, settled, lit, out)
            self._u(_RELAY, now, settled, lit, out)
            return
        exp = self.expected_w(dim, v)
        lit = p >= self.fail_frac * exp
        if lit:
            if self.lit_at < 0:
                self.lit_at = now
        else:
            if self.lit_at >= 0 and settled:
                # it was lit and went out: a restrike cycle unless the supply explains it
                self.out_at = now
                if supply_ok:
                    self.outs.append(now)
                    if len(self.outs) > 4:
                        self.outs.pop(0)
            self.lit_at = -1
        # lampFailure: dark past blanking, the HID warm-up, and any restrike wait
        judge = settled and supply_ok and now - self.switched >= self.warmup_s \
            and now - self.out_at >= self.cool_s
        self._u(_FAIL, now, judge, not lit, out)
        # cycling: repeated outs within the window (judged while commanded on)
        n = 0
        for t in self.outs:
            if now - t < self.cyc_window_s:
                n += 1
        self._u(_CYC, now, True, n >= self.cyc_outs, out)
        # power level, PF and dimming: only while lit and warmed up, supply in band
        warm = lit and settled and supply_ok and now - self.lit_at >= self.warmup_s
        if not warm:
            return
        tol = self.tol
        full = self.expected_w(100, v)
        prev = self.expected_w(self.dim_prev, v)
        stuck = (dim <= 90 and (1.0 - tol) * full <= p <= (1.0 + tol) * full) or \
            (self.dim_prev < dim - 10 and p <= (1.0 + tol) * prev and p < (1.0 - tol) * exp)
        if not self.dimmable:
            stuck = False
        self._u(_DIM, now, self.dimmable and (dim <= 90 or self.dim_prev < dim - 10), stuck, out)
        self._u(_PLOW, now, True, p < (1.0 - tol) * exp and not stuck, out)
        self._u(_PHIGH, now, True, p > (1.0 + tol) * exp and not stuck, out)
        self._u(_PF, now, full * 0.5 <= exp, r.PF < self.pf_min, out)

    def persistence(self):
        """{alarm: {"raise_s", "clear_s"}}: how long a condition must last to raise / clear."""
        return {NAMES[i]: {"raise_s": self._rs[i], "clear_s": self._cs[i]} for i in range(len(NAMES))}

    def counts(self):
        return {NAMES[i]: self._cnt[i] for i in range(len(NAMES))}

    def active(self):
        return [NAMES[i] for i in range(len(NAMES)) if self._act[i]]
