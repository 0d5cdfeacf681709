"""The console's reports read from the rollups against the same figures computed per request
from the raw SENSOR rows (what the console did before migration 0006), in the same run.

A fleet of LAMPPOST_REPORT_POSTS posts (default 500) on 10 cabinets reporting SENSOR every
300 s for LAMPPOST_REPORT_DAYS days (default 7; ~1 M rows at the defaults) is written
straight into a SQLite database (lamps burning 16:00-08:00 UTC, one counter reset per 50
posts). Timed: building the rollups once over the whole history, one serve-like rollup
round (the last hour again), the report per month and per cabinet read from energy_daily,
and the same report from the raw rows (each post's counter rises per day in Python, as the
console used to do). The two must give the same figures; the ratio is raw / rollup.
"""
from __future__ import annotations

import json
import os
import random
import statistics
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from sqlalchemy import insert, select

from host_tools.ops import db, schema, telemetry
from host_tools.ops.web import views
from host_tools.ops.web.accounts import User

T_START = 1_767_225_600  # 2026-01-01T00:00:00Z
PERIOD = 300
USER = User(id=1, username="bench", role="viewer", municipality="bench", contractor=None)


def _fleet(path: Path, posts: int, days: int):
    eng = db.open_db(str(path))
    rnd = random.Random(posts * 1000 + days)
    with eng.begin() as c:
        c.execute(insert(schema.municipalities).values(id="bench", name="Bench"))
        c.execute(insert(schema.posts), [{"id": f"B-{i:06d}", "municipality": "bench",
                                          "cabinet": f"K{i % 10}", "imported_at": 0.0} for i in range(posts)])
    n = 0
    for i in range(posts):
        pid, kwh, hrs = f"B-{i:06d}", rnd.uniform(0, 500), rnd.uniform(0, 20_000)
        w = rnd.uniform(20, 80)
        reset_at = rnd.randrange(days * 86400 // PERIOD) if i % 50 == 0 else -1
        rows = []
        for k in range(days * 86400 // PERIOD):
            t = T_START + k * PERIOD
            lit = not (8 * 3600 <= t % 86400 < 16 * 3600)
            if lit:
                kwh += w * PERIOD / 3.6e6
                hrs += PERIOD / 3600
            if k == reset_at:
                kwh, hrs = 0.0, 0.0
            rows.append({"post_id": pid, "t": t, "total_kwh": round(kwh, 4), "hours": round(hrs, 2),
                         "power_w": w if lit else 0.3, "voltage": 230.0, "current_a": None, "factor": None,
                         "received_at": 0.0})
        with eng.begin() as c:
            c.execute(insert(schema.telemetry), rows)
        n += len(rows)
    return eng, n


def _raw_report(c, by: str) -> dict:
    """The per-request computation from raw rows: each post's counter rises per UTC day."""
    P, T = schema.posts, schema.telemetry
    cab = dict(c.execute(select(P.c.id, P.c.cabinet).where(P.c.municipality == "bench")).all())
    per_post = defaultdict(lambda: ([], []))
    for pid, t, kwh, hrs in c.execute(select(T.c.post_id, T.c.t, T.c.total_kwh, T.c.hours)
                                      .where(T.c.post_id.in_(list(cab)))):
        per_post[pid][0].append((t, kwh))
        per_post[pid][1].append((t, hrs))
    out = defaultdict(lambda: [0.0, 0.0])
    for pid, (e, h) in per_post.items():
        for i, series in enumerate((e, h)):
            for day, v in views.energy_per_day(series).items():
                out[day[:7] if by == "month" else cab[pid]][i] += v
    return {k: (round(v[0], 3), round(v[1], 2)) for k, v in out.items()}


def _timed(fn, runs: int):
    times, res = [], None
    for _ in range(runs):
        t0 = time.perf_counter()
        res = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3, res


def main(out: Path) -> None:
    posts = int(os.environ.get("LAMPPOST_REPORT_POSTS", "500"))
    days = int(os.environ.get("LAMPPOST_REPORT_DAYS", "7"))
    rows = []
    with tempfile.TemporaryDirectory() as d:
        eng, n = _fleet(Path(d) / "reports.sqlite", posts, days)
        t0 = time.perf_counter()
        telemetry.maintain(eng, retention_days=10_000)
        build_s = time.perf_counter() - t0
        round_ms, _ = _timed(lambda: telemetry.maintain(eng, retention_days=10_000), 3)
        for by in ("month", "cabinet"):
            with eng.connect() as c:
                roll_ms, rep = _timed(lambda: views.report(c, USER, by, None), 5)
                raw_ms, raw = _timed(lambda: _raw_report(c, by), 1)
            rolled = {r[by]: (r["energy_kwh"], r["burning_h"]) for r in rep}
            same = rolled.keys() == raw.keys() and all(
                abs(rolled[k][0] - raw[k][0]) <= 0.002 and abs(rolled[k][1] - raw[k][1]) <= 0.02 for k in raw)
            rows.append({"by": by, "rollup_ms": roll_ms, "raw_ms": raw_ms, "same_figures": same})
        eng.dispose()
    print(f"{posts:,} posts x {days} days of SENSOR every {PERIOD} s = {n:,} telemetry rows (SQLite); "
          f"rollups built once in {build_s:.1f} s, a serve round (the last hour again) {round_ms:.0f} ms")
    print(f"{'report by':>10} {'from rollups':>13} {'from raw rows':>14} {'raw / rollup':>13} {'same figures':>13}")
    for r in rows:
        print(f"{r['by']:>10} {r['rollup_ms']:>10.1f} ms {r['raw_ms']:>11.0f} ms "
              f"{r['raw_ms'] / max(r['rollup_ms'], 1e-3):>12.0f}x {'yes' if r['same_figures'] else 'NO':>13}")
    (out / "reports.json").write_text(json.dumps({"posts": posts, "days": days, "telemetry_rows": n,
                                                  "rollup_build_s": build_s, "serve_round_ms": round_ms,
                                                  "rows": rows}, indent=1))


if __name__ == "__main__":
    main(Path(tempfile.mkdtemp()))
