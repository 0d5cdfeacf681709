"""Energy (`Total` kWh), operatingHours and switchOnCounter, kept across power cuts.

Save policy (flash wear vs. loss on a power cut):
- every _SAVE_S (1 h) while something changed, so a hard power cut loses at
  most one save interval of energy;
- at switch-off and on mains loss (the last gasp the hold-up capacitor
  allows), if the last save is at least _MIN_GAP_S old, so the usual nightly
  switch-off or contactor cut loses nothing;
- never more than _BUDGET (48) writes in any uptime day, of which events take
  at most 23, so the hourly saves always fit: over 10 years at most 175,200
  small atomic writes (docs/metering.md).
Records alternate between two files, each with a sequence number, the time
of the save (`t`: the last moment the post is known powered, for a supplyLoss
found only at the next boot) and a CRC,
so a corrupt or half-written file falls back to the other one (one interval
older), never to zero. At boot the total is the newest valid record: a reboot
never makes it jump forwards (nothing is counted twice) nor backwards past the
last save.

The total is an integer Wh plus a fraction below 1 Wh: on the ESP32's
single-precision floats, adding 0.017 Wh a second to a float of 10^6 Wh would
add nothing.
"""
import binascii
from micropython import const
from lamppost import store

_SAVE_S = const(3600)
_MIN_GAP_S = const(300)
_BUDGET = const(48)
_MAX_DT = const(10)  # a longer gap between ticks is a clock jump, not energy
FILES = ("energy.a.json", "energy.b.json")


def _crc(seq, wh, frac, on_s, starts, t=None):
    s = "%d,%d,%.6f,%d,%d" % (seq, wh, frac, on_s, starts)
    if t is not None:  # records of older firmware have no time
        s += ",%d" % t
    return binascii.crc32(s.encode())


def _valid(d):
    try:
        return d["crc"] == _crc(d["seq"], d["wh"], d["frac"], d["on_s"], d["starts"], d.get("t"))
    except (KeyError, TypeError, ValueError):
        return False


class Energy:
    def __init__(self, legacy_kwh=0.0, lit_w=2.0, save_s=_SAVE_S, budget=_BUDGET):
        self.lit_w = lit_w  # above this many watts the lamp is burning (operatingHours)
        self.save_s = save_s
        self.budget = budget
        self.seq = 0
        self.wh = 0  # whole Wh
        self.frac = 0.0  # Wh below one
        self.on_s = 0  # seconds burning
        self.starts = 0  # switch-ons
        self.saved_t = None  # time of the newest record on flash at boot (None: unknown)
        best = None
        for name in FILES:
            d = store.load(name)
            if d is not None and _valid(d) and (best is None or d["seq"] > best["seq"]):
                best = d
        if best is not None:
            self.seq = best["seq"]
            self.wh = best["wh"]
            self.frac = best["frac"]
            self.on_s = best["on_s"]
            self.starts = best["starts"]
            self.saved_t = best.get("t")
        elif legacy_kwh > 0:  # state.json of an older firmware kept kWh
            self.wh = int(legacy_kwh * 1000)
            self.frac = legacy_kwh * 1000 - self.wh
        self.restored = best is not None
        self.saved = (self.wh, self.on_s, self.starts)  # as on flash: what a power cut keeps
        self.saved_at = -1  # time of the last save (-1: none this boot)
        self.dirty = False
        self.writes = 0  # writes this boot
        self.day_start = -1
        self.day_writes = 0
        self.day_events = 0
        self.mains = True

    def total_kwh(self):
        return (self.wh + self.frac) / 1000.0

    def hours(self):
        return self.on_s / 3600.0

    def fields(self):
        """Tasmota/TALQ names for reports."""
        return {"Total": round(self.total_kwh(), 4), "operatingHours": round(self.hours(), 2),
                "switchOnCounter": self.starts}

    def stored(self):
        """The counters as last saved to flash, which a power cut cannot take back: Home
        Assistant's total_increasing sensors read these, so they never go down (a drop
        reads as a meter reset there). They lag the live ones by at most one save."""
        wh, on_s, starts = self.saved
        return {"Total": round(wh / 1000.0, 3), "operatingHours": round(on_s / 3600.0, 2),
                "switchOnCounter": starts}

    def tick(self, now, dt, r):
        """Count dt seconds of the present reading; save when the policy says so."""
        if self.saved_at < 0:
            self.saved_at = now  # the boot counts as fresh: the record on flash is current
            self.day_start = now
        if 0 < dt <= _MAX_DT and r.ok:
            p = r.P
            if p > 0.0:
                f = self.frac + p * dt / 3600.0
                k = int(f)
                self.wh += k
                self.frac = f - k
                self.dirty = True
            if p > self.lit_w:
                self.on_s += dt
                self.dirty = True
        if self.mains and not r.mains:
            self.mains = False
            self.save_soon(now)  # last gasp while the hold-up lasts
        elif r.mains:
            self.mains = True
        if self.dirty and now - self.saved_at >= self.save_s:
            self.save(now)

    def switched(self, now, on):
        """The lamp was commanded on (counts a start) or off (saves what it burnt)."""
        if on:
            self.starts += 1
            self.dirty = True
        else:
            self.save_soon(now)

    def save_soon(self, now):
        """An event save: only half the day's budget, so the hourly saves always fit."""
        if self.dirty and now - self.saved_at >= _MIN_GAP_S and self.day_events < self.budget // 2 - 1:
            if self.save(now):
                self.day_events += 1

    def save(self, now):
        """Write the next record (alternating files); False when over budget or flash full."""
        if now - self.day_start >= 86400:
            self.day_start = now
            self.day_writes = 0
            self.day_events = 0
        if self.day_writes >= self.budget:
            return False
        seq = self.seq + 1
        rec = {"seq": seq, "wh": self.wh, "frac": self.frac, "on_s": self.on_s,
               "starts": self.starts, "t": now,
               "crc": _crc(seq, self.wh, self.frac, self.on_s, self.starts, now)}
        if not store.save(FILES[seq & 1], rec):
            return False
        self.seq = seq
        self.saved = (self.wh, self.on_s, self.starts)
        self.saved_at = now
        self.dirty = False
        self.writes += 1
        self.day_writes += 1
        return True

    def flush(self, now):
        """Save now if anything is unsaved (before a reset), within the budget."""
        if self.dirty:
            self.save(now)
