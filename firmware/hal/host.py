"""Host HAL: the board as the simulator shows it, over a lockstep link (contract: hal/contract.py).

No watchdog, no RTC memory and no REPL to hand over: those members are no-ops.

The simulator starts `micropython` with two inherited pipe descriptors
(LAMPPOST_LINK="<read fd>,<write fd>"), the pty that plays the UART
(LAMPPOST_UART: an inherited non-blocking descriptor, or a path), a directory
that plays the flash (LAMPPOST_FLASH) and the reset cause a board would read
from machine.reset_cause() (LAMPPOST_RESET: power-on, software or watchdog).
LAMPPOST_WALL_SESSIONS=1 puts console logins and lockouts on the wall clock (session_time).

The protocol's one definition is simulator/link.py; the numbers here are its `const` copies
(tests/test_link_protocol.py checks that both ends agree).
Link framing, both directions: kind (1 byte), payload length (u16 LE), payload.
  firmware -> simulator  b"H" <B version>                      once, when ready
                         b"A" <I t2000><B relay><B dim 0-100>  outputs after tick t (0: none
                                                               yet); waits for a tick
                         b"X" <B code>                         reset requested, then exit
  simulator -> firmware  b"T" <I t2000><B flags><f temp_c><B relay><B dim> + front-end bytes
Flags: bit 0 mains present, bit 1 photocell dark, bit 2 WiFi associated. A "T" names the
outputs it was computed on: it is run only if they are this board's outputs and t is the
next tick (any t for the first tick after a boot); else it is dropped unanswered and the
next read. So the simulator may send several ahead, each on the outputs it expects; the
firmware owns the time between the "T" it runs and its next "A": lockstep virtual time.
"""
import os
import struct
import sys
from micropython import const

_VERSION = const(2)
_HDR = const(3)
_F_MAINS = const(1)
_F_DARK = const(2)
_F_WIFI = const(4)
_TICK_LEN = const(11)  # T's fixed part, struct "<IBfBB": t2000, flags, temperature, relay, dim
_T_FLAGS = const(4)  # offsets in T's payload
_T_TEMP = const(5)
_T_RELAY = const(9)
_T_DIM = const(10)
_A_LEN = const(6)  # A's payload, struct "<IBB": t2000 answered, relay, dim
_TX_TICK = const(1024)  # bytes a tick sends before the console answers `busy` (as hal/esp32.py)


class Hal:
    name = "host"
    chip = "host"  # what an OTA bundle for the simulator names (lamppost/ota.py)
    repl = False  # no REPL to hand over: Maintenance is refused
    watchdog = False  # no hardware watchdog to feed

    def __init__(self):
        fds = (os.getenv("LAMPPOST_LINK") or "3,4").split(",")
        self._rx = open(int(fds[0]), "rb")
        self._tx = open(int(fds[1]), "wb")
        flash = os.getenv("LAMPPOST_FLASH")
        if flash:
            os.chdir(flash)
        if os.getenv("LAMPPOST_FLASH_KB"):  # tests: a small LittleFS in RAM (hal/ramflash.py)
            from hal import ramflash
            ramflash.install(self, flash or ".")
        uart = os.getenv("LAMPPOST_UART")
        self._uart = open(int(uart) if uart.isdigit() else uart, "r+b") if uart else None
        self.tx_n = 0  # bytes written to the UART this tick
        self._hdr = bytearray(_HDR)
        self._frame = bytearray(2048)
        self._mv = memoryview(self._frame)
        self.raw = self._mv[:0]  # front-end bytes of the last tick (a view kept while n stays)
        self._n = _TICK_LEN
        self._act = bytearray(b"A\x06\x00\x00\x00\x00\x00\x00\x64")  # _A_LEN payload bytes
        self._rxbuf = bytearray(256)  # per tick: a pasted burst is taken in a few ticks
        self.relay = False
        self.dim = 100
        self.now = 0
        self.wifi = 0  # associated, as the last tick's flags say
        # console logins and lockouts on wall seconds (lamppost-sim --console; contract.py)
        self._wall = os.getenv("LAMPPOST_WALL_SESSIONS") == "1"
        self._send(b"H", bytes((_VERSION,)))

    def _send(self, kind, payload):
        self._tx.write(kind + struct.pack("<H", len(payload)) + payload)

    def _read_exact(self, buf, n):
        got = self._rx.readinto(buf, n)  # a whole frame, as the simulator writes it, at once
        if not got:
            sys.exit(0)  # the simulator hung up: power off
        if got < n:
            mv = memoryview(buf)
            while got < n:
                k = self._rx.readinto(mv[got:n])
                if not k:
                    sys.exit(0)
                got += k

    def wait_tick(self, r):
        """Hand back the actuators, block for the next tick, fill r; returns 2000-epoch seconds.
        A T frame computed on other outputs than ours, or not for the next tick, is dropped."""
        a, f, hdr = self._act, self._frame, self._hdr
        now = self.now
        a[3] = now & 0xFF  # the tick this answers (0: none yet)
        a[4] = (now >> 8) & 0xFF
        a[5] = (now >> 16) & 0xFF
        a[6] = (now >> 24) & 0xFF
        a[7] = 1 if self.relay else 0
        a[8] = self.dim
        self.tx_n = 0
        self._tx.write(a)
        while True:
            self._read_exact(hdr, _HDR)
            n = hdr[1] | (hdr[2] << 8)
            self._read_exact(f, n)
            t = f[0] | (f[1] << 8) | (f[2] << 16) | (f[3] << 24)
            if f[_T_RELAY] == a[7] and f[_T_DIM] == a[8] and (t == now + 1 or not now):
                break
        if n != self._n:
            self._n = n
            self.raw = self._mv[_TICK_LEN:n]
        flags = f[_T_FLAGS]
        r.mains = bool(flags & _F_MAINS)
        r.dark = bool(flags & _F_DARK)
        r.temp = struct.unpack_from("<f", f, _T_TEMP)[0]
        self.wifi = flags & _F_WIFI  # associated (lamppost/uplink.py; sockets: hal/sockets.py)
        self.now = t
        return t

    def set_lamp(self, on, dim):
        self.relay = on
        self.dim = dim

    def uart_write(self, data):
        """Send data; never blocks. The descriptor is non-blocking: what a full pty (~18 KB
        nobody read; the simulator drains it all through a tick) has no room for is dropped,
        like a UART overrun, and the console answers `busy` for the rest of the tick."""
        self.tx_n += len(data)
        if self._uart and (self._uart.write(data) or 0) < len(data):
            self.tx_n += _TX_TICK

    def uart_busy(self):
        """True once this tick sent _TX_TICK bytes or found the line full: the console then
        answers further commands `busy` instead of running them."""
        return self.tx_n >= _TX_TICK

    def uart_read(self):
        """Bytes waiting on the UART, or None; never blocks (the pty has VMIN=0, VTIME=0)."""
        if self._uart:
            n = self._uart.readinto(self._rxbuf)
            if n:
                return self._rxbuf[:n]
        return None

    def session_time(self, now):
        """now, or with LAMPPOST_WALL_SESSIONS=1 (lamppost-sim run --console) the wall clock's
        seconds: a person at a --speed 600 simulation keeps a 600 s login for 10 minutes of
        their time, not one second, and a lockout lasts its 60 s too."""
        if self._wall:
            import time
            return time.time()
        return now

    def reset_cause(self):
        """Why the board restarted, in the ESP32 HAL's words, as the simulator says."""
        return os.getenv("LAMPPOST_RESET") or "power-on"

    def feed(self):
        """No hardware watchdog on the host."""

    def clear_crashes(self):
        """No RTC boot record on the host: the simulator counts boots itself."""

    def maintenance(self):
        """No REPL to hand over (repl is False): the core never asks."""

    def wifi_start(self, cfg):
        """The simulator associates the WiFi itself (flag bit 2 of each tick)."""

    def net_up(self):
        return bool(self.wifi)

    def wifi_info(self):
        return None  # the simulator plays the link, not a radio: STATE's RSSI is null

    def net_open(self, host, port, tls=False, ca=None, fresh=False):
        """A TCP/TLS socket to host:port (real sockets; the simulator's proxy behind them)."""
        from hal import sockets  # loaded only with MQTT configured, as on the board

        return sockets.open_socket(host, port, tls, ca, fresh)

    def reset(self, code=1):
        self._send(b"X", bytes((code,)))
        sys.exit(code)
