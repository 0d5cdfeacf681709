"""Fleet ingest: `lamppost-ops serve` workers in a shared-subscription group on a real
mosquitto and PostgreSQL (docs/fleet.md).

1. Sustained ingest: N QoS 1 messages (SENSOR and EVENT, as posts send them) published as
   fast as one publisher goes; messages/s until every one is a committed row, with 1, 2
   and 4 workers, as a ratio of what a bare paho subscriber (no storage) reads from the
   same broker in the same run (the ceiling here).
2. A simulated night of LAMPPOST_FLEET_LOAD_POSTS posts (testbed/fleet_load.py):
   wall time, broker and database size, faults -> exactly one order, latency from the
   post's `t` to the order (virtual seconds: persistence is 900 s of post time). Faults at
   4 % of posts a night (at most one per cabinet) and a supply sag on 10 % of cabinets:
   far above the field's rate, so a short night has faults to count.
3. Chaos during such a night: a worker killed -9 every few steps, the broker restarted
   once: lost, stored twice, orders duplicated.
4. The same night on SQLite with one worker: a small installation's figures.
Env: LAMPPOST_FLEET_LOAD_POSTS (default 200), LAMPPOST_FLEET_LOAD_HOURS (default 8),
LAMPPOST_FLEET_INGEST_MSGS (default 6000).

At scale (LAMPPOST_FLEET_SCALE_POSTS set, e.g. 100000): instead of the above, the night runs
on mosquitto edge brokers (at most EDGE_POSTS posts each: one process's file descriptors)
bridged to a core mosquitto where the workers' shared subscriptions are, with one
generator process per edge (tests/ops/fleet_run.night_scaled), a plain run and a chaos run.
Its table goes to build/bench/bench_fleet_scale_<posts>.txt (docs block of that name), its JSON
to build/bench/fleet_scale_<posts>.json. LAMPPOST_FLEET_SCALE_HOURS (default 0.5: the dusk
burst, the faults, their orders; a full night does not fit a session here, docs/fleet.md),
_PERIOD (tele_period, default 1800: a valid firmware setting, two telemetry rounds in the
half hour, so the window fits), _WORKERS (default 4), _RATE (msg/s the workers take in,
default 400, measured here under load: the night's telemetry is sent at 60 % of it),
_SPEED (virtual s per wall s; default from _RATE), _KILL_S (a worker killed every this
many s, default 30), _RUNS (plain,chaos), _EDGE_POSTS (posts per edge and process, 17000).
"""
from __future__ import annotations

import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from sqlalchemy import func, select

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from host_tools.ops import db, schema  # noqa: E402
from simulator.broker import Broker  # noqa: E402
from tests.ops.fleet_run import T0, Worker, db_bytes, night, night_scaled, pct, prepare  # noqa: E402
from tests.ops.pg import Cluster, server_bindir  # noqa: E402

POSTS = int(os.environ.get("LAMPPOST_FLEET_LOAD_POSTS", "200"))
HOURS = float(os.environ.get("LAMPPOST_FLEET_LOAD_HOURS", "8"))
MSGS = int(os.environ.get("LAMPPOST_FLEET_INGEST_MSGS", "6000"))
SCALE = int(os.environ.get("LAMPPOST_FLEET_SCALE_POSTS", "0"))
# posts per edge broker and generator process (20,000 descriptors a process)
EDGE_POSTS = int(os.environ.get("LAMPPOST_FLEET_SCALE_EDGE_POSTS", "17000"))
# bench/__main__ keeps what this module printed under this name: the scale run has its own block
TXT = f"bench_fleet_scale_{SCALE}" if SCALE else "bench_fleet_ingest"


def _messages(n: int, posts: int = 200):
    """(topic, payload) of n messages from `posts` posts: 4 SENSOR to 1 EVENT."""
    out = []
    for i in range(n):
        p = f"FL-{(i % posts) // 20:05d}-{i % 20:02d}"
        k = i // posts
        t = T0 + k * 300
        iso = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))
        if i % 5 == 4:
            out.append((f"stat/{p}/EVENT", '{"t": "%s", "id": "%s", "seq": %d, "ev": "switch", "lamp": "on", '
                        '"dim": 100, "inc": "0000abcd", "dseq": %d}' % (iso, p, k + 1, k + 1)))
        else:
            out.append((f"tele/{p}/SENSOR", json.dumps(
                {"Time": iso, "ENERGY": {"Total": round(k * 0.0033, 4), "operatingHours": k / 12,
                                         "Power": 40.0, "Voltage": 230.0, "Current": 0.18, "Factor": 0.95}})))
    return out


def _publish(host, port, msgs) -> float:
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="bench-pub")
    c.max_inflight_messages_set(200)
    c.connect(host, port)
    c.loop_start()
    t0 = time.monotonic()
    infos = [c.publish(t, p, qos=1) for t, p in msgs]
    for i in infos:
        i.wait_for_publish(120)
    c.loop_stop()
    c.disconnect()
    return time.monotonic() - t0


def bare_rate(msgs) -> float:
    """Messages/s a plain paho subscriber (shared group, QoS 1, no storage) receives."""
    with Broker("mosquitto", persistent=True) as b:
        got = {"n": 0, "t0": None, "t1": None}
        done = threading.Event()

        def on_msg(c, u, m):
            got["n"] += 1
            if got["n"] == len(msgs):
                got["t1"] = time.monotonic()
                done.set()
        c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="bare", protocol=mqtt.MQTTv5)
        c.on_message = on_msg
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = 3600
        c.connect(b.host, b.port, clean_start=False, properties=props)
        c.subscribe([("$share/bare/tele/+/SENSOR", 1), ("$share/bare/stat/+/EVENT", 1)])
        c.loop_start()
        time.sleep(0.5)
        t0 = time.monotonic()
        _publish(b.host, b.port, msgs)
        done.wait(300)
        c.loop_stop()
        return len(msgs) / ((got["t1"] or time.monotonic()) - t0)


def worker_rate(url: str, tmp: Path, workers: int, msgs) -> float:
    """Messages/s until every message is a committed row (telemetry or messages)."""
    posts = sorted({t.split("/")[1] for t, _ in msgs})
    prepare(url, [(p, "C" + p.split("-")[1]) for p in posts], tmp)
    eng = db.open_db(url)
    with Broker("mosquitto", persistent=True) as b:
        ws = [Worker(url, b.addr, i + 1, tmp, "ops", interval=5.0) for i in range(workers)]
        for w in ws:
            w.start()
        end = time.monotonic() + 60
        while not all(w.subscribed() for w in ws) and time.monotonic() < end:
            time.sleep(0.1)
        t0 = time.monotonic()
        threading.Thread(target=_publish, args=(b.host, b.port, msgs), daemon=True).start()
        n = 0
        while time.monotonic() - t0 < 600:
            with eng.connect() as c:
                n = (c.execute(select(func.count()).select_from(schema.telemetry)).scalar()
                     + c.execute(select(func.count()).select_from(schema.messages)).scalar())
            if n >= len(msgs):
                break
            time.sleep(0.1)
        dt = time.monotonic() - t0
        for w in ws:
            w.stop()
    eng.dispose()
    return n / dt


def _night_row(name: str, r: dict, url: str) -> dict:
    lv = r["latency_virtual_s"]
    return {"run": name, "posts": r["posts"], "wall_s": r["total_wall_s"], "msgs": sum(r["sent"].values()),
            "broker_db_kb": r["broker_db_bytes"] // 1024, "db_mb": round(db_bytes(url) / 2**20, 1),
            "faults": r["faults"], "one_order": r["faults_one_order"], "lost": r["lost"],
            "twice": r["stored_twice"], "orders_dup": r["orders_duplicated"],
            "lat_p50_s": pct(lv, 0.5), "lat_p99_s": pct(lv, 0.99),
            "wall_p50_s": pct(r["latency_wall_s"], 0.5), "wall_p99_s": pct(r["latency_wall_s"], 0.99),
            "kills": r["kills"],
            "broker_restarts": r["broker_restarts"], "dup_skipped": r["duplicates_seen"]}


def _table(rows, cols) -> str:
    cells = [cols] + [["" if r.get(c) is None else (f"{r[c]:.0f}" if isinstance(r[c], float) and c.startswith("lat")
                       else f"{r[c]:.1f}" if isinstance(r[c], float) and c.startswith("wall_p")
                       else str(r[c])) for c in cols] for r in rows]
    w = [max(len(x[i]) for x in cells) for i in range(len(cols))]
    return "\n".join("  ".join(v.rjust(w[i]) for i, v in enumerate(x)) for x in cells)


def _env(name: str, default: str) -> str:
    return os.environ.get("LAMPPOST_FLEET_SCALE_" + name, default)


def scale(out: Path) -> None:
    """The night at LAMPPOST_FLEET_SCALE_POSTS posts on edge brokers bridged to a core."""
    hours, period = float(_env("HOURS", "0.5")), int(_env("PERIOD", "1800"))
    workers, rate = int(_env("WORKERS", "4")), float(_env("RATE", "400"))
    speed = float(_env("SPEED", "0") or 0) or round(0.6 * rate * period / (2 * SCALE), 2)
    kill_s = float(_env("KILL_S", "30"))
    runs = [r.strip() for r in _env("RUNS", "plain,chaos").split(",") if r.strip()]
    edges = -(-SCALE // EDGE_POSTS)
    night_wall = hours * 3600 / speed
    result: dict = {"posts": SCALE, "hours": hours, "period": period, "workers": workers, "edges": edges,
                    "speed": speed, "kill_every_s": kill_s, "nights": [], "details": []}
    import signal

    def _stop(*_):  # `kill PID` stops the run cleanly: brokers, workers, generators, PostgreSQL
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, _stop)
    cluster = Cluster(server_bindir())
    try:
        for run in runs:
            chaos = run == "chaos"
            with tempfile.TemporaryDirectory() as d:
                url = cluster.new_database()
                r = night_scaled(url, Path(d), SCALE, hours, edges, workers=workers,
                                 kill_every_s=kill_s if chaos else 0,
                                 broker_restart_at_s=night_wall / 2 if chaos else None,
                                 fault_rate=0.04, cabinet_rate=0.1, speed=speed, period=period,
                                 settle_s=max(900.0, night_wall))
                row = _night_row(f"PostgreSQL, {workers} workers, {edges} edges" + (", chaos" if chaos else ""),
                                 r, url)
            row["msg_s"] = round(row["msgs"] / r["total_wall_s"])
            row["core_mb"], row["edges_mb"] = (round(r["broker_rss_mb"]["core"], 1),
                                               round(r["broker_rss_mb"]["edges"], 1))
            result["nights"].append(row)
            result["details"].append({k: v for k, v in r.items() if not k.startswith("latency")})
            (out / f"fleet_scale_{SCALE}.json").write_text(json.dumps(result, indent=1, default=str))
    finally:
        cluster.stop()
    print_scale(result)
    write_summary(out)


def _s(v) -> str:
    """A latency for the summary: '-' where no order gave one."""
    return "-" if v is None else f"{v:.1f}"


def write_summary(out: Path) -> str:
    """The README's few lines (bench_fleet_summary.txt, its block): the sustained-ingest ratios,
    the chaos night and SQLite from the default run (fleet_ingest.json) and the largest scale
    run on record (fleet_scale_<posts>.json), each with the date it was measured."""
    lines = []

    def day(p: Path) -> str:
        return time.strftime("%Y-%m-%d", time.gmtime(p.stat().st_mtime))

    src = out / "fleet_ingest.json"
    if src.is_file():
        r = json.loads(src.read_text())
        ing = {row["subscriber"]: row for row in r.get("ingest", [])}
        bare = ing.get("bare paho (ceiling)", {}).get("msg_s")
        ws = [(n, ing.get(f"{n} worker(s) -> PostgreSQL")) for n in (1, 2, 4)]
        lines.append(f"sustained ingest into PostgreSQL ({day(src)}): "
                     + ", ".join(f"{n} worker{'s' if n > 1 else ''} {w['msg_s']} msg/s ({w['ratio']:.2f})"
                                 for n, w in ws if w)
                     + f" of a bare subscriber's {bare} msg/s")
        for row in r.get("nights", []):
            lines.append(f"night of {row['posts']} posts, {row['run']}: {row['one_order']}/{row['faults']} "
                         f"faults one order, lost {row['lost']}, stored twice {row['twice']}, orders "
                         f"duplicated {row['orders_dup']}, kills {row['kills']}, broker restarts "
                         f"{row['broker_restarts']}, wall {row['wall_s']:.0f} s")
    scaled = sorted(out.glob("fleet_scale_*.json"), key=lambda p: int(p.stem.rsplit("_", 1)[1]))
    if scaled:
        src = scaled[-1]
        r = json.loads(src.read_text())
        for row in r.get("nights", []):
            lines.append(f"dusk of {row['posts']} posts ({day(src)}, {r['hours']:g} h virtual, "
                         f"{row['run']}): {row['one_order']}/{row['faults']} faults "
                         f"one order, lost {row['lost']}, stored twice {row['twice']}, orders duplicated "
                         f"{row['orders_dup']}, kills {row['kills']}, wall {row['wall_s']:.0f} s, "
                         f"alarm -> order p50/p99 {_s(row['wall_p50_s'])}/{_s(row['wall_p99_s'])} s")
    text = "\n".join(lines) + "\n"
    (out / "bench_fleet_summary.txt").write_text(text)
    return text


def print_scale(result: dict) -> None:
    """The scale run's table from its JSON (fleet_scale_<posts>.json): printed by the run, and
    again from the file (`python -m bench.bench_fleet_ingest --reprint FILE`) when only the
    layout changed."""
    print(f"A night's dusk at scale: {result['posts']} posts on {result['edges']} mosquitto edge brokers bridged (QoS 1) to one "
          f"core mosquitto, {result['edges']} generator processes, {result['workers']} workers -> PostgreSQL; {result['hours']:g} h virtual "
          f"at {result['speed']:g}x (tele_period {result['period']} s: STATE+SENSOR; every post's LWT and switch-on EVENT at "
          f"dusk), faults at 4 % of posts and 10 % of cabinets, chaos: a worker killed -9 every {result['kill_every_s']:g} s "
          "and the core broker restarted once; wall_s = the whole run (connect, dusk, night, every order); "
          "broker_db_kb = the core's persistence file, core_mb/edges_mb = the brokers' resident memory; "
          "lat = post t -> order in virtual s (it stops at the generators' clock when they stop: an order "
          "opened later shows that), wall = alarm published -> order, wall s:")
    print(_table(result["nights"], ["run", "posts", "wall_s", "msgs", "msg_s", "broker_db_kb", "core_mb",
                                    "edges_mb", "db_mb",
                                    "faults", "one_order", "lost", "twice", "orders_dup", "lat_p50_s",
                                    "lat_p99_s", "wall_p50_s", "wall_p99_s", "kills", "broker_restarts"]))


def main(out: Path) -> None:
    if server_bindir() is None:
        raise SystemExit("bench_fleet_ingest needs PostgreSQL server binaries and mosquitto")
    if SCALE:
        return scale(out)
    cluster = Cluster(server_bindir())
    result: dict = {"posts": POSTS, "hours": HOURS, "ingest_msgs": MSGS}
    try:
        msgs = _messages(MSGS)
        bare = bare_rate(msgs)
        rows = [{"subscriber": "bare paho (ceiling)", "msg_s": round(bare), "ratio": 1.0}]
        for n in (1, 2, 4):
            with tempfile.TemporaryDirectory() as d:
                r = worker_rate(cluster.new_database(), Path(d), n, msgs)
            rows.append({"subscriber": f"{n} worker(s) -> PostgreSQL", "msg_s": round(r),
                         "ratio": round(r / bare, 3)})
        result["ingest"] = rows
        print(f"Sustained ingest, {MSGS} QoS 1 messages (4 SENSOR : 1 EVENT), one publisher:")
        print(_table(rows, ["subscriber", "msg_s", "ratio"]))
        # the night is paced at 70 % of what two workers took in above, so latency measures
        # the service, not a backlog (a post sends 2 telemetry messages a 300 s period)
        speed = max(400.0, 0.7 * rows[2]["msg_s"] * 300 / (2 * POSTS))  # floor: the time budget
        result["night_speed"] = round(speed)
        nights = []
        with tempfile.TemporaryDirectory() as d:
            url = cluster.new_database()
            r = night(url, Path(d), POSTS, HOURS, workers=2, fault_rate=0.04, cabinet_rate=0.1, settle_s=300,
                      speed=speed)
            nights.append(_night_row("PostgreSQL, 2 workers", r, url))
        with tempfile.TemporaryDirectory() as d:
            url = cluster.new_database()
            steps = int(HOURS * 12)
            r = night(url, Path(d), POSTS, HOURS, workers=2, kill_every=max(4, steps // 6),
                      broker_restart_at=steps // 2 + 1, fault_rate=0.04, cabinet_rate=0.1, settle_s=300,
                      speed=speed)
            nights.append(_night_row("PostgreSQL, 2 workers, chaos", r, url))
        with tempfile.TemporaryDirectory() as d:
            url = str(Path(d) / "ops.sqlite")
            r = night(url, Path(d), POSTS, HOURS, workers=1, share=None, fault_rate=0.04,
                      cabinet_rate=0.1, settle_s=300, speed=speed)
            nights.append(_night_row("SQLite, 1 worker", r, url))
        result["nights"] = nights
        print(f"\nA night of {POSTS} posts, {HOURS:g} h virtual at {speed:.0f}x, STATE+SENSOR every 300 s "
              "(LAMPPOST_FLEET_LOAD_POSTS scales it); lat = post t -> order in virtual s (persistence "
              "alone is 900 s and the post's next STATE must show it passed; a second of lag is "
              f"{speed:.0f} virtual s), wall = "
              "alarm published -> order, wall s; dup_skipped = redeliveries and backstop copies "
              "the unique key turned away:")
        print(_table(nights, ["run", "posts", "wall_s", "msgs", "broker_db_kb", "db_mb", "faults", "one_order",
                              "lost", "twice", "orders_dup", "lat_p50_s", "lat_p99_s", "wall_p50_s", "wall_p99_s", "kills",
                              "broker_restarts", "dup_skipped"]))
    finally:
        cluster.stop()
    (out / "fleet_ingest.json").write_text(json.dumps(result, indent=1, default=str))
    write_summary(out)


if __name__ == "__main__" and sys.argv[1:2] == ["--reprint"]:
    _res = json.loads(Path(sys.argv[2]).read_text())
    for _row in _res["nights"]:
        _row["core_mb"], _row["edges_mb"] = round(_row["core_mb"], 1), round(_row["edges_mb"], 1)
    print_scale(_res)
