"""Fault detection: each TALQ alarm is a small state machine over the readings.

An alarm's condition is only judged while it is observable (lampFailure only
while the lamp is commanded on, past the blanking after a switch and, for HID
lamps, past the warm-up); otherwise the alarm holds its state. A condition
must persist `raise_s` seconds to raise and be absent `clear_s` seconds to
clear, which filters restrikes, inrush and single noisy samples. Expected
power comes from the lamp type's dim profile and the driver's own draw
(lamptypes.py), so dimming never looks like a fault. Where the sensors cannot
tell a fault from health (levels whose healthy bands touch, too little power, a
dip) an alarm holds, so none clears while its cause is still there; overlapping
explanations go supply, lampFailure, dimmingFailure, then the power alarms
(docs/detection.md). Each alarm counts its raises (DALI-2 Part 253 style); the
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
    floor_w: float
    standby_w: float
    v_min: float
    dip_s: int
    dimmable: bool
    pf_min: float

    def __init__(self, cfg, counts=None, active=None):
        counts = counts or {}
        active = active or ()
        from lamppost import lamptypes
        th = lamptypes.thresholds(cfg)
        lamptypes.apply(self, th)  # thresholds -> attributes; that code is unloaded too
        lr, lc, vr = th["lamp_raise_s"], th["lamp_clear_s"], th["v_raise_s"]
        self.dip_s = vr  # EN 50160: a dip lasts up to a minute
        # read once at boot: unload the tables (~3 KB of a 64 KB heap)
        sys.modules.pop("lamppost.lamptypes", None)
        try:
            import lamppost
            delattr(lamppost, "lamptypes")
        except (AttributeError, ImportError):
            pass
        # per alarm: raise/clear persistence (s), raised?, since when disagreeing, count
        self._rs = (lr, lr, 0, lr, lr, 5, vr, vr, 0, lr, lr, 10)
        # supply alarms clear only after as long back in limits as they need to raise (and as
        # the longest EN 50160 swell or dip): a swell on top of a sag never flaps the alarm
        self._cs = (lc, lc, 60, lc, lc, 10, vr, vr, 2, lc, lc, 60)
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
        self.v_since = _NEVER  # start of that stretch out of band (a dip, or a steady feeder)
        self.v_out = _NEVER  # last tick the supply could put a lamp out (loss, dip, boot)
        self.n_outs = 0  # unexplained lamp outs while commanded on, this night (cycling)
        self.last_out = _NEVER
        self.period = 0  # s between the last two outs: the lamp's own cycle (0: unknown)
        self.p_ref = -1.0  # last warm reading, W, and the dim level it was taken at
        self.ref_dim = -1
        self.p_before = -1.0  # the power before the last dim change (-1: not measured)
        self.p_stuck = -1.0  # the power when dimmingFailure was raised

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
        sb = self.standby_w
        w = sb + (self.rated_w - sb) * f  # the driver's own draw is there at every level
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

    def band(self, w):
        """Half-width of the healthy band around expected power w: a fraction, never under
        the meter's resolution (a fraction of a few watts is noise)."""
        b = self.tol * w
        return b if b > self.floor_w else self.floor_w

    def _apart(self, a, b):
        """Can the sensors tell power a from power b (their healthy bands do not touch)?"""
        return abs(a - b) > self.band(a) + self.band(b)

    def _bad_supply(self, now):
        """The supply is out of band this tick: a new stretch unless the last ended < dip_s ago."""
        if now - self.v_bad > self.dip_s:
            self.v_since = now
        self.v_bad = now

    def step(self, now, cmd_on, dim, r, out):
        """Judge the alarms; call out(alarm, RAISED|CLEARED) for each change."""
        act = self._act
        if self.cmd is None:
            self.v_out = now  # booted: maybe after an outage, a hot HID lamp may be cooling
        if cmd_on != self.cmd:
            self.cmd = cmd_on
            self.switched = now
            self.lit_at = -1
            self.out_at = _NEVER
            self.p_ref = -1.0
            if cmd_on and not act[_CYC]:
                self.n_outs = 0  # cycling is counted per night (a raised alarm keeps its count)
        if dim != self.dim:
            self.dim_prev = self.dim
            self.dim = dim
            self.switched = now
            # the power at the level just left, if it was measured there: did the lamp follow?
            self.p_before = self.p_ref if self.ref_dim == self.dim_prev else -1.0
        self._u(_LOSS, now, True, not r.mains, out)
        if not r.mains or not r.ok:
            if not r.mains:
                self.v_bad = self.v_since = self.v_out = now
                if cmd_on and self.lit_at >= 0:
                    self.out_at = now  # put out by the supply: an HID arc cools from here
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
            self._bad_supply(now)
            if vn < self.v_dip:
                self.v_out = now
        p = r.P
        settled = now - self.switched >= self.blank_s
        # a dip (out of band for at most dip_s) and blank_s after it explain any lamp anomaly;
        # a low or high supply that lasts longer is steady: lamps are judged at it, down to
        # the lamp type's v_min (below it the lamp cannot run or restrike)
        supply_ok = vn >= self.v_min and (now - self.v_bad >= self.blank_s or
                                          now - self.v_since > self.dip_s)
        if not cmd_on:
            lit = p > self.on_w
            # a lamp the supply put out is no evidence the relay opened: dark is judged only
            # cool_s (an HID restrike) and blank_s after the supply last could put it out
            seen = settled and (lit or now - self.v_out >= self.cool_s + self.blank_s)
            self._u(_UON, now, seen, lit, out)
            self._u(_RELAY, now, seen, lit, out)
            return
        exp = self.expected_w(dim, v)
        sb = self.standby_w
        floor = self.floor_w
        if exp >= floor + floor:  # dark and lit read apart: judge the lamp's light
            lit = p - sb >= self.fail_frac * (exp - sb)
            if lit:
                if self.lit_at < 0:
                    self.lit_at = now
            else:
                if self.lit_at >= 0 and settled:
                    # it was lit and went out: a restrike cycle unless the supply explains it
                    self.out_at = now
                    if supply_ok:
                        if self.n_outs:
                            self.period = now - self.last_out
                        self.n_outs += 1
                        self.last_out = now
                self.lit_at = -1
            # lampFailure: dark past blanking, the HID warm-up, and any restrike wait
            judge = settled and supply_ok and now - self.switched >= self.warmup_s \
                and now - self.out_at >= self.cool_s
            self._u(_FAIL, now, judge, not lit, out)
        else:  # too little power to tell lit from dark: lampFailure holds, so does "lit"
            lit = self.lit_at >= 0
        # cycling: cyc_outs unexplained outs in one night, with no steady burn between them
        # as long as the lamp's own cycle (up to 2 x cyc_window_s); clears after such a burn
        cw = self.cyc_window_s
        per = self.period + self.period
        win = cw + cw if not self.period or per > cw + cw else (per if per > cw else cw)
        if self.lit_at >= 0 and now - self.lit_at >= win:
            self.n_outs = 0
            self.period = 0
        self._u(_CYC, now, supply_ok, self.n_outs >= self.cyc_outs, out)
        # power level, PF and dimming: only while lit and warmed up, supply judged
        warm = lit and settled and supply_ok and now - self.lit_at >= self.warmup_s
        if not warm:
            return
        self.p_ref = p
        self.ref_dim = dim
        bexp = self.band(exp)
        full = self.expected_w(100, v)
        off = abs(p - exp) > bexp  # not at the commanded level
        pb = self.p_before
        # the power follows another level than the commanded one: full, or the one just left
        # (and did not move with the command). Precedence: this explanation comes before the
        # power alarms, which hold while it stands.
        bfull = self.band(full)
        at_full = dim < 100 and abs(p - full) <= bfull and (pb < 0.0 or abs(pb - full) <= bfull)
        at_prev = pb >= 0.0 and self.dim_prev != dim and abs(p - pb) <= self.band(pb)
        stuck = self.dimmable and off and (at_full or at_prev)
        if self.dimmable:
            if act[_DIM]:
                # raised: clears only at a level apart from the stuck power, where the lamp
                # is seen to follow (at one the stuck driver would also draw, it holds)
                if self.p_stuck < 0.0:
                    self.p_stuck = full  # restored after a reboot: stuck at full, most likely
                self._u(_DIM, now, self._apart(exp, self.p_stuck), off, out)
            else:
                seen = (at_full and self._apart(exp, full)) or \
                    (at_prev and self._apart(exp, self.expected_w(self.dim_prev, v)))
                self._u(_DIM, now, seen, stuck, out)
                if act[_DIM]:
                    self.p_stuck = p
        # lampPowerTooLow/High: where the band is a fraction (or at full, the rated level)
        jp = not (stuck or act[_DIM]) and (self.tol * exp >= floor or dim >= 100)
        self._u(_PLOW, now, jp, p < exp - bexp, out)
        self._u(_PHIGH, now, jp, p > exp + bexp, out)
        self._u(_PF, now, full * 0.5 <= exp, r.PF < self.pf_min, out)

    def persistence(self):
        """{alarm: {"raise_s", "clear_s"}}: how long a condition must last to raise / clear."""
        return {NAMES[i]: {"raise_s": self._rs[i], "clear_s": self._cs[i]} for i in range(len(NAMES))}

    def counts(self):
        return {NAMES[i]: self._cnt[i] for i in range(len(NAMES))}

    def active(self):
        return [NAMES[i] for i in range(len(NAMES)) if self._act[i]]
