"""The collector's SQLite register: each post's last state and every event, deduplicated.

Events (alarms, switches, boots) carry a per-device sequence number `dseq`;
(device, dseq) is the primary key, so a message the post resent after a lost
PUBACK is counted as a duplicate and stored once. `arrival` keeps the order in
which messages came, so delivery order can be checked against dseq order.
"""
from __future__ import annotations

import json
import sqlite3
import threading
import time

SCHEMA = """
CREATE TABLE IF NOT EXISTS posts (
    id TEXT PRIMARY KEY, lwt TEXT, state TEXT, sensor TEXT, updated REAL, duplicates INTEGER DEFAULT 0
);
CREATE TABLE IF NOT EXISTS events (
    arrival INTEGER PRIMARY KEY AUTOINCREMENT,
    device TEXT NOT NULL, dseq INTEGER NOT NULL, ev TEXT, alarm TEXT, state TEXT, t TEXT,
    payload TEXT, received REAL, UNIQUE (device, dseq)
);
CREATE TABLE IF NOT EXISTS results (device TEXT, payload TEXT, received REAL);
"""


class Register:
    """Thread-safe: the MQTT thread writes while a reader asks."""

    def __init__(self, path: str = ":memory:"):
        self.db = sqlite3.connect(path, check_same_thread=False)
        self.db.executescript(SCHEMA)
        self.lock = threading.Lock()
        self.rejected = 0  # messages that were not understood

    def _post(self, dev: str) -> None:
        self.db.execute("INSERT OR IGNORE INTO posts (id) VALUES (?)", (dev,))

    def handle(self, topic: str, payload: bytes) -> None:
        """Store one MQTT message; anything malformed is counted, never raised."""
        parts = topic.split("/")
        if len(parts) != 3:
            return
        prefix, dev, leaf = parts
        try:
            text = payload.decode()
        except UnicodeDecodeError:
            self.rejected += 1
            return
        try:  # whatever a message holds, it is counted, never raised (the listener lives on)
            with self.lock, self.db:
                now = time.time()
                if prefix == "tele" and leaf == "LWT":
                    self._post(dev)
                    self.db.execute("UPDATE posts SET lwt=?, updated=? WHERE id=?", (text, now, dev))
                elif prefix == "tele" and leaf in ("STATE", "SENSOR"):
                    self._post(dev)
                    self.db.execute(f"UPDATE posts SET {leaf.lower()}=?, updated=? WHERE id=?",
                                    (text, now, dev))
                elif prefix == "stat" and leaf in ("ALARM", "EVENT"):
                    try:
                        d = json.loads(text)
                        dseq = int(d["dseq"])
                    except (ValueError, KeyError, TypeError, OverflowError, RecursionError):  # 1e400, deep nesting
                        self.rejected += 1
                        return
                    self._post(dev)
                    cur = self.db.execute(
                        "INSERT OR IGNORE INTO events (device, dseq, ev, alarm, state, t, payload, "
                        "received) VALUES (?,?,?,?,?,?,?,?)",
                        (dev, dseq, d.get("ev"), d.get("alarm"), d.get("state"), d.get("t"), text, now))
                    if cur.rowcount == 0:
                        self.db.execute("UPDATE posts SET duplicates = duplicates + 1 WHERE id=?",
                                        (dev,))
                elif prefix == "stat" and leaf == "RESULT":
                    self.db.execute("INSERT INTO results VALUES (?,?,?)", (dev, text, now))
        except (ValueError, TypeError, OverflowError, RecursionError, sqlite3.Error):
            self.rejected += 1

    def posts(self) -> list[dict]:
        with self.lock:
            rows = self.db.execute(
                "SELECT id, lwt, state, sensor, duplicates, "
                "(SELECT COUNT(*) FROM events e WHERE e.device = p.id AND e.ev = 'alarm'), "
                "(SELECT MAX(dseq) FROM events e WHERE e.device = p.id) FROM posts p ORDER BY id"
            ).fetchall()
        out = []
        for pid, lwt, state, sensor, dups, alarms, last in rows:
            st = json.loads(state) if state else {}
            se = json.loads(sensor) if sensor else {}
            out.append({"id": pid, "online": lwt, "alarms": alarms, "last_dseq": last,
                        "duplicates": dups, "state": st, "energy": se.get("ENERGY", {})})
        return out

    def events(self, device: str | None = None, alarms_only: bool = True) -> list[dict]:
        q = "SELECT arrival, device, dseq, ev, alarm, state, t FROM events"
        cond, args = [], []
        if alarms_only:
            cond.append("ev = 'alarm'")
        if device:
            cond.append("device = ?")
            args.append(device)
        if cond:
            q += " WHERE " + " AND ".join(cond)
        with self.lock:
            rows = self.db.execute(q + " ORDER BY device, dseq", args).fetchall()
        keys = ("arrival", "device", "dseq", "ev", "alarm", "state", "t")
        return [dict(zip(keys, r)) for r in rows]

    def results(self) -> list[dict]:
        with self.lock:
            rows = self.db.execute("SELECT device, payload FROM results ORDER BY rowid").fetchall()
        return [{"device": d, **json.loads(p)} for d, p in rows]

    def close(self) -> None:
        self.db.close()
