"""The lockstep link to the firmware: the protocol's one definition, and the simulator's end.

The firmware's end is firmware/hal/host.py (MicroPython, `const` copies of these numbers;
tests/test_link_protocol.py checks both ends agree). Frames are kind (1 byte), payload
length (u16 LE), payload, over two pipes:
  firmware -> simulator  H <B version>             once, when ready
                         A <B relay><B dim 0-100>  outputs; waits for a tick
                         X <B code>                reset requested (0 deliberate, else a crash), then exit
  simulator -> firmware  T <I t2000><B flags><f temp_c> + front-end bytes
The simulator answers each A with the next T, computed with those outputs.
"""
from __future__ import annotations

import os
import select
import struct
from typing import Callable

EPOCH2000 = 946684800  # the firmware counts seconds from 2000-01-01T00:00Z
VERSION = 1  # of this protocol, sent in H
HDR = 3  # kind, u16 LE payload length
HELLO, OUTPUTS, RESET, TICK = b"H", b"A", b"X", b"T"  # frame kinds
TICK_FIELDS = "<IBf"  # T's fixed part: t2000, flags, temperature; the front-end bytes follow
F_MAINS = 1  # tick flags: mains present
F_DARK = 2  # the photocell reads dark
F_WIFI = 4  # WiFi associated (simulator/netproxy.py link_up)
_TICK = struct.Struct("<cH" + TICK_FIELDS[1:])
_TICK_LEN = struct.calcsize(TICK_FIELDS)


def tick_flags(mains: bool, dark: bool = False, wifi: bool = False) -> int:
    """The T frame's flags byte."""
    return (F_MAINS if mains else 0) | (F_DARK if dark else 0) | (F_WIFI if wifi else 0)


class LinkClosed(EOFError):
    """The firmware process went away (crash, reset or power cut)."""


class Link:
    def __init__(self, rfd: int, wfd: int):
        self.rfd, self.wfd = rfd, wfd
        self._buf = b""
        # (fds) -> (read fds, write fds) to watch while waiting, and the callback that serves
        # them: the serial bridge, so a firmware blocked on its UART is drained, never deadlocked
        self.watch: Callable[[], tuple[list[int], list[int]]] | None = None
        self.serve: Callable[[], None] | None = None
        # the board's hardware watchdog, in wall seconds: a firmware that sends nothing this
        # long (hung at import or in a tick) is treated as reset by it; None waits forever
        self.watchdog_s: float | None = None

    def _wait(self, rd: list[int], wr: list[int]):
        r, w, _ = select.select([self.rfd, *rd], wr, [], self.watchdog_s)
        if not r and not w:
            raise LinkClosed(f"watchdog: the firmware sent nothing for {self.watchdog_s} s")
        return r, w

    def _read(self, n: int) -> bytes:
        while len(self._buf) < n:
            if self.watch is not None and self.serve is not None:
                rd, wr = self.watch()
                r, w = self._wait(rd, wr)
                if len(r) > (self.rfd in r) or w:
                    self.serve()
                if self.rfd not in r:
                    continue
            elif self.watchdog_s is not None:
                self._wait([], [])
            chunk = os.read(self.rfd, 65536)
            if not chunk:
                raise LinkClosed("firmware closed the link")
            self._buf += chunk
        out, self._buf = self._buf[:n], self._buf[n:]
        return out

    def recv(self) -> tuple[bytes, bytes]:
        """(kind, payload) of the next frame from the firmware."""
        hdr = self._read(HDR)
        n = hdr[1] | hdr[2] << 8
        return hdr[:1], self._read(n)

    def send_tick(self, unix_t: int, flags: int, temp: float, frontend: bytes) -> None:
        hdr = _TICK.pack(TICK, _TICK_LEN + len(frontend), unix_t - EPOCH2000, flags, temp)
        os.write(self.wfd, hdr + frontend)

    def close(self) -> None:
        for fd in (self.rfd, self.wfd):
            try:
                os.close(fd)
            except OSError:
                pass
