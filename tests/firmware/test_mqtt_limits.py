"""What the broker or a full flash may do to a post (issue 10, findings 2 and 10), on MicroPython:
oversize packets read past, backoff that no short session resets, the outbox in RAM."""
import gc
import os
import vfs
from lamppost import mqtt
from lamppost.outbox import Outbox
from test_mqtt_codec import FakeSock
from test_outbox import RamBlocks

MNT = "/obl"


def test_oversize_publish_is_read_past_acknowledged_and_counted():
    big = mqtt.publish_packet("cmnd/x/Status", b"z" * 3000, 1, False, 7)
    small = mqtt.publish_packet("cmnd/x/Relay", b"off", 0)
    s = FakeSock(b"\x20\x02\x00\x00")
    c = mqtt.Client("id", lambda: s, keepalive=60)
    got = []
    c.on_message = lambda t, p: got.append((t, p))
    c.poll(0)
    c.poll(1)
    stream = big + small
    for i in range(0, len(stream), 100):  # trickles in over many ticks
        s.rx += stream[i:i + 100]
        c.poll(2 + i // 100)
    assert c.up() and not s.closed, c.last_error
    assert c.big == 1 and got == [("cmnd/x/Status", None), ("cmnd/x/Relay", b"off")], got
    assert b"\x40\x02\x00\x07" in s.out  # acknowledged: the broker does not send it again


def test_a_session_that_drops_right_after_connack_does_not_reset_the_backoff():
    def opener():  # CONNACK, then a packet type the client refuses: the session drops at once
        return FakeSock(b"\x20\x02\x00\x00\xf0\x00")
    c = mqtt.Client("id", opener, keepalive=60)
    t = 0
    waits = []
    for _ in range(12):
        c.poll(t)
        assert not c.up() and "unexpected packet" in c.last_error, c.last_error
        waits.append(c.next_try - t)
        t = c.next_try
    assert c.connects == 12 and waits[-1] >= 150, waits


def test_a_session_that_lasted_starts_the_backoff_over():
    socks = []

    def opener():
        socks.append(FakeSock(b"\x20\x02\x00\x00"))
        return socks[-1]
    c = mqtt.Client("id", opener, keepalive=60)
    c.fails = 8  # after a long outage
    c.poll(0)
    for t in range(1, 200, 10):
        socks[-1].rx += b"\xd0\x00"  # PINGRESP: alive
        c.poll(t)
    assert c.up()
    socks[-1].rx += b"\xf0\x00"
    c.poll(200)
    assert not c.up() and c.next_try - 200 <= 2


def _small_flash(blocks):
    try:
        vfs.umount(MNT)
    except OSError:
        pass
    data = bytearray(512 * blocks)
    vfs.VfsLfs2.mkfs(RamBlocks(data))
    vfs.mount(vfs.VfsLfs2(RamBlocks(data)), MNT)


def _fill(where=MNT):
    """Files until not even a small one fits (LittleFS keeps small files inline, in each
    directory's own metadata)."""
    i = 0
    for size in (400, 64, 64, 64, 16, 16, 16, 1):
        while i < 2000:
            i += 1
            try:
                with open("%s/fill%d" % (where, i), "wb") as f:
                    f.write(bytes(size))
            except OSError:
                break


def _pay(text):
    return lambda s: '{"m": "%s", "dseq": %d}' % (text, s)


def _drain(box):
    out = []
    while True:
        h = box.head()
        if h is None:
            return out
        out.append(h[2])
        box.ack(h[0])


def test_full_flash_keeps_messages_in_ram_and_drops_events_before_alarms():
    _small_flash(32)
    box = Outbox(MNT + "/ob", cap=50)
    box.put("stat/x/EVENT", _pay("on-flash"), False)
    _fill()
    _fill(MNT + "/ob")
    assert box.put("stat/x/ALARM", _pay("a0"), True) == 2 and box.full and box.ram() == 1
    for i in range(1, 6):
        box.put("stat/x/ALARM", _pay("a%d" % i), True)
        box.put("stat/x/EVENT", _pay("e%d" % i), False)
    # RAM holds 10: a0, then a1..a5 and the newest events; the oldest events went first
    assert box.ram() == 10 and box.alarms() == 6 and box.lost == 0, (box.ram(), box.alarms())
    for i in range(6, 16):
        box.put("stat/x/ALARM", _pay("a%d" % i), True)  # all events go before any alarm
    assert box.alarms() == 10 and box.ram() == 10 and box.lost == 6, (box.alarms(), box.lost)
    assert box.put("stat/x/EVENT", _pay("late"), False) is None  # an event never evicts an alarm
    got = _drain(box)
    assert got[0] == b'{"m": "on-flash", "dseq": 1}' and len(got) == 11, got
    assert [g.split(b'"')[3] for g in got[1:]] == [b"a%d" % i for i in range(6, 16)], got
    for d in (MNT, MNT + "/ob"):  # room again: the next message goes to flash
        for name in os.listdir(d):
            if name.startswith("fill"):
                os.remove(d + "/" + name)
    box.put("stat/x/ALARM", _pay("back"), True)
    assert not box.full and box.ram() == 0
    gc.collect()


def test_outbox_path_that_is_a_file_is_set_aside():
    _small_flash(32)
    with open(MNT + "/ob", "w") as f:
        f.write("not a directory")
    box = Outbox(MNT + "/ob", cap=10)
    assert box.bad == 1 and "not a directory" in box.news[0], box.news
    box.put("stat/x/ALARM", _pay("a"), True)
    assert _drain(box) == [b'{"m": "a", "dseq": 1}']
    assert "ob.bad" in os.listdir(MNT)
