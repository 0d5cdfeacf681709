"""The link to the firmware: the protocol's one definition, and the simulator's end.

The firmware's end is firmware/hal/host.py (MicroPython, `const` copies of these numbers;
tests/test_link_protocol.py checks both ends agree). Frames are kind (1 byte), payload
length (u16 LE), payload, over two pipes:
  firmware -> simulator  H <B version>                       once, when ready
                         A <I t2000><B relay><B dim 0-100>   outputs after tick t (0: none
                                                             run yet, after a boot); waits for a tick
                         X <B code>                          reset requested (0 deliberate,
                                                             else a crash), then exit
  simulator -> firmware  T <I t2000><B flags><f temp_c><B relay><B dim> + front-end bytes
A T frame names the outputs it was computed on. The firmware runs it only if they are its
own outputs and t is its next tick (any t for the first tick after a boot); else it drops
the frame, runs nothing, answers nothing and reads the next. So the simulator may keep
several T frames in flight, each computed on the outputs it last saw (they change a few
times a day): the A frames say which ticks ran, and when one shows other outputs the
frames after it are dropped by the firmware and computed again (simulator/runner.py).
In lockstep (one frame in flight) every frame names the outputs of the last A and runs.
"""
from __future__ import annotations

import os
import select
import struct
from typing import Callable

EPOCH2000 = 946684800  # the firmware counts seconds from 2000-01-01T00:00Z
VERSION = 2  # of this protocol, sent in H (2: T names its outputs, A its tick)
HDR = 3  # kind, u16 LE payload length
HELLO, OUTPUTS, RESET, TICK = b"H", b"A", b"X", b"T"  # frame kinds
# T's fixed part: t2000, flags, temperature, the relay and dim it assumes; the front-end bytes follow
TICK_FIELDS = "<IBfBB"
OUTPUT_FIELDS = "<IBB"  # A: the tick it answers (t2000, 0 before the first), relay, dim
F_MAINS = 1  # tick flags: mains present
F_DARK = 2  # the photocell reads dark
F_WIFI = 4  # WiFi associated (simulator/netproxy.py link_up)
_TICK = struct.Struct("<cH" + TICK_FIELDS[1:])
_TICK_LEN = struct.calcsize(TICK_FIELDS)
_OUTPUTS = struct.Struct(OUTPUT_FIELDS)


def tick_flags(mains: bool, dark: bool = False, wifi: bool = False) -> int:
    """The T frame's flags byte."""
    return (F_MAINS if mains else 0) | (F_DARK if dark else 0) | (F_WIFI if wifi else 0)


class LinkClosed(EOFError):
    """The firmware process went away (crash, reset or power cut)."""


def tick_frame(unix_t: int, flags: int, temp: float, frontend: bytes, relay: bool,
               dim: int) -> bytes:
    """A T frame, whole, computed on the outputs (relay, dim): the firmware runs it only
    while they are its own (see the module's doc)."""
    return _TICK.pack(TICK, _TICK_LEN + len(frontend), unix_t - EPOCH2000, flags, temp,
                      1 if relay else 0, dim) + frontend


def outputs_payload(unix_t: int | None, relay: bool, dim: int) -> bytes:
    """An A frame's payload: the outputs after tick unix_t (None: no tick run yet)."""
    return _OUTPUTS.pack(0 if unix_t is None else unix_t - EPOCH2000, 1 if relay else 0, dim)


def read_outputs(payload: bytes) -> tuple[int | None, bool, int]:
    """(tick answered as unix time, None before the first; relay; dim) of an A payload."""
    t2000, relay, dim = _OUTPUTS.unpack_from(payload)
    return (t2000 + EPOCH2000 if t2000 else None), bool(relay), dim


_IN, _OUT = select.POLLIN | select.POLLHUP | select.POLLERR, select.POLLOUT


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
        # one poll set kept from wait to wait (registered again only when the watched fds
        # change): a wait is one poll(2) and the reads of what it found ready
        self._poll = select.poll()
        self._watched: tuple[list[int], list[int]] | None = None
        self._peek: select.poll | None = None  # the link alone, for ready()

    def _wait(self, rd: list[int], wr: list[int]) -> tuple[bool, bool]:
        """Block until the link or a watched fd is ready: (link readable, another fd ready)."""
        if (rd, wr) != self._watched:
            if self._watched is not None:
                for fd in {self.rfd, *self._watched[0], *self._watched[1]}:
                    self._poll.unregister(fd)
            want = {self.rfd: _IN}
            for fd in rd:
                want[fd] = want.get(fd, 0) | _IN
            for fd in wr:
                want[fd] = want.get(fd, 0) | _OUT
            for fd, ev in want.items():
                self._poll.register(fd, ev)
            self._watched = (list(rd), list(wr))
        ready = self._poll.poll(None if self.watchdog_s is None else max(0, round(self.watchdog_s * 1000)))
        if not ready:
            raise LinkClosed(f"watchdog: the firmware sent nothing for {self.watchdog_s} s")
        link = any(fd == self.rfd for fd, _ in ready)
        return link, len(ready) > link

    def _fill(self) -> None:
        """Wait for the firmware, serving the watched fds meanwhile, and take what it sent."""
        while True:
            if self.watch is not None and self.serve is not None:
                rd, wr = self.watch()
                link, other = self._wait(rd, wr)
                if other:
                    self.serve()
                if not link:
                    continue
            elif self.watchdog_s is not None:
                self._wait([], [])
            chunk = os.read(self.rfd, 65536)
            if not chunk:
                raise LinkClosed("firmware closed the link")
            self._buf += chunk
            return

    def ready(self) -> bool:
        """Whether recv() would return without waiting: a whole frame taken already, or the
        firmware's pipe readable (or hung up) now."""
        buf = self._buf
        if len(buf) >= HDR and len(buf) >= HDR + (buf[1] | buf[2] << 8):
            return True
        if self._peek is None:
            self._peek = select.poll()
            self._peek.register(self.rfd, _IN)
        return bool(self._peek.poll(0))

    def recv(self) -> tuple[bytes, bytes]:
        """(kind, payload) of the next frame from the firmware."""
        while True:
            buf = self._buf
            if len(buf) >= HDR:
                end = HDR + (buf[1] | buf[2] << 8)
                if len(buf) >= end:
                    self._buf = buf[end:]
                    return buf[:1], buf[HDR:end]
            self._fill()

    def send(self, frame: bytes) -> None:
        """One whole frame (tick_frame), in one write."""
        os.write(self.wfd, frame)

    def send_tick(self, unix_t: int, flags: int, temp: float, frontend: bytes,
                  relay: bool, dim: int) -> None:
        self.send(tick_frame(unix_t, flags, temp, frontend, relay, dim))

    def close(self) -> None:
        for fd in (self.rfd, self.wfd):
            try:
                os.close(fd)
            except OSError:
                pass
