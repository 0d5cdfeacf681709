"""`lamppost-sim fleet-load` against a real broker: what a subscriber sees is the firmware's
protocol (every message passes the collector's validator), the outbox's ids count up per
post, faults raise the catalogue's alarms, and bad options exit 2."""
from __future__ import annotations

import csv
import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt

from host_tools.collector.validate import validate
from simulator.broker import Broker, kind_from_env
from simulator.scenario import CAUSES

ROOT = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-m", "testbed.cli", "fleet-load"]


def test_fleet_load_speaks_the_firmware_protocol(tmp_path):
    with Broker(kind_from_env()) as b:
        got, lock = [], threading.Lock()
        sub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="watch")
        sub.on_message = lambda c, u, m: (lock.acquire(), got.append((m.topic, m.payload, m.qos, m.retain)),
                                          lock.release())
        ready = threading.Event()
        sub.on_subscribe = lambda *a: ready.set()
        sub.connect(b.host, b.port)
        sub.subscribe("#", 1)
        sub.loop_start()
        assert ready.wait(30)
        r = subprocess.run([*CLI, "--broker", b.addr, "--posts", "40", "--hours", "2", "--fault-rate", "0.05",
                            "--cabinet-rate", "0.5", "--seed", "3", "--json"], cwd=ROOT, capture_output=True,
                           text=True, timeout=300)
        assert r.returncode == 0, r.stderr
        fig = json.loads(r.stdout)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and len(got) < sum(fig["sent"].values()):
            time.sleep(0.1)
        sub.loop_stop()
        retained = []  # a new subscriber gets every post's LWT from the broker's store
        late = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="late")
        late.on_message = lambda c, u, m: retained.append((m.topic, m.payload, m.retain))
        late.connect(b.host, b.port)
        late.subscribe("tele/+/LWT", 1)
        late.loop_start()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and len(retained) < 40:
            time.sleep(0.1)
        late.loop_stop()
    assert len(retained) == 40 and all(p == b"Online" and r for _, p, r in retained)
    assert fig["unacked"] == 0 and fig["posts"] == 40 and fig["faults"] >= 1
    kinds, dseq, alarms = {}, {}, []
    for topic, payload, qos, retain in got:
        kind, pid, d = validate(topic, payload)  # raises on anything a post would not send
        kinds[kind] = kinds.get(kind, 0) + 1
        if kind in ("alarm", "event"):
            assert qos == 1
            dseq.setdefault((pid, d["inc"]), []).append(d["dseq"])
            assert list(d)[:4] == ["t", "id", "seq", "ev"]  # report.py's leading fields
        if kind == "alarm":
            alarms.append(d["alarm"])
        if kind == "lwt":
            assert payload == b"Online"
    assert kinds["state"] == kinds["sensor"] == fig["sent"]["state"]
    assert kinds["event"] == 40 and kinds["lwt"] >= 40
    assert len({p for p, _ in dseq}) == 40  # one incarnation per post
    for seqs in dseq.values():
        assert sorted(seqs) == list(range(1, len(seqs) + 1))  # the outbox's ids, none skipped
    catalogue = {a for v in CAUSES.values() for a in v}
    assert alarms and set(alarms) <= catalogue


def test_fleet_load_register_and_bad_options(tmp_path):
    out = tmp_path / "fleet.csv"
    r = subprocess.run([*CLI, "--broker", "127.0.0.1:1", "--posts", "45", "--register-out", str(out)],
                       cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == 45 and len({x["cabinet"] for x in rows}) == 3  # 20 posts a cabinet
    for bad in (["--posts", "0"], ["--start", "yesterday"], ["--broker", "host:notaport"]):
        args = ["--broker", "127.0.0.1:1", *bad] if bad[0] != "--broker" else bad
        r = subprocess.run([*CLI, *args], cwd=ROOT, capture_output=True, text=True)
        assert r.returncode == 2 and "fleet-load" in r.stderr, (bad, r.stderr)
    r = subprocess.run([*CLI, "--broker", "127.0.0.1:1", "--posts", "2", "--hours", "0.1",
                        "--connect-timeout", "2"], cwd=ROOT,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 1 and "broker" in r.stderr  # nothing listens there: a clear error, no hang


def test_fleet_load_spreads_processes_over_several_brokers():
    """--broker A,B with --procs 2: each process's posts connect to their own broker (an edge),
    whole cabinets each, and together they are the fleet: every post on exactly one broker."""
    with Broker(kind_from_env()) as a, Broker(kind_from_env()) as b:
        r = subprocess.run([*CLI, "--broker", f"{a.addr},{b.addr}", "--procs", "2", "--posts", "80",
                            "--hours", "0.5", "--fault-rate", "0", "--cabinet-rate", "0", "--json"],
                           cwd=ROOT, capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stderr
        fig = json.loads(r.stdout)
        assert fig["posts"] == 80 and fig["procs"] == 2 and fig["unacked"] == 0
        seen = []
        for br in (a, b):
            got: set[str] = set()
            c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="late")
            c.on_message = lambda cl, u, m, got=got: got.add(m.topic.split("/")[1])
            c.connect(br.host, br.port)
            c.subscribe("tele/+/LWT", 1)  # retained: who has connected to this broker
            c.loop_start()
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and len(got) < 40:
                time.sleep(0.1)
            time.sleep(0.3)
            c.loop_stop()
            seen.append(got)
    assert len(seen[0]) == len(seen[1]) == 40 and not seen[0] & seen[1]
    for s in seen:  # whole cabinets: FL-<cabinet>-<n>
        assert all(len({p for p in s if p.split("-")[1] == cab}) == 20 for cab in {p.split("-")[1] for p in s})


def test_posts_on_a_loopback_broker_connect_from_many_source_addresses():
    """paho binds every connection before it connects, so one source address gives a
    machine about 28,000 client sockets in all; the generator spreads posts talking to a
    loopback broker over 127.1.0.x, leaving 127.0.0.1's ports to everything else."""
    from testbed.fleet_load import LOOPBACK_SOURCES, Fleet, plan, source_address

    assert source_address("FL-00001-02", "10.0.0.5") == "" == source_address("FL-00001-02", "broker.example")
    assert source_address("FL-00001-02", "::1") == ""
    spread = {source_address(f"FL-{i // 20:05d}-{i % 20:02d}", "127.0.0.1") for i in range(5000)}
    assert len(spread) == LOOPBACK_SOURCES and all(a.startswith("127.1.0.") for a in spread)
    with Broker(kind_from_env()) as b:
        posts, _ = plan(60, 20, 1_768_496_400, 1, 0, 0, 1)
        fleet = Fleet(b.host, b.port, posts, [], 1_768_496_400, 1)
        try:
            fleet.connect_all(60)
            local = {p.id: p.client.socket().getsockname()[0] for p in fleet.posts}
        finally:
            fleet.close()
    assert all(a == source_address(pid, "127.0.0.1") for pid, a in local.items())
    assert len(set(local.values())) > 20
