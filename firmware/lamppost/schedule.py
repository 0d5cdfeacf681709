"""When the lamp burns and how bright: astronomical clock, photocell, dimming, overrides.

Priority, highest first: a running SelfTest; a manual override (`Relay`,
`Dim`), which returns to automatic after `override_s`; then automatic.
Automatic on/off is the astronomical clock (lamppost/sun.py). With a
photocell fitted (`photocell` true, tick flag bit 1) the photocell decides
where the clock cannot know whether it is dark: within `pc_window_min`
minutes of a real sunset or sunrise, and while the sun is within
sun.PC_BAND_DEG of the switching elevation (near the end of polar night the
sun can skim just below the horizon all day while the sky is bright). Only
elsewhere is the cell judged: one that disagrees with the clock there for
_PC_FAULT_S is reported faulty (stuck, dirty, covered) and ignored until it
reads right for _PC_FAULT_S where it read wrong (a cell stuck dark agrees
every night: that does not clear it). A disagreement inside the window
never counts toward either timer: both restart there.

The dimming schedule runs on local MEAN SOLAR time by default
(`sched_clock` "solar": clock time shifted by longitude x 4 min/degree, no
daylight saving to get wrong), or on local civil time ("utc"): UTC plus the
standard `utc_offset_min`, plus one hour while the `dst` rule says summer
time ("eu": last Sunday of March to last Sunday of October, 01:00 UTC;
"us": second Sunday of March to first Sunday of November, 02:00 local,
before 2007 first Sunday of April to last Sunday of October). Between
`dim_from_min` and `dim_to_min` (minutes after midnight, may wrap
midnight) a lit lamp runs at `dim_level` percent, else at 100.
"""
from micropython import const
from lamppost.clock import civil, days_from_civil

_PC_FAULT_S = const(600)
_DAY = const(86400)


class Schedule:
    def __init__(self, cfg, sunswitch, out=None):
        self.sun = sunswitch
        self.out = out  # out(kind, fields): schedule events (photocell fault, override end)
        self.relay_ovr = None  # None = automatic, else True/False
        self.dim_ovr = None  # None = automatic, else 0-100
        self.ovr_until = 0
        self.pc_fault = False
        self.pc_bad = False  # the wrong reading the photocell was found faulty for
        self.pc_since = -1  # when the photocell started to (dis)agree, for the fault filter
        self.test = None  # a running SelfTest, which outranks everything
        self.why = "clock"
        self.configure(cfg)

    def configure(self, cfg):
        self.photocell = cfg.get("photocell", False)
        self.pc_window = cfg.get("pc_window_min", 30) * 60
        self.dim_level = cfg.get("dim_level", 100)
        self.dim_from = cfg.get("dim_from_min", 0)
        self.dim_to = cfg.get("dim_to_min", 300)
        self.solar = cfg.get("sched_clock", "solar") == "solar"
        self.offset_s = cfg.get("utc_offset_min", 0) * 60
        rule = cfg.get("dst", "none")
        self.dst = 1 if rule == "eu" else 2 if rule == "us" else 0
        self.y0 = self.y1 = self.d0 = self.d1 = 0  # the cached UTC year and its summer time
        self.override_s = cfg.get("override_s", 3600)

    def _event(self, kind, fields):
        if self.out:
            self.out(kind, fields)

    def local_minute(self, now):
        """Minutes after local midnight on the schedule's clock (solar, or civil with DST)."""
        if self.solar:
            shift = int(self.sun.lon * 240)
        else:
            shift = self.offset_s
            if self.dst:
                if not (self.y0 <= now < self.y1):
                    self._summer(now)
                if self.d0 <= now < self.d1:
                    shift += 3600
        return (now + shift) % _DAY // 60

    def _summer(self, now):
        """Cache the UTC year around now and its summer time [d0, d1) under the dst rule."""
        y = civil(now // _DAY)[0]
        self.y0 = days_from_civil(y, 1, 1) * _DAY
        self.y1 = days_from_civil(y + 1, 1, 1) * _DAY
        if self.dst == 1:  # EU: last Sunday of March and of October, 01:00 UTC
            self.d0 = _sunday(y, 3, -1) * _DAY + 3600
            self.d1 = _sunday(y, 10, -1) * _DAY + 3600
        else:  # US: 02:00 local standard time on, 02:00 local summer time (01:00 standard) off
            if y >= 2007:
                on, off = _sunday(y, 3, 2), _sunday(y, 11, 1)
            else:
                on, off = _sunday(y, 4, 1), _sunday(y, 10, -1)
            self.d0 = on * _DAY + 7200 - self.offset_s
            self.d1 = off * _DAY + 3600 - self.offset_s

    def dim_auto(self, now):
        m = self.local_minute(now)
        a, b = self.dim_from, self.dim_to
        inside = (a <= m < b) if a <= b else (m >= a or m < b)
        return self.dim_level if inside else 100

    def on_auto(self, now, r):
        clock = self.sun.dark(now)
        if not self.photocell:
            self.why = "clock"
            return clock
        near = self.sun.uncertain(now, self.pc_window)
        if near:
            self.pc_since = -1  # a disagreement where the clock cannot know never counts
        else:
            # far from twilight the clock is certain: judge the photocell against it. A faulty
            # cell is trusted again only once it reads right where it read wrong: a cell stuck
            # dark agrees with the clock every night, so agreeing then proves nothing.
            agree = r.dark == clock
            if self.pc_fault:
                change = agree and clock != self.pc_bad
            else:
                change = not agree
            if not change:
                self.pc_since = -1
            else:
                if self.pc_since < 0:
                    self.pc_since = now
                if now - self.pc_since >= _PC_FAULT_S:
                    self.pc_fault = not agree
                    self.pc_bad = r.dark
                    self.pc_since = -1
                    self._event("photocell", {"state": "fault" if self.pc_fault else "ok",
                                              "photocell": "dark" if r.dark else "light",
                                              "clock": "dark" if clock else "light"})
        if near and not self.pc_fault:
            self.why = "photocell"
            return r.dark
        self.why = "clock"
        return clock

    def set_override(self, now, relay=None, dim=None, clear_relay=False, clear_dim=False):
        if clear_relay:
            self.relay_ovr = None
        if clear_dim:
            self.dim_ovr = None
        if relay is not None:
            self.relay_ovr = relay
        if dim is not None:
            self.dim_ovr = dim
        self.ovr_until = now + self.override_s

    def override(self):
        """The active override as a dict, or None."""
        if self.relay_ovr is None and self.dim_ovr is None:
            return None
        return {"relay": "auto" if self.relay_ovr is None else ("on" if self.relay_ovr else "off"),
                "dim": "auto" if self.dim_ovr is None else self.dim_ovr, "until": self.ovr_until}

    def decide(self, now, r):
        """(on, dim) the lamp should have now."""
        if self.test is not None:
            try:
                out = self.test.step(now, r)
            except Exception:  # e.g. MemoryError: drop the test, never the lamp
                out = None
            if out is not None:
                self.why = "selftest"
                return out
            self.test = None
        on = self.on_auto(now, r)
        dim = self.dim_auto(now)
        if self.relay_ovr is not None or self.dim_ovr is not None:
            if now >= self.ovr_until:
                self.relay_ovr = self.dim_ovr = None
                self._event("override", {"state": "expired"})
            else:
                if self.relay_ovr is not None:
                    on = self.relay_ovr
                if self.dim_ovr is not None:
                    dim = self.dim_ovr
                self.why = "override"
        return on, (dim if on else 100)


def _sunday(y, m, nth):
    """Day number (since 2000-01-01) of the nth Sunday of month m (nth -1: the last one)."""
    if nth < 0:
        d = days_from_civil(y + (m == 12), m % 12 + 1, 1) - 1
        return d - (d + 6) % 7  # 2000-01-01 (day 0) was a Saturday: Sunday is (d + 6) % 7 == 0
    d = days_from_civil(y, m, 1)
    return d + (-(d + 6)) % 7 + 7 * (nth - 1)
