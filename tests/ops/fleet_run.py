"""One fleet night against N `lamppost-ops serve` workers, with chaos, and its audit against
the database: shared by tests/ops/test_fleet.py (small) and bench/bench_fleet_ingest.py."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import func, select

from host_tools.ops import db, register, schema
from simulator.broker import Broker
from simulator.scenario import CAUSES
from testbed.fleet_load import Fleet, clock_at, plan, register_csv

ROOT = Path(__file__).resolve().parents[2]
T0 = 1_768_496_400  # 2026-01-15T17:00:00Z, dusk in the Netherlands


class Worker:
    """One `lamppost-ops serve` process in the shared-subscription group."""

    def __init__(self, url: str, broker: str, n: int, logdir: Path, share: str | None = "ops",
                 interval: float = 0.5, backstop: bool = False):
        self.cmd = [sys.executable, "-m", "host_tools.ops", "--db", url, "serve", "--broker", broker,
                    "--health", "127.0.0.1:0", "--interval", str(interval),
                    "--client-id", f"ops-{n}"] + (["--share", share] if share else []) \
            + (["--backstop"] if backstop else [])
        self.sessions = 2 if backstop else 1
        self.log = logdir / f"worker-{n}.log"
        self.proc: subprocess.Popen | None = None
        self.kills = 0

    def start(self) -> None:
        self.connects_before = self.log.read_text().count('"broker connected"') if self.log.exists() else 0
        self.proc = subprocess.Popen(self.cmd, cwd=ROOT, stdout=subprocess.DEVNULL,
                                     stderr=open(self.log, "a"), start_new_session=True)

    def subscribed(self) -> bool:
        """The worker has logged its (re)connection since its last start."""
        try:
            return self.log.read_text().count('"broker connected"') >= self.connects_before + self.sessions
        except OSError:
            return False

    def kill9(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self.kills += 1

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def prepare(url: str, posts, tmp: Path) -> None:
    reg = tmp / "fleet.csv"
    reg.write_text(register_csv(posts))
    eng = db.open_db(url)
    register.import_file(eng, reg)
    eng.dispose()


def audit(url: str, fleet: Fleet) -> dict:
    """Compare the database with what the posts sent: lost, stored twice, orders per fault."""
    eng = db.open_db(url)
    M, O, OA = schema.messages, schema.orders, schema.order_alarms
    with eng.connect() as c:
        stored = {(p, i, d) for p, i, d in c.execute(select(M.c.post_id, M.c.inc, M.c.dseq))}
        twice = c.execute(select(func.count()).select_from(
            select(M.c.post_id).group_by(M.c.post_id, M.c.inc, M.c.dseq)
            .having(func.count() > 1).subquery())).scalar()
        orders = [dict(r) for r in c.execute(select(O).where(O.c.status != "merged")).mappings()]
        links = c.execute(select(OA.c.order_id, OA.c.post_id)).all()
        telemetry = c.execute(select(func.count()).select_from(schema.telemetry)).scalar()
        counters = dict(c.execute(select(schema.counters.c.name, schema.counters.c.value)).all())
    eng.dispose()
    sent = set(fleet.ledger)
    lost = sent - stored
    by_slot: dict[tuple, int] = {}
    for o in orders:
        k = (o["subject"], o["fault_class"])
        by_slot[k] = by_slot.get(k, 0) + 1
    posts_of = {}
    for oid, pid in links:
        posts_of.setdefault(oid, set()).add(pid)
    live = {o["id"]: o for o in orders}
    exact, wrong, lat_v, lat_wall = 0, [], [], []
    claimed = set()
    for f in fleet.faults:
        mine = [o for oid, o in live.items() if posts_of.get(oid, set()) & set(f.posts)]
        if len(mine) == 1 and mine[0]["fault_class"] == f.expected:
            exact += 1
            o = mine[0]
            claimed.add(o["id"])
            lat_v.append(fleet.virtual_at(o["opened_at"], f.cabinet) - f.t)
            raised = [m["wall"] for m in fleet.ledger.values() if m["post"] in f.posts and m["ev"] == "alarm"]
            lat_wall.append(o["opened_at"] - min(raised))
        else:
            wrong.append({"fault": f.kind, "posts": f.posts[:3], "orders": [(o["id"], o["fault_class"])
                                                                           for o in mine]})
    return {"sent_qos1": len(sent), "acked": sum(1 for m in fleet.ledger.values() if m["acked"]),
            "lost": len(lost), "lost_examples": sorted(lost)[:5], "stored_twice": twice,
            "orders": len(orders), "orders_duplicated": sum(n - 1 for n in by_slot.values() if n > 1),
            "faults": len(fleet.faults), "faults_one_order": exact, "faults_wrong": wrong[:5],
            "orders_without_fault": len(set(live) - claimed), "telemetry_rows": telemetry,
            "duplicates_seen": counters.get("duplicates", 0),
            "latency_virtual_s": sorted(lat_v), "latency_wall_s": sorted(lat_wall)}


def pct(xs: list[float], q: float) -> float | None:
    if not xs:
        return None
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q * (len(xs) - 1))))]


def stored(eng, orders: int, messages: int) -> bool:
    """Whether the database holds at least this many orders (merged ones aside) and QoS 1
    reports: what a night waits for before it is judged."""
    with eng.connect() as c:
        n = c.execute(select(func.count()).select_from(schema.orders)
                      .where(schema.orders.c.status != "merged")).scalar()
        m = c.execute(select(func.count()).select_from(schema.messages)).scalar()
    return n >= orders and m >= messages


def night(url: str, tmp: Path, n_posts: int, hours: float, workers: int = 2, kill_every: int = 0,
          broker_restart_at: int | None = None, fault_rate: float = 0.01, cabinet_rate: float = 0.05,
          seed: int = 7, settle_s: float = 120.0, share: str | None = "ops",
          speed: float | None = None, down_s: float = 2.0, period: int = 300) -> dict:
    """A night of n_posts against `workers` workers. kill_every: kill -9 one worker (in turn)
    every that many steps and start it again down_s wall seconds later (same client id, so
    its session comes back); broker_restart_at: the step at which the broker is stopped and
    started. speed: virtual seconds per wall second at most (None: as fast as it goes)."""
    posts, faults = plan(n_posts, 20, T0, hours, fault_rate, cabinet_rate, seed)
    prepare(url, posts, tmp)
    t_start = time.monotonic()
    with Broker("mosquitto", persistent=True) as b:
        # worker 1 also holds the backstop subscription (mosquitto forgets shared ones on restart)
        ws = [Worker(url, b.addr, i + 1, tmp, share, backstop=bool(share) and i == 0)
              for i in range(workers)]
        for w in ws:
            w.start()
        # the group's subscriptions must exist before the posts speak: a broker drops what
        # nobody subscribes to (in production the sessions outlive every worker restart)
        end = time.monotonic() + 60
        while not all(w.subscribed() for w in ws) and time.monotonic() < end:
            time.sleep(0.1)
        t_fleet = time.monotonic()
        fleet = Fleet(b.host, b.port, posts, faults, T0, hours, period=period, seed=seed, speed=speed)
        down: list[tuple[float, Worker]] = []
        step = {"n": 0, "restarts": 0}

        def on_step(f: Fleet, t: int) -> None:
            n = step["n"] = step["n"] + 1
            for at, w in list(down):
                if time.monotonic() >= at:
                    w.start()
                    down.remove((at, w))
            if kill_every and n % kill_every == 0:
                w = ws[(n // kill_every) % len(ws)]
                if w.proc.poll() is None and w not in [x for _, x in down]:
                    w.kill9()
                    down.append((time.monotonic() + down_s, w))
            if broker_restart_at is not None and n == broker_restart_at:
                b.restart(graceful=True)
                step["restarts"] += 1

        try:
            figures = fleet.run(on_step)
            for _, w in down:
                w.start()
            t_night = time.monotonic()
            ok = fleet.settle(settle_s)
            t_settled = time.monotonic()
            expected = len(faults)
            eng = db.open_db(url)

            def orders_in():
                return stored(eng, expected, len(fleet.ledger))
            end = time.monotonic() + settle_s
            while not orders_in() and time.monotonic() < end:
                fleet.keep_alive(1.0)  # the posts go on reporting: their clocks pass persistence
            t_orders = time.monotonic()
            fleet.keep_alive(2.0)  # a round or two more: a duplicate order would show now
            eng.dispose()
            phases = {"subscribe_s": round(t_fleet - t_start, 1), "night_s": round(t_night - t_fleet, 1),
                      "settle_s": round(t_settled - t_night, 1), "orders_s": round(t_orders - t_settled, 1)}
            broker_bytes = sum(f.stat().st_size for f in Path(b._dir.name).glob("*.db"))
        finally:
            for w in ws:
                w.stop()
            fleet.close()
    figures.update(audit(url, fleet))
    figures.update(phases=phases, settled=ok, kills=sum(w.kills for w in ws), broker_restarts=step["restarts"],
                   total_wall_s=round(time.monotonic() - t_start, 1), broker_db_bytes=broker_bytes,
                   worker_errors=_errors(ws))
    return figures


def _errors(ws) -> list[str]:
    out = []
    for w in ws:
        for line in w.log.read_text().splitlines():
            if line.startswith("{"):
                d = json.loads(line)
                if d.get("level") == "error":
                    out.append(d["msg"] + ": " + str(d.get("error", ""))[:120])
    return out[:10]


def db_bytes(url: str) -> int:
    if url.startswith("postgresql"):
        eng = db.open_db(url)
        with eng.connect() as c:
            n = c.exec_driver_sql(
                "SELECT COALESCE(SUM(pg_total_relation_size(c.oid)), 0) FROM pg_class c "
                "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = current_schema() "
                "AND c.relkind IN ('r', 'p')").scalar()
        eng.dispose()
        return int(n)
    p = url.replace("sqlite:///", "")
    return sum(os.path.getsize(x) for x in (p, p + "-wal") if os.path.exists(x))


# ---------- beyond one process and one broker: edge brokers bridged to a core ----------
def edge_conf(name: str, core: str) -> str:
    """An edge mosquitto's bridge to the core (deploy/mosquitto/edge.conf, minus TLS and
    accounts): what the posts publish goes up at QoS 1 (QoS 0 stays 0), cmnd/ comes down."""
    return (f"max_queued_messages 0\nmax_queued_bytes 0\n"
            f"connection {name}\naddress {core}\nbridge_protocol_version mqttv311\n"
            f"remote_clientid {name}\nlocal_clientid {name}-local\ncleansession false\n"
            "try_private true\nnotifications false\nkeepalive_interval 30\nrestart_timeout 1 5\n"
            "topic stat/# out 1\ntopic tele/# out 1\ntopic cmnd/# in 1\n")


class _Merged:
    """The parts' ledgers, faults and clocks, as audit() reads a Fleet."""

    def __init__(self, parts: list[dict], faults, start: int):
        self.ledger = {}
        self.clocks = {}
        for r in parts:
            self.ledger.update(r["ledger"])
            for c in r["cabinets"]:
                self.clocks[c] = r["clock"]
        self.faults, self.start = faults, start

    def virtual_at(self, wall: float, cabinet: str | None = None) -> float:
        return clock_at(self.clocks.get(cabinet, next(iter(self.clocks.values()))), wall, self.start)


def _part(addr, posts, faults, hours, period, seed, speed, n_parts, ready, night_done, stop, q):
    """One generator process: its posts on its edge broker; waits for the others before dusk,
    reports when its night is over, keeps its posts reporting until told to stop."""
    host, port = addr.rsplit(":", 1)
    fleet = Fleet(host, int(port), posts, faults, T0, hours, period=period, seed=seed, speed=speed)
    fleet.connect_timeout = 120.0

    def on_connected(f):
        with ready.get_lock():
            ready.value += 1
        f.pump(lambda: ready.value >= n_parts, 1800)
    try:
        figures = fleet.run(on_connected=on_connected)
        with night_done.get_lock():
            night_done.value += 1
        figures["settled"] = fleet.settle(600)
        while not stop.is_set():
            fleet.keep_alive(1.0)
        figures.update(ledger=fleet.ledger, clock=fleet.clock, cabinets=sorted({c for _, c in posts}),
                       reconnects=fleet.reconnects, sent=dict(fleet.sent))  # with what keep_alive sent
        q.put(figures)
    except Exception as e:  # noqa: BLE001 - reported to the parent, which fails the run
        q.put({"error": repr(e)})
    finally:
        fleet.close()


def night_scaled(url: str, tmp: Path, n_posts: int, hours: float, edges: int, workers: int = 4,
                 kill_every_s: float = 0, broker_restart_at_s: float | None = None,
                 fault_rate: float = 0.01, cabinet_rate: float = 0.05, seed: int = 7,
                 settle_s: float = 900.0, speed: float | None = None, period: int = 300,
                 down_s: float = 2.0, interval: float = 5.0) -> dict:
    """night() for more posts than one broker or one process holds: `edges` mosquitto edge
    brokers, each bridged to one core mosquitto (where the workers' shared subscriptions
    and the backstop are), and `edges` generator processes, one per edge, whole cabinets
    each. Chaos by wall clock: kill -9 one worker (in turn) every kill_every_s during the
    night; the core broker restarted (cleanly) broker_restart_at_s into the night."""
    import multiprocessing as mp
    import threading
    posts, faults = plan(n_posts, 20, T0, hours, fault_rate, cabinet_rate, seed)
    prepare(url, posts, tmp)
    # what the posts will send at QoS 1: a switch-on EVENT each and every fault's alarms
    qos1 = n_posts + sum(len(CAUSES[f.kind]) * len(f.posts) for f in faults)
    t_start = time.monotonic()
    ctx = mp.get_context("fork")
    with Broker("mosquitto", persistent=True) as core:
        brokers = [Broker("mosquitto", extra=edge_conf(f"edge-{k + 1}", core.addr)) for k in range(edges)]
        ws = [Worker(url, core.addr, i + 1, tmp, "ops", interval=interval, backstop=i == 0)
              for i in range(workers)]
        stop, chaos_stop = ctx.Event(), threading.Event()
        ready, night_done = ctx.Value("i", 0), ctx.Value("i", 0)
        q = ctx.Queue()
        ps: list = []
        parts: list = []
        chaos = {"kills": 0, "restarts": 0}
        try:
            for w in ws:
                w.start()
            end = time.monotonic() + 120
            while not all(w.subscribed() for w in ws) and time.monotonic() < end:
                time.sleep(0.2)
            time.sleep(2.0)  # the bridges are up (restart_timeout 1 s) before the posts speak
            cabs = sorted({c for _, c in posts})
            for k in range(edges):
                mine = set(cabs[k::edges])
                ps.append(ctx.Process(target=_part, args=(
                    brokers[k].addr, [x for x in posts if x[1] in mine],
                    [f for f in faults if f.cabinet in mine], hours, period, seed + k, speed, edges,
                    ready, night_done, stop, q)))
            for pr in ps:
                pr.start()
            while ready.value < edges and all(pr.is_alive() for pr in ps):
                time.sleep(0.2)
            t_fleet = time.monotonic()

            def chaos_loop():
                n = 0
                next_kill = t_fleet + kill_every_s if kill_every_s else None
                restart_at = t_fleet + broker_restart_at_s if broker_restart_at_s is not None else None
                down: list[tuple[float, Worker]] = []
                while not chaos_stop.is_set():
                    now = time.monotonic()
                    for at, w in list(down):
                        if now >= at:
                            w.start()
                            down.remove((at, w))
                    if next_kill and now >= next_kill:
                        n += 1
                        w = ws[n % len(ws)]
                        if w.proc.poll() is None and w not in [x for _, x in down]:
                            w.kill9()
                            chaos["kills"] += 1
                            down.append((now + down_s, w))
                        next_kill = now + kill_every_s
                    if restart_at and now >= restart_at:
                        core.restart(graceful=True)
                        chaos["restarts"] += 1
                        restart_at = None
                    chaos_stop.wait(0.2)
                for _, w in down:
                    w.start()
            th = threading.Thread(target=chaos_loop, daemon=True)
            th.start()
            while night_done.value < edges and all(pr.is_alive() for pr in ps):
                time.sleep(0.5)
            chaos_stop.set()
            th.join()
            t_night = time.monotonic()
            eng = db.open_db(url)

            def orders_in():
                return stored(eng, len(faults), qos1)
            end = time.monotonic() + settle_s
            while not orders_in() and time.monotonic() < end and all(pr.is_alive() for pr in ps):
                time.sleep(2.0)  # the posts go on reporting meanwhile (their clocks pass persistence)
            t_orders = time.monotonic()
            time.sleep(2 * interval)  # a round or two more: a duplicate order would show now
            eng.dispose()
            rss = {"core": _rss_mb(core.proc.pid), "edges": sum(_rss_mb(x.proc.pid) for x in brokers)}
            stop.set()
            parts = [q.get(timeout=300) for _ in ps]
            core.stop()  # a clean stop writes the core's sessions, queues and retained LWTs
            broker_bytes = sum(f.stat().st_size for f in Path(core._dir.name).glob("*.db"))
        finally:
            stop.set()
            chaos_stop.set()
            for pr in ps:
                pr.join(60 if parts else 5)  # uncollected: a child blocks flushing its queue
                if pr.is_alive():
                    pr.kill()
            for w in ws:
                w.stop()
            for b in brokers:
                b.close()
    errors = [r["error"] for r in parts if "error" in r]
    if errors:
        raise RuntimeError("generator: " + errors[0])
    merged = _Merged(parts, faults, T0)
    figures = {"posts": n_posts, "edges": edges, "workers": workers, "faults": len(faults),
               "sent": {k: sum(r["sent"][k] for r in parts) for k in parts[0]["sent"]},
               "reconnects": sum(r["reconnects"] for r in parts), "connect_s": max(r["connect_s"] for r in parts),
               "virtual_s": parts[0]["virtual_s"], "speed": speed, "period": period}
    figures.update(audit(url, merged))
    figures.update(phases={"subscribe_s": round(t_fleet - t_start, 1), "night_s": round(t_night - t_fleet, 1),
                           "orders_s": round(t_orders - t_night, 1)},
                   settled=all(r["settled"] for r in parts), kills=chaos["kills"],
                   broker_restarts=chaos["restarts"], total_wall_s=round(time.monotonic() - t_start, 1),
                   broker_db_bytes=broker_bytes, broker_rss_mb=rss, worker_errors=_errors(ws))
    return figures


def _rss_mb(pid: int) -> float:
    """Resident memory of a process (Linux /proc), MB."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return 0.0
