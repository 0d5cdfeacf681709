"""`lamppost-ops serve`: MQTT in, the engine and the dispatcher in rounds, /healthz, contractors'
signed status updates (POST /inbound/..., host_tools/ops/inbound.py), JSON logs."""
from __future__ import annotations

import json
import logging
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import paho.mqtt.client as mqtt
from sqlalchemy import func, select

from host_tools.ops import inbound, schema
from host_tools.ops.dispatch import Dispatcher
from host_tools.ops.engine import Engine, bump
from host_tools.ops.ingest import TOPICS, Reject, parse

log = logging.getLogger("lamppost-ops")


class JsonLog(logging.Formatter):
    """One JSON object a line: time, level, message and any `extra` fields."""

    def format(self, r):
        d = {"ts": round(r.created, 3), "level": r.levelname.lower(), "msg": r.getMessage()}
        d.update(getattr(r, "fields", {}))
        return json.dumps(d, default=str)


class Service:
    def __init__(self, engine: Engine, host: str, port: int, client_id: str):
        self.e = engine
        self.d = Dispatcher(engine, engine.cfg)
        self.connected = threading.Event()
        self.stats = {"received": 0, "rejected": 0, "duplicates": 0, "rounds": 0, "last_round": None}
        self.c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=False)
        self.c.on_connect = self._on_connect
        self.c.on_disconnect = lambda *a: (self.connected.clear(), log.warning("broker disconnected"))
        self.c.on_message = self._on_message
        self.c.reconnect_delay_set(1, 30)
        self.c.connect(host, port, keepalive=30)
        self.c.loop_start()

    def _on_connect(self, c, u, flags, rc, props=None):
        for t in TOPICS:
            c.subscribe(t, 1)
        self.connected.set()
        log.info("broker connected", extra={"fields": {"topics": list(TOPICS)}})

    def _on_message(self, c, u, m):
        self.stats["received"] += 1
        try:
            kind, pid, data = parse(m.topic, m.payload)
        except Reject as err:
            self.stats["rejected"] += 1
            log.warning("message rejected", extra={"fields": {"topic": m.topic[:100], "why": str(err)}})
            try:
                with self.e.db.begin() as conn:
                    bump(conn, "rejected")
            except Exception:  # noqa: BLE001 - a counter must not stop ingest
                pass
            return
        try:
            if self.e.ingest(kind, pid, data) == "duplicate":
                self.stats["duplicates"] += 1
        except Exception as err:  # noqa: BLE001 - logged; the broker redelivers on a persistent session
            log.error("ingest failed", extra={"fields": {"topic": m.topic, "error": repr(err)}})

    def round(self, poll: bool) -> None:
        t = self.e.tick()
        n = self.d.run()
        if poll:
            n["status_changes"] = self.d.poll()
        self.stats["rounds"] += 1
        self.stats["last_round"] = time.time()
        if t["opened"] or any(n.values()):
            log.info("round", extra={"fields": {**t, **n}})

    def health(self) -> tuple[int, dict]:
        h = {"broker": self.connected.is_set(), **self.stats}
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
        self.c.loop_stop()
        self.c.disconnect()


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
    try:
        host, port = parse_addr(args.broker)
    except ValueError as err:
        print(f"lamppost-ops: {err}", file=__import__("sys").stderr)
        return 2
    try:
        svc = Service(engine, host, port, args.client_id)
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
