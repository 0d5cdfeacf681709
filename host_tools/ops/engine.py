"""The work-order engine: alarms from posts in, orders with a lifecycle and an audit trail out.

Rules (defaults and arguments: docs/operations.md "Rules"; values per municipality in
the config):
- one open order per subject (post or cabinet) and fault class: the database holds
  `open_slot` UNIQUE, so even two workers cannot open a second one; repeats attach;
- a relay fault explains its post's lamp-out and day-burning alarms: one relay order,
  whichever is judged first (a late relayFailure takes the lamp order over); one post's
  alarms are judged one at a time (the post's lock), so two workers agree;
- persistence: an alarm opens an order only once it has stayed raised `persist_s` by
  the post's own clock; one that clears first opens nothing;
- supply grouping: dark or supply alarms of `group_min` posts on one cabinet (or within
  `radius_m` where no cabinet is known) raised within `group_window_s` are one order in
  the supply category; `adjacent_dark` of them within `adjacent_m` make it priority 1.
  The group is decided in one transaction holding the group's lock row;
- silence: no message for `silent_s` or LWT Offline for `offline_s` (the service's
  clock: a silent post has none) is a communication order;
- lifecycle opened -> dispatched -> acknowledged -> repaired -> verified | not_verified;
  recurrence within `recurrence_s` of a verification opens a repeat; every transition
  goes to the audit table with the time and the cause.
Every rule on alarms judges on the post's `t`, never on arrival: a 24 h outbox backlog
is judged as it happened.
"""
from __future__ import annotations

import math
import time
import uuid
from datetime import datetime, timezone

from sqlalchemy import Connection, and_, func, insert, or_, select, update

from host_tools.ops import schema as S
from host_tools.ops import telemetry
from host_tools.ops.config import CATEGORIES, FAULT_CLASS, GROUPABLE, PRIORITY, Config

OPEN = ("opened", "dispatched", "acknowledged", "repaired", "not_verified")
# a relayFailure this long after a lamp order's first alarm is not that order's fault (the
# relay fault raises both within a tick; its reports may reach the database hours apart)
SAME_FAULT_S = 3600
NEXT = {  # allowed lifecycle transitions
    "opened": {"dispatched", "acknowledged", "repaired", "merged"},
    "dispatched": {"acknowledged", "repaired"},
    "acknowledged": {"repaired"},
    "repaired": {"verified", "not_verified"},
    "not_verified": {"dispatched", "acknowledged", "repaired"},
}


def iso(t: int | None) -> str:
    return "" if t is None else datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def metres(a_lat, a_lon, b_lat, b_lon) -> float:
    """Great-circle distance (haversine), metres."""
    p1, p2 = math.radians(a_lat), math.radians(b_lat)
    dp, dl = p2 - p1, math.radians(b_lon - a_lon)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6371000 * math.asin(min(1.0, math.sqrt(h)))


class Engine:
    """All state lives in the database; an Engine object holds only the config and a clock,
    so several may run against one database."""

    def __init__(self, eng, cfg: Config, clock=time.time):
        self.db = eng
        self.cfg = cfg
        self.clock = clock
        self.parts = telemetry.Partitions()  # day partitions known to exist (PostgreSQL)

    # ---------- input from posts ----------
    def ingest(self, kind: str, pid: str, data: dict) -> str:
        """Record one parsed message; returns stored | duplicate. Judging happens in tick()."""
        now = self.clock()
        try:
            with self.db.begin() as c:
                return self._ingest(c, kind, pid, data, now)
        except Exception:
            self.parts.known.clear()  # partitions made in a rolled-back transaction
            raise

    def ingest_many(self, items: list[tuple[str, str, dict]]) -> list[str]:
        """Several parsed messages in ONE transaction (serve's writer batch): all are stored
        or none. Taken in post order (stable, so one post's messages keep their order): two
        workers lock posts in the same order."""
        now = self.clock()
        order = sorted(range(len(items)), key=lambda i: items[i][1])
        out = [""] * len(items)
        try:
            with self.db.begin() as c:
                for i in order:
                    out[i] = self._ingest(c, *items[i], now)
        except Exception:
            self.parts.known.clear()  # partitions made in a rolled-back transaction
            raise
        return out

    def _ingest(self, c, kind: str, pid: str, data: dict, now: float) -> str:
        P = S.posts
        if kind == "lwt":
            c.execute(update(P).where(P.c.id == pid).values(
                lwt="Online" if data["online"] else "Offline", lwt_at=now,
                **({"last_seen_at": now} if data["online"] else {})))
            return "stored"
        t = data["t"]
        seen = {"last_seen_at": now,
                "last_t": func.coalesce(func.max(P.c.last_t, t) if c.dialect.name == "sqlite"
                                        else func.greatest(P.c.last_t, t), t)}
        if kind in ("state", "sensor"):
            if c.execute(update(P).where(P.c.id == pid).values(**seen)).rowcount == 0:
                return "stored"  # a post not in the register: nothing to keep
            if kind == "sensor":  # telemetry: the one copy (serve stores its batches itself)
                if telemetry.MIN_T <= t < telemetry.MAX_T:
                    telemetry.store(c, [{
                        "post_id": pid, "t": t, "total_kwh": data.get("Total"),
                        "hours": data.get("operatingHours"), "power_w": data.get("Power"),
                        "voltage": data.get("Voltage"), "current_a": data.get("Current"),
                        "factor": data.get("Factor"), "received_at": now}], self.parts)
            elif "lamp" in data:
                self._lamp_state(c, pid, data["lamp"], t, data.get("dimmer"))
            return "stored"
        if "alarm" in data and c.dialect.name == "postgresql":
            # one post's alarms are decided one at a time, whichever workers (shared
            # subscription) they reached: its alarm rows are read and written under this
            c.execute(select(func.pg_advisory_xact_lock(func.hashtext(pid))))
        ok = S.insert_ignore(c, S.messages, post_id=pid, inc=data["inc"], dseq=data["dseq"],
                            kind=kind, alarm=data.get("alarm"),
                            state=data.get("state") or data.get("lamp"), t=t,
                            payload=repr(data)[:2000], received_at=now)
        if not ok:
            S.bump(c, "duplicates")
            return "duplicate"
        c.execute(update(P).where(P.c.id == pid).values(**seen))
        if kind == "event" and data.get("ev") == "switch" and data.get("lamp") == "on":
            c.execute(update(P).where(P.c.id == pid).where(
                or_(P.c.lamp_on_t.is_(None), P.c.lamp_on_t < t)).values(lamp_on_t=t))
        if kind == "event" and data.get("ev") == "switch" and "lamp" in data:
            self._lamp_state(c, pid, data["lamp"], t)
        if "alarm" in data:  # an ALARM, or a photocell EVENT (kept as the alarm `photocell`)
            self._alarm(c, pid, data["alarm"], data["state"] == "raised", t, now)
        return "stored"

    def ingest_states(self, newest: dict[str, int]) -> None:
        """Many STATE reports in one transaction: post -> its newest post time in the batch
        (what ingest("state") does one by one for a STATE without lamp fields; serve's
        writer batches them)."""
        if not newest:
            return
        now = self.clock()
        with self.db.begin() as c:
            self.seen(c, newest, now)

    @staticmethod
    def seen(c, newest: dict[str, int], now: float) -> None:
        """The posts were heard from at `now`, each up to its post time in newest."""
        P = S.posts
        greatest = func.max if c.dialect.name == "sqlite" else func.greatest
        for pid in sorted(newest):  # one order for every worker: no lock-order deadlock
            t = newest[pid]
            c.execute(update(P).where(P.c.id == pid).values(
                last_seen_at=now, last_t=func.coalesce(greatest(P.c.last_t, t), t)))

    def _lamp_state(self, c, pid, lamp, t, dimmer=None):
        """The newest lamp state by post time (a late resend does not turn a lit lamp dark)."""
        PS = S.post_state
        vals = {"lamp": lamp, "lamp_t": t, **({"dimmer": dimmer, "state_t": t} if dimmer is not None else {})}
        if not S.insert_ignore(c, PS, post_id=pid, **vals):
            c.execute(update(PS).where(PS.c.post_id == pid)
                      .where(or_(PS.c.lamp_t.is_(None), PS.c.lamp_t <= t)).values(**vals))

    def _alarm(self, c, pid, alarm, raised, t, now):
        """Recompute the alarm's state from every report of it by post time, so arrival order
        and late resends do not matter: raised iff some raise is newer than the newest clear,
        raised since the oldest such raise."""
        A, M = S.alarms, S.messages
        cur = c.execute(select(A).where(A.c.post_id == pid, A.c.alarm == alarm)
                        .with_for_update()).mappings().first()
        rows = c.execute(select(M.c.t, M.c.state).where(M.c.post_id == pid, M.c.alarm == alarm)).all()
        last_clear = max((pt for pt, st in rows if st == "cleared"), default=None)
        raises = [pt for pt, st in rows if st == "raised" and (last_clear is None or pt > last_clear)]
        is_raised = bool(raises)
        since = min(raises) if raises else last_clear
        if cur is None:
            c.execute(insert(A).values(post_id=pid, alarm=alarm, raised=is_raised, since_t=since,
                                       handled=not is_raised))
            return
        if is_raised and cur["raised"]:
            if since != cur["since_t"]:
                c.execute(update(A).where(A.c.post_id == pid, A.c.alarm == alarm).values(since_t=since))
            if raised:
                for o in self._open_orders_for(c, pid, alarm):  # a repeat attaches
                    c.execute(insert(S.order_alarms).values(order_id=o, post_id=pid, alarm=alarm, t=t))
            return
        c.execute(update(A).where(A.c.post_id == pid, A.c.alarm == alarm)
                  .values(raised=is_raised, since_t=since,
                          handled=cur["handled"] if is_raised == cur["raised"] else not is_raised))
        if cur["raised"] and not is_raised:
            for o in self._open_orders_for(c, pid, alarm):
                # on a repaired order the post's clear is the verification itself: one
                # `verified` row says so, not a `repaired` note before it
                if not self._verify(c, o, now):
                    self._audit(c, o, None, None, f"post {pid} reports {alarm} cleared", now, t)

    def _open_orders_for(self, c, pid, alarm) -> list[int]:
        O, OA = S.orders, S.order_alarms
        q = (select(O.c.id).join(OA, OA.c.order_id == O.c.id)
             .where(OA.c.post_id == pid, OA.c.alarm == alarm, O.c.open_slot.is_not(None)).distinct())
        return list(c.execute(q).scalars())

    # ---------- lifecycle ----------
    def _audit(self, c, oid, frm, to, cause, now, t=None):
        """One audit row; a note (to None) keeps the order's current status on both sides."""
        if to is None:
            frm = to = c.execute(select(S.orders.c.status).where(S.orders.c.id == oid)).scalar_one()
        c.execute(insert(S.audit).values(order_id=oid, at=now, t=t, from_status=frm,
                                         to_status=to, cause=cause))

    def _set_status(self, c, oid, to, cause, now, t=None, **extra) -> bool:
        o = c.execute(select(S.orders).where(S.orders.c.id == oid).with_for_update()).mappings().one()
        if to not in NEXT.get(o["status"], ()):
            return False
        vals = {"status": to, **extra}
        if to in ("verified", "merged"):
            vals["open_slot"] = None
        c.execute(update(S.orders).where(S.orders.c.id == oid).values(**vals))
        self._audit(c, oid, o["status"], to, cause, now, t)
        if to == "not_verified":
            self._enqueue(c, oid, o["contractor"], "escalate", now)
        return True

    def contractor_update(self, oid: int, to: str, cause: str) -> bool:
        """A contractor's status (acknowledged | repaired) for an order; False if not allowed now."""
        with self.db.begin() as c:
            return self.contractor_update_in(c, oid, to, cause)

    def contractor_update_in(self, c: Connection, oid: int, to: str, cause: str) -> bool:
        """contractor_update inside the caller's transaction (the inbound endpoint records
        the update's id in the same one, so it is applied exactly once)."""
        now = self.clock()
        extra = {}
        if to == "repaired":
            posts = self._order_posts(c, oid)
            last = c.execute(select(func.max(S.posts.c.last_t))
                             .where(S.posts.c.id.in_(posts))).scalar()
            extra["repaired_t"] = last or 0
        if not self._set_status(c, oid, to, cause, now, **extra):
            return False
        if to == "repaired":
            self._verify(c, oid, now)
        return True

    def _order_posts(self, c, oid) -> list[str]:
        return list(c.execute(select(S.order_alarms.c.post_id)
                              .where(S.order_alarms.c.order_id == oid).distinct()).scalars())

    def _verify(self, c, oid, now) -> bool:
        """A repaired order: verified once every alarm on it is cleared by its post (or, for a
        communication order, the post is heard again); not verified when the post switched the
        lamp on at dusk after the repair and still reports the alarm `verify_grace_s` later, or
        when `verify_window_s` passed (post clock) without that. True if verified now."""
        o = c.execute(select(S.orders).where(S.orders.c.id == oid)).mappings().one()
        if o["status"] != "repaired":
            return False
        r = self.cfg.rules(o["municipality"])
        A, P, OA = S.alarms, S.posts, S.order_alarms
        pairs = c.execute(select(OA.c.post_id, OA.c.alarm).where(OA.c.order_id == oid)
                          .distinct()).all()
        posts = {p: c.execute(select(P).where(P.c.id == p)).mappings().one() for p, _ in pairs}
        rt = o["repaired_t"] or 0
        if o["fault_class"] == "communication":
            heard = [p for p, row in posts.items() if (row["last_t"] or 0) > rt and row["lwt"] != "Offline"]
            if len(heard) == len(posts):
                t = max(posts[p]["last_t"] for p in heard)
                return self._set_status(c, oid, "verified", "post heard again after the repair",
                                        now, t, closed_t=t)
            return False
        still = []
        for p, al in pairs:
            st = c.execute(select(A.c.raised, A.c.since_t).where(A.c.post_id == p, A.c.alarm == al)).first()
            if st is not None and st.raised:
                still.append((p, al))
        if not still:
            t = max((c.execute(select(A.c.since_t).where(A.c.post_id == p, A.c.alarm == al)).scalar() or 0)
                    for p, al in pairs)
            what = ", ".join(sorted({f"{al} on {p}" if len(posts) > 1 else al for p, al in pairs}))
            return self._set_status(c, oid, "verified", f"post reports {what} cleared", now, t,
                                    closed_t=t)
        for p, al in still:
            row = posts[p]
            last, on = row["last_t"] or 0, row["lamp_on_t"] or 0
            # a photocell is judged again only far from twilight, up to a day after the
            # repair (a cell stuck dark proves itself by day): the dusk rule does not apply
            if o["fault_class"] != "photocell" and on > rt and last >= on + r["verify_grace_s"]:
                self._set_status(c, oid, "not_verified",
                                 f"post {p} still reports {al} {int(last - on)} s after switching on "
                                 f"at {iso(on)} (dusk after the repair): escalated", now, last)
                return False
            if last >= rt + r["verify_window_s"]:
                self._set_status(c, oid, "not_verified",
                                 f"post {p} still reports {al} {int(r['verify_window_s'])} s after "
                                 "the repair: escalated", now, last)
                return False
        return False

    # ---------- judging ----------
    def tick(self) -> dict:
        """Judge what is due: alarms past persistence, silent posts, repaired orders."""
        now = self.clock()
        opened = 0
        A, P = S.alarms, S.posts
        with self.db.connect() as c:
            due = c.execute(select(A.c.post_id, A.c.alarm, A.c.since_t, P.c.municipality, P.c.last_t)
                            .join(P, P.c.id == A.c.post_id)
                            .where(A.c.raised.is_(True), A.c.handled.is_(False))).all()
        for pid, alarm, since, muni, last in due:
            persist = self.cfg.rules(muni)["persist_s"]
            # a last-gasp supplyLoss: the post is dead and has no clock to persist on, so
            # the service's clock counts (a post whose power came back reports the clear)
            if (last or 0) >= since + persist or (alarm == "supplyLoss" and now >= since + persist):
                opened += self._judge(pid, alarm, since, now)
        opened += self._silence(now)
        with self.db.connect() as c:
            rep = list(c.execute(select(S.orders.c.id).where(S.orders.c.status == "repaired")).scalars())
        for oid in rep:
            with self.db.begin() as c:
                self._verify(c, oid, now)
        return {"opened": opened}

    def _judge(self, pid, alarm, since, now) -> int:
        cls = FAULT_CLASS.get(alarm)
        with self.db.begin() as c:
            A = S.alarms
            key = self._group_key(c, pid) if alarm in GROUPABLE else None
            if key:
                self._lock(c, key)  # the group lock first, then rows: no lock-order deadlock
            if c.dialect.name == "postgresql":
                # one post's alarms are judged one at a time (the lock ingest takes for them,
                # after the group's): a lamp order and the post's relayFailure judged by two
                # workers at once see each other's order, so the later one attaches or takes
                # over instead of opening a second order (SQLite: BEGIN IMMEDIATE serialises)
                c.execute(select(func.pg_advisory_xact_lock(func.hashtext(pid))))
            cur = c.execute(select(A).where(A.c.post_id == pid, A.c.alarm == alarm)
                            .with_for_update()).mappings().first()
            if cur is None or not cur["raised"] or cur["handled"] or cur["since_t"] != since:
                return 0  # another worker judged it, or it changed meanwhile
            c.execute(update(A).where(A.c.post_id == pid, A.c.alarm == alarm).values(handled=True))
            post = c.execute(select(S.posts).where(S.posts.c.id == pid)).mappings().one()
            if cls is None:
                S.bump(c, "unknown_alarms")
                return 0
            if alarm in GROUPABLE:
                n = self._group(c, post, alarm, since, now)
                if n is not None:
                    return n
            return self._open_or_attach(c, post, f"post:{pid}", cls, [(pid, alarm, since)], now)[1]

    def _group_key(self, c, pid) -> str | None:
        p = c.execute(select(S.posts.c.municipality, S.posts.c.cabinet, S.posts.c.lat)
                      .where(S.posts.c.id == pid)).first()
        if p is None:
            return None
        if p.cabinet:
            return f"cabinet:{p.municipality}:{p.cabinet}"
        return f"area:{p.municipality}" if p.lat is not None else None

    def _lock(self, c, key):
        S.insert_ignore(c, S.group_locks, key=key)
        c.execute(select(S.group_locks).where(S.group_locks.c.key == key).with_for_update())

    def _group(self, c, post, alarm, since, now):
        """Supply grouping; None when this alarm is not part of a group (judge it alone)."""
        muni = post["municipality"]
        r = self.cfg.rules(muni)
        P, A = S.posts, S.alarms
        if post["cabinet"]:
            key = subject = f"cabinet:{muni}:{post['cabinet']}"
            near = select(P).where(P.c.municipality == muni, P.c.cabinet == post["cabinet"])
        elif post["lat"] is not None:
            key, subject = f"area:{muni}", None
            near = select(P).where(P.c.municipality == muni, P.c.cabinet.is_(None),
                                   P.c.lat.is_not(None))
        else:
            return None
        self._lock(c, key)  # every worker deciding this group waits here
        peers = {p["id"]: p for p in c.execute(near).mappings()
                 if post["cabinet"] or metres(post["lat"], post["lon"], p["lat"], p["lon"]) <= r["radius_m"]}
        O = S.orders
        q = select(O).where(O.c.municipality == muni, O.c.fault_class == "supply",
                            O.c.open_slot.is_not(None), O.c.subject.like("cabinet:%" if subject else "area:%"))
        for o in c.execute(q).mappings():
            if (subject and o["subject"] == subject) or (not subject and o["post_id"] in peers):
                return self._attach_group(c, o, post, [(post["id"], alarm, since)], peers, r, now)
        members = c.execute(select(A.c.post_id, A.c.alarm, A.c.since_t).where(
            A.c.post_id.in_(list(peers)), A.c.raised.is_(True), A.c.alarm.in_(sorted(GROUPABLE)),
            A.c.since_t >= since - r["group_window_s"], A.c.since_t <= since + r["group_window_s"])).all()
        if len({m.post_id for m in members}) < r["group_min"]:
            return None
        subject = subject or f"area:{post['id']}"
        oid, n = self._open_or_attach(c, post, subject, "supply", [tuple(m) for m in members], now,
                                      group=True)
        c.execute(update(A).where(A.c.post_id.in_([m.post_id for m in members]),
                                  A.c.alarm.in_(sorted(GROUPABLE))).values(handled=True))
        o = c.execute(select(O).where(O.c.id == oid)).mappings().one()
        self._attach_group(c, o, post, [], peers, r, now)
        # orders of the members not yet dispatched fold into the group's order
        for m in {m.post_id for m in members}:
            for old in c.execute(select(O.c.id).where(O.c.subject == f"post:{m}",
                                                      O.c.fault_class.in_(("lamp", "supply")),
                                                      O.c.status == "opened")).scalars():
                self._set_status(c, old, "merged", f"merged into supply order {oid}", now)
                c.execute(update(S.dispatch).where(S.dispatch.c.order_id == old,
                                                   S.dispatch.c.state == "pending")
                          .values(state="merged"))
        return n

    def _attach_group(self, c, o, post, alarms, peers, r, now):
        for pid, al, t in alarms:
            c.execute(insert(S.order_alarms).values(order_id=o["id"], post_id=pid, alarm=al, t=t))
        # dark: a post whose lamp is out (lampFailure) or without supply; a sag's lamps still burn
        dark = set(c.execute(select(S.order_alarms.c.post_id).where(
            S.order_alarms.c.order_id == o["id"],
            S.order_alarms.c.alarm.in_(("lampFailure", "supplyLoss")))).scalars())
        if post["lat"] is not None:
            adj = [p for p in dark if peers.get(p) and peers[p]["lat"] is not None
                   and metres(post["lat"], post["lon"], peers[p]["lat"], peers[p]["lon"]) <= r["adjacent_m"]]
        else:
            adj = list(dark)
        if len(adj) >= r["adjacent_dark"] and o["priority"] > 1:
            c.execute(update(S.orders).where(S.orders.c.id == o["id"]).values(priority=1))
            self._audit(c, o["id"], None, None, f"{len(adj)} adjacent posts dark "
                        f"({', '.join(sorted(adj))}): priority 1", now)
        return 0

    def _open_or_attach(self, c, post, subject, cls, alarms, now, group=False) -> tuple[int, int]:
        """(order id, 1 if it was opened now) for subject+class; the alarms attach to it."""
        O = S.orders
        muni = self.cfg.municipality(post["municipality"])
        slot = f"{subject}|{cls}"
        oid = c.execute(select(O.c.id).where(O.c.open_slot == slot).with_for_update()).scalar()
        if oid is None and cls in ("lamp", "dayburning") and not group:
            # a relay fault explains the lamp out or burning by day on the same post: one
            # relay order (priority 1) takes them, opened now if relayFailure is raised too
            oid = c.execute(select(O.c.id).where(O.c.open_slot == f"{subject}|relay")).scalar()
            if oid is None and c.execute(select(S.alarms.c.post_id).where(
                    S.alarms.c.post_id == post["id"], S.alarms.c.alarm == "relayFailure",
                    S.alarms.c.raised.is_(True))).first():
                cls, slot = "relay", f"{subject}|relay"
                oid = c.execute(select(O.c.id).where(O.c.open_slot == slot)).scalar()
        if oid is None and cls == "relay" and not group:
            # the lamp order of this fault opened before its relayFailure was judged (the
            # reports reached the database out of order): that order becomes the relay order
            # (the same fault: the relayFailure shows within SAME_FAULT_S of the lamp order's
            # first alarm, and no contractor has reported that order repaired; a relay that
            # fails after a lamp repair is a fault of its own, with an order of its own)
            oid = c.execute(select(O.c.id).where(O.c.open_slot.in_(
                (f"{subject}|lamp", f"{subject}|dayburning")),
                O.c.status.in_(("opened", "dispatched", "acknowledged")),
                O.c.first_t >= min(t for _, _, t in alarms) - SAME_FAULT_S).order_by(O.c.id).limit(1)
                .with_for_update()).scalar()
            if oid is not None:
                self._take_over(c, oid, post, muni, slot, alarms, now)
        new = 0
        if oid is None:
            first = min(t for _, _, t in alarms)
            rep = c.execute(select(O.c.id, O.c.closed_t).where(
                O.c.subject == subject, O.c.fault_class == cls, O.c.status == "verified",
                O.c.closed_t >= first - muni.rules["recurrence_s"]).order_by(O.c.id.desc())).first()
            contractor = muni.route.get(cls) or post["contractor"]
            names = sorted({a for _, a, _ in alarms})
            where = ", ".join(x for x in (post["street"], post["light_point"] and
                                          f"light point {post['light_point']}") if x)
            desc = (f"{', '.join(names)} at post {post['id']}" + (f" ({where})" if where else "")
                    + (f", {len({p for p, _, _ in alarms})} posts on cabinet {post['cabinet']}"
                       if group and post["cabinet"] else "")
                    + f", since {iso(first)}" + (f"; repeat of order {rep.id}" if rep else ""))
            oid = c.execute(insert(O).values(
                municipality=post["municipality"], subject=subject, post_id=post["id"],
                cabinet=post["cabinet"], fault_class=cls, category=muni.categories.get(cls, CATEGORIES[cls]),
                priority=PRIORITY[cls], contractor=contractor, status="opened", open_slot=slot,
                repeat_of=rep.id if rep else None, escalated=False, first_t=first, opened_at=now,
                description=desc).returning(O.c.id)).scalar_one()
            self._audit(c, oid, None, "opened", desc + (f" (recurrence within "
                        f"{muni.rules['recurrence_s'] / 86400:g} d)" if rep else ""), now, first)
            self._enqueue(c, oid, contractor, "create", now)
            new = 1
        for pid, al, t in alarms:
            c.execute(insert(S.order_alarms).values(order_id=oid, post_id=pid, alarm=al, t=t))
        return oid, new

    def _take_over(self, c, oid, post, muni, slot, alarms, now):
        """A lamp (or day-burning) order of a post whose relayFailure is judged later becomes
        that post's relay order: class, category, priority and contractor as the config says
        for relay, one job at the contractor. Its dispatch: a create not yet sent goes out with
        the corrected order (it is read when sent); one sent (or maybe sent) is followed by an
        `update` to the same ticket; a new contractor gets a `create` of its own."""
        O, D = S.orders, S.dispatch
        o = c.execute(select(O).where(O.c.id == oid)).mappings().one()
        cls = "relay"
        contractor = muni.route.get(cls) or post["contractor"]
        category = muni.categories.get(cls, CATEGORIES[cls])
        names = ", ".join(sorted({a for _, a, _ in alarms}))
        c.execute(update(O).where(O.c.id == oid).values(
            fault_class=cls, category=category, priority=min(o["priority"], PRIORITY[cls]),
            contractor=contractor, open_slot=slot,
            first_t=min([o["first_t"]] + [t for _, _, t in alarms]),
            description=f"{names} at post {post['id']}: {o['description']}"))
        self._audit(c, oid, None, None,
                    f"{names} at post {post['id']}: the {o['fault_class']} order is the relay "
                    f"fault's (category {category}, priority {min(o['priority'], PRIORITY[cls])}"
                    + (f", contractor {contractor}" if contractor != o["contractor"] else "") + ")",
                    now, min(t for _, _, t in alarms))
        creates = c.execute(select(D).where(D.c.order_id == oid, D.c.action == "create")
                            .order_by(D.c.id).with_for_update()).mappings().all()
        if contractor != o["contractor"]:
            for d in creates:  # the old contractor's creates are tried no more (one on its
                # way now, under another worker's lease, lands as the old contractor's: run())
                if d["state"] == "pending":
                    c.execute(update(D).where(D.c.id == d["id"]).values(state="merged"))
            if any(d["attempts"] > 0 for d in creates):
                self._audit(c, oid, None, None, f"the order went to {o['contractor']} as a "
                            f"{o['fault_class']} order: withdraw ticket {o['remote_id'] or '(pending)'} "
                            "there by hand", now)
            c.execute(update(O).where(O.c.id == oid).values(remote_id=None))
            self._enqueue(c, oid, contractor, "create", now)
        elif any(d["attempts"] > 0 for d in creates):
            # the contractor has (or may have) the ticket: one job, its category corrected
            self._enqueue(c, oid, contractor, "update", now)
        elif not creates:
            self._enqueue(c, oid, contractor, "create", now)

    def _enqueue(self, c, oid, contractor, action, now):
        if not contractor:
            self._audit(c, oid, None, None, "no contractor for this post and fault class: "
                        "not dispatched (set the post's contractor or the municipality's route)", now)
            return
        c.execute(insert(S.dispatch).values(order_id=oid, contractor=contractor, action=action,
                                            idem_key=f"lamppost-{uuid.uuid4().hex}", state="pending",
                                            attempts=0, next_at=now))

    def _silence(self, now) -> int:
        P = S.posts
        n = 0
        with self.db.connect() as c:
            rows = c.execute(select(P.c.id, P.c.municipality, P.c.last_seen_at, P.c.lwt, P.c.lwt_at)
                             .where(P.c.last_seen_at.is_not(None))).all()
        for pid, muni, seen, lwt, lwt_at in rows:
            r = self.cfg.rules(muni)
            why = None
            if lwt == "Offline" and lwt_at is not None and now - lwt_at >= r["offline_s"]:
                why = f"LWT Offline for {int(now - lwt_at)} s"
            elif now - seen >= r["silent_s"]:
                why = f"silent for {int(now - seen)} s"
            if why is None:
                continue
            with self.db.begin() as c:
                slot = f"post:{pid}|communication"
                if c.execute(select(S.orders.c.id).where(or_(
                        S.orders.c.open_slot == slot,
                        and_(S.orders.c.open_slot.is_not(None), S.orders.c.fault_class == "supply",
                             S.orders.c.id.in_(select(S.order_alarms.c.order_id)
                                               .where(S.order_alarms.c.post_id == pid)))))).first():
                    continue  # already ordered, or a supply fault explains the silence
                post = c.execute(select(P).where(P.c.id == pid)).mappings().one()
                self._open_or_attach(c, post, f"post:{pid}", "communication",
                                     [(pid, "communication", post["last_t"] or 0)], now)
                oid = c.execute(select(S.orders.c.id).where(S.orders.c.open_slot == slot)).scalar_one()
                self._audit(c, oid, None, None, why, now)
                n += 1
        return n

    # ---------- reading ----------
    def orders(self, municipality: str | None = None, status: str | None = None) -> list[dict]:
        O = S.orders
        q = select(O).order_by(O.c.id)
        if municipality:
            q = q.where(O.c.municipality == municipality)
        if status:
            q = q.where(O.c.status == status)
        with self.db.connect() as c:
            out = []
            for o in c.execute(q).mappings():
                d = dict(o)
                d["posts"] = self._order_posts(c, o["id"])
                out.append(d)
            return out

    def timeline(self, oid: int) -> list[dict]:
        A = S.audit
        with self.db.connect() as c:
            return [dict(r) for r in c.execute(select(A).where(A.c.order_id == oid).order_by(A.c.id))
                    .mappings()]
