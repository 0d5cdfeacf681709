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

Nothing on flash is trusted. A message file that cannot be sent (unreadable,
a directory, over _MAX_FILE bytes, not UTF-8, a topic that is empty, too long
or holds a wildcard, a payload that is not a JSON object) is moved aside to
`<path>.q/` (at most _QMAX kept, then deleted), counted in `bad` and named in
`news` for the owner to report once; the queue goes on behind it.

A full (or failing) flash: put() keeps the message in RAM instead (`[seq,
kind, bytes]` items, at most _RAM of them; `full` is set until a write works
again). When RAM is full the oldest RAM event goes first, a new event is
refused before any alarm, and only a RAM queue of alarms drops its oldest
alarm (counted in `lost`). RAM messages are lost on a power cut.
"""
import os
from micropython import const

HI = "hi"
_MAX_FILE = const(2300)  # topic + payload bytes; the firmware writes ~300
_RAM = const(10)  # messages kept in RAM while the flash cannot be written
_QMAX = const(8)  # quarantined files kept for a technician


class Outbox:
    def __init__(self, path="outbox", cap=200):
        self.path = path
        self.cap = cap
        self.bad = 0  # messages quarantined
        self.news = []  # what was quarantined and why, for the owner to report once
        self.full = False  # the last write failed: new messages wait in RAM
        self.items = []  # [seq, kind] (or [seq, kind, bytes] in RAM) oldest first
        try:
            names = _names(path)
        except OSError:  # `path` is a file, or unreadable: set it aside, start again
            self._aside(path, path + ".bad", "not a directory")
            try:
                names = _names(path)
            except OSError:
                names = ()
                self.full = True
        hi, self.lost, self.inc = self._read_hi()
        if not self.inc:  # a new outbox (or its hi lost): a new incarnation, saved at once
            self.inc = "%02x%02x%02x%02x" % tuple(os.urandom(4))
            self._write_hi(hi)  # flash full: this boot's inc lives in RAM; the next makes anew
        for name in names:
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
        for rm in (os.remove, os.rmdir):  # a directory where a file belongs, too
            try:
                rm(self.path + "/" + name)
                return
            except OSError:
                pass

    def _read_hi(self):
        try:
            with open(self.path + "/" + HI) as f:
                v = f.read(40).split()
            a, b = int(v[0]), int(v[1])
            c = v[2] if len(v) == 3 else ""  # an outbox from before incarnations has none
            if len(c) != 8 or [x for x in c if x not in "0123456789abcdef"]:
                c = ""
            if 0 <= a < 99999990 and 0 <= b < 1 << 30:
                return a, b, c
        except (OSError, ValueError, UnicodeError, IndexError):
            pass
        return 0, 0, ""

    def _write_hi(self, hi):
        tmp = self.path + "/hi.tmp"
        try:
            with open(tmp, "w") as f:
                f.write("%d %d %s" % (hi, self.lost, self.inc))
            os.rename(tmp, self.path + "/" + HI)
        except OSError:  # full flash: the number is still right in RAM
            self.full = True

    def __len__(self):
        return len(self.items)

    def alarms(self):
        return sum(1 for it in self.items if it[1] == "a")

    def ram(self):
        return sum(1 for it in self.items if len(it) > 2)

    def _aside(self, src, dst, why):
        """Quarantine: move src to dst (or delete it), count and tell the owner."""
        self.bad += 1
        if len(self.news) < 5:
            self.news.append("outbox: %s %s, set aside" % (src, why))
        try:
            os.rename(src, dst)
            return
        except (OSError, TypeError):  # dst None: no room in quarantine
            pass
        for rm in (os.remove, os.rmdir):
            try:
                rm(src)
                return
            except OSError:
                pass

    def put(self, topic, payload, alarm):
        """Store one message; returns its sequence number once it is safely on flash.

        payload(seq) -> str builds the payload with the sequence number in it.
        """
        if len(self.items) >= self.cap:
            self._evict()
        seq = self.next
        kind = "a" if alarm else "e"
        tmp = self.path + "/new.tmp"
        it = [seq, kind]
        try:
            with open(tmp, "w") as f:
                f.write(topic)
                f.write("\n")
                f.write(payload(seq))
            os.rename(tmp, self._file(seq, kind))
            self.full = False
        except OSError:  # flash full: keep it in RAM (lost on a power cut, sent if not)
            self.full = True
            try:
                os.remove(tmp)
            except OSError:
                pass
            if not self._ram_room(alarm):
                return None
            it.append((topic + "\n" + payload(seq)).encode())
        self.next = seq + 1
        self.items.append(it)
        return seq

    def _ram_room(self, alarm):
        """Make room for one more RAM message; False if a new event must be dropped instead."""
        ram = [it for it in self.items if len(it) > 2]
        if len(ram) < _RAM:
            return True
        for it in ram:
            if it[1] == "e":
                self.items.remove(it)
                return True
        if not alarm:
            return False  # never drop an alarm for an event
        self.items.remove(ram[0])
        self.lost += 1
        return True

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
        """(seq, topic, payload bytes) of the oldest message that can be sent, or None;
        the unsendable ones before it are quarantined (see above), a few a call so that the
        owner reports each (news) before more come."""
        while self.items and len(self.news) < 4:
            it = self.items[0]
            seq, kind = it[0], it[1]
            name = self._file(seq, kind)
            why = None
            data = b""
            try:
                if len(it) > 2:
                    data = it[2]
                else:
                    n = os.stat(name)[6]
                    if n > _MAX_FILE:
                        why = "too large"
                    else:
                        with open(name, "rb") as f:
                            data = f.read(n)
                if why is None:
                    i = data.find(b"\n")
                    topic = data[:i].decode() if i > 0 else ""
                    p = data[i + 1:]
                    why = _unsendable(topic, p)
                    if why is None:
                        return seq, topic, p
            except OSError:
                why = "unreadable"
            except (ValueError, UnicodeError):
                why = "topic not UTF-8"
            self.items.pop(0)
            if len(it) > 2:
                continue
            try:
                os.mkdir(self.path + ".q")
            except OSError:
                pass
            try:
                kept = len(os.listdir(self.path + ".q"))
            except OSError:
                kept = _QMAX
            self._aside(name, "%s.q/%08d.%s" % (self.path, seq, kind) if kept < _QMAX else None,
                        why)
        return None

    def ack(self, seq):
        """The broker has the message: forget it."""
        for it in self.items:
            if it[0] == seq:
                self._delete(it)
                return True
        return False

    def _delete(self, it):
        if len(it) < 3:
            if it[0] == self.next - 1:
                self._write_hi(it[0])  # keep the sequence from going back after a reboot
            try:
                os.remove(self._file(it[0], it[1]))
            except OSError:
                pass
        self.items.remove(it)


def _names(path):
    try:
        os.mkdir(path)
    except OSError:
        pass
    return os.listdir(path)


def _unsendable(topic, payload):
    """Why a stored message cannot be published, or None."""
    if not 0 < len(topic) <= 128 or "+" in topic or "#" in topic or "\0" in topic:
        return "topic %r invalid" % topic[:40]
    if payload[:1] != b"{" or payload[-1:] != b"}":
        return "payload not a JSON object"
    return None


def _parse(name):
    if len(name) != 10 or name[8] != "." or name[9] not in "ae" or not name[:8].isdigit():
        return None, None
    return int(name[:8]), name[9]
