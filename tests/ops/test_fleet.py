"""Scale-out ingest: two `lamppost-ops serve` workers in one MQTT 5 shared-subscription
group on a real (persistent) mosquitto and a real PostgreSQL, fed by 500 virtual posts of
`testbed.fleet_load`, while one worker is killed -9 mid-stream (and comes back with its
session) and the broker is restarted: nothing lost, nothing stored twice, one order per
fault. Plus the telemetry history (partitions, rollups, retention) on both databases."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from host_tools.ops import db, schema, telemetry

from .fleet_run import ROOT, night
from .helpers import T0


@pytest.mark.timeout(300)
def test_two_workers_lose_nothing_through_a_kill_and_a_broker_restart(pg_cluster, tmp_path):
    if not shutil.which("mosquitto"):
        pytest.skip("shared subscriptions and a persistent broker need mosquitto 2 "
                    "(apt-get install mosquitto)")
    url = pg_cluster.new_database()
    # tele_period 600 s (a valid firmware setting) halves the telemetry a small test makes
    r = night(url, tmp_path, n_posts=500, hours=2.0, workers=2, kill_every=5, broker_restart_at=8,
              fault_rate=0.02, cabinet_rate=0.1, speed=900.0, period=600)
    info = json.dumps({k: v for k, v in r.items() if not k.startswith("latency")}, default=str)
    assert r["kills"] >= 1 and r["broker_restarts"] == 1, info
    assert r["settled"] and r["acked"] == r["sent_qos1"], info  # every post's outbox emptied
    assert r["lost"] == 0, info
    assert r["stored_twice"] == 0, info
    assert r["orders_duplicated"] == 0, info
    assert r["faults"] > 0 and r["faults_one_order"] == r["faults"], info
    assert r["orders_without_fault"] == 0, info
    assert r["telemetry_rows"] > 0 and r["worker_errors"] == [], info


@pytest.mark.timeout(300)
def test_edge_brokers_bridged_to_a_core_lose_nothing_through_a_kill_and_a_core_restart(pg_cluster, tmp_path):
    """More posts than one mosquitto holds: posts on two edge brokers bridged (QoS 1) to the
    core the workers subscribe on (deploy/mosquitto/edge.conf), one generator process per
    edge. A worker killed -9 and the core restarted mid-night: what an edge acknowledged to
    a post reaches the database once, every fault is one order."""
    if not shutil.which("mosquitto"):
        pytest.skip("bridges and shared subscriptions need mosquitto 2 (apt-get install mosquitto)")
    from .fleet_run import night_scaled
    url = pg_cluster.new_database()
    r = night_scaled(url, tmp_path, n_posts=200, hours=0.5, edges=2, workers=2, kill_every_s=4,
                     broker_restart_at_s=8, fault_rate=0.05, cabinet_rate=0.2, speed=90.0, period=600,
                     interval=1.0, settle_s=180)
    info = json.dumps({k: v for k, v in r.items() if not k.startswith("latency")}, default=str)
    assert r["kills"] >= 1 and r["broker_restarts"] == 1, info
    assert r["settled"] and r["acked"] == r["sent_qos1"], info
    assert r["lost"] == 0 and r["stored_twice"] == 0 and r["orders_duplicated"] == 0, info
    assert r["faults"] > 0 and r["faults_one_order"] == r["faults"], info
    assert r["orders_without_fault"] == 0 and r["worker_errors"] == [], info


def sensor(pid: str, t: int, kwh: float, hours: float) -> dict:
    return {"post_id": pid, "t": t, "total_kwh": kwh, "hours": hours, "power_w": 40.0, "voltage": 230.0,
            "current_a": 0.18, "factor": 0.95, "received_at": 0.0}


def test_telemetry_rollups_and_retention(db_url):
    """Energy per hour and day comes from the counters' increases, a resent report is
    stored once, a meter that went back to 0 adds nothing, and retention drops old days
    (whole partitions on PostgreSQL) while the energy report reads the rollups."""
    eng = db.open_db(db_url)
    parts = telemetry.Partitions()
    day0 = T0 - T0 % 86400
    rows = [sensor("P1", day0 + 18 * 3600 + i * 300, 1.0 + i * 0.01, 100 + i * 300 / 3600)
            for i in range(24)]  # 2 h at 40 W-ish: 0.01 kWh and 5 min every 5 min
    rows += [sensor("P1", day0 + 5 * 86400 + 3600, 0.0, 0.0), sensor("P1", day0 + 5 * 86400 + 3900, 0.02, 0.1)]
    with eng.begin() as c:
        assert telemetry.store(c, rows, parts) == len(rows)
        assert telemetry.store(c, rows[:3], parts) == 0  # resent: stored once
    if eng.dialect.name == "postgresql":
        with eng.connect() as c:
            made = telemetry.existing(c)
        assert day0 in made and day0 + 5 * 86400 in made and day0 + 7 * 86400 in made  # ahead
    out = subprocess.run([sys.executable, "-m", "host_tools.ops", "--db", db_url, "--json", "telemetry",
                          "maintain", "--retention-days", "30"], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    days = telemetry.energy(eng, "day", "P1")
    assert [d["start"] for d in days] == [day0, day0 + 5 * 86400]
    assert days[0]["energy_kwh"] == pytest.approx(0.23, abs=1e-6)  # 23 increases of 0.01
    assert days[0]["burn_h"] == pytest.approx(23 * 300 / 3600, abs=1e-6)
    assert days[1]["energy_kwh"] == pytest.approx(0.02, abs=1e-6)  # the reset to 0 adds nothing
    hours = telemetry.energy(eng, "hour", "P1")
    assert sum(h["energy_kwh"] for h in hours) == pytest.approx(0.25, abs=1e-6)
    out = subprocess.run([sys.executable, "-m", "host_tools.ops", "--db", db_url, "--json", "telemetry",
                          "maintain", "--retention-days", "2"], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    with eng.connect() as c:
        left = sorted(c.execute(select(schema.telemetry.c.t)).scalars())
    assert left and min(left) >= day0 + 3 * 86400  # day0's night is past retention
    assert [d["start"] for d in telemetry.energy(eng, "day", "P1")] == [day0 + 5 * 86400]
    out = subprocess.run([sys.executable, "-m", "host_tools.ops", "--db", db_url, "telemetry", "energy"],
                         cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0 and "P1" in out.stdout and "0.02" in out.stdout, out.stdout


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(st.sampled_from(["Time", "ENERGY", "Stored", "x"]),
                       st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True),
                                 st.text(max_size=30),
                                 st.sampled_from(["2026-01-15T17:00:00Z", "1999-12-31T23:59:59Z",
                                                  "2026-13-01T00:00:00Z"]),
                                 st.dictionaries(st.sampled_from(["Total", "operatingHours", "Power", "Voltage",
                                                                  "Current", "Factor", "y"]),
                                                 st.one_of(st.none(), st.booleans(), st.integers(),
                                                           st.floats(), st.text(max_size=5)), max_size=7)),
                       max_size=4))
def test_any_sensor_payload_is_stored_or_rejected_with_a_reason(d):
    """What the broker hands the service as SENSOR: either the collector's validator and
    telemetry.row accept it (a row with a sane post time and numbers or None) or a Reject /
    Bad names why; nothing else escapes (serve counts those, never crashes)."""
    from host_tools.ops.serve import Reject, validate_sensor
    try:
        pid, data = validate_sensor("tele/P1/SENSOR", json.dumps(d).encode())
        r = telemetry.row(pid, data, 0.0)
    except (Reject, telemetry.Bad) as e:
        assert str(e)
        return
    assert telemetry.MIN_T <= r["t"] < telemetry.MAX_T
    assert all(r[k] is None or isinstance(r[k], float) for k in ("total_kwh", "hours", "power_w", "voltage"))


@pytest.mark.timeout(180)
def test_backstop_keeps_alarms_sent_before_the_group_resubscribes(pg_cluster, tmp_path):
    """mosquitto 2.0 does not restore shared subscriptions from its persistence file: what
    posts publish after a broker restart, before the group's workers are back, reaches no
    member. The backstop's plain persistent subscription is restored, queues those alarms,
    and the worker stores them when it returns."""
    if not shutil.which("mosquitto"):
        pytest.skip("needs mosquitto 2 (apt-get install mosquitto)")
    import time

    import paho.mqtt.client as mqtt

    from simulator.broker import Broker

    from .fleet_run import Worker, prepare
    url = pg_cluster.new_database()
    prepare(url, [("HT-0001", "K1")], tmp_path)
    with Broker("mosquitto", persistent=True) as b:
        w = Worker(url, b.addr, 1, tmp_path, "ops", backstop=True)
        w.start()
        end = time.monotonic() + 60
        while not w.subscribed() and time.monotonic() < end:
            time.sleep(0.1)
        assert w.subscribed()
        w.kill9()
        b.restart(graceful=True)
        pub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="lamppost-HT-0001")
        pub.connect(b.host, b.port)
        pub.loop_start()
        for i in range(1, 6):
            pub.publish("stat/HT-0001/ALARM", json.dumps(
                {"t": "2026-01-15T18:00:0%dZ" % i, "id": "HT-0001", "seq": i, "ev": "alarm", "alarm": "lampFailure",
                 "state": "raised" if i % 2 else "cleared", "count": i, "inc": "0000beef", "dseq": i}),
                qos=1).wait_for_publish(10)
        pub.loop_stop()
        pub.disconnect()
        w.start()
        eng = db.open_db(url)
        end = time.monotonic() + 90
        n = 0
        while time.monotonic() < end:
            with eng.connect() as c:
                n = len(c.execute(select(schema.messages.c.dseq)).all())
            if n == 5:
                break
            time.sleep(0.2)
        w.stop()
    assert n == 5
