"""A network that can fail, between the firmware's real sockets and a real MQTT broker.

The simulator runs this TCP proxy in its own process and pumps it once per
tick, after the firmware finished its tick. The firmware connects to the
proxy's loopback port; the proxy forwards to the broker. Scenario `[[network]]`
events turn into real TCP behaviour:

  link_down       WiFi not associated (tick flag F_WIFI off); open connections go
                  silent and the broker side is dropped, as when a post loses its AP
  broker_down     connections reset, new ones accepted then closed (refused)
  broker_restart  like broker_down for a moment (default 5 s, or until `until`)
  slow            every byte held `delay` virtual seconds each way (default 5 s)
  half_open       nothing forwarded either way, nothing closed (a dead NAT path)

Virtual time runs ~10,000x faster than the broker answers, so when the
firmware sent a packet that expects an answer (CONNECT, QoS 1 PUBLISH,
SUBSCRIBE, PINGREQ) the pump waits (up to 0.5 s wall) for it: the network then
looks like a one-tick round trip instead of a random number of virtual seconds.
Over TLS the packets cannot be read: handshake records, the first application
record (CONNECT) and short ones (PINGREQ) are waited for like questions; after a
longer write (a publish, mostly QoS 0) the pump waits only TLS_WAIT_S.
"""
from __future__ import annotations

import select
import socket
import time
from collections import deque
from dataclasses import dataclass, field

from simulator.scenario_types import active

KINDS = ("link_down", "broker_down", "broker_restart", "slow", "half_open")
_ASKS = {1: 1, 8: 1, 12: 1}  # CONNECT, SUBSCRIBE, PINGREQ expect one answer
_ANSWERS = (2, 4, 9, 13)  # CONNACK, PUBACK, SUBACK, PINGRESP
TLS_WAIT_S = 0.05  # over TLS: how long a tick waits for the broker after the firmware sent


@dataclass
class NetEvent:
    kind: str
    at: int  # unix seconds
    until: int | None = None
    delay: int = 5  # slow: seconds each way

    @property
    def end(self) -> int:
        if self.until is not None:
            return self.until
        return self.at + 5 if self.kind == "broker_restart" else 1 << 62

    def active(self, t: int) -> bool:
        return active(self.at, self.end, t)


class _Frames:
    """Counts MQTT packets in one direction of a stream without keeping them."""

    def __init__(self):
        self.buf = b""
        self.broken = False

    def feed(self, data: bytes) -> list[tuple[int, int]]:
        """(type, qos) of each packet completed by data; an OTA chunk request (a QoS 0
        PUBLISH to stat/<id>/OTA, docs/ota.md) reads as qos -1: a question whose answer
        is the chunk, a PUBLISH the other way."""
        if self.broken:
            return []
        self.buf += data
        out = []
        while len(self.buf) >= 2:
            n, shift, i = 0, 0, 1
            while True:
                if i >= len(self.buf):
                    return out
                c = self.buf[i]
                n |= (c & 0x7F) << shift
                i += 1
                if not c & 0x80:
                    break
                shift += 7
                if shift > 21:
                    self.broken = True
                    return out
            if len(self.buf) < i + n:
                return out
            first = self.buf[0]
            qos = (first >> 1) & 3
            if first >> 4 == 3 and qos == 0 and i + 2 <= len(self.buf):
                tl = self.buf[i] << 8 | self.buf[i + 1]
                if self.buf[i + 2:i + 2 + tl].endswith(b"/OTA"):
                    qos = -1
            out.append((first >> 4, qos))
            self.buf = self.buf[i + n:]
        return out


@dataclass
class _Conn:
    down: socket.socket  # the firmware's side
    up: socket.socket | None  # the broker's side
    frozen: bool = False
    expect: int = 0
    tls: bool | None = None  # TLS (first byte a handshake record): frames cannot be read
    app_records: int = 0  # TLS application-data writes seen from the firmware
    to_up: deque = field(default_factory=deque)  # (release time, bytes)
    to_down: deque = field(default_factory=deque)
    up_frames: _Frames = field(default_factory=_Frames)
    down_frames: _Frames = field(default_factory=_Frames)


_MAYBE = 1  # TLS: the write may get an answer (wait TLS_WAIT_S)
_SURE = 2  # TLS: the write is a question (wait wait_s)


def _tls_expect(c: _Conn, data: bytes) -> int:
    """What a TLS write from the firmware is owed, from its record type and size alone:
    handshake records, the first application record (CONNECT) and short ones (a PINGREQ is
    a 2-byte packet) get an answer for sure; longer ones (publishes, mostly QoS 0) maybe."""
    if data[:1] != b"\x17":
        return _SURE  # handshake, change-cipher-spec or alert
    c.app_records += 1
    return _SURE if c.app_records == 1 or len(data) <= 64 else _MAYBE


class NetSim:
    """The proxy. `port` is what the firmware connects to; pump(t) once per tick."""

    def __init__(self, upstream: tuple[str, int], events: list[NetEvent] | None = None,
                 wait_s: float = 0.5):
        self.upstream = upstream
        self.events = list(events or [])
        self.wait_s = wait_s
        self.lsock = socket.socket()
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(8)
        self.lsock.setblocking(False)
        self.port = self.lsock.getsockname()[1]
        self.conns: list[_Conn] = []
        self.active: set[str] = set()
        self.delay = 0
        self.accepted = 0  # connections the firmware opened
        self.refused = 0  # ... that the network refused or swallowed
        self.unanswered = 0  # ticks on which the broker did not answer within wait_s
        self.publishes_down = 0  # MQTT PUBLISH packets read from the broker for the firmware
        self.log: list[tuple[int, str]] = []  # (t, what) transitions, for results
        self._bounds = sorted({e.at for e in self.events} | {e.end for e in self.events})
        self._link = True

    def link_up(self, t: int) -> bool:
        if self._bounds and t >= self._bounds[0]:
            self._link = not any(e.kind == "link_down" and e.active(t) for e in self.events)
        return self._link

    def _update(self, t: int) -> None:
        now = {e.kind for e in self.events if e.active(t)}
        self.delay = max((e.delay for e in self.events if e.kind == "slow" and e.active(t)),
                         default=0)
        if now == self.active:
            return
        for k in sorted(now - self.active):
            self.log.append((t, k + " begins"))
        for k in sorted(self.active - now):
            self.log.append((t, k + " ends"))
        began = now - self.active
        ended = self.active - now
        if began & {"broker_down", "broker_restart"}:
            for c in list(self.conns):
                self._drop(c)
        if "link_down" in began:
            for c in self.conns:  # the post went off the air: the broker side times out
                c.frozen = True
                if c.up:
                    c.up.close()
                    c.up = None
        if "half_open" in began:
            for c in self.conns:
                c.frozen = True
        if ended & {"link_down", "half_open"}:
            for c in list(self.conns):
                if c.frozen:
                    self._drop(c)
        self.active = now

    def _drop(self, c: _Conn) -> None:
        for s in (c.down, c.up):
            if s is not None:
                try:
                    s.close()
                except OSError:
                    pass
        if c in self.conns:
            self.conns.remove(c)

    def _accept(self) -> None:
        while True:
            try:
                s, _ = self.lsock.accept()
            except (BlockingIOError, InterruptedError):
                return
            self.accepted += 1
            s.setblocking(False)
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            a = self.active
            if a & {"broker_down", "broker_restart", "link_down"}:
                self.refused += 1
                s.close()
                continue
            if "half_open" in a:
                self.refused += 1
                self.conns.append(_Conn(s, None, frozen=True))
                continue
            try:
                up = socket.create_connection(self.upstream, timeout=2)
            except OSError:
                self.refused += 1
                s.close()
                continue
            up.setblocking(False)
            up.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.conns.append(_Conn(s, up))

    def _move(self, c: _Conn, t: int) -> None:
        """Read what each side sent and pass on what is due."""
        for src, q, frames, upward in ((c.down, c.to_up, c.up_frames, True),
                                       (c.up, c.to_down, c.down_frames, False)):
            while True:
                try:
                    data = src.recv(65536)
                except (BlockingIOError, InterruptedError):
                    break
                except OSError:
                    data = b""
                if not data:
                    self._drop(c)
                    return
                if c.tls is None and upward:
                    c.tls = data[:1] == b"\x16"
                if c.tls:
                    c.expect = _tls_expect(c, data) if upward else 0
                else:
                    for kind, qos in frames.feed(data):
                        if upward and (kind in _ASKS or (kind == 3 and qos in (1, -1))):
                            c.expect += 1
                        elif not upward and (kind in _ANSWERS or kind == 3) and c.expect:
                            c.expect -= 1
                        if not upward and kind == 3:
                            self.publishes_down += 1
                q.append((t + self.delay, data))
        for dst, q in ((c.up, c.to_up), (c.down, c.to_down)):
            while q and q[0][0] <= t:
                try:
                    dst.sendall(q.popleft()[1])
                except OSError:
                    self._drop(c)
                    return

    def pump(self, t: int) -> None:
        if self._bounds and t >= self._bounds[0]:  # only at a transition: cheap ticks
            self._update(t)
            while self._bounds and self._bounds[0] <= t:
                self._bounds.pop(0)
        live = [c for c in self.conns if not c.frozen and c.up is not None]
        socks = [self.lsock] + [c.down for c in live] + [c.up for c in live]
        readable, _, _ = select.select(socks, [], [], 0)
        if self.lsock in readable:
            self._accept()
        held = self.delay or any(c.to_up or c.to_down for c in live)
        for c in live:
            if held or c.down in readable or c.up in readable:
                self._move(c, t)
        if self.delay:
            return
        # wait for the answers the firmware is owed, so a round trip is one tick
        waiting = [c for c in self.conns if c.expect and not c.frozen and c.up is not None]
        # over TLS a long write may get no answer (a QoS 0 publish): wait briefly for it
        tls_only = bool(waiting) and all(c.tls and c.expect == _MAYBE for c in waiting)
        deadline = time.monotonic() + (min(self.wait_s, TLS_WAIT_S) if tls_only else self.wait_s)
        while waiting:
            left = deadline - time.monotonic()
            if left <= 0:
                for c in waiting:
                    if c.tls:
                        c.expect = 0  # nothing came: it was not a question
                if not tls_only:
                    self.unanswered += 1
                break
            r, _, _ = select.select([c.up for c in waiting], [], [], left)
            for c in waiting:
                if c.up in r:
                    self._move(c, t)
            waiting = [c for c in self.conns if c.expect and not c.frozen and c.up is not None]

    def close(self) -> None:
        """Power cut: the broker sees the connections die without DISCONNECT (so the will fires)."""
        for c in list(self.conns):
            self._drop(c)
        self.lsock.close()
