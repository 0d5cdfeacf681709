"""Outbox on flash: order, bound policy, sequence across reboots, power cut at every write.

The power-cut test runs the outbox on a real LittleFS (vfs.VfsLfs2) over a RAM
block device that counts writes and tears the k-th one (half written, then the
power is gone), for every k the workload makes.
"""
import gc
import vfs
from hal.ramflash import Cut, RamBlocks  # noqa: F401 - RamBlocks also for test_outbox_inc, test_mqtt_limits
from lamppost.outbox import Outbox

MNT = "/obx"


def _mount(bdev):
    try:
        vfs.umount(MNT)
    except OSError:
        pass
    vfs.mount(vfs.VfsLfs2(bdev), MNT)


def _fresh():
    data = bytearray(512 * 64)
    vfs.VfsLfs2.mkfs(RamBlocks(data))
    return data


def _pay(text):
    return lambda s: '{"m": "%s", "dseq": %d}' % (text, s)


def _drain(box):
    out = []
    while True:
        h = box.head()
        if h is None:
            return out
        out.append((h[0], h[2]))
        box.ack(h[0])


def test_in_order_and_survives_reboot():
    _mount(RamBlocks(_fresh()))
    box = Outbox(MNT + "/ob", cap=10)
    for i in range(5):
        box.put("stat/x/ALARM", _pay("a%d" % i), True)
    box.ack(box.head()[0])
    box2 = Outbox(MNT + "/ob", cap=10)  # reboot
    got = _drain(box2)
    assert [s for s, _ in got] == [2, 3, 4, 5], got
    assert got[0][1] == b'{"m": "a1", "dseq": 2}'
    box3 = Outbox(MNT + "/ob", cap=10)  # reboot with an empty outbox: the number goes on
    assert box3.put("t", _pay("x"), True) == 6


def test_full_drops_events_first_then_counts_lost_alarms():
    _mount(RamBlocks(_fresh()))
    box = Outbox(MNT + "/ob2", cap=4)
    box.put("e", _pay("switch1"), False)
    for i in range(3):
        box.put("a", _pay("alarm%d" % i), True)
    box.put("a", _pay("alarm3"), True)  # full: the event goes, not an alarm
    assert box.alarms() == 4 and box.lost == 0
    box.put("a", _pay("alarm4"), True)  # full of alarms: oldest alarm dropped and counted
    assert box.lost == 1 and len(box) == 4
    assert Outbox(MNT + "/ob2", cap=4).lost == 1  # the count survives a reboot
    assert [s for s, _ in _drain(box)] == [3, 4, 5, 6]


def _workload(box, log):
    """Puts and acks like an outage then a reconnect; log what the caller was told."""
    for i in range(6):
        log["put"].append(box.put("stat/x/ALARM", _pay("a%d" % i), i % 2 == 0))
    for _ in range(3):
        s = box.head()[0]
        box.ack(s)
        log["acked"].append(s)
    for i in range(3):
        log["put"].append(box.put("stat/x/ALARM", _pay("b%d" % i), True))
    while box.head():
        s = box.head()[0]
        box.ack(s)
        log["acked"].append(s)
    log["put"].append(box.put("stat/x/ALARM", _pay("c"), True))


def test_power_cut_at_every_write():
    r = power_cut_sweep()
    assert r["cuts"] > 20, r


def power_cut_sweep():
    """Cut the power at each write of the workload in turn; check; returns counts."""
    pristine = _fresh()
    data = bytearray(pristine)  # one working image, reset in place (no 32 KB per cut)
    probe = RamBlocks(data)
    _mount(probe)
    _workload(Outbox(MNT + "/ob", cap=8), {"put": [], "acked": []})
    total = probe.writes
    for k in range(1, total + 1):
        data[:] = pristine
        gc.collect()
        _mount(RamBlocks(data, cut_at=k, dies=False))
        log = {"put": [], "acked": []}
        try:
            _workload(Outbox(MNT + "/ob", cap=8), log)
        except Cut:
            pass
        _mount(RamBlocks(data))  # power back: mount must work (filesystem intact)
        box = Outbox(MNT + "/ob", cap=8)
        have = [s for s, _ in box.items]
        stored = [s for s in log["put"] if s not in log["acked"]]
        for s in stored:  # nothing that was stored and not acknowledged is lost
            assert s in have, (k, s, have, log)
        for s in log["acked"]:  # acknowledged stays acknowledged
            assert s not in have, (k, s, have)
        if log["put"]:  # a sequence number is never handed out twice
            assert box.next > max(log["put"]), (k, box.next, log)
        assert box.put("t", _pay("after"), True) == box.next - 1  # still writable
        for s, payload in _drain(box):
            assert payload.endswith(b'"dseq": %d}' % s), (k, payload)
    vfs.umount(MNT)
    return {"cuts": total, "puts": 10, "acks": 9}
