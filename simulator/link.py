"""The simulator's end of the lockstep link to the firmware (see firmware/hal/host.py).

Frames are kind (1 byte), payload length (u16 LE), payload, over two pipes.
The firmware sends "A" (relay, dim) when it is ready for a tick; the simulator
answers with "T" (time, flags, temperature, front-end bytes).
"""
from __future__ import annotations

import os
import select
import struct
from typing import Callable

EPOCH2000 = 946684800
F_MAINS = 1
F_DARK = 2
_TICK = struct.Struct("<cHIBf")


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
        hdr = self._read(3)
        n = hdr[1] | hdr[2] << 8
        return hdr[:1], self._read(n)

    def send_tick(self, unix_t: int, flags: int, temp: float, frontend: bytes) -> None:
        hdr = _TICK.pack(b"T", 9 + len(frontend), unix_t - EPOCH2000, flags, temp)
        os.write(self.wfd, hdr + frontend)

    def close(self) -> None:
        for fd in (self.rfd, self.wfd):
            try:
                os.close(fd)
            except OSError:
                pass
