"""Rollout of one signed bundle to a set of posts in waves: a canary share first, then the rest.

Each wave is offered at once and waited for until every post in it has a verdict
(confirmed, rolledBack, refused, failed) or the wave's time is up (a post without a
verdict counts as failed: "timeout"). When more than max_fail of a wave failed, the
rollout halts: the posts of later waves are never offered ("held").

The record is the operations database (tables ota_rollouts, ota_rollout_posts): every
change of a post's state is written as it happens, so `lamppost-ops ota status` shows a
rollout while it runs and after it ended, from any machine of the service. A post is in
at most one running rollout. The running process owns its rollout (a token it writes
with) and writes a heartbeat; a rollout whose process died stays `running` with an old
heartbeat, and `ota rollout --resume ID` carries it on (resume(): the new process takes
the ownership, an old one that wakes up stops at its next write) or `ota abandon ID`
ends it. Heartbeats are written and judged on the database's clock (db_clock), so the
machines of the service agree on which rollout lost its process. docs/ota.md.
"""
from __future__ import annotations

import json
import math
import secrets
import time

from sqlalchemy import Engine, bindparam, func, select, text, update

from host_tools.ops import schema as S
from host_tools.ota.bundle import Bundle
from host_tools.ota.server import TERMINAL, OtaServer
from lamppost_common.ids import check_post_id

ROLLOUT_LOCK = 0x6C706F74  # pg advisory lock key ("lpot"): rollouts start, resume and end one at a time

STALE_S = 60.0  # a running rollout whose heartbeat is older than this has lost its process
BEAT_S = 5.0  # with nothing else to write, the heartbeat this often
POLL_S = 0.2  # how often a wave's states are looked at


class RolloutError(ValueError):
    """A rollout that cannot start or resume: the reason in words."""


class TakenOver(RolloutError):
    """Another process resumed this rollout (this one was silent too long): stop."""


def db_clock(db: Engine):
    """Now, in Unix seconds, by the database's clock: a heartbeat written by one machine is
    judged by another, and their own clocks may be minutes apart. SQLite lives in this
    process: its clock is this machine's."""
    if db.dialect.name != "postgresql":
        return time.time
    q = text("SELECT extract(epoch from clock_timestamp())")

    def now() -> float:
        with db.connect() as c:
            return float(c.execute(q).scalar_one())
    return now


def _lock(c) -> None:
    """Start, resume and abandon decide one at a time (SQLite: BEGIN IMMEDIATE already)."""
    if c.dialect.name == "postgresql":
        c.execute(select(func.pg_advisory_xact_lock(ROLLOUT_LOCK)))


def waves(posts: list[str], canary_share: float, wave_size: int) -> list[list[str]]:
    """The posts in waves: ceil(canary_share * n) (at least 1) first, then wave_size at a time."""
    if not posts:
        return []
    if not 0 < canary_share <= 1 or wave_size < 1:
        raise RolloutError("canary share must be in (0, 1] and the wave size at least 1")
    n = max(1, math.ceil(canary_share * len(posts)))
    out = [posts[:n]]
    rest = posts[n:]
    out += [rest[i:i + wave_size] for i in range(0, len(rest), wave_size)]
    return out


class Rollout:
    """One rollout's run. Start a new one with start(), carry on a dead one's with resume()."""

    def __init__(self, server: OtaServer, bundle: Bundle, db: Engine, rid: int, owner: str,
                 plan: list[list[str]], states: dict[str, dict], done_waves: list[dict], max_fail: float,
                 wave_timeout_s: float, clock=None):
        self.srv, self.bundle, self.db, self.id, self.owner = server, bundle, db, rid, owner
        self.plan, self.states, self.result_waves = plan, states, done_waves
        self.max_fail, self.timeout, self.clock = max_fail, wave_timeout_s, clock or db_clock(db)
        self.beat = 0.0  # when the heartbeat was last written (time.monotonic)

    @classmethod
    def start(cls, server: OtaServer, bundle: Bundle, posts: list[str], db: Engine,
              canary_share: float = 0.1, wave_size: int = 50, max_fail: float = 0.2,
              wave_timeout_s: float = 3600.0, scope: str = "", clock=None) -> Rollout:
        """A new rollout, recorded before anything is offered. Refused when a post id is not
        one, a post is named twice or is in another rollout still running (or whose process
        died: resume or abandon that one first)."""
        for p in posts:
            try:
                check_post_id(p)
            except ValueError as e:
                raise RolloutError(str(e)) from None
        if len(set(posts)) != len(posts):
            raise RolloutError("a post is named twice")
        plan = waves(posts, canary_share, wave_size)
        clock = clock or db_clock(db)
        now, owner = clock(), secrets.token_hex(8)
        with db.begin() as c:
            _lock(c)
            busy = _running_posts(c, set(posts))
            if busy:
                other, ids = min(busy.items())
                r = c.execute(select(S.ota_rollouts.c.heartbeat_at)
                              .where(S.ota_rollouts.c.id == other)).scalar()
                what = ("wait for it, or `ota status {0}`" if now - r < STALE_S else
                        "its process stopped: `ota rollout --resume {0}` or `ota abandon {0}` first")
                raise RolloutError(f"rollout {other} is still running with {len(ids)} of these posts "
                                   f"({', '.join(sorted(ids)[:5])}{', ...' if len(ids) > 5 else ''}); "
                                   + what.format(other))
            rid = c.execute(S.ota_rollouts.insert().values(
                version=bundle.version, scope=scope or f"{len(posts)} posts", state="running", why=None,
                canary=canary_share, wave_size=wave_size, max_fail=max_fail,
                wave_timeout_s=wave_timeout_s, waves="[]", started_at=now, heartbeat_at=now,
                ended_at=None, owner=owner)).inserted_primary_key[0]
            rows = [{"rollout_id": rid, "post_id": p, "wave": i, "state": "pending", "why": None,
                     "updated_at": now} for i, w in enumerate(plan) for p in w]
            if rows:
                c.execute(S.ota_rollout_posts.insert(), rows)
        states = {r["post_id"]: {"state": "pending", "why": None, "wave": r["wave"]} for r in rows}
        return cls(server, bundle, db, rid, owner, plan, states, [], max_fail, wave_timeout_s, clock)

    @classmethod
    def resume(cls, server: OtaServer, bundle: Bundle, db: Engine, rid: int, clock=None) -> Rollout:
        """A rollout whose process died, carried on: the waves it finished stay as they are,
        the posts of the first unfinished wave without a verdict are offered again (a post
        that already switched answers `confirmed` again, docs/ota.md), then the rest. The
        rollout is this process's from here: the one that ran it stops at its next write."""
        clock = clock or db_clock(db)
        owner = secrets.token_hex(8)
        with db.begin() as c:
            _lock(c)
            r = c.execute(select(S.ota_rollouts).where(S.ota_rollouts.c.id == rid)).mappings().first()
            if r is None:
                raise RolloutError(f"no rollout {rid}")
            if r["state"] != "running":
                raise RolloutError(f"rollout {rid} has ended ({r['state']}): nothing to resume")
            if clock() - r["heartbeat_at"] < STALE_S:
                raise RolloutError(f"rollout {rid} is running (its process wrote "
                                   f"{clock() - r['heartbeat_at']:.0f} s ago): nothing to resume")
            if r["version"] != bundle.version:
                raise RolloutError(f"rollout {rid} is of version {r['version']}, the bundle is "
                                   f"{bundle.version}")
            c.execute(update(S.ota_rollouts).where(S.ota_rollouts.c.id == rid)
                      .values(heartbeat_at=clock(), owner=owner))
            posts = c.execute(select(S.ota_rollout_posts).where(S.ota_rollout_posts.c.rollout_id == rid)
                              .order_by(S.ota_rollout_posts.c.wave)).mappings().all()
        plan: list[list[str]] = []
        states = {}
        for p in posts:
            while len(plan) <= p["wave"]:
                plan.append([])
            plan[p["wave"]].append(p["post_id"])
            states[p["post_id"]] = {"state": p["state"], "why": p["why"], "wave": p["wave"]}
        return cls(server, bundle, db, rid, owner, plan, states, json.loads(r["waves"]), r["max_fail"],
                   r["wave_timeout_s"], clock)

    def _save(self, changed: list[str], **rollout) -> None:
        """The posts whose state changed and the heartbeat (and what else of the rollout
        changed), in one transaction; TakenOver if another process owns the rollout now."""
        P, R = S.ota_rollout_posts, S.ota_rollouts
        now = self.clock()
        self.beat = time.monotonic()
        with self.db.begin() as c:
            mine = c.execute(update(R).where(R.c.id == self.id, R.c.owner == self.owner)
                             .values(heartbeat_at=now, **rollout).returning(R.c.id)).first()
            if mine is None:
                raise TakenOver(f"rollout {self.id} was resumed or abandoned by another process: "
                                "this one stops")
            if changed:
                c.execute(update(P).where(P.c.rollout_id == self.id, P.c.post_id == bindparam("pid"))
                          .values(state=bindparam("st"), why=bindparam("wy"), updated_at=now),
                          [{"pid": p, "st": self.states[p]["state"], "wy": self.states[p]["why"]}
                           for p in changed])

    def _sync(self, wave: list[str], timed_out: bool = False) -> list[str]:
        """The server's word on the wave's posts taken in; the posts that changed."""
        changed = []
        for p in wave:
            mine = self.states[p]
            st = self.srv.state(p)  # a report about another version (never offered here) is not ours
            new = (st.state, st.why) if st is not None and st.version == self.bundle.version \
                else (mine["state"], mine["why"])
            if timed_out and new[0] not in TERMINAL:
                new = ("failed", "timeout: no verdict within the wave's time")
            if new != (mine["state"], mine["why"]):
                mine["state"], mine["why"] = new
                changed.append(p)
        return changed

    def run(self) -> dict:
        """Offer wave after wave; the rollout's record (status()) when it is done or halted."""
        for i, wave in enumerate(self.plan):
            if i < len(self.result_waves):
                continue  # finished before a resume
            self._save([])  # still ours (TakenOver if not) before anything is offered
            for p in wave:
                if self.states[p]["state"] not in TERMINAL:
                    self.srv.offer(p, self.bundle)
            end = time.monotonic() + self.timeout
            while True:
                changed = self._sync(wave)
                if changed or time.monotonic() - self.beat >= BEAT_S:
                    self._save(changed)
                if all(self.states[p]["state"] in TERMINAL for p in wave):
                    break
                if time.monotonic() >= end:
                    self._save(self._sync(wave, timed_out=True))
                    break
                time.sleep(POLL_S)
            failed = [p for p in wave if self.states[p]["state"] != "confirmed"]
            rate = len(failed) / len(wave)
            self.result_waves.append({"wave": i, "posts": len(wave), "failed": len(failed),
                                      "failure_rate": round(rate, 3)})
            if rate > self.max_fail:
                why = f"wave {i}: {len(failed)} of {len(wave)} failed ({rate:.0%} > {self.max_fail:.0%})"
                held = [p for later in self.plan[i + 1:] for p in later]
                for p in held:
                    self.states[p].update(state="held", why=None)
                self._save(held, waves=json.dumps(self.result_waves), state="halted", why=why,
                           ended_at=self.clock())
                return status(self.db, self.id, self.clock)
            self._save([], waves=json.dumps(self.result_waves))
        self._save([], state="done", ended_at=self.clock())
        return status(self.db, self.id, self.clock)


def abandon(db: Engine, rid: int, clock=None) -> None:
    """End a rollout whose process died without resuming it: its posts may go in another."""
    R = S.ota_rollouts
    clock = clock or db_clock(db)
    with db.begin() as c:
        _lock(c)
        r = c.execute(select(R.c.state, R.c.heartbeat_at).where(R.c.id == rid)).first()
        if r is None:
            raise RolloutError(f"no rollout {rid}")
        if r.state != "running":
            raise RolloutError(f"rollout {rid} has ended ({r.state})")
        if clock() - r.heartbeat_at < STALE_S:
            raise RolloutError(f"rollout {rid} is running (its process wrote "
                               f"{clock() - r.heartbeat_at:.0f} s ago): stop that process first")
        c.execute(update(R).where(R.c.id == rid).values(state="abandoned", owner=None, ended_at=clock(),
                                                        why="abandoned by the operator"))


def _running_posts(c, posts: set[str]) -> dict[int, set[str]]:
    """Of these posts, those in a rollout that is running or whose process died, by rollout."""
    R, P = S.ota_rollouts, S.ota_rollout_posts
    live = c.execute(select(R.c.id).where(R.c.state == "running")).scalars().all()
    out: dict[int, set[str]] = {}
    for rid in live:
        mine = set(c.execute(select(P.c.post_id).where(P.c.rollout_id == rid)).scalars()) & posts
        if mine:
            out[rid] = mine
    return out


def status(db: Engine, rid: int | None = None, clock=None) -> dict:
    """A rollout's record (the newest when rid is None): version, state, why, waves, the
    per-post states; `stale` when it says running but its process stopped writing. Raises
    RolloutError if there is none."""
    R, P = S.ota_rollouts, S.ota_rollout_posts
    with db.connect() as c:
        q = select(R).where(R.c.id == rid) if rid is not None else select(R).order_by(R.c.id.desc()).limit(1)
        r = c.execute(q).mappings().first()
        if r is None:
            raise RolloutError(f"no rollout {rid}" if rid is not None else "no rollout yet")
        posts = c.execute(select(P.c.post_id, P.c.wave, P.c.state, P.c.why).where(P.c.rollout_id == r["id"])
                          .order_by(P.c.wave, P.c.post_id)).all()
    out = {k: r[k] for k in ("id", "version", "scope", "state", "why", "started_at", "heartbeat_at",
                             "ended_at", "canary", "wave_size", "max_fail")}
    out["waves"] = json.loads(r["waves"])
    out["stale"] = r["state"] == "running" and (clock or db_clock(db))() - r["heartbeat_at"] >= STALE_S
    out["posts"] = {p.post_id: {"state": p.state, "why": p.why, "wave": p.wave} for p in posts}
    return out


def listing(db: Engine, limit: int = 50) -> list[dict]:
    """The newest rollouts, a line each: id, version, scope, state, posts, confirmed, when."""
    R, P = S.ota_rollouts, S.ota_rollout_posts
    with db.connect() as c:
        rs = c.execute(select(R).order_by(R.c.id.desc()).limit(limit)).mappings().all()
        counts = dict(((rid, st), n) for rid, st, n in c.execute(
            select(P.c.rollout_id, P.c.state, func.count()).where(P.c.rollout_id.in_([r["id"] for r in rs]))
            .group_by(P.c.rollout_id, P.c.state)).all())
    out = []
    for r in rs:
        n = sum(v for (rid, _), v in counts.items() if rid == r["id"])
        out.append({"id": r["id"], "version": r["version"], "scope": r["scope"], "state": r["state"],
                    "posts": n, "confirmed": counts.get((r["id"], "confirmed"), 0),
                    "started_at": r["started_at"], "ended_at": r["ended_at"]})
    return out
