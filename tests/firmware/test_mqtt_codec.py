"""MQTT packet codec, client state machine against a scripted socket, and command auth."""
from lamppost import mqtt, signedcmd as auth


def test_packets_round_trip_through_parser():
    p = mqtt.Parser()
    pub = mqtt.publish_packet("stat/x/ALARM", b"y" * 300, 1, False, 77)
    p.feed(pub[:3])
    assert p.next() is None  # incomplete
    p.feed(pub[3:] + mqtt.packet(0xD0, b""))
    first, body, whole = p.next()
    assert whole and mqtt.parse_publish(first, body) == ("stat/x/ALARM", 77, b"y" * 300, 1)
    assert p.next() == (0xD0, b"", True)
    assert p.next() is None


def test_bad_length_is_a_protocol_error():
    p = mqtt.Parser()
    p.feed(b"\x30\xff\xff\xff\xff\x01")
    try:
        p.next()
        assert False, "accepted a 5-byte remaining length"
    except mqtt.ProtocolError:
        pass


class FakeSock:
    def __init__(self, rx):
        self.rx = bytearray(rx)
        self.out = bytearray()
        self.closed = False

    def write(self, b):
        self.out += b
        return len(b)

    def readinto(self, buf):
        if not self.rx:
            return None
        n = min(len(buf), len(self.rx))
        buf[:n] = self.rx[:n]
        self.rx = self.rx[n:]
        return n

    def close(self):
        self.closed = True


def test_qos1_resent_with_dup_until_acked_then_next():
    socks = []

    def opener():
        socks.append(FakeSock(b"\x20\x02\x00\x00"))  # CONNACK accepted
        return socks[-1]
    c = mqtt.Client("id", opener, keepalive=60, retry=20)
    q = [(5, mqtt.publish_packet("t", b"a", 1, False, 5))]
    acked = []
    c.pending = lambda: q[0] if q else None

    def on_acked():
        acked.append(q.pop(0)[0])
    c.on_acked = on_acked
    c.poll(0)
    c.poll(1)
    assert c.up()
    s = socks[0]
    n = len(s.out)
    c.poll(10)
    assert len(s.out) == n  # not yet
    c.poll(21)
    assert s.out[n] == 0x3A  # PUBLISH QoS 1 with DUP
    s.rx += b"\x40\x02\x00\x05"  # PUBACK 5
    c.poll(22)
    assert acked == [5] and c.inflight == 0


def test_backoff_grows_and_is_jittered():
    c = mqtt.Client("id", lambda: (_ for _ in ()).throw(OSError(111)), 60)
    t = 0
    waits = []
    for _ in range(12):
        c.poll(t)
        waits.append(c.next_try - t)
        t = c.next_try
    assert waits[0] <= 2 and waits[-1] >= 150 and max(waits) <= 300, waits


def test_half_open_detected_by_missing_pingresp():
    s = FakeSock(b"\x20\x02\x00\x00")
    c = mqtt.Client("id", lambda: s, keepalive=60)
    for t in range(0, 200):
        c.poll(t)
        if not c.up() and t > 5:
            break
    assert not c.up() and "PINGRESP" in c.last_error and s.closed, (t, c.last_error)


def test_hmac_matches_rfc4231_case_2():
    import binascii
    mac = auth.hmac_sha256(b"Jefe", b"what do ya want for nothing?")
    assert binascii.hexlify(mac) == (
        b"5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")


def test_signed_command_accepted_once_replay_refused():
    import json
    import os
    try:
        os.remove("auth-test.json")
    except OSError:
        pass
    now = 820000000  # 2025-12-26, seconds since 2000; the counter is Unix time
    v = auth.Verifier("k3y", "NL-1", "auth-test.json")
    ctr = now + auth.UNIX_2000 + 5
    mac = auth.mac_hex("k3y", "NL-1", "teleperiod", "60", ctr)
    msg = json.dumps({"param": "60", "ctr": ctr, "mac": mac})
    assert v.check("teleperiod", msg, now, now - 60) == ("60", None)
    assert "replay" in v.check("teleperiod", msg, now, now - 60)[1]
    assert "bad mac" in v.check("teleperiod", msg.replace('"60"', '"10"'), now, now - 60)[1]
    assert "not authenticated" in v.check("teleperiod", "60", now, now - 60)[1]
    v2 = auth.Verifier("k3y", "NL-1", "auth-test.json")  # after a reboot
    assert "replay" in v2.check("teleperiod", msg, now + 10, now + 5)[1]


class _Stream:
    """A socket over fixed bytes that allocates nothing large itself (unlike FakeSock)."""

    def __init__(self, data):
        self.mv = memoryview(data)
        self.i = 0
        self.end = 4  # the CONNACK first; grow() lets more through
        self.closed = False

    def write(self, b):
        return len(b)

    def readinto(self, buf):
        n = min(len(buf), self.end - self.i, 200)  # a chunk split over reads
        if n <= 0:
            return None
        buf[:n] = self.mv[self.i:self.i + n]
        self.i += n
        return n

    def close(self):
        self.closed = True


def test_a_chunk_arrives_whole_in_a_fragmented_heap():
    """An update's heap is fragmented: no free block is larger than a few dozen bytes. A
    550-byte PUBLISH (one chunk of an update) must still arrive, the session stay up."""
    import gc
    pub = mqtt.publish_packet("cmnd/NL-1/OtaData", bytes(range(256)) * 2 + b"z" * 38)
    s = _Stream(b"\x20\x02\x00\x00" + pub)
    got = [0, 0]

    def on_message(t, p):
        got[0] = len(p)
        got[1] = p[300] + p[-1]
    c = mqtt.Client("id", lambda: s, keepalive=600, on_message=on_message)
    c.poll(0)
    c.poll(1)
    assert c.up()
    gc.collect()
    keep = []
    try:
        while True:
            keep.append(bytes(40))
    except MemoryError:
        pass
    for i in range(0, len(keep), 2):
        keep[i] = None  # holes of ~64 bytes between blocks that stay: nothing larger is free
    gc.collect()
    s.end = len(s.mv)
    for t in range(2, 8):
        c.poll(t)
    up, err, n, v = c.up(), c.last_error, got[0], got[1]
    keep = None
    gc.collect()
    assert up and n == 2 * 256 + 38, (up, err, n)
    assert v == 300 % 256 + ord("z"), v


def test_an_idle_session_allocates_nothing_a_tick():
    """The client is polled every tick: with nothing arriving or to send, a poll takes no heap."""
    import gc
    s = _Stream(b"\x20\x02\x00\x00" + mqtt.packet(0xD0, b""))
    c = mqtt.Client("id", lambda: s, keepalive=6000)
    c.poll(0)
    c.poll(1)
    s.end = len(s.mv)
    c.poll(2)  # a PINGRESP: bytes arrived, the read view is made again once
    assert c.up()
    gc.collect()
    gc.disable()
    try:
        before = gc.mem_alloc()
        for t in range(3, 103):
            c.poll(t)
        grew = gc.mem_alloc() - before
    finally:
        gc.enable()
    assert c.up() and grew == 0, grew
