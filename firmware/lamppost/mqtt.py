"""MQTT 3.1.1 client as a non-blocking state machine, polled once a tick with HAL time.

Why our own: the firmware loop is a synchronous tick on the HAL's clock (virtual
in the simulator), so keepalive, retransmission and backoff must run on `now`,
never block, and never allocate a task. umqtt.simple blocks on every call and
mqtt_as is asyncio on the wall clock; neither fits. The client never raises
into the caller: any socket error or malformed packet from the broker closes
the connection and schedules a reconnect with exponential backoff and jitter.
Every close goes through _close, and the backoff is reset only by a session
that stayed up _STABLE s, so nothing that drops a session right after its
CONNACK can make the post reconnect faster than the backoff allows.

A well-framed packet larger than _MAX_PACKET is read past and discarded (a
QoS 1 PUBLISH is still acknowledged), counted in `big`, and its topic handed
to on_message with payload None; the session stays up.

QoS 1 publishing is one message in flight at a time (the outbox head), so
delivery is in order; it is resent with DUP after `retry` s and on reconnect.
"""
import random
import struct
from micropython import const

TYPE_CHECKING = False
if TYPE_CHECKING:  # the type checker only: MicroPython has no typing module
    from typing import Any

_CONNECT = const(1)
_CONNACK = const(2)
_PUBLISH = const(3)
_PUBACK = const(4)
_SUBSCRIBE = const(8)
_SUBACK = const(9)
_PINGREQ = const(12)
_PINGRESP = const(13)

_DOWN = const(0)  # no socket; reconnect when backoff allows
_OPENING = const(1)  # TCP (and TLS) connect under way, _CONNECT queued
_WAIT_ACK = const(2)  # _CONNECT sent, waiting for _CONNACK
UP = const(3)

_MAX_PACKET = const(2048)  # larger packets from the broker are read past and discarded
_PEEK = const(96)  # bytes of an oversize packet kept: its topic and packet id
_RX_BUDGET = const(4096)  # bytes taken from the socket per poll: a flood costs a bounded tick
_READ = const(256)  # bytes read from the socket at once: the parser's room beyond a packet
_STABLE = const(120)  # s a session must stay up before the reconnect backoff starts over
_BACKOFF_MIN = const(2)
_BACKOFF_MAX = const(300)
_OPEN_TIMEOUT = const(30)
_TX_MAX = const(4096)  # send() refuses beyond this
_PUSH = const(256)  # queued bytes written to the socket at once: the queue stays small


class ProtocolError(ValueError):
    pass


def enc_len(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return out


def enc_str(s):
    if isinstance(s, str):
        s = s.encode()
    return struct.pack("!H", len(s)) + s


def packet(first, body):
    return bytes((first,)) + enc_len(len(body)) + body


def connect_packet(client_id, keepalive, user=None, password=None, will=None, clean=True):
    """CONNECT bytes; will is (topic, payload, qos, retain) or None."""
    flags = 0x02 if clean else 0
    tail = enc_str(client_id)
    if will:
        flags |= 0x04 | (will[2] << 3) | (0x20 if will[3] else 0)
        tail += enc_str(will[0]) + enc_str(will[1])
    if user:
        flags |= 0x80
        tail += enc_str(user)
        if password:
            flags |= 0x40
            tail += enc_str(password)
    body = enc_str("MQTT") + bytes((4, flags)) + struct.pack("!H", keepalive) + tail
    return packet(_CONNECT << 4, body)


def publish_packet(topic, payload, qos=0, retain=False, pid=0, dup=False):
    if isinstance(payload, str):
        payload = payload.encode()
    first = (_PUBLISH << 4) | (qos << 1) | (1 if retain else 0) | (8 if dup else 0)
    body = enc_str(topic)
    if qos:
        body += struct.pack("!H", pid)
    return packet(first, body + payload)


def subscribe_packet(pid, topic, qos=1):
    return packet((_SUBSCRIBE << 4) | 2, struct.pack("!H", pid) + enc_str(topic) + bytes((qos,)))


class Parser:
    """Splits a byte stream into packets, in one buffer allocated once (the App makes it
    early in boot, while the heap is whole, and the client keeps it across sessions).

    Why one buffer: an update fragments the heap, and a per-packet copy of a ~550-byte
    chunk then found no block and dropped the session (80-220 reconnects in one update, the
    download spread over hours by the reconnect backoff). Packets are now read into
    and handed out of the same bytes. room() is where the next read goes (at most _READ
    bytes; a view made again only after bytes arrived, so an idle tick allocates
    nothing), fed(n) counts what went there (feed(data) copies, for tests). next() ->
    (first byte, body, whole) or None, body a view valid until the next call: whole is
    False for a packet over the limit, whose body is then only its first _PEEK bytes;
    the rest of it is skipped as it arrives, never buffered. ProtocolError on bad framing.
    """

    def __init__(self, limit=_MAX_PACKET):
        # the largest packet kept (header of up to 5 bytes), with room for one read after a
        # part of it: next() takes every whole packet before the client reads again
        self.buf = bytearray(limit + 5 + _READ)
        self.mv = memoryview(self.buf)
        self.limit = limit
        self.at = 0  # where the next packet starts
        self.n = 0  # bytes held
        self.skip = 0  # bytes of a discarded packet still to come
        self.free = None  # room()'s view while nothing arrived

    def reset(self):
        self.at = self.n = self.skip = 0
        self.free = None

    def room(self):
        """Where the next read goes, after moving a partial packet to the front."""
        f = self.free
        if f is not None:
            return f
        a = self.at
        if a:
            m = self.n - a
            mv = self.mv
            k = 0
            while k < m:  # in steps no longer than the gap: no copy overlaps itself
                c = a if a < m - k else m - k
                mv[k:k + c] = mv[a + k:a + k + c]
                k += c
            self.at = 0
            self.n = m
        n = self.n
        f = self.free = self.mv[n:n + _READ]
        return f

    def fed(self, k):
        """k bytes went into room(); those of a discarded packet are passed over."""
        s = self.skip
        if s:  # nothing else is held while skipping (at == n)
            d = s if s < k else k
            self.skip = s - d
            self.at += d
        self.n += k
        self.free = None

    def feed(self, data):
        """Copy data in, a read at a time (tests; the client reads into room())."""
        i = 0
        while i < len(data):
            r = self.room()
            k = min(len(r), len(data) - i)
            if not k:
                raise ProtocolError("parser full")
            r[:k] = data[i:i + k]
            self.fed(k)
            i += k

    def next(self):
        """The next complete packet or None; raises ProtocolError if the stream is malformed."""
        b = self.buf
        a = self.at
        m = self.n
        if m - a < 2:
            return None
        n = 0
        shift = 0
        i = a + 1
        while True:
            if i >= m:
                return None
            c = b[i]
            n |= (c & 0x7F) << shift
            i += 1
            if not c & 0x80:
                break
            shift += 7
            if shift > 21:
                raise ProtocolError("bad remaining length")
        first = b[a]
        if n > self.limit:
            peek = i + min(n, _PEEK)
            if m < peek:
                return None
            end = i + n
            if end > m:
                self.skip = end - m
                end = m
            self.at = end
            return first, self.mv[i:peek], False
        if m < i + n:
            return None
        self.at = i + n
        return first, self.mv[i:i + n], True


def parse_publish(first, body):
    """(topic, pid, payload, qos) of a _PUBLISH body; ProtocolError if malformed."""
    qos = (first >> 1) & 3
    if qos == 3 or len(body) < 2:
        raise ProtocolError("bad publish")
    tl = (body[0] << 8) | body[1]
    if len(body) < 2 + tl + (2 if qos else 0):
        raise ProtocolError("bad publish")
    try:
        topic = str(body[2:2 + tl], "utf-8")
    except UnicodeError:
        raise ProtocolError("topic not UTF-8")
    i = 2 + tl
    pid = 0
    if qos:
        pid = (body[i] << 8) | body[i + 1]
        i += 2
    return topic, pid, body[i:], qos


class Client:
    """One MQTT session to one broker. Call poll(now, link_up) every tick.

    open(now) -> a non-blocking socket with connect started (the HAL's job);
    on_message(topic, payload) gets every incoming _PUBLISH, payload a view into the
    parser's buffer valid during the call (bytes(payload) to keep it); on_up() runs after
    each _CONNACK (subscribe, announce); on_acked() after the in-flight QoS 1
    message is acknowledged. pending() -> (pid, packet-bytes) of the head or None.
    The owner (lamppost/uplink.py) passes these callbacks to the constructor.
    """

    def __init__(self, client_id, opener, keepalive=60, user=None, password=None, will=None,
                 retry=20, on_message: "Any" = None, on_up: "Any" = None, on_acked: "Any" = None,
                 pending: "Any" = None, parser: "Any" = None):
        self.client_id = client_id
        self.opener = opener
        self.keepalive = keepalive
        self.user = user
        self.password = password
        self.will = will
        self.retry = retry
        self.state = _DOWN
        self.sock = None
        self.parser = parser or Parser()  # its buffer is best taken early in boot (lamppost/app.py)
        self.tx = b""
        self.wrote = 0  # bytes written to the socket: publish knows if a packet went out
        self.next_try = 0
        self.fails = 0
        self.since = 0  # when the current state began
        self.last_tx = 0
        self.ping_at = 0  # when an unanswered _PINGREQ went out, 0 if none
        self.inflight = 0  # pid of the QoS 1 message awaiting _PUBACK, 0 if none
        self.sent_at = 0
        self.pid = 0
        self.on_message = on_message
        self.on_up = on_up
        self.on_acked = on_acked
        self.pending = pending
        self.attempts = 0  # connection attempts since boot
        self.connects = 0  # successful CONNACKs since boot
        self.big = 0  # oversize packets from the broker read past and discarded
        self.last_error = ""

    def up(self):
        return self.state == UP

    def _close(self, now, why):
        if self.sock is not None:
            try:
                self.sock.close()
            except Exception:
                pass
        self.sock = None
        was_up = self.state == UP
        self.state = _DOWN
        self.tx = b""
        self.parser.reset()
        self.ping_at = 0
        self.inflight = 0
        self.last_error = why
        if was_up and now - self.since >= _STABLE:
            self.fails = 0  # only a session that lasted resets the backoff
        self.fails += 1
        # exponential backoff with jitter (50-100 %): no storm, no herd after an outage
        d = _BACKOFF_MIN << min(self.fails - 1, 10)
        if d > _BACKOFF_MAX:
            d = _BACKOFF_MAX
        self.next_try = now + d // 2 + random.getrandbits(16) % (d - d // 2 + 1)

    def send(self, data):
        """Queue raw packet bytes; False if not connected, the queue is full or no heap."""
        if self.state != UP or len(self.tx) > _TX_MAX:
            return False
        try:
            self._put(data)
        except MemoryError:
            return False
        return True

    def _put(self, data):
        """Append to the send queue and push it to the socket once it holds _PUSH bytes, so a
        burst of replies never needs one big block of heap for the queue."""
        if self.tx:
            self.tx += data
        else:
            self.tx = bytes(data)
        if len(self.tx) >= _PUSH or (self.tx and not data):
            try:
                self._flush()
            except OSError:
                pass  # the next poll meets the error again and closes the session

    def publish(self, topic, payload, retain=False):
        """QoS 0 publish (telemetry, replies): dropped when not connected or out of heap.
        Header and payload are queued apart (and mostly written at once), so a large reply
        is never copied into a packet; payload may be a list of bytes pieces (a big reply
        built piece by piece needs no large contiguous block)."""
        if self.state != UP or len(self.tx) > _TX_MAX:
            return False
        mark, wrote = len(self.tx), self.wrote
        try:
            if isinstance(payload, str):
                payload = payload.encode()
            if isinstance(payload, list):  # a payload in pieces (bytes): sent one after another
                n = 0
                for p in payload:
                    n += len(p)
            else:
                n = len(payload)
            t = enc_str(topic)
            self._put(bytes((0x31 if retain else 0x30,)) + enc_len(len(t) + n) + t)
            if n >= _PUSH:  # header out first: the payload is then sent, not copied
                self._put(b"")
            if isinstance(payload, list):
                for p in payload:
                    self._put(p)
            else:
                self._put(payload)
        except MemoryError:
            # never leave half a packet queued: the broker would take what follows as its payload
            if self.wrote == wrote:
                self.tx = self.tx[:mark]
            else:  # part of it is on the wire: only a new session resyncs the stream
                self._close(self.last_tx, "no heap for a reply")
            return False
        return True

    def subscribe(self, topic, qos=1):
        self.pid = self.pid % 65535 + 1
        return self.send(subscribe_packet(self.pid, topic, qos))

    def _flush(self):
        if not self.tx or self.sock is None:
            return
        try:
            n = self.sock.write(self.tx)
        except OSError as e:
            if e.args and e.args[0] in (11, 115, 119):  # EAGAIN, EINPROGRESS, MBEDTLS_WANT
                return
            raise
        if n:
            self.wrote += n
            self.tx = self.tx[n:] if n < len(self.tx) else b""

    def poll(self, now, link_up=True):
        """Advance the session by one tick; never raises, never blocks."""
        if not link_up:
            if self.sock is not None:
                self._close(now, "link down")
            return
        try:
            self._poll(now)
        except ProtocolError as e:
            self._close(now, "protocol: %s" % e)
        except OSError as e:
            self._close(now, "socket: %s" % e)
        except Exception as e:  # nothing the broker sends may stop the lamp
            self._close(now, "error: %s" % e)

    def _poll(self, now):
        st = self.state
        if st == _DOWN:
            if now < self.next_try:
                return
            self.attempts += 1
            self.since = now
            self.sock = self.opener()
            self.tx = connect_packet(self.client_id, self.keepalive, self.user, self.password,
                                     self.will)
            self.state = _OPENING
            st = _OPENING
        if st != UP and now - self.since > _OPEN_TIMEOUT:
            raise OSError("connect timeout")
        self._flush()
        if st == _OPENING and not self.tx:
            self.state = _WAIT_ACK
            self.last_tx = now
        self._read(now)
        if self.state != UP:
            return
        try:
            head = self.pending() if self.pending else None
        except MemoryError:  # the head is read from flash again next tick
            head = None
        if head is not None:
            pid, pkt = head
            if self.inflight != pid:
                self.inflight = pid
                self.sent_at = now
                self.tx += pkt
            elif now - self.sent_at >= self.retry:
                self.sent_at = now
                self.tx += bytes((pkt[0] | 8,)) + pkt[1:]  # DUP resend
        if self.ping_at and now - self.ping_at > max(10, self.keepalive // 2):
            raise OSError("no _PINGRESP (half-open connection)")
        if not self.ping_at and not self.tx and now - self.last_tx >= self.keepalive * 3 // 4:
            self.tx += packet(_PINGREQ << 4, b"")
            self.ping_at = now
        if self.tx:
            self.last_tx = now
            self._flush()

    def _read(self, now):
        """Take the broker's packets, at most _RX_BUDGET bytes a poll.

        Every packet is handled as it arrives (acks, pings, commands), so a
        flood never hides a PINGRESP or a PUBACK behind it; what lamppost.uplink
        cannot take at once it queues, answers `busy` or drops, and counts.
        Bytes arriving prove the connection alive, as a PINGRESP would.
        """
        budget = _RX_BUDGET
        while self.sock is not None:
            p = self.parser.next()
            if p is not None:
                self._handle(now, p[0], p[1], p[2])
                continue
            if budget <= 0:
                return
            try:
                n = self.sock.readinto(self.parser.room())
            except OSError as e:
                if e.args and e.args[0] in (11, 115, 119):
                    return
                raise
            if n is None:
                return
            if n == 0:
                raise OSError("closed by broker")
            budget -= n
            self.ping_at = 0
            self.parser.fed(n)

    def _handle(self, now, first, body, whole=True):
        kind = first >> 4
        if not whole:
            self.big += 1
            if kind == _PUBLISH and self.state == UP:
                self._big_publish(first, body)
            return
        if kind == _CONNACK:
            if self.state != _WAIT_ACK or len(body) != 2:
                raise ProtocolError("unexpected CONNACK")
            if body[1] != 0:
                raise OSError("broker refused: code %d" % body[1])
            self.state = UP
            self.since = now
            self.connects += 1
            self.inflight = 0
            if self.on_up:
                self.on_up()
        elif self.state != UP:
            raise ProtocolError("packet before CONNACK")
        elif kind == _PUBACK:
            if len(body) != 2:
                raise ProtocolError("bad PUBACK")
            pid = (body[0] << 8) | body[1]
            if pid == self.inflight and pid:
                self.inflight = 0
                if self.on_acked:
                    self.on_acked()
        elif kind == _PINGRESP:
            self.ping_at = 0
        elif kind == _SUBACK:
            pass
        elif kind == _PUBLISH:
            topic, pid, payload, qos = parse_publish(first, body)
            if qos == 2:
                raise ProtocolError("QoS 2 not subscribed")
            if qos == 1:
                self._put(packet(_PUBACK << 4, struct.pack("!H", pid)))
            self._deliver(topic, payload)
        else:
            raise ProtocolError("unexpected packet type %d" % kind)

    def _deliver(self, topic, payload):
        if self.on_message:
            try:
                self.on_message(topic, payload)
            except Exception:  # e.g. MemoryError in a reply: the owner's fault, not the session's
                pass

    def _big_publish(self, first, head):
        """Acknowledge a discarded QoS 1 PUBLISH and tell the owner its topic, if the first
        _PEEK bytes hold them (a broker resends an unacknowledged one forever)."""
        qos = (first >> 1) & 3
        if len(head) < 2:
            return
        tl = (head[0] << 8) | head[1]
        if len(head) < 2 + tl + (2 if qos else 0):
            return
        if qos == 1:
            self._put(packet(_PUBACK << 4, head[2 + tl:4 + tl]))
        try:
            topic = str(head[2:2 + tl], "utf-8")
        except UnicodeError:
            return
        self._deliver(topic, None)
