"""Persisted event log: a bounded ring of the last ~2 x PER_FILE events on flash.

Entries are JSON lines `[seq, t, kind, text]` appended to one of two files;
when the current file is full the other is emptied and becomes current, so
the log holds between PER_FILE and 2 x PER_FILE entries and never grows.

Flash wear budget: entries are buffered in RAM and appended at most once per
FLUSH_S (60 s) in normal running; an urgent entry (boot, alarm raised) is
written at once unless the last write was under MIN_GAP_S (10 s) ago. That
is <= 1,440 small appends a day steady state, <= 8,640 in an alarm storm;
LittleFS spreads them over the whole partition. The cost: a power cut loses
at most the last minute of non-urgent entries (switches, config, logins).
"""
import json
from micropython import const

PER_FILE = const(64)
FLUSH_S = const(60)
MIN_GAP_S = const(10)
MAX_PENDING = const(32)


class EventLog:
    def __init__(self, prefix="events"):
        self.paths = (prefix + "0.log", prefix + "1.log")
        self.pending = []
        self.first_pending = 0
        self.last_flush = -MIN_GAP_S
        self.writes = 0  # appends to flash since boot (for the wear budget)
        self.dropped = 0
        last = [-1, -1]
        counts = [0, 0]
        for i in (0, 1):
            for e in self._read(self.paths[i]):
                counts[i] += 1
                last[i] = e[0]
        self.cur = 0 if last[0] >= last[1] else 1
        self.n = counts[self.cur]
        self.seq = max(last) + 1

    @staticmethod
    def _read(path):
        """The valid entries of one file; a torn last line (power cut) is skipped."""
        try:
            f = open(path)
        except OSError:
            return
        with f:
            for line in f:
                try:
                    e = json.loads(line)
                except ValueError:
                    continue
                if isinstance(e, list) and len(e) == 4 and isinstance(e[0], int):
                    yield e

    def add(self, now, kind, text, urgent=False):
        """Record one event; written to flash per the wear budget (see module doc)."""
        if len(self.pending) >= MAX_PENDING:
            self.pending.pop(0)
            self.dropped += 1
        if not self.pending:
            self.first_pending = now
        self.pending.append([self.seq, now, kind, text])
        self.seq += 1
        if urgent and now - self.last_flush >= MIN_GAP_S:
            self.flush(now)

    def tick(self, now):
        """Call once a tick: writes buffered entries once they are FLUSH_S old."""
        if self.pending and (now - self.first_pending >= FLUSH_S or now < self.first_pending):
            self.flush(now)

    def flush(self, now):
        if not self.pending:
            return
        try:
            with open(self.paths[self.cur], "a") as f:
                for e in self.pending:
                    f.write(json.dumps(e))
                    f.write("\n")
            self.n += len(self.pending)
            self.pending = []
            self.writes += 1
        except OSError:
            pass  # flash full or failing: keep the entries in RAM, try again later
        self.last_flush = now
        if self.n >= PER_FILE:
            self.cur ^= 1
            self.n = 0
            try:
                open(self.paths[self.cur], "w").close()
            except OSError:
                pass

    def tail(self, n):
        """The last n entries, oldest first, including those not yet on flash."""
        out = []
        for i in (self.cur ^ 1, self.cur):
            for e in self._read(self.paths[i]):
                out.append(e)
                if len(out) > n:
                    out.pop(0)
        out.extend(self.pending)
        return out[-n:] if n > 0 else []
