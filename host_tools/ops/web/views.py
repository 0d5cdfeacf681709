"""What the console shows, read from the operations database and always scoped to one user.

Every function takes the user and filters by its municipality (and, for a contractor, by its
contractor) in the query itself: there is no unscoped read behind a page or an API route.
"""
from __future__ import annotations

import ast
import time
from collections import defaultdict
from datetime import datetime, timezone

from sqlalchemy import and_, func, select

from host_tools.ops import schema as S
from host_tools.ops.engine import OPEN, iso
from lamppost_common.ids import ID_RE

from .accounts import User

STATES = ("alarm", "order", "offline", "lit", "dark")  # worst first: what the map colours
STATE_CODE = {s: i for i, s in enumerate(STATES)}


def _posts_q(user: User):
    return S.posts.c.municipality == user.municipality


def _orders_q(user: User):
    O = S.orders
    cond = O.c.municipality == user.municipality
    if user.role == "contractor":
        cond = and_(cond, O.c.contractor == user.contractor)
    return cond


def post_visible(c, user: User, pid: str) -> bool:
    if not user.can_read_fleet or not ID_RE.fullmatch(pid):  # no query for what cannot be an id
        return False
    return c.execute(select(S.posts.c.id).where(S.posts.c.id == pid, _posts_q(user))).first() is not None


def fleet(c, user: User, cfg, now: float, municipality=None, street=None, cabinet=None,
          state=None) -> dict:
    """Every visible post as columns (id, lat, lon, state code): compact enough for 100,000
    posts in one response (the filters apply on the server). A post's state, worst first: a raised alarm,
    an open order, offline (LWT Offline or silent past the rule), lit, dark by schedule."""
    P, A, O, OA, PS = S.posts, S.alarms, S.orders, S.order_alarms, S.post_state
    q = (select(P.c.id, P.c.lat, P.c.lon, P.c.lwt, P.c.last_seen_at, PS.c.lamp)
         .outerjoin(PS, PS.c.post_id == P.c.id).where(_posts_q(user)).order_by(P.c.id))
    if municipality and municipality != user.municipality:
        q = q.where(False)
    if street:
        q = q.where(P.c.street == street)
    if cabinet:
        q = q.where(P.c.cabinet == cabinet)
    alarmed = set(c.execute(select(A.c.post_id).join(P, P.c.id == A.c.post_id)
                            .where(A.c.raised.is_(True), _posts_q(user)).distinct()).scalars())
    ordered = set(c.execute(select(OA.c.post_id).join(O, O.c.id == OA.c.order_id)
                            .where(O.c.open_slot.is_not(None), _orders_q(user)).distinct()).scalars())
    silent = cfg.rules(user.municipality)["silent_s"]
    want = STATE_CODE.get(state) if state else None
    ids, lats, lons, codes = [], [], [], []
    counts = [0] * len(STATES)
    offline_before = now - silent
    for pid, lat, lon, lwt, seen, lamp in c.execute(q).all():
        if lat is None or lon is None:
            continue
        if pid in alarmed:
            code = 0
        elif pid in ordered:
            code = 1
        elif lwt == "Offline" or (seen is not None and seen <= offline_before):
            code = 2
        elif lamp == "on":
            code = 3
        else:
            code = 4
        if want is not None and code != want:
            continue
        counts[code] += 1
        ids.append(pid)
        lats.append(lat)
        lons.append(lon)
        codes.append(code)
    return {"states": list(STATES), "counts": dict(zip(STATES, counts)),
            "posts": {"id": ids, "lat": lats, "lon": lons, "s": codes}}


def filter_choices(c, user: User) -> dict:
    P = S.posts
    streets = c.execute(select(P.c.street).where(_posts_q(user), P.c.street.is_not(None))
                        .distinct().order_by(P.c.street).limit(2000)).scalars().all()
    cabinets = c.execute(select(P.c.cabinet).where(_posts_q(user), P.c.cabinet.is_not(None))
                         .distinct().order_by(P.c.cabinet).limit(2000)).scalars().all()
    return {"municipalities": [user.municipality], "streets": streets, "cabinets": cabinets,
            "states": list(STATES)}


def active_alarms(c, user: User, now_t: float | None = None) -> list[dict]:
    """Raised alarms of the user's posts, oldest first, with their age (post clock of the
    newest report from that post, so a simulated run shows simulated ages)."""
    A, P = S.alarms, S.posts
    rows = c.execute(select(A.c.post_id, A.c.alarm, A.c.since_t, P.c.street, P.c.light_point,
                            P.c.cabinet, P.c.last_t)
                     .join(P, P.c.id == A.c.post_id)
                     .where(A.c.raised.is_(True), _posts_q(user)).order_by(A.c.since_t)).mappings()
    out = []
    for r in rows:
        ref = now_t if now_t is not None else max(r["last_t"] or 0, r["since_t"])
        out.append({"post_id": r["post_id"], "alarm": r["alarm"], "since": iso(r["since_t"]),
                    "since_t": r["since_t"], "age_s": int(max(0, ref - r["since_t"])),
                    "street": r["street"], "light_point": r["light_point"], "cabinet": r["cabinet"]})
    return out


def orders(c, user: User, status: str | None = None, open_only: bool = False,
           now: float | None = None, post_id: str | None = None,
           order_id: int | None = None) -> list[dict]:
    """Work orders the user may see, with the SLA due time and whether it is overdue."""
    O, OA = S.orders, S.order_alarms
    q = select(O).where(_orders_q(user)).order_by(O.c.id.desc())
    if status:
        q = q.where(O.c.status == status)
    if open_only:
        q = q.where(O.c.status.in_(OPEN))
    if order_id is not None:
        q = q.where(O.c.id == order_id)
    if post_id:
        q = q.where(O.c.id.in_(select(OA.c.order_id).where(OA.c.post_id == post_id)))
    rows = [dict(r) for r in c.execute(q.limit(5000)).mappings()]
    ids = [r["id"] for r in rows]
    posts = defaultdict(list)
    if ids:
        for oid, pid in c.execute(select(OA.c.order_id, OA.c.post_id).where(OA.c.order_id.in_(ids))
                                  .distinct().order_by(OA.c.post_id)):
            posts[oid].append(pid)
    from .sla import sla_hours
    now = time.time() if now is None else now
    for r in rows:
        r["posts"] = posts[r["id"]]
        due = r["opened_at"] + sla_hours(r["priority"]) * 3600
        r["sla_due_at"] = due
        r["sla_due"] = iso(int(due))
        r["opened"] = iso(int(r["opened_at"]))
        r["overdue"] = r["status"] in OPEN and r["status"] != "repaired" and now > due
        r.pop("open_slot", None)
    return rows


def order(c, user: User, oid: int, now: float | None = None) -> dict | None:
    o = next(iter(orders(c, user, now=now, order_id=oid)), None)
    if o is None:
        return None
    A = S.audit
    o["timeline"] = [{"at": iso(int(a["at"])), "post_t": iso(a["t"]), "from": a["from_status"] or "",
                      "to": a["to_status"], "cause": a["cause"]}
                     for a in c.execute(select(A).where(A.c.order_id == oid).order_by(A.c.id)).mappings()]
    return o


def _day(t: int) -> str:
    return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%d")


def burning_seconds(switches: list[tuple[int, str]], end_t: int) -> dict[str, int]:
    """Seconds lit per UTC day from the post's switch events (on/off by post time), up to
    end_t (the post's newest report): a lamp still on is counted until then."""
    per: dict[str, int] = defaultdict(int)
    on_since = None

    def count(a: int, b: int) -> None:
        while a < b:  # split at midnight
            nxt = min(b, (a // 86400 + 1) * 86400)
            per[_day(a)] += nxt - a
            a = nxt

    for t, st in sorted(switches):
        if t >= end_t:
            break
        if st == "on" and on_since is None:
            on_since = t
        elif st == "off" and on_since is not None:
            count(on_since, t)
            on_since = None
    if on_since is not None:
        count(on_since, end_t)
    return dict(per)


def energy_per_day(readings: list[tuple[int, float | None]]) -> dict[str, float]:
    """kWh per UTC day: the rise of the post's Total counter within the day and since the
    previous day's last reading (a counter reset counts from zero, never negative)."""
    per = defaultdict(float)
    prev = None
    for t, total in sorted((t, v) for t, v in readings if v is not None):
        if prev is not None:
            d = total - prev if total >= prev else total
            per[_day(t)] += d
        prev = total
    return dict(per)


def post_detail(c, user: User, pid: str, cfg) -> dict | None:
    if not post_visible(c, user, pid):
        return None
    P, R, M, A, PS = S.posts, S.readings, S.messages, S.alarms, S.post_state
    p = dict(c.execute(select(P).where(P.c.id == pid)).mappings().one())
    ps = c.execute(select(PS).where(PS.c.post_id == pid)).mappings().first()
    rd = c.execute(select(R.c.t, R.c.power_w, R.c.voltage_v, R.c.factor, R.c.current_a, R.c.total_kwh)
                   .where(R.c.post_id == pid).order_by(R.c.t.desc()).limit(2000)).all()[::-1]
    msgs = c.execute(select(M.c.t, M.c.kind, M.c.alarm, M.c.state, M.c.payload)
                     .where(M.c.post_id == pid).order_by(M.c.t.desc(), M.c.id.desc()).limit(500)).all()
    switches = [(t, st) for t, k, _a, st, _p in msgs if k == "event" and st in ("on", "off")]
    end_t = p["last_t"] or (msgs[0][0] if msgs else 0)
    burn = burning_seconds(switches, end_t)
    energy = energy_per_day([(t, tot) for t, *_x, tot in rd])
    days = sorted(set(burn) | set(energy))
    per_day = [{"day": d, "burning_h": round(burn.get(d, 0) / 3600, 2),
                "energy_kwh": round(energy.get(d, 0.0), 3)} for d in days]
    months = defaultdict(lambda: {"burning_h": 0.0, "energy_kwh": 0.0})
    for d in per_day:
        m = months[d["day"][:7]]
        m["burning_h"] = round(m["burning_h"] + d["burning_h"], 2)
        m["energy_kwh"] = round(m["energy_kwh"] + d["energy_kwh"], 3)
    events = []
    for t, k, al, st, payload in msgs:
        ev = None
        try:
            ev = ast.literal_eval(payload).get("ev")
        except (ValueError, SyntaxError, AttributeError):
            pass
        events.append({"t": iso(t), "kind": k, "ev": ev, "alarm": al, "state": st})
    timeline = [{"t": iso(t), "alarm": al, "state": st} for t, k, al, st, _ in reversed(msgs) if k == "alarm"]
    cur = [dict(r) for r in c.execute(select(A.c.alarm, A.c.raised, A.c.since_t)
                                      .where(A.c.post_id == pid).order_by(A.c.alarm)).mappings()]
    for a in cur:
        a["since"] = iso(a["since_t"])
    latest = rd[-1] if rd else None
    # config without secrets: only the register's asset columns (secrets are never imported)
    config = {k: p[k] for k in ("municipality", "street", "light_point", "cabinet", "luminaire",
                                "contractor", "lamp", "rated_w", "lat", "lon")}
    cmds = [dict(r) for r in c.execute(select(S.commands).where(S.commands.c.post_id == pid)
                                       .order_by(S.commands.c.id.desc()).limit(50)).mappings()]
    for x in cmds:
        x["at_iso"] = iso(int(x["at"]))
    return {
        "id": pid, "config": config,
        "status": {"lwt": p["lwt"], "last_report": iso(p["last_t"]), "lamp": ps["lamp"] if ps else None,
                   "dimmer": ps["dimmer"] if ps else None},
        "readings": None if latest is None else {
            "t": iso(latest[0]), "power_w": latest[1], "voltage_v": latest[2], "factor": latest[3],
            "current_a": latest[4], "total_kwh": latest[5]},
        "history": {"t": [r[0] for r in rd], "power_w": [r[1] for r in rd],
                    "voltage_v": [r[2] for r in rd], "factor": [r[3] for r in rd]},
        "per_day": per_day,
        "per_month": [{"month": k, **v} for k, v in sorted(months.items())],
        "alarms": cur, "alarm_timeline": timeline, "events": events,
        "orders": orders(c, user, post_id=pid), "commands": cmds,
    }


def report(c, user: User, by: str, cfg) -> list[dict]:
    """Per municipality, cabinet or month: kWh, burning hours, faults reported and fixed, the
    share fixed within the SLA and the mean time to repair (opened -> verified, service clock)."""
    from .sla import sla_hours
    P, O, R, M = S.posts, S.orders, S.readings, S.messages
    posts = {r.id: r for r in c.execute(select(P.c.id, P.c.municipality, P.c.cabinet, P.c.last_t)
                                        .where(_posts_q(user)))}

    def key_post(pid, t):
        p = posts[pid]
        return {"municipality": p.municipality, "cabinet": p.cabinet or "(none)",
                "month": _day(t)[:7]}[by]

    rows = defaultdict(lambda: {"energy_kwh": 0.0, "burning_h": 0.0, "faults_reported": 0,
                                "faults_fixed": 0, "fixed_within_sla": 0, "_ttr": []})
    per_post_r = defaultdict(list)
    for pid, t, tot in c.execute(select(R.c.post_id, R.c.t, R.c.total_kwh).where(
            R.c.post_id.in_(select(P.c.id).where(_posts_q(user))))):
        per_post_r[pid].append((t, tot))
    for pid, rs in per_post_r.items():
        for day, kwh in energy_per_day(rs).items():
            t = int(datetime.strptime(day, "%Y-%m-%d").replace(tzinfo=timezone.utc).timestamp())
            rows[key_post(pid, t)]["energy_kwh"] += kwh
    sw = defaultdict(list)
    for pid, t, st in c.execute(select(M.c.post_id, M.c.t, M.c.state).where(
            M.c.kind == "event", M.c.state.in_(("on", "off")),
            M.c.post_id.in_(select(P.c.id).where(_posts_q(user))))):
        sw[pid].append((t, st))
    for pid, s in sw.items():
        for day, secs in burning_seconds(s, posts[pid].last_t or max(t for t, _ in s)).items():
            t = int(datetime.strptime(day, "%Y-%m-%d").replace(tzinfo=timezone.utc).timestamp())
            rows[key_post(pid, t)]["burning_h"] += secs / 3600
    A = S.audit
    verified_at = dict(c.execute(select(A.c.order_id, func.min(A.c.at)).where(
        A.c.to_status == "verified", A.c.from_status != "verified").group_by(A.c.order_id)).all())
    for o in c.execute(select(O).where(O.c.municipality == user.municipality,
                                       O.c.status != "merged")).mappings():
        if o["post_id"] not in posts:
            continue
        k = {"municipality": o["municipality"], "cabinet": o["cabinet"] or "(none)",
             "month": _day(o["first_t"])[:7]}[by]
        r = rows[k]
        r["faults_reported"] += 1
        if o["status"] == "verified" and o["id"] in verified_at:
            r["faults_fixed"] += 1
            ttr = verified_at[o["id"]] - o["opened_at"]
            r["_ttr"].append(ttr)
            if ttr <= sla_hours(o["priority"]) * 3600:
                r["fixed_within_sla"] += 1
    out = []
    for k in sorted(rows):
        r = rows[k]
        ttr = r.pop("_ttr")
        out.append({by: k, "energy_kwh": round(r["energy_kwh"], 3), "burning_h": round(r["burning_h"], 2),
                    "faults_reported": r["faults_reported"], "faults_fixed": r["faults_fixed"],
                    "fixed_within_sla_pct": round(100 * r["fixed_within_sla"] / r["faults_fixed"], 1)
                    if r["faults_fixed"] else None,
                    "mttr_h": round(sum(ttr) / len(ttr) / 3600, 2) if ttr else None})
    return out
