"""Live updates for the console: new and cleared alarms and order changes, as server-sent events.

One poller reads what is new in the database (alarm messages and audit rows past the last
id it saw) every `interval` seconds and hands each change to the subscribers allowed to see
it. Reading the database rather than hooking the engine means changes made by any process
(serve's rounds, `lamppost-ops order-update`, another worker) reach every browser.
"""
from __future__ import annotations

import asyncio
import json
import time

from sqlalchemy import func, select

from host_tools.ops import schema as S
from host_tools.ops.engine import iso

from .accounts import User, load_user
from .views import STATES, fleet


class Feed:
    def __init__(self, engine, interval: float = 1.0):
        self.e, self.interval = engine, interval
        self.subs: set[tuple[User, asyncio.Queue]] = set()
        self.last_msg = self.last_audit = None
        self.task = None

    def _cursor(self):
        with self.e.db.connect() as c:
            return (c.execute(select(func.max(S.messages.c.id))).scalar() or 0,
                    c.execute(select(func.max(S.audit.c.id))).scalar() or 0)

    def _changes(self) -> list[tuple[str, str | None, dict]]:
        """(municipality, contractor or None for fleet events, event) of what is new."""
        M, P, A, O = S.messages, S.posts, S.audit, S.orders
        out = []
        with self.e.db.connect() as c:
            for mid, pid, al, st, t, muni in c.execute(
                    select(M.c.id, M.c.post_id, M.c.alarm, M.c.state, M.c.t, P.c.municipality)
                    .join(P, P.c.id == M.c.post_id)
                    .where(M.c.id > self.last_msg, M.c.kind == "alarm").order_by(M.c.id).limit(1000)):
                out.append((muni, None, {"type": "alarm", "post_id": pid, "alarm": al, "state": st,
                                         "t": iso(t)}))
            self.last_msg = max(self.last_msg, c.execute(select(func.max(M.c.id))).scalar() or 0)
            for aid, oid, to, frm, cause, muni, contractor in c.execute(
                    select(A.c.id, A.c.order_id, A.c.to_status, A.c.from_status, A.c.cause,
                           O.c.municipality, O.c.contractor)
                    .join(O, O.c.id == A.c.order_id).where(A.c.id > self.last_audit)
                    .order_by(A.c.id).limit(1000)):
                self.last_audit = max(self.last_audit, aid)
                posts = list(c.execute(select(S.order_alarms.c.post_id).where(
                    S.order_alarms.c.order_id == oid).distinct()).scalars())
                out.append((muni, contractor or "", {"type": "order", "order_id": oid, "status": to,
                                                     "from": frm, "cause": cause[:300], "posts": posts}))
        return out

    def _post_states(self, user: User, pids: set[str]) -> dict[str, str]:
        if not pids:
            return {}
        with self.e.db.connect() as c:
            f = fleet(c, user, self.e.cfg, self.e.clock())["posts"]
        return {p: STATES[s] for p, s in zip(f["id"], f["s"]) if p in pids}

    async def run(self):
        self.last_msg, self.last_audit = await asyncio.to_thread(self._cursor)
        while True:
            await asyncio.sleep(self.interval)
            if not self.subs:
                self.last_msg, self.last_audit = await asyncio.to_thread(self._cursor)
                continue
            try:
                changes = await asyncio.to_thread(self._changes)
            except Exception:  # noqa: BLE001 - a database hiccup: try again next round
                continue
            for user, q in list(self.subs):
                mine = [ev for muni, contractor, ev in changes if muni == user.municipality and (
                    user.role != "contractor" or (contractor is not None and contractor == user.contractor))]
                if user.role == "contractor":
                    mine = [ev for ev in mine if ev["type"] == "order"]
                if mine and user.can_read_fleet:
                    pids = {ev["post_id"] for ev in mine if ev["type"] == "alarm"}
                    pids |= {p for ev in mine if ev["type"] == "order" for p in ev["posts"]}
                    states = await asyncio.to_thread(self._post_states, user, pids) if pids else {}
                    for ev in mine:
                        q.put_nowait(ev | {"post_states": {p: states[p] for p in
                                                           ([ev["post_id"]] if ev["type"] == "alarm"
                                                            else ev["posts"]) if p in states}})
                else:
                    for ev in mine:
                        q.put_nowait(ev)

    def start(self):
        if self.task is None:
            self.task = asyncio.get_running_loop().create_task(self.run())

    def _still(self, user: User, session_gen: int | None) -> bool:
        """The account is still enabled with the same role and municipality, and a stream opened
        with a session cookie still has a current session (no logout or password change since)."""
        return load_user(self.e.db, user.id, session_gen) == user

    async def stream(self, user: User, session_gen: int | None = None):
        """The user's events; the stream ends once the account is disabled or changed, or (given
        the session's generation) its session ended; checked before each event and keep-alive,
        as its page requests then answer 401."""
        q: asyncio.Queue = asyncio.Queue(maxsize=10000)
        item = (user, q)
        self.subs.add(item)
        try:
            yield {"event": "hello", "data": '{"type": "hello", "at": %d}' % int(time.time())}
            while True:
                try:
                    ev = await asyncio.wait_for(q.get(), timeout=15)
                except asyncio.TimeoutError:
                    ev = None
                if not await asyncio.to_thread(self._still, user, session_gen):
                    return
                if ev is None:
                    yield {"comment": "keep-alive"}
                    continue
                yield {"event": ev["type"], "data": json.dumps(ev)}
        finally:
            self.subs.discard(item)
