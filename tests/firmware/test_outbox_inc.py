"""The outbox's incarnation (`inc`): made with the outbox, kept across reboots, new when the
outbox is lost, so the collector can tell a reflashed board's dseq 1 from an old dseq 1.

Runs on a real LittleFS in RAM, as test_outbox.py does.
"""
import os
from lamppost.outbox import Outbox
from test_outbox import MNT, RamBlocks, _drain, _fresh, _mount, _pay


def _hex8(s):
    return len(s) == 8 and not [c for c in s if c not in "0123456789abcdef"]


def test_incarnation_is_kept_across_reboots_and_new_with_a_new_outbox():
    _mount(RamBlocks(_fresh()))
    box = Outbox(MNT + "/ib", cap=10)
    inc = box.inc
    assert _hex8(inc), inc
    box.put("stat/x/ALARM", _pay("a"), True)
    assert Outbox(MNT + "/ib", cap=10).inc == inc  # reboot: same outbox, same incarnation
    _drain(box)
    assert Outbox(MNT + "/ib", cap=10).inc == inc  # emptied, still the same outbox
    # the board loses its outbox (reflash, erase): numbering restarts under a new incarnation
    for name in os.listdir(MNT + "/ib"):
        os.remove(MNT + "/ib/" + name)
    os.rmdir(MNT + "/ib")
    box2 = Outbox(MNT + "/ib", cap=10)
    assert _hex8(box2.inc) and box2.inc != inc, (box2.inc, inc)
    assert box2.put("stat/x/ALARM", _pay("b"), True) == 1
    # two outboxes made one after the other never share one (4 random bytes each)
    incs = set()
    for i in range(8):
        incs.add(Outbox(MNT + "/n%d" % i, cap=4).inc)
    assert len(incs) == 8, incs


def test_an_outbox_from_before_incarnations_gets_one_and_keeps_its_numbers():
    _mount(RamBlocks(_fresh()))
    os.mkdir(MNT + "/old")
    with open(MNT + "/old/hi", "w") as f:
        f.write("41 3")  # the format before: hi and lost only
    box = Outbox(MNT + "/old", cap=10)
    assert _hex8(box.inc) and box.lost == 3
    assert box.put("stat/x/EVENT", _pay("e"), False) == 42  # the sequence goes on
    assert Outbox(MNT + "/old", cap=10).inc == box.inc
    for bad in ("41 3 XYZ", "41 3 0A0B0C0D", "41 3 0a0b0c0d0e"):  # not 8 lower-case hex digits
        with open(MNT + "/old/hi", "w") as f:
            f.write(bad)
        assert _hex8(Outbox(MNT + "/old", cap=10).inc)
