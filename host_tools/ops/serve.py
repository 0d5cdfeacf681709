"""`lamppost-ops serve`: MQTT in, the engine and the dispatcher in rounds, /healthz, JSON logs."""
from __future__ import annotations

import json
import logging
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import paho.mqtt.client as mqtt
from sqlalchemy import func, select

from host_tools.ops import schema
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

        def do_GET(self):
            if self.path != "/healthz":
                code, body = 404, {"error": "GET /healthz"}
            else:
                code, body = svc.health()
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

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
    hs.shutdown()
    svc.close()
    log.info("stopped")
    return 0
