"""Telemetry history: SENSOR reports stored in bulk, day partitions, rollups, retention.

PostgreSQL: `telemetry` is partitioned by RANGE on the post time `t`, one partition per
UTC day (`telemetry_pYYYYMMDD`), created ahead of the data (the day of every incoming
row and `AHEAD_DAYS` after it) and dropped whole when older than the retention setting:
no DELETE over millions of rows. SQLite: one plain table, old rows deleted.
Rollups (`energy_hourly`, `energy_daily`: energy in kWh and burning hours per post) are
computed from the counters' increases (ENERGY.Total, ENERGY.operatingHours) between
consecutive reports of a post, so a report lost here or there moves energy to the next
hour instead of losing it; reports read the rollups, never the raw rows.
Retention counts back from the newest telemetry stored (a post's clock, as every rule
here), so a simulated night in the past is kept like a real one.
"""
from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import Connection, Engine, func, select, text
from sqlalchemy.dialects import postgresql, sqlite

from host_tools.ops import schema as S

DAY = 86400
HOUR = 3600
AHEAD_DAYS = 2          # partitions kept ready beyond the newest data
MIN_T, MAX_T = 1_577_836_800, 4_102_444_800  # 2020-01-01 .. 2100-01-01: a sane post clock
ROLLUP_LOCK = 0x726F6C6C  # pg advisory xact lock: one worker rolls up at a time
PART_LOCK = 0x70617274    # pg advisory xact lock: one worker creates partitions at a time
DEFAULT_RETENTION_DAYS = 400


class Bad(ValueError):
    """A SENSOR report that cannot be stored (counted by the caller)."""


def row(pid: str, d: dict, now: float) -> dict:
    """The telemetry row of one validated SENSOR payload (host_tools/collector/validate.py)."""
    from host_tools.ops.ingest import Reject, post_time
    try:
        t = post_time(d.get("Time"))
    except Reject as e:
        raise Bad(str(e)) from None
    if not MIN_T <= t < MAX_T:
        raise Bad(f"SENSOR Time {d.get('Time')} is outside 2020..2100 (post clock not set?)")
    e = d["ENERGY"]

    def num(k):
        v = e.get(k)
        return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None
    return {"post_id": pid, "t": t, "total_kwh": num("Total"), "hours": num("operatingHours"),
            "power_w": num("Power"), "voltage": num("Voltage"), "current_a": num("Current"),
            "factor": num("Factor"), "received_at": now}


def _day(t: int) -> int:
    return t - t % DAY


def partition_name(day_t: int) -> str:
    return "telemetry_p" + datetime.fromtimestamp(day_t, timezone.utc).strftime("%Y%m%d")


class Partitions:
    """Day partitions this process knows exist (PostgreSQL); creates missing ones ahead."""

    def __init__(self):
        self.known: set[int] = set()

    def ensure(self, c: Connection, ts) -> int:
        """Make sure the day of every t in ts, and AHEAD_DAYS after it, has a partition;
        returns how many were created. Idempotent, safe between workers (advisory lock)."""
        if c.dialect.name != "postgresql":
            return 0
        days = {_day(t) + k * DAY for t in ts for k in range(AHEAD_DAYS + 1)} - self.known
        if not days:
            return 0
        c.exec_driver_sql(f"SELECT pg_advisory_xact_lock({PART_LOCK})")
        made = 0
        have = set(existing(c))
        for d in sorted(days):
            if d not in have:
                c.exec_driver_sql(f'CREATE TABLE IF NOT EXISTS "{partition_name(d)}" PARTITION OF '
                                  f"telemetry FOR VALUES FROM ({d}) TO ({d + DAY})")
                made += 1
        self.known |= days
        return made


def existing(c: Connection) -> list[int]:
    """Start times of the day partitions of telemetry (PostgreSQL)."""
    names = c.exec_driver_sql(
        "SELECT child.relname FROM pg_inherits JOIN pg_class parent ON parent.oid = inhparent "
        "JOIN pg_class child ON child.oid = inhrelid WHERE parent.relname = 'telemetry' "
        "AND parent.relnamespace = (SELECT oid FROM pg_namespace WHERE nspname = current_schema())"
    ).scalars()
    out = []
    for n in names:
        try:
            out.append(int(datetime.strptime(n[len("telemetry_p"):], "%Y%m%d")
                           .replace(tzinfo=timezone.utc).timestamp()))
        except ValueError:
            pass
    return out


def store(c: Connection, rows: list[dict], parts: Partitions) -> int:
    """Insert rows, a report already stored (resend, second worker) is skipped; returns
    how many were new."""
    if not rows:
        return 0
    parts.ensure(c, {r["t"] for r in rows})
    mod = postgresql if c.dialect.name == "postgresql" else sqlite
    # executemany: SQLAlchemy batches it into multi-row INSERTs ("insertmanyvalues") with
    # one cached statement, RETURNING says which rows were new
    r = c.execute(mod.insert(S.telemetry).on_conflict_do_nothing().returning(S.telemetry.c.t), rows)
    return len(r.all())


# Energy and burning hours per post and hour, from the counters' increases between a post's
# consecutive reports. The report before the first one of the window is the previous hour's
# newest (`last_*` of that post's latest energy_hourly row before :lo: one index probe per
# post, however long the post was silent), so a window boundary loses nothing. A counter
# that went down (meter replaced, counters lost) counts from zero, as the console always did.
_HOURLY = """
WITH w AS (
  SELECT post_id, t, total_kwh AS k, hours AS h FROM telemetry
  WHERE t >= :lo AND t < :hi {post}),
p AS (SELECT DISTINCT post_id FROM w),
c AS ({carry}),
a AS (SELECT post_id, t, k, h, 1 AS mine FROM w
      UNION ALL SELECT post_id, t, k, h, 0 AS mine FROM c),
d AS (
  SELECT post_id, t, k, h, mine,
         LAG(k) OVER (PARTITION BY post_id ORDER BY t) AS pk,
         LAG(h) OVER (PARTITION BY post_id ORDER BY t) AS ph,
         LEAD(t) OVER (PARTITION BY post_id ORDER BY t) AS nt
  FROM a)
SELECT post_id, (t / 3600) * 3600 AS hour_t,
       SUM(CASE WHEN pk IS NULL OR k IS NULL THEN 0 WHEN k >= pk THEN k - pk ELSE k END),
       SUM(CASE WHEN ph IS NULL OR h IS NULL THEN 0 WHEN h >= ph THEN h - ph ELSE h END),
       COUNT(*), MAX(t),
       MAX(CASE WHEN nt IS NULL OR nt / 3600 <> t / 3600 THEN k END),
       MAX(CASE WHEN nt IS NULL OR nt / 3600 <> t / 3600 THEN h END)
FROM d WHERE mine = 1 GROUP BY post_id, (t / 3600) * 3600
"""
_CARRY = {
    "postgresql": """SELECT p.post_id, e.last_t AS t, e.last_kwh AS k, e.last_hours AS h FROM p
  CROSS JOIN LATERAL (SELECT last_t, last_kwh, last_hours FROM energy_hourly x
                      WHERE x.post_id = p.post_id AND x.hour_t < :lo
                      ORDER BY x.hour_t DESC LIMIT 1) e
  WHERE e.last_t IS NOT NULL""",
    "sqlite": """SELECT e.post_id, e.last_t AS t, e.last_kwh AS k, e.last_hours AS h FROM p
  JOIN energy_hourly e ON e.post_id = p.post_id AND e.hour_t = (
    SELECT MAX(x.hour_t) FROM energy_hourly x WHERE x.post_id = p.post_id AND x.hour_t < :lo)
  WHERE e.last_t IS NOT NULL""",
}


def hourly(c: Connection, lo: int, hi: int, post: str | None = None) -> list[dict]:
    """The energy_hourly rows of the whole hours covering [lo, hi), computed from telemetry
    (and the rollup's newest row before them), without writing: what `rollup` stores, and
    what the console adds for the hours the last rollup has not reached yet."""
    lo, hi = lo - lo % HOUR, hi - hi % HOUR + HOUR
    sql = _HOURLY.format(post="AND post_id = :post" if post else "",
                         carry=_CARRY["postgresql" if c.dialect.name == "postgresql" else "sqlite"])
    rows = c.execute(text(sql), {"lo": lo, "hi": hi, **({"post": post} if post else {})}).all()
    return [{"post_id": p, "hour_t": int(h), "energy_kwh": float(e or 0), "burn_h": float(b or 0),
             "samples": int(n), "last_t": int(lt), "last_kwh": lk, "last_hours": lh}
            for p, h, e, b, n, lt, lk, lh in rows]


def rollup(c: Connection, lo: int, hi: int) -> int:
    """Recompute energy_hourly for the hours in [lo, hi) and energy_daily for their days;
    returns the hourly rows written. A counter that went down (meter replaced) counts from 0."""
    lo, hi = lo - lo % HOUR, hi - hi % HOUR + HOUR
    H, D = S.energy_hourly, S.energy_daily
    rows = hourly(c, lo, hi - 1)
    c.execute(H.delete().where(H.c.hour_t >= lo, H.c.hour_t < hi))
    if rows:
        c.execute(H.insert(), rows)
    dlo, dhi = _day(lo), _day(hi - 1) + DAY
    c.execute(D.delete().where(D.c.day_t >= dlo, D.c.day_t < dhi))
    day = H.c.hour_t - H.c.hour_t % DAY
    c.execute(D.insert().from_select(
        ["post_id", "day_t", "energy_kwh", "burn_h", "samples"],
        select(H.c.post_id, day, func.sum(H.c.energy_kwh), func.sum(H.c.burn_h), func.sum(H.c.samples))
        .where(H.c.hour_t >= dlo, H.c.hour_t < dhi).group_by(H.c.post_id, day)))
    return len(rows)


def rolled_to(c: Connection) -> int | None:
    """Start of the hour the last rollup ended in: energy_hourly before it is final, from it
    on it is partial or missing (None: nothing rolled up yet)."""
    mark = c.execute(select(S.counters.c.value).where(S.counters.c.name == "rollup_mark")).scalar()
    return None if mark is None else mark - mark % HOUR


def maintain(eng: Engine, retention_days: float = DEFAULT_RETENTION_DAYS,
             parts: Partitions | None = None) -> dict:
    """One maintenance round (serve runs it every round; `lamppost-ops telemetry maintain`
    by hand): roll up what arrived since the last round, drop history past retention."""
    out = {"rolled_hours": 0, "dropped_partitions": 0, "deleted_rows": 0}
    with eng.begin() as c:
        pg = c.dialect.name == "postgresql"
        if pg and not c.exec_driver_sql(f"SELECT pg_try_advisory_xact_lock({ROLLUP_LOCK})").scalar():
            out["busy"] = 1  # another worker is at it: its round covers ours
            return out
        mark = c.execute(select(S.counters.c.value).where(S.counters.c.name == "rollup_mark")).scalar()
        # the newest report at or after the mark: on PostgreSQL only the partitions from the
        # mark's day on are read (a max over all of history would read every partition each round)
        q = select(func.max(S.telemetry.c.t))
        newest = c.execute(q if mark is None else q.where(S.telemetry.c.t >= mark)).scalar()
        if newest is None:
            return out  # nothing stored, or nothing since the last round
        # the hour the last rollup ended in is recomputed (it was partial then), the ones
        # before are final (SENSOR is QoS 0: nothing arrives late for them)
        lo = mark if mark is not None else c.execute(select(func.min(S.telemetry.c.t))).scalar()
        out["rolled_hours"] = rollup(c, lo, newest)
        S.bump(c, "rollup_mark", newest - (mark or 0))  # the counter holds the newest t rolled up
        cutoff = _day(newest) - int(retention_days * DAY)
        if pg:
            if parts is not None:
                parts.ensure(c, [newest])
            for d in existing(c):
                if d + DAY <= cutoff:
                    c.exec_driver_sql(f'DROP TABLE IF EXISTS "{partition_name(d)}"')
                    out["dropped_partitions"] += 1
                    if parts is not None:
                        parts.known.discard(d)
        else:
            out["deleted_rows"] = c.execute(S.telemetry.delete().where(S.telemetry.c.t < cutoff)).rowcount
        for T, col in ((S.energy_hourly, S.energy_hourly.c.hour_t), (S.energy_daily, S.energy_daily.c.day_t)):
            c.execute(T.delete().where(col < cutoff))
    return out


def energy(eng: Engine, per: str = "day", post: str | None = None, lo: int | None = None,
           hi: int | None = None) -> list[dict]:
    """Rows of the rollup (per hour or day): post_id, start (post time), energy_kwh, burn_h."""
    T = S.energy_daily if per == "day" else S.energy_hourly
    col = T.c.day_t if per == "day" else T.c.hour_t
    q = select(T.c.post_id, col.label("start"), T.c.energy_kwh, T.c.burn_h, T.c.samples)
    if post:
        q = q.where(T.c.post_id == post)
    if lo is not None:
        q = q.where(col >= lo)
    if hi is not None:
        q = q.where(col < hi)
    with eng.connect() as c:
        return [dict(r) for r in c.execute(q.order_by(T.c.post_id, col)).mappings()]
