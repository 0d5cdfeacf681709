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
from micropython import const

RAISED = const(1)
CLEARED = const(2)

LAMP_FAILURE = "lampFailure"
LAMP_UNEXPECTED_ON = "lampUnexpectedOn"
CYCLING = "cyclingFailure"
POWER_LOW = "lampPowerTooLow"
POWER_HIGH = "lampPowerTooHigh"
PF_LOW = "powerFactorTooLow"
VOLT_LOW = "supplyVoltageTooLow"
VOLT_HIGH = "supplyVoltageTooHigh"
SUPPLY_LOSS = "supplyLoss"
RELAY = "relayFailure"
DIMMING = "dimmingFailure"
HIGH_TEMP = "highTemperature"

# index of each alarm in Engine.alarms
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

NAMES = (LAMP_FAILURE, LAMP_UNEXPECTED_ON, CYCLING, POWER_LOW, POWER_HIGH, PF_LOW,
         VOLT_LOW, VOLT_HIGH, SUPPLY_LOSS, RELAY, DIMMING, HIGH_TEMP)

_NEVER = const(-1000000)


class Alarm:
    """Raise after the condition holds raise_s seconds, clear after it is gone clear_s."""

    def __init__(self, name, raise_s, clear_s, count=0):
        self.name = name
        self.raise_s = raise_s
        self.clear_s = clear_s
        self.active = False
        self.since = -1  # when the condition last started to disagree with `active`
        self.count = count

    def update(self, now, observable, cond):
        """RAISED or CLEARED on a change of state, else 0."""
        if not observable or cond == self.active:
            self.since = -1
            return 0
        if self.since < 0:
            self.since = now
        if now - self.since >= (self.raise_s if cond else self.clear_s):
            self.active = cond
            self.since = -1
            if cond:
                self.count += 1
                return RAISED
            return CLEARED
        return 0


class Engine:
    """Judges every alarm once per tick against the expected power of the lamp."""

    def __init__(self, cfg, counts=None, active=None):
        counts = counts or {}
        active = active or ()
        from lamppost import lamptypes
        th = lamptypes.thresholds(cfg)
        # read once at boot: unload the tables (~3 KB of a 64 KB heap)
        sys.modules.pop("lamppost.lamptypes", None)
        try:
            import lamppost
            del lamppost.lamptypes
        except (AttributeError, ImportError):
            pass
        self.temp_max, self.temp_hyst = th["temp_max"], th["temp_hyst"]
        self.v_low, self.v_high, self.v_hyst, self.v_dip = th["v_low"], th["v_high"], th["v_hyst"], \
            th["v_dip"]
        self.cyc_window_s, self.cyc_outs, self.pf_min = th["cyc_window_s"], th["cyc_outs"], th["pf_min"]
        self.rated_w = th["rated_w"]
        self.profile = th["profile"]
        self.dimmable = self.profile[2] < self.profile[4]  # else dimmingFailure is never judged
        self.v_exp = th["v_exp"]
        self.v_nom = th["v_nom"]
        self.blank_s = th["blank_s"]
        self.warmup_s = th["warmup_s"]
        self.cool_s = th["cool_s"]
        self.tol = th["power_tol"]
        self.fail_frac = th["fail_frac"]
        self.on_w = max(th["on_w"], 0.1 * self.rated_w)
        lr, lc, vr = th["lamp_raise_s"], th["lamp_clear_s"], th["v_raise_s"]
        spec = ((lr, lc), (lr, lc), (0, 60), (lr, lc), (lr, lc), (5, 10),
                (vr, 10), (vr, 10), (0, 2), (lr, lc), (lr, lc), (10, 60))
        self.alarms = []
        for i in range(len(NAMES)):
            a = Alarm(NAMES[i], spec[i][0], spec[i][1], counts.get(NAMES[i], 0))
            a.active = NAMES[i] in active
            self.alarms.append(a)
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
        a = self.alarms[i]
        ch = a.update(now, observable, cond)
        if ch:
            out(a, ch)

    def step(self, now, cmd_on, dim, r, out):
        """Judge the alarms; call out(alarm, RAISED|CLEARED) for each change."""
        A = self.alarms
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
        self._u(_TEMP, now, True, r.temp > (self.temp_max - self.temp_hyst if A[_TEMP].active
                                            else self.temp_max), out)
        v = r.V
        vn = v / self.v_nom
        hy = self.v_hyst
        self._u(_VLOW, now, True, vn < (self.v_low + hy if A[_VLOW].active else self.v_low), out)
        self._u(_VHIGH, now, True, vn > (self.v_high - hy if A[_VHIGH].active else self.v_high),
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

    def counts(self):
        return {a.name: a.count for a in self.alarms}

    def active(self):
        return [a.name for a in self.alarms if a.active]
