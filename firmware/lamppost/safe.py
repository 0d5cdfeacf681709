"""Boot-loop guard and safe mode: a broken firmware must still light the street at night.

boot.py keeps a crash counter in RTC memory (it survives watchdog and software
resets and panics, not power loss) and asks `on_boot` what to do. After CRASH_LIMIT
consecutive crash resets without a stable run in between, or when a deploy asked
for maintenance, the board starts in safe mode: no watchdog, no network, a
serial console (and the REPL for deploys), and the lamp on a fallback schedule
that needs only the RTC and the config (sun times with a margin towards light;
always on when the clock is unknown). Power-on and brownout resets clear the
counter: contactor-switched posts lose power every night and that is no crash.

On an ESP32 machine.reset() and a panic both report HARD_RESET (SOFT_RESET is
only a Ctrl-D at the REPL), so the cause alone cannot tell a crash from a
wanted restart. The record therefore also says how the last boot ended: boot.py
writes RUN when it starts the firmware, a deliberate restart (Reboot, Normal,
the end of a deploy) rewrites it to CLEAN just before machine.reset(), and the
crash path writes CRASH. A hard or soft reset counts unless the record says
CLEAN, so a panic (which writes nothing) counts like a crash restart.

This module imports nothing but json and store at load time, so that a broken
core module cannot take safe mode down with it.
"""
import json
from micropython import const

MODE = False  # set True by boot.py when this boot runs in safe mode (also lamppost.SAFE)
REASON = ""  # "crashes" or "maintenance"
CRASHES = 0  # consecutive crash resets counted by boot.py

CRASH_LIMIT = const(3)  # this many crash resets in a row -> safe mode
STABLE_S = const(600)  # a run this long clears the counter
MARGIN_S = const(900)  # safe schedule: on 15 min before sunset, off 15 min after sunrise
VALID_T = const(788918400)  # 2025-01-01 in 2000-epoch seconds: an RTC below this was never set

MAINT = b"LPMAINT"  # written by `lampctl deploy` before its reset: next boot is for deploying

# reset causes as machine.reset_cause() reports them on ESP32 (ports/esp32/modmachine.c):
# HARD is esp_restart() (machine.reset()) and a panic; SOFT only a Ctrl-D soft reboot;
# power-on also covers the EN button and a brownout
PWRON = const(1)
HARD = const(2)
WDT = const(3)
DEEPSLEEP = const(4)
SOFT = const(5)

# how the last boot ended, the record's last byte
RUN = const(0x52)  # "R": boot.py started the firmware; a reset nobody announced is a crash
CRASH = const(0x43)  # "C": the firmware caught an error and restarts (main.py, hal reset(1))
CLEAN = const(0x2D)  # "-": a deliberate restart (Reboot, Normal, end of a deploy): no crash


def record(n, how=CLEAN):
    """RTC memory bytes: crash count n (with a check byte against garbage), how the boot ended."""
    n = min(n, 255)
    return b"LPB" + bytes((n, n ^ 0xA5, how))


def parse(mem):
    """(crash count, how the last boot ended) from RTC memory bytes; (0, CLEAN) for no valid record."""
    if len(mem) == 6 and mem[:3] == b"LPB" and mem[3] ^ 0xA5 == mem[4] and mem[5] in (RUN, CRASH, CLEAN):
        return mem[3], mem[5]
    return 0, CLEAN


def count(mem):
    """The crash count stored in RTC memory bytes, 0 when they hold no valid record."""
    return parse(mem)[0]


def mark(mem, how):
    """mem with how this boot ends set to how (CRASH or CLEAN), the count kept: before a reset."""
    return record(parse(mem)[0], how)


def on_boot(mem, cause):
    """(new RTC memory, safe?, reason, crashes) for RTC memory mem and machine.reset_cause().

    Watchdog resets count up; hard and soft resets (machine.reset(), a panic) count
    unless the last boot marked its end CLEAN (a deliberate restart keeps the count);
    power-on, brownout and the EN button start afresh. A maintenance request is
    obeyed once. The new record says RUN: this boot's end is unknown until it says.
    """
    if mem == MAINT:
        return record(0), True, "maintenance", 0
    n, how = parse(mem)
    if cause == WDT or ((cause == HARD or cause == SOFT) and how != CLEAN):
        n += 1
    elif cause != DEEPSLEEP and cause != HARD and cause != SOFT:
        n = 0
    if n >= CRASH_LIMIT:
        return record(n, RUN), True, "crashes", n
    return record(n, RUN), False, "", n


def lamp_on(now, lat, lon, dark=None):
    """Fallback schedule: should the lamp burn at 2000-epoch time now?

    A photocell reading (dark True/False) wins when fitted; else sun times at
    lat/lon with MARGIN_S towards light; always on when the clock was never set
    or the sun computation fails. Better a lamp lit by day than a dark street.
    """
    if dark is not None:
        return dark
    if now < VALID_T:
        return True
    try:
        from lamppost import sun
        n = sun.solar_day(now, lon)
        rise, set_, flag = sun.rise_set(n, lat, lon)
        if flag == sun.POLAR_NIGHT:
            return True
        if flag == sun.MIDNIGHT_SUN:
            return False
        return not (rise + MARGIN_S <= now < set_ - MARGIN_S)
    except Exception:
        return True


def _config():
    try:
        from lamppost import store
        raw = store.load("config.json") or {}
    except Exception:
        raw = {}
    cfg = {"id": "LP-0000", "lat": 52.0, "lon": 5.0, "photocell": False}
    for k in cfg:
        v = raw.get(k)
        if type(v) is type(cfg[k]) or (k in ("lat", "lon") and type(v) is int):
            cfg[k] = v
    if not -90 <= cfg["lat"] <= 90 or not -180 <= cfg["lon"] <= 180:
        cfg["lat"], cfg["lon"] = 52.0, 5.0
    return cfg


class SafeMode:
    """The safe-mode loop over any HAL: fallback lamp schedule plus a tiny console."""

    def __init__(self, hal, cfg=None):
        self.hal = hal
        self.cfg = cfg or _config()
        self.on = None
        self.now = 0
        self.buf = bytearray()
        self.esc = False  # inside an ESC sequence

    def say(self, d):
        self.hal.uart_write(json.dumps(d).encode() + b"\n")

    def status(self):
        return {"safe": True, "reason": REASON, "crashes": CRASHES, "id": self.cfg["id"],
                "lamp": "on" if self.on else "off", "t": self.now}

    def command(self, line):
        """Reply to one console line: Status, Help or Normal (leave safe mode by a reset)."""
        name = line.strip().split(" ")[0].lower()
        if not name:
            return
        if name == "status":
            d = self.status()
        elif name == "help":
            d = {"commands": ["help", "normal", "status"], "safe": True}
        elif name == "normal":
            self.say({"cmd": "normal", "safe": True, "restarting": True})
            clear = getattr(self.hal, "clear_crashes", None)
            if clear:
                clear()  # else the reset below would count as one more crash
            self.hal.reset(0)
            return
        else:
            d = {"error": "safe mode: only Status, Help, Normal", "safe": True}
        d["cmd"] = name[:32]
        self.say(d)

    def feed(self, data):
        """Run each complete line. As the normal console: Ctrl-A..E (mpremote's raw-REPL
        requests) void the line so far, ESC sequences are dropped, so neither reaches the next line."""
        for b in data:
            if b == 10 or b == 13:
                try:
                    self.command(bytes(self.buf).decode())
                except UnicodeError:
                    pass
                self.buf = bytearray()
                self.esc = False
            elif 1 <= b <= 5:
                self.buf = bytearray()
                self.esc = False
            elif b == 27:
                self.esc = True
            elif self.esc:  # parameters up to a final byte (ESC [ 1 ; 5 D, ESC O P, ESC c)
                self.esc = b < 0x40 or b == 0x5B or b == 0x4F
            elif len(self.buf) < 160:
                self.buf.append(b)

    def step(self, r):
        """One tick: read the time, switch the lamp by the fallback schedule, serve the console."""
        now = self.now = self.hal.wait_tick(r)
        cfg = self.cfg
        on = lamp_on(now, cfg["lat"], cfg["lon"], r.dark if cfg["photocell"] else None)
        if on != self.on:
            self.on = on
            self.hal.set_lamp(on, 100)
            self.say({"ev": "switch", "safe": True, "lamp": "on" if on else "off", "t": now})
        data = self.hal.uart_read()
        if data:
            self.feed(data)

    def run(self, r):
        self.say({"ev": "safe", "reason": REASON, "crashes": CRASHES, "id": self.cfg["id"]})
        while True:
            self.step(r)


class _R:
    """Stand-in for lamppost.reading.Reading: safe mode needs only the flags."""
    mains = True
    dark = False
    temp = 0.0
    ok = False


def main():
    """Safe-mode entry point (main.py calls it when boot.py set MODE)."""
    import sys
    if sys.platform in ("linux", "darwin"):
        from hal.host import Hal as HostHal
        hal = HostHal()
    else:
        from hal.esp32 import Hal
        hal = Hal("none")  # no metering in safe mode: fewer parts that can fail
    try:
        SafeMode(hal).run(_R())
    except KeyboardInterrupt:  # mpremote/REPL: leave the lamp as it is
        raise
    except Exception as e:  # even safe mode failed: light the lamp, stay at the REPL
        sys.print_exception(e)
        hal.set_lamp(True, 100)
