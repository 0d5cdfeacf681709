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
from host_tools.ops import telemetry
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


def energy_per_day(readings: list[tuple[int, float | None]]) -> dict[str, float]:
    """kWh per UTC day: the rise of the post's Total counter within the day and since the
    previous day's last reading (a counter reset counts from zero, never negative). What the
    rollups compute in SQL (telemetry.hourly); kept as the reference the tests and the bench
    compare them with."""
    per = defaultdict(float)
    prev = None
    for t, total in sorted((t, v) for t, v in readings if v is not None):
        if prev is not None:
            d = total - prev if total >= prev else total
            per[_day(t)] += d
        prev = total
    return dict(per)


HISTORY_S = 7 * 86400   # the post page plots its last week of SENSOR reports ...
HISTORY_MAX = 2000      # ... at most this many (a week at the default 300 s tele_period)


def post_energy(c, pid: str) -> dict[str, tuple[float, float]]:
    """UTC day -> (kWh, burning hours) of one post, from the rollups (energy_daily for the
    days before the last rollup's hour, energy_hourly for that day's final hours) plus the
    hours the last rollup has not reached yet, computed from this post's telemetry now: the
    post page is current to its newest SENSOR report, whenever serve rolled up last."""
    H, D = S.energy_hourly, S.energy_daily
    per: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
    cut = telemetry.rolled_to(c)
    if cut is not None:
        cday = cut - cut % 86400
        for d, e, b in c.execute(select(D.c.day_t, D.c.energy_kwh, D.c.burn_h)
                                 .where(D.c.post_id == pid, D.c.day_t < cday)):
            per[_day(d)][0] += e
            per[_day(d)][1] += b
        for h, e, b in c.execute(select(H.c.hour_t, H.c.energy_kwh, H.c.burn_h)
                                 .where(H.c.post_id == pid, H.c.hour_t >= cday, H.c.hour_t < cut)):
            per[_day(h)][0] += e
            per[_day(h)][1] += b
    for r in telemetry.hourly(c, telemetry.MIN_T if cut is None else cut, telemetry.MAX_T - 1, post=pid):
        per[_day(r["hour_t"])][0] += r["energy_kwh"]
        per[_day(r["hour_t"])][1] += r["burn_h"]
    return {k: (v[0], v[1]) for k, v in per.items()}


def post_detail(c, user: User, pid: str, cfg) -> dict | None:
    if not post_visible(c, user, pid):
        return None
    P, T, M, A, PS = S.posts, S.telemetry, S.messages, S.alarms, S.post_state
    p = dict(c.execute(select(P).where(P.c.id == pid)).mappings().one())
    ps = c.execute(select(PS).where(PS.c.post_id == pid)).mappings().first()
    rd = []
    if p["last_t"] is not None:  # a post and a t range: the day partitions that hold it
        rd = c.execute(select(T.c.t, T.c.power_w, T.c.voltage, T.c.factor, T.c.current_a, T.c.total_kwh)
                       .where(T.c.post_id == pid, T.c.t > p["last_t"] - HISTORY_S, T.c.t <= p["last_t"])
                       .order_by(T.c.t.desc()).limit(HISTORY_MAX)).all()[::-1]
    msgs = c.execute(select(M.c.t, M.c.kind, M.c.alarm, M.c.state, M.c.payload)
                     .where(M.c.post_id == pid).order_by(M.c.t.desc(), M.c.id.desc()).limit(500)).all()
    energy = post_energy(c, pid)
    per_day = [{"day": d, "burning_h": round(energy[d][1], 2), "energy_kwh": round(energy[d][0], 3)}
               for d in sorted(energy)]
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
    R, RP = S.ota_rollouts, S.ota_rollout_posts
    updates = [{"rollout": r.id, "version": r.version, "state": r.state, "why": r.why,
                "rollout_state": r.rollout_state, "updated": iso(int(r.updated_at))}
               for r in c.execute(select(R.c.id, R.c.version, RP.c.state, RP.c.why, RP.c.updated_at,
                                         R.c.state.label("rollout_state"))
                                  .join(R, R.c.id == RP.c.rollout_id).where(RP.c.post_id == pid)
                                  .order_by(R.c.id.desc()).limit(10))]
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
        "updates": updates,  # the firmware rollouts this post was in, newest first (docs/ota.md)
    }


def report(c, user: User, by: str, cfg) -> list[dict]:
    """Per municipality, cabinet or month: kWh, burning hours, faults reported and fixed, the
    share fixed within the SLA and the mean time to repair (opened -> verified, service clock)."""
    from .sla import sla_hours
    P, O, D = S.posts, S.orders, S.energy_daily
    posts = {r.id: r for r in c.execute(select(P.c.id, P.c.municipality, P.c.cabinet)
                                        .where(_posts_q(user)))}
    rows = defaultdict(lambda: {"energy_kwh": 0.0, "burning_h": 0.0, "faults_reported": 0,
                                "faults_fixed": 0, "fixed_within_sla": 0, "_ttr": []})
    # energy and burning hours: the daily rollup, summed in the database (one row per
    # municipality, cabinet or day), never the raw telemetry
    col = {"municipality": P.c.municipality, "cabinet": P.c.cabinet, "month": D.c.day_t}[by]
    for k, kwh, burn in c.execute(select(col, func.sum(D.c.energy_kwh), func.sum(D.c.burn_h))
                                  .join(P, P.c.id == D.c.post_id).where(_posts_q(user)).group_by(col)):
        k = _day(k)[:7] if by == "month" else (k or "(none)")
        rows[k]["energy_kwh"] += kwh or 0.0
        rows[k]["burning_h"] += burn or 0.0
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
