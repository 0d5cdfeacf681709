"""Outbox on flash: every alarm and event is stored before it is sent, deleted on PUBACK.

One small file per message, named by its per-device sequence number and kind
(`00000042.a` alarm, `00000043.e` other event), written as tmp + rename so a
power cut at any moment leaves the whole message or none (LittleFS renames
atomically; small files live inline in the directory metadata). The sequence
number never goes back: before the newest message is deleted its number is
saved in `hi`, so after a reboot the next number is max(files, hi) + 1.

`inc`, the outbox's incarnation: 8 random hex digits made when the outbox is created (or
its `hi` is lost), kept in `hi` and sent with every message, so the collector dedupes on
(post, inc, dseq): a reflashed board, or one that lost its outbox, starts again at dseq 1
under a new inc and its alarms are not taken for resends of old ones.

Bounded to `cap` messages. When full, the oldest non-alarm event is dropped
first (telemetry never enters the outbox: it is QoS 0 and dropped while
offline); only an outbox full of alarms drops its oldest alarm, and counts it
in `lost` (saved in `hi`, reported in STATE), so no alarm goes silently.
"""
import os

HI = "hi"


class Outbox:
    def __init__(self, path="outbox", cap=200):
        self.path = path
        self.cap = cap
        try:
            os.mkdir(path)
        except OSError:
            pass
        self.items = []  # [seq, kind] oldest first
        hi, self.lost, self.inc = self._read_hi()
        if not self.inc:  # a new outbox (or its hi lost): a new incarnation, saved at once
            self.inc = "%02x%02x%02x%02x" % tuple(os.urandom(4))
            try:
                self._write_hi(hi)
            except OSError:
                pass  # flash full: this boot's inc lives in RAM; the next boot makes a new one
        for name in os.listdir(path):
            seq, kind = _parse(name)
            if seq is None:
                if name != HI:
                    self._rm(name)  # a .tmp left by a power cut: never sent, never acknowledged
                continue
            self.items.append([seq, kind])
            if seq > hi:
                hi = seq
        self.items.sort()
        self.next = hi + 1

    def _file(self, seq, kind):
        return "%s/%08d.%s" % (self.path, seq, kind)

    def _rm(self, name):
        try:
            os.remove(self.path + "/" + name)
        except OSError:
            pass

    def _read_hi(self):
        try:
            with open(self.path + "/" + HI) as f:
                v = f.read().split()
            c = v[2] if len(v) == 3 else ""  # an outbox from before incarnations has none
            if len(c) != 8 or [x for x in c if x not in "0123456789abcdef"]:
                c = ""
            return int(v[0]), int(v[1]), c
        except (OSError, ValueError, IndexError):
            return 0, 0, ""

    def _write_hi(self, hi):
        tmp = self.path + "/hi.tmp"
        with open(tmp, "w") as f:
            f.write("%d %d %s" % (hi, self.lost, self.inc))
        os.rename(tmp, self.path + "/" + HI)

    def __len__(self):
        return len(self.items)

    def alarms(self):
        return sum(1 for s, k in self.items if k == "a")

    def put(self, topic, payload, alarm):
        """Store one message; returns its sequence number once it is safely on flash.

        payload(seq) -> str builds the payload with the sequence number in it.
        """
        if len(self.items) >= self.cap:
            self._evict()
        seq = self.next
        kind = "a" if alarm else "e"
        tmp = self.path + "/new.tmp"
        with open(tmp, "w") as f:
            f.write(topic)
            f.write("\n")
            f.write(payload(seq))
        os.rename(tmp, self._file(seq, kind))
        self.next = seq + 1
        self.items.append([seq, kind])
        return seq

    def _evict(self):
        victim = None
        for it in self.items:
            if it[1] == "e":
                victim = it
                break
        if victim is None:
            victim = self.items[0]
            self.lost += 1
            self._write_hi(max(self.next - 1, 0))
        self._delete(victim)

    def head(self):
        """(seq, topic, payload bytes) of the oldest message, or None."""
        while self.items:
            seq, kind = self.items[0]
            try:
                with open(self._file(seq, kind), "rb") as f:
                    data = f.read()
                i = data.index(b"\n")
                return seq, data[:i].decode(), data[i + 1:]
            except (OSError, ValueError, UnicodeError):
                self.items.pop(0)  # unreadable: skip rather than block the queue forever
        return None

    def ack(self, seq):
        """The broker has the message: forget it."""
        for it in self.items:
            if it[0] == seq:
                self._delete(it)
                return True
        return False

    def _delete(self, it):
        if it[0] == self.next - 1:
            self._write_hi(it[0])  # keep the sequence from going back after a reboot
        os.remove(self._file(it[0], it[1]))
        self.items.remove(it)


def _parse(name):
    if len(name) != 10 or name[8] != "." or name[9] not in "ae":
        return None, None
    try:
        return int(name[:8]), name[9]
    except ValueError:
        return None, None
