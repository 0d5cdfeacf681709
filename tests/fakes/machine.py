"""Fake `machine` for the MicroPython unix port, following the ESP32 port's API.

Tests only: never copied into a bundle (host_tools.lampctl.build refuses to).
State lives in module globals so tests can set inputs and inspect outputs:
PINS (number -> Pin), UARTS (id -> UART), RTC_MEM, CAUSE, WDTS, ADC_UV.
"""
PWRON_RESET = 1
HARD_RESET = 2
WDT_RESET = 3
DEEPSLEEP_RESET = 4
SOFT_RESET = 5

PINS = {}
UARTS = {}
WDTS = []
ADC_UV = {}  # pin number -> microvolts, or a callable returning them
RTC_MEM = b""
CAUSE = PWRON_RESET
RESETS = []


class ResetCalled(Exception):
    """machine.reset() on a test board: the test catches it instead of a reboot."""


def reset_cause():
    return CAUSE


def reset():
    """As on the ESP32 port: esp_restart(), so the next boot reports HARD_RESET (so does a panic);
    the watchdog stops with the reset, RTC memory survives it."""
    global CAUSE
    RESETS.append(1)
    CAUSE = HARD_RESET
    del WDTS[:]
    raise ResetCalled()


def soft_reset():
    """Ctrl-D's soft reboot: the only thing that reports SOFT_RESET on an ESP32."""
    global CAUSE
    RESETS.append(1)
    CAUSE = SOFT_RESET
    raise ResetCalled()


def freq(hz=None):
    return 240000000


def _no(n):
    return n.id if isinstance(n, Pin) else n


class Pin:
    IN = 1
    OUT = 3
    OPEN_DRAIN = 7
    PULL_UP = 2
    PULL_DOWN = 1
    IRQ_RISING = 1
    IRQ_FALLING = 2

    def __init__(self, id, mode=-1, pull=-1, *, value=None):
        if not isinstance(id, int) or not 0 <= id <= 48:
            raise ValueError("invalid pin")
        self.id = id
        self.mode = mode
        self.pull = pull
        old = PINS.get(id)
        self._v = old._v if old is not None else 0
        if value is not None:
            self._v = 1 if value else 0
        PINS[id] = self

    def value(self, v=None):
        if v is None:
            return self._v
        self._v = 1 if v else 0

    def on(self):
        self._v = 1

    def off(self):
        self._v = 0


class PWM:
    def __init__(self, pin, freq=0, duty_u16=None, **kw):
        if not isinstance(pin, Pin):
            raise TypeError("PWM needs a Pin")
        self.pin = pin
        self._freq = freq
        self._duty = duty_u16 if duty_u16 is not None else 32768
        pin.pwm = self

    def freq(self, f=None):
        if f is None:
            return self._freq
        self._freq = f

    def duty_u16(self, d=None):
        if d is None:
            return self._duty
        if not 0 <= d <= 65535:
            raise ValueError("duty must be 0-65535")
        self._duty = d

    def deinit(self):
        pass


class ADC:
    ATTN_0DB = 0
    ATTN_2_5DB = 1
    ATTN_6DB = 2
    ATTN_11DB = 3
    WIDTH_12BIT = 3

    def __init__(self, pin, atten=0):
        n = _no(pin)
        if not 32 <= n <= 39:
            raise ValueError("invalid Pin for ADC1 (GPIO 32-39)")
        self.pin = n
        self._atten = atten

    def atten(self, a):
        self._atten = a

    def read_uv(self):
        v = ADC_UV.get(self.pin, 0)
        return v() if callable(v) else v

    def read_u16(self):
        return min(65535, self.read_uv() * 65535 // 3300000)

    def read(self):
        return self.read_u16() >> 4


class UART:
    def __init__(self, id, baudrate=115200, bits=8, parity=None, stop=1, *, tx=None, rx=None,
                 rxbuf=256, timeout=0, **kw):
        if id not in (0, 1, 2):
            raise ValueError("UART(%d) does not exist" % id)
        if id != 0 and (tx is None or rx is None):
            raise ValueError("UART%d needs tx and rx pins" % id)
        self.id = id
        self.baudrate = baudrate
        self.parity = parity
        self.rxbuf = rxbuf
        self.rx = bytearray()  # bytes the far end sent, waiting to be read
        self.tx = bytearray()  # bytes the firmware wrote
        UARTS[id] = self

    def any(self):
        return len(self.rx)

    def read(self, n=-1):
        if not self.rx:
            return None
        n = len(self.rx) if n < 0 else n
        out = bytes(self.rx[:n])
        self.rx = self.rx[n:]
        return out

    def readinto(self, buf, n=-1):
        if not self.rx:
            return None
        n = min(len(buf), len(self.rx)) if n < 0 else min(n, len(buf), len(self.rx))
        buf[:n] = self.rx[:n]
        self.rx = self.rx[n:]
        return n

    def write(self, data):
        self.tx.extend(data)
        return len(data)


class WDT:
    def __init__(self, id=0, timeout=5000):
        if WDTS:
            raise RuntimeError("test: a second WDT was started")
        self.timeout = timeout
        self.feeds = 0
        WDTS.append(self)

    def feed(self):
        self.feeds += 1


class RTC:
    def memory(self, data=None):
        global RTC_MEM
        if data is None:
            return RTC_MEM
        if len(data) > 2048:
            raise ValueError("RTC memory holds 2048 bytes")
        RTC_MEM = bytes(data)

    def datetime(self, dt=None):
        return (2000, 1, 1, 5, 0, 0, 0, 0)


def reset_fakes(cause=PWRON_RESET, mem=b""):
    """Power-cycle the fake board state for the next test."""
    global RTC_MEM, CAUSE
    PINS.clear()
    UARTS.clear()
    del WDTS[:]
    del RESETS[:]
    ADC_UV.clear()
    RTC_MEM = mem
    CAUSE = cause
