"""Persisted event log: a bounded ring of the last ~2 x PER_FILE events on flash.

Entries are JSON lines `[seq, t, kind, text]` appended to one of two files;
when the current file is full the other is emptied and becomes current, so
the log holds between PER_FILE and 2 x PER_FILE entries and never grows.

Flash wear budget: entries are buffered in RAM and appended at most once per
_FLUSH_S (60 s) in normal running; an urgent entry (boot, alarm raised) is
written at once unless the last write was under _MIN_GAP_S (10 s) ago. That
is <= 1,440 small appends a day steady state, <= 8,640 in an alarm storm;
LittleFS spreads them over the whole partition. The cost: a power cut loses
at most the last minute of non-urgent entries (switches, config, logins).
"""
import sys
from micropython import const

PER_FILE = const(64)
_FLUSH_S = const(60)
_MIN_GAP_S = const(10)
_MAX_PENDING = const(32)


def _io():
    """The flash side (eventlog_io), loaded for one use and dropped: RAM is scarce."""
    import lamppost.eventlog_io as io
    return io


def _drop():
    sys.modules.pop("lamppost.eventlog_io", None)
    try:
        delattr(sys.modules["lamppost"], "eventlog_io")
    except (AttributeError, KeyError):
        pass


class EventLog:
    def __init__(self, prefix="events"):
        self.paths = (prefix + "0.log", prefix + "1.log")
        self.pending = []
        self.first_pending = 0
        self.last_flush = -_MIN_GAP_S
        self.writes = 0  # appends to flash since boot (for the wear budget)
        self.dropped = 0
        self.cur = self.n = self.seq = 0
        self.last_t = None  # time of the newest entry on flash at boot (None: empty log)
        _io().scan(self)
        _drop()

    def add(self, now, kind, text, urgent=False):
        """Record one event; written to flash per the wear budget (see module doc)."""
        if len(self.pending) >= _MAX_PENDING:
            self.pending.pop(0)
            self.dropped += 1
        if not self.pending:
            self.first_pending = now
        self.pending.append([self.seq, now, kind, text])
        self.seq += 1
        if urgent and now - self.last_flush >= _MIN_GAP_S:
            self.flush(now)

    def tick(self, now):
        """Call once a tick: writes buffered entries once they are _FLUSH_S old."""
        if self.pending and (now - self.first_pending >= _FLUSH_S or now < self.first_pending):
            self.flush(now)

    def flush(self, now):
        if self.pending:
            self.last_flush = now
            try:
                _io().append(self, PER_FILE)
            except MemoryError:
                pass  # keep the entries; the next tick tries again
            _drop()

    def tail(self, n):
        """The last n entries, oldest first, including those not yet on flash."""
        try:
            return _io().tail(self, n)
        finally:
            _drop()
