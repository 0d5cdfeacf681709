"""Shared helpers for the operations tests: a register, a virtual clock, messages as posts send them."""
from __future__ import annotations

import json
import time
from pathlib import Path

from host_tools.ops import config, db, register
from host_tools.ops.engine import Engine
from host_tools.ops.ingest import parse

T0 = 1_768_500_000  # 2026-01-15T18:00:00Z, a winter evening


def iso(t: int) -> str:
    from host_tools.ops.engine import iso as _iso
    return _iso(t)


class Clock:
    """The service's clock, moved by the test."""

    def __init__(self, t: float = T0):
        self.t = float(t)

    def __call__(self) -> float:
        return self.t


def write_register(path: Path, posts: list[dict]) -> Path:
    cols = ["id", "municipality", "street", "light_point", "cabinet", "contractor", "lat", "lon"]
    lines = [",".join(cols)] + [",".join(str(p.get(c, "")) for c in cols) for p in posts]
    path.write_text("\n".join(lines) + "\n")
    return path


def town(n: int = 6, cabinet_of=lambda i: "K1" if i < 4 else "K2") -> list[dict]:
    """n posts along one street, 30 m apart, on two cabinets."""
    return [{"id": f"HT-{i:04d}", "municipality": "houten", "street": "Lindelaan",
             "light_point": f"LP{i:03d}", "cabinet": cabinet_of(i), "contractor": "citytec",
             "lat": round(52.03 + i * 0.00027, 6), "lon": 5.16} for i in range(n)]


def reset(eng) -> None:
    """Empty every table (a fresh database for the next hypothesis example, without migrating)."""
    from host_tools.ops import schema
    with eng.begin() as c:
        for t in reversed(schema.metadata.sorted_tables):
            c.execute(t.delete())


def make_engine(db_url, tmp_path: Path, posts: list[dict] | None = None,
                cfg: dict | None = None, clock: Clock | None = None) -> Engine:
    """An engine on db_url (or on an open SQLAlchemy engine) with the town's register imported."""
    eng = db.open_db(db_url) if isinstance(db_url, str) else db_url
    register.import_file(eng, write_register(tmp_path / "reg.csv", posts if posts is not None else town()))
    return Engine(eng, config.parse(cfg or {"municipality": {"houten": {"name": "Houten"}}}),
                  clock or Clock())


class Post:
    """Messages one post would publish, through the service's own parser."""

    def __init__(self, engine: Engine, pid: str, inc: int = 1):
        self.e, self.id, self.inc, self.dseq = engine, pid, inc, 0

    def _send(self, topic: str, payload: dict | str):
        body = payload if isinstance(payload, str) else json.dumps(payload)
        return self.e.ingest(*parse(topic, body.encode()))

    def alarm(self, name: str, state: str, t: int):
        self.dseq += 1
        return self._send(f"stat/{self.id}/ALARM", {"t": iso(t), "id": self.id, "ev": "alarm",
                          "alarm": name, "state": state, "dseq": self.dseq, "inc": "%08x" % self.inc})

    def switch(self, on: bool, t: int):
        self.dseq += 1
        return self._send(f"stat/{self.id}/EVENT", {"t": iso(t), "id": self.id, "ev": "switch",
                          "lamp": "on" if on else "off", "dseq": self.dseq, "inc": "%08x" % self.inc})

    def state(self, t: int):
        return self._send(f"tele/{self.id}/STATE", {"Time": iso(t), "UptimeSec": 1})

    def lwt(self, online: bool):
        return self._send(f"tele/{self.id}/LWT", "Online" if online else "Offline")


def wait_for(cond, timeout: float = 150.0, what: str = "condition"):
    """cond()'s first true value, polled every 0.2 s; a generous timeout, since a test must
    pass on a busy machine (it waits on the condition, never on a guess of the time)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = cond()
        if v:
            return v
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")
