"""Test helpers for the ESP32 HAL on MicroPython: a fake clock and a fresh fake board."""
import os
import sys
import machine


class Stop(Exception):
    """Raised by the fake clock when a test's time is up."""


class FakeTime:
    """Stands in for `time` inside hal.esp32: an RTC that advances only when the firmware sleeps."""

    def __init__(self, t2000, until=None):
        self.us = 0
        self.base = t2000 + 946684800  # this port counts from 1970, like the ESP32 port now
        self.until = until

    def time(self):
        return self.base + self.us // 1000000

    def gmtime(self, t=0):
        return (1970, 1, 1, 0, 0, 0, 3, 1)

    def sleep_ms(self, ms):
        self.us += ms * 1000
        if self.until is not None and self.time() - 946684800 >= self.until:
            raise Stop()

    def ticks_us(self):
        self.us += 37  # each ADC read costs time on a real board
        return self.us

    def ticks_diff(self, a, b):
        return a - b

    def ticks_add(self, a, b):
        return a + b


TICKS_PERIOD = 1 << 30  # the ESP32 port's ticks wrap here (small ints of a 32-bit port)


class WrappingTime(FakeTime):
    """FakeTime whose ticks_us wraps like the ESP32's, starting `before_wrap` us before a wrap."""

    def __init__(self, t2000, before_wrap, until=None):
        super().__init__(t2000, until)
        self.offset = TICKS_PERIOD - before_wrap

    def ticks_us(self):
        self.us += 37
        return (self.us + self.offset) & (TICKS_PERIOD - 1)

    def ticks_diff(self, a, b):  # signed distance modulo the period, as time.ticks_diff
        half = TICKS_PERIOD >> 1
        return ((a - b + half) & (TICKS_PERIOD - 1)) - half

    def ticks_add(self, a, b):
        return (a + b) & (TICKS_PERIOD - 1)


def fresh(cause=machine.PWRON_RESET, mem=b"", files=None):
    """A powered-up fake board in an empty flash directory (cwd) holding files {name: text}."""
    machine.reset_fakes(cause, mem)
    os.chdir(os.getenv("LAMPPOST_FLASH"))  # a fresh directory per test (pytest's tmp_path)
    for name in os.listdir():
        os.remove(name)
    for name, text in (files or {}).items():
        with open(name, "w") as f:
            f.write(text)
    for m in ("boot", "hal.esp32"):
        sys.modules.pop(m, None)
    import lamppost
    lamppost.SAFE = False
    safe = sys.modules.get("lamppost.safe")
    if safe is not None:
        safe.MODE = False
        safe.REASON = ""
        safe.CRASHES = 0


def boot():
    """Run boot.py as a board does at every reset; returns lamppost.safe as boot.py left it
    (in normal mode boot.py unloads it, so this is a fresh import with MODE False)."""
    forget_ram()
    import boot  # noqa: F401
    from lamppost import safe
    return safe


def forget_ram():
    """What a reset does to the interpreter: boot.py and the guard modules load afresh."""
    import lamppost
    import hal
    for m, pkg, leaf in (("boot", None, None), ("lamppost.safe", lamppost, "safe"),
                         ("hal.bootrec", hal, "bootrec")):
        sys.modules.pop(m, None)
        if pkg is not None and leaf in pkg.__dict__:
            delattr(pkg, leaf)


def hal(t2000, sensor="ideal", until=None, before_wrap=None):
    """An ESP32 Hal on the fake board with a fake clock starting at t2000.

    before_wrap: make ticks_us wrap (as on the board) that many microseconds in.
    """
    import hal.esp32 as h
    import lamppost
    h.time = FakeTime(t2000, until) if before_wrap is None else WrappingTime(t2000, before_wrap, until)
    hal = h.Hal(sensor, None, not lamppost.SAFE)  # as main.py builds it (watchdog in normal mode)
    hal._console = machine.UART(0)  # the REPL console, as a fake stream (tests read UARTS[0])
    return hal
