"""The event log on a corrupt flash: set aside and named once, sequence numbers never reused."""
import os

from lamppost import bootfiles
from lamppost.eventlog import EventLog

PRE = "/tmp/lamppost-evcorrupt"


def _clean():
    for n in ("0.log", "1.log", "0.bad", "1.bad"):
        try:
            os.remove(PRE + n)
        except OSError:
            pass


def test_a_non_utf8_line_sets_the_file_aside_and_keeps_the_sequence():
    _clean()
    log = EventLog(PRE)
    for i in range(5):
        log.add(100 + i, "switch", "on %d" % i)
    log.flush(200)
    with open(PRE + "0.log", "ab") as f:
        f.write(b'[5, 300, "x", "\xff"]\n')
    bootfiles.FOUND[:] = []
    log2 = EventLog(PRE)  # the next boot
    bad = bootfiles.FOUND
    assert len(bad) == 1 and PRE + "0.log" in bad[0] and "0.bad" in bad[0], bad
    assert log2.seq == 5, log2.seq  # 0..4 were on flash: never handed out again
    assert os.stat(PRE + "0.bad")[6] > 0
    log2.add(400, "boot", "#2", True)  # the boot's own entry, written at once, numbered 5
    bootfiles.FOUND[:] = []
    log3 = EventLog(PRE)
    assert bootfiles.FOUND == [] and log3.seq == 6, (bootfiles.FOUND, log3.seq)  # once; no reuse


def test_wrong_types_and_a_directory_never_stop_the_boot():
    _clean()
    with open(PRE + "0.log", "w") as f:
        f.write('["x", 1, "a", "b"]\n[1, "t", "a", "b"]\n')
    os.mkdir(PRE + "1.log")
    try:
        bootfiles.FOUND[:] = []
        log = EventLog(PRE)
        assert len(bootfiles.FOUND) == 2, bootfiles.FOUND
        log.add(5, "boot", "#1", True)
        log.flush(5)
        assert log.writes == 1 and [e[2] for e in log.tail(5)] == ["boot"]
    finally:
        for p in (PRE + "1.log", PRE + "1.bad"):
            try:
                os.rmdir(p)
            except OSError:
                pass
