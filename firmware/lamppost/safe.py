"""Safe mode: a broken firmware must still light the street at night.

boot.py keeps a crash counter in RTC memory (hal/bootrec.py). After
3 consecutive crash resets without a stable run in between, or when
a deploy asked for maintenance, the board starts in safe mode: no watchdog, no
network, a serial console (and the REPL for deploys), and the lamp on a
fallback schedule that needs only the RTC and the config (sun times with a
margin towards light; always on when the clock is unknown). main.py picks the
HAL and passes it to `main`.

This module imports nothing but json and store at load time, so that a broken
core module cannot take safe mode down with it.
"""
import json
from micropython import const

MODE = False  # set True by boot.py when this boot runs in safe mode (also lamppost.SAFE)
REASON = ""  # "crashes" or "maintenance"
CRASHES = 0  # consecutive crash resets counted by boot.py

MARGIN_S = const(900)  # safe schedule: on 15 min before sunset, off 15 min after sunrise
_VALID_T = const(788918400)  # 2024-12-31T00:00Z in 2000-epoch seconds: an RTC below this was never set


def lamp_on(now, lat, lon, dark=None):
    """Fallback schedule: should the lamp burn at 2000-epoch time now?

    A photocell reading (dark True/False) wins when fitted; else sun times at
    lat/lon with MARGIN_S towards light; always on when the clock was never set
    or the sun computation fails. Better a lamp lit by day than a dark street.
    """
    if dark is not None:
        return dark
    if now < _VALID_T:
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
            self.hal.clear_crashes()  # else the reset below would count as one more crash
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


def main(hal):
    """Safe-mode entry point: main.py calls it with the HAL when boot.py set MODE."""
    import sys
    try:
        SafeMode(hal).run(_R())
    except KeyboardInterrupt:  # mpremote/REPL: leave the lamp as it is
        raise
    except Exception as e:  # even safe mode failed: light the lamp, stay at the REPL
        sys.print_exception(e)
        hal.set_lamp(True, 100)
