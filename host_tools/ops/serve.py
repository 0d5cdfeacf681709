"""`lamppost-ops serve`: MQTT in, the engine and the dispatcher in rounds, /healthz, contractors'
signed status updates (POST /inbound/..., host_tools/ops/inbound.py), the web console, JSON logs."""
from __future__ import annotations

import json
import logging
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import queue

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError, InterfaceError, OperationalError

from host_tools.collector.validate import Reject as VReject
from host_tools.collector.validate import validate
from host_tools.ops import inbound, schema, telemetry
from host_tools.ops.dispatch import Dispatcher
from host_tools.ops.engine import Engine
from host_tools.ops.ingest import TOPICS, Reject, parse

log = logging.getLogger("lamppost-ops")
BACKSTOP = ("stat/+/ALARM", "stat/+/EVENT")  # --backstop: QoS 1 reports on a plain subscription


def validate_sensor(topic: str, payload: bytes) -> tuple[str, dict]:
    """(post id, data) of a SENSOR message, checked by the collector's validator."""
    try:
        kind, pid, d = validate(topic, payload)
    except VReject as e:
        raise Reject(e.reason) from None
    if kind != "sensor":
        raise Reject(f"{kind} on a SENSOR topic")
    return pid, d


class JsonLog(logging.Formatter):
    """One JSON object a line: time, level, message and any `extra` fields."""

    def format(self, r):
        d = {"ts": round(r.created, 3), "level": r.levelname.lower(), "msg": r.getMessage()}
        d.update(getattr(r, "fields", {}))
        return json.dumps(d, default=str)


class Service:
    """One worker: MQTT 5 in (optionally a shared subscription, so N workers split the
    posts' messages), a writer thread that stores each message and only THEN acknowledges
    it (manual PUBACK), and the judging rounds. The session is persistent (clean start off,
    a session expiry interval): what arrives while the worker is down, or was delivered
    but not yet acknowledged when it died, the broker delivers again on its return; the
    database's unique (post, inc, dseq) makes that second delivery a counted duplicate."""

    def __init__(self, engine: Engine, host: str, port: int, client_id: str, share: str | None = None,
                 session_expiry: int = 7 * 86400, retention_days: float = telemetry.DEFAULT_RETENTION_DAYS,
                 batch: int = 200, backstop: bool = False, username: str | None = None,
                 password: str | None = None):
        self.e = engine
        self.auth = (username, password) if username else None  # the broker account (--user)
        self.d = Dispatcher(engine, engine.cfg)
        self.connected = threading.Event()
        self.stats = {"received": 0, "redelivered": 0, "rejected": 0, "duplicates": 0, "stored": 0, "telemetry": 0,
                      "ingest_retries": 0, "ingest_failed": 0, "rounds": 0, "last_round": None}
        self.topics = [f"$share/{share}/{t}" if share else t for t in TOPICS]  # SENSOR included
        self.retention_days = retention_days
        self.parts = telemetry.Partitions()
        self.batch = batch
        # bounded: a worker holds at most this many messages it has not stored (QoS 0
        # telemetry is not redelivered if it dies); beyond it the MQTT thread waits and the
        # broker holds the rest
        self.q: queue.Queue = queue.Queue(maxsize=10 * batch)
        self.stopping = threading.Event()
        self.writer = threading.Thread(target=self._write_loop, name="ops-writer", daemon=True)
        self.writer.start()
        self.c = self._client(host, port, client_id, self.topics, session_expiry)
        # backstop: a plain (not shared) persistent subscription to the QoS 1 reports. A
        # broker that does not restore shared subscriptions after a restart (mosquitto 2.0
        # does not) drops what posts publish before the group's workers resubscribe; a plain
        # subscription is restored and queues it. Its copies are duplicates (unique
        # (post, inc, dseq)) whenever the group got them too.
        self.b = (self._client(host, port, client_id + "-backstop", list(BACKSTOP), session_expiry)
                  if backstop else None)

    def _client(self, host, port, client_id, topics, session_expiry) -> mqtt.Client:
        c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5,
                        userdata=topics)
        c.manual_ack_set(True)  # PUBACK only after the row is committed (_write_loop)
        if self.auth:
            c.username_pw_set(*self.auth)
        c.on_connect = self._on_connect
        c.on_disconnect = lambda *a: (self.connected.clear(), log.warning("broker disconnected"))
        c.on_message = lambda cl, u, m: self.q.put((cl, m))
        c.reconnect_delay_set(1, 30)
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = session_expiry
        props.ReceiveMaximum = 1000  # unacknowledged messages the broker may have out to us
        c.connect(host, port, keepalive=30, clean_start=False, properties=props)
        c.loop_start()
        return c

    def _on_connect(self, c, topics, flags, rc, props=None):
        if rc.is_failure:
            log.error("broker refused", extra={"fields": {"reason": str(rc)}})
            return
        # retained messages (every post's LWT) only for a subscription the session does not
        # hold yet: a worker back under its client id after a kill -9 would otherwise be
        # handed the whole fleet's retained LWTs again (measured at 100,000 posts: 2.2 M
        # updates of posts in 30 min, starving alarms and telemetry)
        c.subscribe([(t, SubscribeOptions(qos=1, retainHandling=SubscribeOptions.RETAIN_SEND_IF_NEW_SUB))
                     for t in topics])
        self.connected.set()
        log.info("broker connected", extra={"fields": {"topics": topics,
                                                       "session_present": flags.session_present}})

    # ---------- the writer: store, then acknowledge ----------
    def _write_loop(self):
        while not self.stopping.is_set():
            try:
                first = self.q.get(timeout=0.5)
            except queue.Empty:
                continue
            batch = [first]
            while len(batch) < self.batch:
                try:
                    batch.append(self.q.get_nowait())
                except queue.Empty:
                    break
            done = self._store([m for _, m in batch])
            ok = {id(m) for m in done}
            for cl, m in batch:
                if m.qos and id(m) in ok:
                    cl.ack(m.mid, m.qos)

    def _store(self, batch) -> list:
        """Store a batch; returns the messages that may be acknowledged (committed, or
        rejected as bad input). One that keeps failing stays unacknowledged: the broker
        delivers it again when this worker reconnects, so it is never lost."""
        done, sensors, states, newest, reports = [], [], [], {}, []
        for m in batch:
            self.stats["received"] += 1
            # the broker's second try of a message a worker took but never acknowledged
            # (killed between delivery and PUBACK): expected after a crash, never a new report
            self.stats["redelivered"] += bool(m.dup)
            try:
                kind, pid, data = (("sensor", *validate_sensor(m.topic, m.payload))
                                   if m.topic.endswith("/SENSOR") else parse(m.topic, m.payload))
            except (Reject, telemetry.Bad) as err:
                self._reject(m.topic, err)
                done.append(m)
                continue
            if kind == "sensor":
                sensors.append((m, pid, data))
                continue
            if kind == "state" and "lamp" not in data:  # only the post's clock: batched
                states.append(m)
                newest[pid] = max(newest.get(pid, 0), data["t"])
                continue
            reports.append((m, (kind, pid, data)))
        if reports:
            # ALARM/EVENT/LWT of the batch in one transaction; if that keeps failing, one by
            # one, so one bad message cannot hold the others back
            if self._retry(lambda: self._count(self.e.ingest_many([r for _, r in reports])),
                           "stat/+/ALARM|EVENT", tries=3, quiet=True):
                done.extend(m for m, _ in reports)
            else:
                for m, r in reports:
                    if self._retry(lambda r=r: self._count(self.e.ingest_many([r])), m.topic):
                        done.append(m)
        if states and self._retry(lambda: self.e.ingest_states(newest), "tele/+/STATE"):
            self.stats["stored"] += len(states)
            done.extend(states)
        if sensors:
            now = self.e.clock()
            rows, ms, heard = {}, [], {}
            for m, pid, data in sensors:
                try:
                    r = telemetry.row(pid, data, now)
                except telemetry.Bad as err:
                    self._reject(m.topic, err)
                    done.append(m)
                    continue
                rows[(r["post_id"], r["t"])] = r
                ms.append(m)
                heard[pid] = max(heard.get(pid, 0), r["t"])

            def put():
                try:
                    with self.e.db.begin() as c:  # telemetry is the only copy: the console reads it
                        self.stats["telemetry"] += telemetry.store(c, list(rows.values()), self.parts)
                        self.e.seen(c, heard, now)
                except Exception:
                    self.parts.known.clear()  # partitions made in a rolled-back transaction
                    raise
            if self._retry(put, "tele/+/SENSOR"):
                done.extend(ms)
        return done

    def _count(self, results: list[str]) -> None:
        for r in results:
            self.stats["duplicates" if r == "duplicate" else "stored"] += 1

    def _retry(self, fn, topic, tries: int = 8, quiet: bool = False) -> bool:
        """Run fn until it commits; True when done. The database being away (connection
        lost, failover) is waited out however long it takes: the broker holds the rest
        (at most Receive Maximum unacknowledged). A deadlock or unique-key race between
        workers is tried `tries` times with backoff; anything else fails at once. A
        message that failed stays unacknowledged (`ingest_failed`): the broker delivers
        it again when this worker reconnects. quiet: a batch attempt, retried one by one."""
        delay, i = 0.05, 0
        while True:
            try:
                fn()
                return True
            except (OperationalError, InterfaceError) as err:
                self.stats["ingest_retries"] += 1
                transient = err.connection_invalidated or "deadlock" not in str(err).lower()
                i += 0 if transient else 1
                why = str(err).splitlines()[0]
            except IntegrityError as err:
                self.stats["ingest_retries"] += 1
                i += 1
                why = str(err).splitlines()[0]
            except Exception as err:  # noqa: BLE001 - a bug must not stop ingest; not acked
                i, why = tries, repr(err)
            if i >= tries:
                if not quiet:
                    self.stats["ingest_failed"] += 1
                    log.error("ingest failed, left unacknowledged for redelivery",
                              extra={"fields": {"topic": topic, "error": why}})
                return False
            time.sleep(delay)
            delay = min(delay * 2, 5.0)

    def _reject(self, topic, err):
        self.stats["rejected"] += 1
        log.warning("message rejected", extra={"fields": {"topic": topic[:100], "why": str(err)}})
        try:
            with self.e.db.begin() as conn:
                schema.bump(conn, "rejected")
        except Exception:  # noqa: BLE001 - a counter must not stop ingest
            pass

    def round(self, poll: bool) -> None:
        t = self.e.tick()
        t.update(dropped_partitions=0)
        if poll:  # rollups and retention every 12th round (a minute at the default interval)
            t.update(telemetry.maintain(self.e.db, self.retention_days, self.parts))
        n = self.d.run()
        if poll:
            n["status_changes"] = self.d.poll()
        self.stats["rounds"] += 1
        self.stats["last_round"] = time.time()
        if t["opened"] or t["dropped_partitions"] or any(n.values()):
            log.info("round", extra={"fields": {**t, **n}})

    def health(self) -> tuple[int, dict]:
        h = {"broker": self.connected.is_set(), **self.stats, "queued": self.q.qsize()}
        try:
            with self.e.db.connect() as c:
                D = schema.dispatch
                h["dispatch_pending"] = c.execute(select(func.count()).where(D.c.state == "pending")).scalar()
                h["dispatch_rejected"] = c.execute(select(func.count()).where(D.c.state == "rejected")).scalar()
                h["open_orders"] = c.execute(select(func.count()).where(
                    schema.orders.c.open_slot.is_not(None))).scalar()
                C = schema.counters
                for k in ("inbound_bad_signature", "inbound_rejected"):
                    h[k] = c.execute(select(C.c.value).where(C.c.name == k)).scalar() or 0
            h["database"] = True
        except Exception as err:  # noqa: BLE001
            h["database"] = False
            h["database_error"] = str(err).splitlines()[0]
        ok = h["broker"] and h["database"]
        h["status"] = "ok" if ok else "degraded"
        return (200 if ok else 503), h

    def close(self):
        """Stop taking messages, store and acknowledge what was taken, then disconnect
        (the session stays on the broker for session_expiry seconds)."""
        deadline = time.monotonic() + 30
        while (not self.q.empty()) and time.monotonic() < deadline:
            time.sleep(0.05)
        self.stopping.set()
        self.writer.join(timeout=30)
        for c in (self.c, self.b):
            if c is not None:
                c.disconnect()
                c.loop_stop()


def health_server(svc: Service, addr: str) -> ThreadingHTTPServer:
    host, _, port = addr.rpartition(":")

    class H(BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def _answer(self, code, body):
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            if self.path != "/healthz":
                self._answer(404, {"error": "GET /healthz"})
            else:
                self._answer(*svc.health())

        def do_POST(self):
            """A contractor's signed status update (host_tools/ops/inbound.py does the work)."""
            m = inbound.PATH_RE.fullmatch(self.path)
            try:
                n = int(self.headers.get("Content-Length") or -1)
            except ValueError:
                n = -1
            if m is None:
                return self._answer(404, {"error": "POST /inbound/<municipality>/<contractor>"})
            if not 0 <= n <= inbound.MAX_BODY:
                self.close_connection = True
                return self._answer(413 if n > inbound.MAX_BODY else 411,
                                    {"error": f"a Content-Length of at most {inbound.MAX_BODY} bytes"})
            code, body = inbound.status_update(svc.e, m[1], m[2], self.headers.get(inbound.SIGNATURE_HEADER),
                                               self.rfile.read(n))
            log.info("inbound status", extra={"fields": {"path": self.path[:200], "code": code, **body}})
            self._answer(code, body)

    srv = ThreadingHTTPServer((host or "127.0.0.1", int(port)), H)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


def serve(engine: Engine, args) -> int:
    from lamppost_common.addr import parse_addr
    h = logging.StreamHandler()
    h.setFormatter(JsonLog())
    log.handlers[:] = [h]
    log.setLevel(logging.INFO)
    from host_tools.secret import SecretError, broker_password
    try:
        host, port = parse_addr(args.broker)
        password = broker_password(args)  # --password-file or $LAMPPOST_MQTT_PASSWORD, never argv
    except (ValueError, SecretError) as err:
        print(f"lamppost-ops: {err}", file=__import__("sys").stderr)
        return 2
    try:
        svc = Service(engine, host, port, args.client_id, share=args.share,
                      session_expiry=args.session_expiry, retention_days=args.retention_days,
                      backstop=args.backstop, username=getattr(args, "user", None), password=password)
    except OSError as err:
        log.error("cannot reach broker", extra={"fields": {"broker": args.broker, "error": str(err)}})
        return 1
    hs = health_server(svc, args.health)
    log.info("serving", extra={"fields": {"broker": args.broker, "health": f"http://{hs.server_address[0]}:"
                                          f"{hs.server_address[1]}/healthz"}})
    listen = getattr(args, "console", None) or engine.cfg.console.get("listen")
    web = None
    if listen:
        from host_tools.ops.web.commands import paho_publisher
        try:
            web = start_console(engine, listen, paho_publisher(svc.c))
        except (OSError, ValueError) as err:
            log.error("cannot start the console", extra={"fields": {"listen": listen, "error": str(err)}})
            hs.shutdown()
            svc.close()
            return 1
        log.info("console", extra={"fields": {"url": web.url}})
    end = time.monotonic() + args.for_s if args.for_s else None
    n = 0
    try:
        while end is None or time.monotonic() < end:
            try:
                svc.round(poll=n % 12 == 0)
            except Exception as err:  # noqa: BLE001 - a failed round is logged and tried again
                log.error("round failed", extra={"fields": {"error": repr(err)}})
            n += 1
            time.sleep(args.interval)
    except KeyboardInterrupt:
        pass
    if web:
        web.stop()
    hs.shutdown()
    svc.close()
    log.info("stopped")
    return 0


def start_console(engine: Engine, listen: str, publish=None):
    """The web console (host_tools/ops/web) on HOST:PORT in this process; returns its server."""
    from host_tools.ops.web.app import create_app, settings_from_config
    from host_tools.ops.web.server import ConsoleServer
    host, _, port = listen.rpartition(":")
    if not host or not port.isdigit() or not 0 <= int(port) < 65536:
        raise ValueError(f"{listen!r} is not HOST:PORT (port 0 picks a free one)")
    host, port = host, int(port)
    app = create_app(engine, settings_from_config(engine.cfg.console), publish)
    return ConsoleServer(app, host, port).start()


def run_console(engine: Engine, args) -> int:
    """`lamppost-ops console`: the web console without ingest (another process runs serve)."""
    import sys
    listen = args.listen or engine.cfg.console.get("listen") or "127.0.0.1:8312"
    client = publish = None
    if args.broker:
        from lamppost_common.addr import parse_addr

        from host_tools.ops.web.commands import paho_publisher
        try:
            host, port = parse_addr(args.broker)
            client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"lamppost-console-{port}")
            client.connect(host, port, keepalive=30)
        except (OSError, ValueError) as err:
            print(f"lamppost-ops: cannot reach broker {args.broker}: {err}", file=sys.stderr)
            return 1
        client.loop_start()
        publish = paho_publisher(client)
    try:
        web = start_console(engine, listen, publish)
    except (OSError, ValueError) as err:
        print(f"lamppost-ops: console on {listen}: {err}", file=sys.stderr)
        return 1
    print(f"console: {web.url}/ (Ctrl-C ends)", flush=True)
    try:
        end = time.monotonic() + args.for_s if args.for_s else None
        while end is None or time.monotonic() < end:
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    web.stop()
    if client:
        client.loop_stop()
        client.disconnect()
    return 0
