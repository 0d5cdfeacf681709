"""The collector's SQLite register: each post's last state and every event, deduplicated.

Every message passes host_tools/collector/validate.py first; what it rejects goes to the
`quarantine` table (topic, the first QUARANTINE_PREFIX bytes of the payload, its size, the
reason, the time) with a log line, and is never stored as data. What is stored is the
validated JSON, so readers can trust it; readers still tolerate rows an older collector
stored unchecked (they show them as empty, never fail).

Events (alarms, switches, boots) carry the outbox's incarnation `inc` (made when a post's
outbox is created, so it changes when a board is reflashed or loses its outbox) and its
sequence number `dseq`. A message with the same (device, inc, dseq) and the same content is
a resend after a lost PUBACK: counted as a duplicate, stored once. The same key with other
content is stored too and both rows are flagged `conflict` (a post cannot send that; someone
else published under its id), never dropped. `arrival` keeps the order messages came in.
"""
from __future__ import annotations

import hashlib
import json
import logging
import sqlite3
import threading
import time

from host_tools.collector.validate import Reject, validate

log = logging.getLogger("lamppost.collector")

QUARANTINE_MAX = 10_000  # rows kept; older ones go (a flood cannot fill the disk)
QUARANTINE_PREFIX = 256  # bytes of a rejected payload kept for a look
LOG_BURST = 20  # quarantine log lines per LOG_WINDOW seconds; beyond that one summary line
LOG_WINDOW = 60.0

SCHEMA = """
CREATE TABLE IF NOT EXISTS posts (
    id TEXT PRIMARY KEY, lwt TEXT, state TEXT, sensor TEXT, updated REAL, duplicates INTEGER DEFAULT 0
);
CREATE TABLE IF NOT EXISTS results (device TEXT, payload TEXT, received REAL);
CREATE TABLE IF NOT EXISTS quarantine (
    id INTEGER PRIMARY KEY AUTOINCREMENT, topic TEXT, payload BLOB, size INTEGER, reason TEXT,
    received REAL
);
"""
EVENTS = """
CREATE TABLE IF NOT EXISTS events (
    arrival INTEGER PRIMARY KEY AUTOINCREMENT,
    device TEXT NOT NULL, inc TEXT NOT NULL DEFAULT '', dseq INTEGER NOT NULL,
    ev TEXT, alarm TEXT, state TEXT, t TEXT, payload TEXT, digest TEXT NOT NULL DEFAULT '',
    conflict INTEGER NOT NULL DEFAULT 0, received REAL,
    UNIQUE (device, inc, dseq, digest)
);
"""


class StoreError(RuntimeError):
    """The register cannot be written (disk full, locked, corrupt): fatal for a listener."""


def _digest(data) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def _obj(text) -> dict:
    """A stored JSON object, or {} for anything else an older collector may have stored."""
    if not isinstance(text, str):
        return {}
    try:
        v = json.loads(text)
    except (ValueError, RecursionError):
        return {}
    return v if isinstance(v, dict) else {}


def _scalar(v):
    """A column value as a reader can print and dump it (old rows may hold anything)."""
    if v is None or isinstance(v, (int, str)):
        return v
    if isinstance(v, float):
        return v if v == v and v not in (float("inf"), float("-inf")) else str(v)
    return str(v)


class Register:
    """Thread-safe: the MQTT thread writes while a reader asks."""

    def __init__(self, path: str = ":memory:", timeout: float = 5.0):
        self.db = sqlite3.connect(path, check_same_thread=False, timeout=timeout)
        self.lock = threading.Lock()
        with self.lock, self.db:
            self.db.executescript(SCHEMA)
            self._migrate()
        self.rejected = 0  # messages quarantined by this process
        self._log_window = (0.0, 0)  # (window start, lines logged in it)
        self._log_held = 0

    def _migrate(self) -> None:
        """Events of a register from before incarnations: keyed (device, '', dseq), kept."""
        cols = [r[1] for r in self.db.execute("PRAGMA table_info(events)")]
        if cols and "inc" not in cols:
            self.db.execute("ALTER TABLE events RENAME TO events_v1")
            self.db.executescript(EVENTS)
            for row in self.db.execute("SELECT arrival, device, dseq, ev, alarm, state, t, payload, "
                                       "received FROM events_v1").fetchall():
                d = _obj(row[7])
                self.db.execute(
                    "INSERT OR IGNORE INTO events (arrival, device, inc, dseq, ev, alarm, state, t, "
                    "payload, digest, received) VALUES (?,?,'',?,?,?,?,?,?,?,?)",
                    (*row[:8], _digest(d) if d else _digest(str(row[7])), row[8]))
            self.db.execute("DROP TABLE events_v1")
        else:
            self.db.executescript(EVENTS)

    def _post(self, dev: str) -> None:
        self.db.execute("INSERT OR IGNORE INTO posts (id) VALUES (?)", (dev,))

    def handle(self, topic: str, payload: bytes):
        """Store one MQTT message: (kind, post, data) when stored or a duplicate, None when it
        went to quarantine. Raises StoreError only when the register cannot be written."""
        try:
            kind, dev, data = validate(topic, payload)
        except Reject as e:
            self.quarantine(topic, payload, e.reason)
            return None
        except Exception as e:  # a validator bug must not kill the listener either
            log.exception("validator failed on %r", str(topic)[:80])
            self.quarantine(topic, payload, f"validator error: {type(e).__name__}")
            return None
        try:
            with self.lock, self.db:
                self._store(kind, dev, data, time.time())
        except (sqlite3.IntegrityError, sqlite3.InterfaceError, sqlite3.DataError, OverflowError,
                TypeError, ValueError) as e:  # this message's data, not the register: quarantine
            log.exception("cannot store a validated message from %r", str(topic)[:80])
            self.quarantine(topic, payload, f"cannot store: {type(e).__name__}: {e}"[:200])
            return None
        except sqlite3.Error as e:
            raise StoreError(f"register cannot be written: {e}") from e
        return kind, dev, data

    def _store(self, kind: str, dev: str, data, now: float) -> None:
        self._post(dev)
        if kind == "lwt":
            self.db.execute("UPDATE posts SET lwt=?, updated=? WHERE id=?", (data, now, dev))
        elif kind in ("state", "sensor"):
            self.db.execute(f"UPDATE posts SET {kind}=?, updated=? WHERE id=?",
                            (json.dumps(data), now, dev))
        elif kind in ("alarm", "event"):
            inc, dseq, dig = data.get("inc", ""), data["dseq"], _digest(data)
            cur = self.db.execute(
                "INSERT OR IGNORE INTO events (device, inc, dseq, ev, alarm, state, t, payload, "
                "digest, received) VALUES (?,?,?,?,?,?,?,?,?,?)",
                (dev, inc, dseq, data["ev"], data.get("alarm"), data.get("state"), data.get("t"),
                 json.dumps(data), dig, now))
            if cur.rowcount == 0:
                self.db.execute("UPDATE posts SET duplicates = duplicates + 1 WHERE id=?", (dev,))
                return
            same = self.db.execute("SELECT COUNT(*) FROM events WHERE device=? AND inc=? AND dseq=?",
                                   (dev, inc, dseq)).fetchone()[0]
            if same > 1:
                self.db.execute("UPDATE events SET conflict=1 WHERE device=? AND inc=? AND dseq=?",
                                (dev, inc, dseq))
                log.warning("conflict: %s sent (inc %r, dseq %d) twice with other content; "
                            "both kept and flagged", dev, inc, dseq)
        else:
            self.db.execute("INSERT INTO results VALUES (?,?,?)", (dev, json.dumps(data), now))

    def quarantine(self, topic, payload, reason: str) -> None:
        """Keep a rejected message's topic, payload prefix, size and reason; log it."""
        self.rejected += 1
        t = str(topic)[:256]
        raw = bytes(payload) if isinstance(payload, (bytes, bytearray)) else str(payload).encode()
        now = time.time()
        try:
            with self.lock, self.db:
                cur = self.db.execute(
                    "INSERT INTO quarantine (topic, payload, size, reason, received) VALUES (?,?,?,?,?)",
                    (t, raw[:QUARANTINE_PREFIX], len(raw), reason, now))
                self.db.execute("DELETE FROM quarantine WHERE id <= ?",
                                (cur.lastrowid - QUARANTINE_MAX,))
        except sqlite3.Error as e:
            raise StoreError(f"register cannot be written: {e}") from e
        start, n = self._log_window
        if now - start > LOG_WINDOW:
            if self._log_held:
                log.warning("%d more messages quarantined (not logged one by one)", self._log_held)
            start, n, self._log_held = now, 0, 0
        if n < LOG_BURST:
            log.warning("quarantined %r (%d bytes): %s", t[:80], len(raw), reason)
            n += 1
        else:
            self._log_held += 1
        self._log_window = (start, n)

    def quarantined(self, limit: int = 100) -> list[dict]:
        """The newest rejected messages, newest first."""
        with self.lock:
            rows = self.db.execute("SELECT id, topic, payload, size, reason, received FROM quarantine "
                                   "ORDER BY id DESC LIMIT ?", (limit,)).fetchall()
        keys = ("id", "topic", "payload", "size", "reason", "received")
        out = []
        for r in rows:
            d = dict(zip(keys, r))
            p = d["payload"]
            d["payload"] = (p if isinstance(p, bytes) else str(p).encode()).decode("utf-8", "backslashreplace")
            d["topic"] = _scalar(d["topic"])
            out.append(d)
        return out

    def posts(self) -> list[dict]:
        with self.lock:
            rows = self.db.execute(
                "SELECT id, lwt, state, sensor, duplicates, "
                "(SELECT COUNT(*) FROM events e WHERE e.device = p.id AND e.ev = 'alarm'), "
                "(SELECT MAX(dseq) FROM events e WHERE e.device = p.id AND e.inc = "
                " (SELECT inc FROM events l WHERE l.device = p.id ORDER BY arrival DESC LIMIT 1)), "
                "(SELECT COUNT(*) FROM events e WHERE e.device = p.id AND e.conflict) "
                "FROM posts p ORDER BY id"
            ).fetchall()
        out = []
        for pid, lwt, state, sensor, dups, alarms, last, conflicts in rows:
            energy = _obj(sensor).get("ENERGY")
            out.append({"id": _scalar(pid), "online": _scalar(lwt), "alarms": alarms,
                        "last_dseq": _scalar(last), "duplicates": _scalar(dups),
                        "conflicts": conflicts, "state": _obj(state),
                        "energy": energy if isinstance(energy, dict) else {}})
        return out

    def events(self, device: str | None = None, alarms_only: bool = True) -> list[dict]:
        """Events per device, each incarnation in the order it first arrived, then by dseq."""
        q = ("SELECT arrival, device, inc, dseq, ev, alarm, state, t, conflict FROM events e")
        cond, args = [], []
        if alarms_only:
            cond.append("ev = 'alarm'")
        if device:
            cond.append("device = ?")
            args.append(device)
        if cond:
            q += " WHERE " + " AND ".join(cond)
        q += (" ORDER BY device, (SELECT MIN(arrival) FROM events f WHERE f.device = e.device "
              "AND f.inc = e.inc), dseq, arrival")
        with self.lock:
            rows = self.db.execute(q, args).fetchall()
        keys = ("arrival", "device", "inc", "dseq", "ev", "alarm", "state", "t", "conflict")
        return [{k: _scalar(v) for k, v in zip(keys, r)} for r in rows]

    def results(self) -> list[dict]:
        with self.lock:
            rows = self.db.execute("SELECT device, payload FROM results ORDER BY rowid").fetchall()
        return [{"device": _scalar(d), **_obj(p)} for d, p in rows]

    def close(self) -> None:
        self.db.close()
