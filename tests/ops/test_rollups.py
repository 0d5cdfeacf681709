"""SENSOR kept once (telemetry) and the console's energy and burning hours read from the
rollups: a known series against hand-computed figures on the post page and in the reports
(on SQLite and PostgreSQL, with serve-like rollup rounds in between, one of them while a
post is silent for hours), a property that rollup totals are the counters' increases for
any series with resets, and the migration that moves the console's old `readings`."""
from __future__ import annotations

import csv
import io

import pytest
from alembic import command
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select, text

from host_tools.ops import db, schema, telemetry
from host_tools.ops.web import views
from host_tools.ops.web.accounts import User

from .helpers import T0, Post, iso, make_engine, reset

DAY0 = T0 - T0 % 86400  # 2026-01-15; T0 is 18:00Z
VIEWER = User(id=1, username="v", role="viewer", municipality="houten", contractor=None)


def sensor(p: Post, t: int, total: float, hours: float) -> None:
    p._send(f"tele/{p.id}/SENSOR", {"Time": iso(t), "ENERGY": {
        "Total": round(total, 4), "operatingHours": round(hours, 4), "Power": 40.0, "Voltage": 230.0,
        "Current": 0.18, "Factor": 0.95}})


def feed_known_series(e, rounds: bool = True) -> None:
    """HT-0001 (cabinet K1): 18:00-23:55 every 5 min, +0.01 kWh and +5 min burning each;
    silent until 03:00 (meanwhile +0.04 kWh, +0.5 h); 03:05-03:55 as before; at 04:00 a new
    meter (0.005 kWh, 0.05 h: counted from zero); 04:05, 04:10 +0.01 / +5 min each.
    HT-0004 (K2): 18:00 5.00, 18:05 5.02, 18:10 5.05 kWh (1.0, 1.1, 1.2 h); 01:00 5.06,
    01:05 5.08 (1.25, 1.3 h). A rollup round after each chunk, as serve's would run: the one
    after HT-0004's night reports ends in the hour HT-0001 is silent, so its 03:00 report
    takes its increase from the rollup's carry (the previous window's newest report)."""
    a, b = Post(e, "HT-0001"), Post(e, "HT-0004")
    tot, hrs = 10.0, 100.0
    for k in range(72):                        # 18:00 .. 23:55
        sensor(a, T0 + 300 * k, tot + 0.01 * k, hrs + k / 12)
    for t, v, h in ((T0, 5.0, 1.0), (T0 + 300, 5.02, 1.1), (T0 + 600, 5.05, 1.2)):
        sensor(b, t, v, h)
    if rounds:
        telemetry.maintain(e.db)
    for t, v, h in ((DAY0 + 86400 + 3600, 5.06, 1.25), (DAY0 + 86400 + 3900, 5.08, 1.3)):
        sensor(b, t, v, h)
    if rounds:
        telemetry.maintain(e.db)
    tot, hrs = 10.71 + 0.04, 100 + 71 / 12 + 0.5
    three = DAY0 + 86400 + 3 * 3600
    for k in range(12):                        # 03:00 .. 03:55
        sensor(a, three + 300 * k, tot + 0.01 * k, hrs + k / 12)
    if rounds:
        telemetry.maintain(e.db)
    for k, (v, h) in enumerate(((0.005, 0.05), (0.015, 0.05 + 1 / 12), (0.025, 0.05 + 2 / 12))):
        sensor(a, three + 3600 + 300 * k, v, h)  # 04:00 .. 04:10: the new meter


# by hand: HT-0001 day 0: 71 x 0.01 kWh, 71 x 5 min; day 1: 0.04 + 11 x 0.01 + 0.005 + 2 x 0.01
# kWh, 0.5 h + 11 x 5 min + 0.05 h + 2 x 5 min. HT-0004 day 0: 0.05 kWh, 0.2 h; day 1: 0.03, 0.1.
A_DAYS = {"2026-01-15": (0.71, 71 / 12), "2026-01-16": (0.175, 0.55 + 13 / 12)}
B_DAYS = {"2026-01-15": (0.05, 0.2), "2026-01-16": (0.03, 0.1)}


def _page_days(e, pid):
    with e.db.connect() as c:
        p = views.post_detail(c, VIEWER, pid, None)
    return p, {d["day"]: (d["energy_kwh"], d["burning_h"]) for d in p["per_day"]}


def _expect_days(got, want):
    assert set(got) == set(want)
    for d, (kwh, h) in want.items():
        assert got[d][0] == pytest.approx(kwh, abs=1e-9) and got[d][1] == pytest.approx(round(h, 2), abs=1e-9), d


def test_console_figures_from_rollups_equal_the_hand_computed_series(db_url, tmp_path):
    e = make_engine(db_url, tmp_path)
    feed_known_series(e)
    # the last chunk is not rolled up yet: the post page adds it from this post's telemetry
    with e.db.connect() as c:
        assert c.execute(select(func.max(schema.energy_hourly.c.hour_t))).scalar() < DAY0 + 86400 + 4 * 3600
    p, days = _page_days(e, "HT-0001")
    _expect_days(days, A_DAYS)
    assert p["per_month"] == [{"month": "2026-01", "energy_kwh": 0.885, "burning_h": 7.55}]
    # the plots read telemetry by post and t range: the newest reading and the week before it
    assert p["readings"]["total_kwh"] == 0.025 and p["readings"]["t"] == iso(DAY0 + 86400 + 4 * 3600 + 600)
    assert len(p["history"]["t"]) == 72 + 12 + 3
    _expect_days(_page_days(e, "HT-0004")[1], B_DAYS)
    telemetry.maintain(e.db)  # serve's next round
    _expect_days(_page_days(e, "HT-0001")[1], A_DAYS)  # the same with nothing left to add
    with e.db.connect() as c:
        by = {k: views.report(c, VIEWER, k, None) for k in ("municipality", "cabinet", "month")}
    assert [(r["cabinet"], r["energy_kwh"], r["burning_h"]) for r in by["cabinet"]] == [
        ("K1", 0.885, 7.55), ("K2", 0.08, 0.3)]
    assert [(r["municipality"], r["energy_kwh"], r["burning_h"]) for r in by["municipality"]] == [
        ("houten", 0.965, 7.85)]
    assert [(r["month"], r["energy_kwh"], r["burning_h"]) for r in by["month"]] == [("2026-01", 0.965, 7.85)]
    # the raw-row reference the console used before (rise of Total per day) agrees
    with e.db.connect() as c:
        raw = c.execute(select(schema.telemetry.c.t, schema.telemetry.c.total_kwh)
                        .where(schema.telemetry.c.post_id == "HT-0001")).all()
    assert {d: round(v, 3) for d, v in views.energy_per_day(raw).items()} == {d: v[0] for d, v in A_DAYS.items()}


def test_the_report_through_the_console_and_its_csv(db_url, tmp_path):
    from .console_helpers import build_world
    w = build_world(db_url, tmp_path)
    try:
        h = w.client("ho-viewer")
        code, body, _ = h.get("/reports.csv?by=municipality")
        assert code == 200
        row = next(csv.DictReader(io.StringIO(body)))
        # build_world: HT-0001, six reports 5 min apart, +0.01 kWh and +5 min each
        assert float(row["energy_kwh"]) == pytest.approx(0.05) and float(row["burning_h"]) == pytest.approx(0.42)
        import json
        js = json.loads(h.get("/api/v1/reports?by=month")[1])
        assert js[0]["energy_kwh"] == pytest.approx(0.05) and js[0]["burning_h"] == pytest.approx(0.42)
    finally:
        w.server.stop()
        w.engine.db.dispose()


series = st.lists(st.tuples(st.integers(1, 3 * 3600),                      # seconds to the next report
                            st.one_of(st.floats(0, 0.05), st.just(-1.0)),   # increase, or a new meter
                            st.booleans()),                                 # a rollup round after it
                  min_size=1, max_size=40)


@pytest.fixture
def eng(db_url):
    e = db.open_db(db_url)
    yield e
    e.dispose()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(a=series, b=series)
def test_rollup_totals_are_the_counters_increases(eng, a, b):
    """For any monotone counter series with resets (a new meter starts from 0) and rollup
    rounds at any point, the rolled-up energy and burning hours per day are the counters'
    increases per day (a reset counts from zero), and the post page agrees with them."""
    reset(eng)
    rows, want, parts = [], {}, telemetry.Partitions()
    for pid, ser in (("P1", a), ("P2", b)):
        t, v, prev = T0, 3.0, None
        for dt, inc, roll in ser:
            t += dt
            v = (inc + 1.0) / 100 if inc < 0 else v + inc  # a new meter: a small reading from 0
            rows.append((t, {"post_id": pid, "t": t, "total_kwh": v, "hours": v * 10, "power_w": None,
                             "voltage": None, "current_a": None, "factor": None, "received_at": 0.0}, roll))
            if prev is not None:
                d = want.setdefault((pid, views._day(t)), [0.0, 0.0])
                d[0] += v - prev if v >= prev else v
            prev = v
    rows.sort(key=lambda r: r[0])
    for _t, r, roll in rows:
        with eng.begin() as c:
            telemetry.store(c, [r], parts)
        if roll:
            telemetry.maintain(eng, retention_days=10_000)
    with eng.connect() as c:
        page = {pid: views.post_energy(c, pid) for pid in ("P1", "P2")}
    telemetry.maintain(eng, retention_days=10_000)
    got = {(r["post_id"], views._day(r["start"])): r for r in telemetry.energy(eng, "day")}
    for key, (kwh, _h) in want.items():
        assert got[key]["energy_kwh"] == pytest.approx(kwh, abs=1e-9), key
        assert got[key]["burn_h"] == pytest.approx(kwh * 10, abs=1e-7), key
        assert page[key[0]][key[1]][0] == pytest.approx(kwh, abs=1e-9), key
    assert sum(r["energy_kwh"] for r in got.values()) == pytest.approx(sum(v[0] for v in want.values()), abs=1e-9)


def test_migration_moves_the_console_readings_into_telemetry_and_back(db_url, tmp_path):
    eng = db.make_engine(db.resolve_url(db_url))
    db.migrate(eng, "0005_sessions")
    with eng.begin() as c:
        c.execute(text("INSERT INTO readings (post_id, t, power_w, voltage_v, current_a, factor, total_kwh) "
                       "VALUES ('HT-0001', :t, 40, 230, 0.18, 0.95, :k)"),
                  [{"t": T0 + 300 * k, "k": 1.0 + 0.01 * k} for k in range(5)] + [{"t": 5, "k": 0.0}])
    db.migrate(eng)
    with eng.connect() as c:
        got = c.execute(select(schema.telemetry.c.t, schema.telemetry.c.total_kwh, schema.telemetry.c.voltage)
                        .order_by(schema.telemetry.c.t)).all()
        tables = set(eng.dialect.get_table_names(c))
    assert [r[0] for r in got] == [T0 + 300 * k for k in range(5)]  # 1970 has no place in telemetry
    assert got[-1][1] == pytest.approx(1.04) and got[0][2] == 230 and "readings" not in tables
    telemetry.maintain(eng)
    assert sum(r["energy_kwh"] for r in telemetry.energy(eng, "day")) == pytest.approx(0.04)
    command.downgrade(db.alembic_config(eng), "0005_sessions")
    with eng.connect() as c:
        back = c.execute(text("SELECT t, total_kwh FROM readings ORDER BY t")).all()
    assert [r[0] for r in back] == [T0 + 300 * k for k in range(5)]
    db.migrate(eng)
    eng.dispose()
