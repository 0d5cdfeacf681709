"""ESP32 HAL: the contract of hal/contract.py on the real peripherals (a driver layer).

Once a second `wait_tick` sleeps to the next RTC second while polling, samples
the sensor front end and reads the inputs into the Reading. It knows nothing of
the application: main.py passes the sensor kind (from config.json), the pins
(PINS, overridden by a `board.json` on flash: {"relay": 26, ...}) and whether
the hardware watchdog runs; the feeding policy is lamppost/health.py's Watchdog,
the RTC boot record hal/bootrec.py. With the watchdog on (normal mode), Ctrl-C on
the console is an ordinary byte (kbd_intr(-1)): a stray 0x03 must not stop the
lamp; the console's Maintenance command (login) restarts into safe mode, where
the REPL and Ctrl-C work for mpremote.

Front-end bytes in `raw` (decoded by lamppost.meter):
  "adc":     the window lamppost/adc.py decodes: b"W" <H pairs><H period us>
             <B conversions per sample>, then pairs of little-endian u16 code sums
             (V, then I half a period later), each the sum of _OSR conversions.
             Conversions are eFuse-calibrated read_uv() mapped onto the decoder's
             code scale (1321 codes per 1000 mV), sampled on a fixed schedule
             (400 pairs every 500 us: ten 50 Hz cycles) into a preallocated array.
  "cse7766": the UART1 bytes (4800 baud, 8E1) the metering IC sent since the
             last tick, as received (24-byte frames every 50 ms).
"""
import select
import sys
import time
import machine
import micropython
import uctypes
from array import array
from micropython import const
from hal import bootrec
from hal.esp32_net import Esp32Net

_TX_TICK = const(1024)  # console bytes a tick sends before further commands get `busy` (~90 ms)
_WDT_MS = const(30000)  # a pass of the main loop may block this long before a reset
_PAIRS = const(400)  # sample pairs per window: 10 mains cycles at 50 Hz
_PERIOD_US = const(500)  # V to V; I is sampled half a period after its V
_OSR = const(4)  # conversions summed per sample
_UV_PER_CODE = const(757)  # 1e6 / 1321: read_uv onto the decoder's code scale, small ints only
_WIN = const(6 + 4 * _PAIRS)  # window bytes

PINS = {
    "relay": 26,  # lamp relay driver, high = on
    "pwm": 25,  # dimming PWM (RC-filtered to a 0-10 V driver input)
    "adc_v": 34,  # ADC1: voltage sense (mains through a divider, biased at mid-scale)
    "adc_i": 35,  # ADC1: current sense (CT burden, biased at mid-scale)
    "adc_t": 36,  # ADC1: 10k NTC (B 3950) to ground, 10k to 3.3 V
    "mains": 27,  # opto-coupler, low while mains is present
    "photo": 14,  # photocell comparator, high when dark
    "uart_tx": 17,  # UART1 to a CSE7766 (only RX is used)
    "uart_rx": 16,
}


# on ESP32, HARD_RESET is machine.reset() or a panic (the EN button reports power-on)
CAUSES = {machine.PWRON_RESET: "power-on", machine.HARD_RESET: "reset-or-panic",
          machine.WDT_RESET: "watchdog", machine.DEEPSLEEP_RESET: "deep-sleep",
          machine.SOFT_RESET: "soft-reboot"}


def epoch_offset():
    """Seconds to subtract from time.time() to count from 2000 (ports differ in their epoch)."""
    return 946684800 if time.gmtime(0)[0] == 1970 else 0


class Stdio:
    """The REPL console as a non-blocking byte stream (works for UART0 and USB-CDC/JTAG alike).

    A second machine.UART(0) would fight the REPL's driver. Ctrl-C reaches the
    firmware as a byte while Hal disabled kbd_intr (normal mode), and interrupts it
    in safe mode, where mpremote needs it.
    """

    def __init__(self):
        self._poll = select.poll()
        self._poll.register(sys.stdin, select.POLLIN)

    def any(self):
        for _ in self._poll.ipoll(0):
            return 1
        return 0

    def readinto(self, buf):
        n = 0
        while n < len(buf) and self.any():
            b = sys.stdin.buffer.read(1)
            if not b:
                break
            buf[n] = b[0]
            n += 1
        return n

    def write(self, data):
        sys.stdout.buffer.write(data)


def chip():
    """The chip as lampctl build names it, from the firmware's machine string
    (sys.implementation._machine, e.g. "Generic ESP32S3 module with ESP32S3"): an OTA
    bundle must match it."""
    m = getattr(sys.implementation, "_machine", "").upper()
    for c in ("ESP32S2", "ESP32S3", "ESP32C3", "ESP32C6"):
        if c in m:
            return c.lower()
    return "esp32"


class Hal(Esp32Net):
    """sensor: "adc", "cse7766" or anything else for none; pins: overrides of PINS;
    watchdog: start the hardware watchdog and make Ctrl-C a byte (normal mode)."""
    name = "esp32"
    repl = True  # Maintenance can hand the REPL over for a deploy

    def __init__(self, sensor="ideal", pins=None, watchdog=False):
        p = dict(PINS)
        p.update(pins or {})
        pins = p
        self.sensor = sensor
        self._off = epoch_offset()
        self._relay = machine.Pin(pins["relay"], machine.Pin.OUT, value=0)
        self._pwm = machine.PWM(machine.Pin(pins["pwm"]), freq=1000, duty_u16=65535)
        self._mains = machine.Pin(pins["mains"], machine.Pin.IN, machine.Pin.PULL_UP)
        self._photo = machine.Pin(pins["photo"], machine.Pin.IN)
        self._adc_t = machine.ADC(machine.Pin(pins["adc_t"]), atten=machine.ADC.ATTN_11DB)
        self._frame = bytearray(1024)  # UART bytes of one tick (a CSE7766 sends 480 a second)
        self._empty = memoryview(self._frame)[:0]
        self.raw = self._empty
        self._meter_uart = None
        if sensor == "adc":
            self._adc_v = machine.ADC(machine.Pin(pins["adc_v"]), atten=machine.ADC.ATTN_11DB)
            self._adc_i = machine.ADC(machine.Pin(pins["adc_i"]), atten=machine.ADC.ATTN_11DB)
            # samples in a u16 array, header and all seen as bytes through one view of the
            # same memory: raw needs no copy per tick (sample k at byte 6 + 4k = item 3 + 2k)
            self._win = array("H", bytes(_WIN))
            b = uctypes.bytearray_at(uctypes.addressof(self._win), _WIN)
            b[0] = 0x57  # "W"
            b[1] = _PAIRS & 0xFF
            b[2] = _PAIRS >> 8
            b[5] = _OSR
            self._win_bytes = b
            self._win_raw = memoryview(b)
        elif sensor == "cse7766":
            self._meter_uart = machine.UART(1, baudrate=4800, bits=8, parity=0, stop=1,
                                            tx=pins["uart_tx"], rx=pins["uart_rx"], rxbuf=1024)
        self._console = Stdio()  # the REPL's console (UART0 or native USB), shared with mpremote
        self._rxbuf = bytearray(64)
        self.tx_n = 0
        self.relay = False
        self.dim = 100
        self.now = 0
        self.watchdog = watchdog
        self.chip = chip()
        self.wdt = None
        if watchdog:  # safe mode keeps the REPL usable for deploys: no watchdog
            micropython.kbd_intr(-1)  # a stray Ctrl-C on the console must not stop the lamp
            self.wdt = machine.WDT(timeout=_WDT_MS)

    def now2000(self):
        return time.time() - self._off

    def _sample_adc(self):
        """One window on a fixed schedule; allocation-free, so no GC pause can skew it."""
        w = self._win
        rv = self._adc_v.read_uv
        ri = self._adc_i.read_uv
        us = time.ticks_us
        diff = time.ticks_diff
        add = time.ticks_add
        t0 = us()
        t_last = t0
        k = 3
        for n in range(_PAIRS):  # _OSR = 4 conversions per sample, spelled out: no inner loop
            due = add(t0, n * _PERIOD_US)
            while diff(due, us()) > 0:
                pass
            if n == _PAIRS - 1:
                t_last = us()
            w[k] = (rv() + rv() + rv() + rv()) // _UV_PER_CODE
            due = add(due, _PERIOD_US // 2)
            while diff(due, us()) > 0:
                pass
            w[k + 1] = (ri() + ri() + ri() + ri()) // _UV_PER_CODE
            k += 2
        per = diff(t_last, t0) // (_PAIRS - 1)  # the period achieved (late starts show here)
        b = self._win_bytes
        b[3] = per & 0xFF
        b[4] = (per >> 8) & 0xFF
        self.raw = self._win_raw

    def _read_meter_uart(self):
        u = self._meter_uart
        n = u.readinto(self._frame) if u is not None and u.any() else 0
        self.raw = memoryview(self._frame)[:n] if n else self._empty

    def temperature(self):
        """NTC temperature in degC (B-parameter equation), or -273.0 when the sensor is open/short."""
        from math import log
        uv = self._adc_t.read_uv()
        if uv <= 50000 or uv >= 3250000:
            return -273.0
        ohms = 10000.0 * uv / (3300000 - uv)
        return 1.0 / (1.0 / 298.15 + log(ohms / 10000.0) / 3950.0) - 273.15

    def _inputs(self, r):
        r.mains = self._mains.value() == 0
        r.dark = self._photo.value() == 1
        r.temp = self.temperature()

    def wait_tick(self, r):
        """Sleep to the next RTC second, then sample and fill r; returns 2000-epoch seconds."""
        last = self.now
        now = self.now2000()
        while now == last:
            time.sleep_ms(20)
            now = self.now2000()
        self.now = now
        self.tx_n = 0  # a new tick's console budget (uart_busy)
        if self.sensor == "adc":
            self._sample_adc()
        elif self.sensor == "cse7766":
            self._read_meter_uart()
        else:
            self.raw = self._empty
        self._inputs(r)
        return now

    def session_time(self, now):
        """Console logins and lockouts run on the tick's clock (contract.py)."""
        return now

    def reset_cause(self):
        """Why the board restarted, in words ("power-on" also covers brownouts)."""
        return CAUSES.get(machine.reset_cause(), "unknown")

    def feed(self):
        """Feed the hardware watchdog (lamppost/health.py Watchdog decides when)."""
        if self.wdt is not None:
            self.wdt.feed()

    def clear_crashes(self):
        """Zero the boot-loop counter: the run is stable, or a technician asked for normal mode.

        The record keeps saying RUN: a later panic still counts (as the first of a new series).
        """
        machine.RTC().memory(bootrec.record(0, bootrec.RUN))

    def set_lamp(self, on, dim):
        self.relay = on
        self.dim = dim
        self._relay.value(1 if on else 0)
        self._pwm.duty_u16(dim * 65535 // 100)

    def uart_write(self, data):
        """Send on the console; blocks while the UART drains (115200 baud: ~87 us a byte).

        The bound is the console's: after _TX_TICK bytes in a tick it answers `busy`
        instead of running commands (uart_busy), so a burst costs a tick at most
        about (_TX_TICK + one reply + short `busy` lines) / 11.5 KB/s.
        """
        self.tx_n += len(data)
        self._console.write(data)

    def uart_busy(self):
        return self.tx_n >= _TX_TICK

    def uart_read(self):
        """Bytes waiting on the console UART, or None; never blocks."""
        if self._console.any():
            n = self._console.readinto(self._rxbuf)
            if n:
                return self._rxbuf[:n]
        return None

    def reset(self, code=1):
        """Reset the board: code 0 is a deliberate restart (Reboot, Normal), which boot.py does
        not count; anything else is a crash restart, which it counts towards safe mode."""
        try:
            rtc = machine.RTC()
            rtc.memory(bootrec.mark(rtc.memory(), bootrec.CLEAN if code == 0 else bootrec.CRASH))
        except Exception:  # out of heap: boot.py's RUN record counts the reset as a crash anyway
            pass
        machine.reset()

    def maintenance(self):
        """Restart into safe mode for a deploy (console Maintenance): no watchdog, Ctrl-C and
        the REPL work for mpremote until the deploy's final reset."""
        machine.RTC().memory(bootrec.MAINT)
        micropython.kbd_intr(3)
        machine.reset()
