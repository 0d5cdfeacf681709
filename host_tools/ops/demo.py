"""The operations service inside `make demo`: the post's alarms become work orders at a
local demo contractor (a signed webhook), whose crew "repairs" at the scenario's repair
time; the post verifies the repair at dusk. Runs on the simulation's virtual clock."""
from __future__ import annotations

import hashlib
import hmac
import json
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from sqlalchemy import event

from host_tools.ops import config, db, register, telemetry
from host_tools.ops.dispatch import Dispatcher
from host_tools.ops.engine import Engine, iso
from host_tools.ops.ingest import Reject, parse

SECRET = "demo-secret"
# the demo console's accounts (a throwaway database that lives as long as the run)
DEMO_USER, DEMO_CREW, DEMO_PASSWORD = "demo", "democrew", "lamppost-demo"
ROUND_S = 900  # simulated seconds between judging rounds (serve: 5 s of real time)


class DemoContractor:
    """A contractor's webhook endpoint: checks the signature and the Idempotency-Key, keeps tickets."""

    def __init__(self):
        self.tickets: dict[str, dict] = {}
        me = self

        class H(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                want = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
                key = self.headers.get("Idempotency-Key")
                if not hmac.compare_digest(want, self.headers.get("X-Lamppost-Signature", "")) or not key:
                    code, ans = 401, {"error": "bad signature or no Idempotency-Key"}
                else:
                    me.tickets.setdefault(key, {"id": f"DEMO-{len(me.tickets) + 1}",
                                                "order": json.loads(body)["order"]})
                    code, ans = 200, {"id": me.tickets[key]["id"]}
                data = json.dumps(ans).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/orders"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


class VirtualService:
    """The operations service on a simulation's virtual clock, for `make demo` and the town
    (testbed/town.py): a register, the demo contractor behind a signed webhook, a throwaway
    SQLite database, and `round()`, the service's judging round with the contractor's crew
    acknowledging what was delivered and reporting it repaired at `repair_time(order)`."""

    def __init__(self, workdir: Path, register_csv: str, municipality: str, contractor: str, clock):
        self.contractor = DemoContractor()
        (workdir / "register.csv").write_text(register_csv)
        cfg = config.parse({"municipality": {municipality: {
            "name": municipality.title(), "contractor": {contractor: {
                "adapter": "webhook", "url": self.contractor.url, "secret": SECRET}}}}})
        eng = db.open_db(str(workdir / "ops.sqlite"))
        # a throwaway database: no fsync per commit (the service keeps SQLite's default)
        event.listen(eng, "connect", lambda conn, _rec: conn.execute("PRAGMA synchronous=OFF"))
        eng.dispose()
        register.import_file(eng, workdir / "register.csv")
        self.engine = Engine(eng, cfg, clock=clock)
        self.dispatcher = Dispatcher(self.engine, cfg)
        self.lock = threading.Lock()

    def handle(self, topic: str, payload: bytes) -> None:
        """Feed one MQTT message (called from the MQTT thread); malformed ones are dropped."""
        try:
            kind, pid, data = parse(topic, payload)
        except Reject:
            return
        with self.lock:
            self.engine.ingest(kind, pid, data)

    def round(self, t: int, repair_time, crew: str) -> None:
        """Judge and dispatch at virtual time t; the crew acknowledges every delivered order
        and reports it repaired once t reaches repair_time(order) (None: not yet known)."""
        e = self.engine
        with self.lock:
            e.tick()
            telemetry.maintain(e.db)  # as serve's rounds: the console's reports read the rollups
            self.dispatcher.run()
            for o in e.orders(status="dispatched") + e.orders(status="acknowledged"):
                if o["status"] == "dispatched":
                    e.contractor_update(o["id"], "acknowledged", f"{crew}: ticket accepted")
                    continue
                fix = repair_time(o)
                if fix is not None and t >= fix:
                    e.contractor_update(o["id"], "repaired", f"{crew}: repaired at {iso(fix)}")

    def close(self):
        self.contractor.close()
        self.engine.db.dispose()


class OpsDemo:
    def __init__(self, scenario, console: bool = True, broker: str | None = None):
        self.sc = scenario
        self.t = scenario.start
        self.dir = tempfile.TemporaryDirectory(prefix="lamppost-ops-demo-")
        p = scenario.post
        self.svc = VirtualService(
            Path(self.dir.name), "id,municipality,street,light_point,cabinet,contractor,lat,lon\n"
            f"{p.id},demo,Demo Street,LP-001,K1,democrew,{p.latitude},{p.longitude}\n",
            "demo", "democrew", lambda: float(self.t))
        self.e, self.contractor, self.handle = self.svc.engine, self.svc.contractor, self.svc.handle
        self.web = self.pub = None
        if console:
            self._console(broker)

    def _console(self, broker: str | None) -> None:
        """The web console on the demo's database (virtual clock): an admin and the crew's account."""
        import os

        from host_tools.ops.web import accounts
        from host_tools.ops.web.app import Settings, create_app
        from host_tools.ops.web.commands import paho_publisher
        from host_tools.ops.web.server import ConsoleServer
        accounts.add_user(self.e.db, DEMO_USER, DEMO_PASSWORD, "admin", "demo")
        accounts.add_user(self.e.db, DEMO_CREW, DEMO_PASSWORD, "contractor", "demo", "democrew")
        publish = None
        if broker:
            import paho.mqtt.client as mqtt

            from lamppost_common.addr import parse_addr
            host, port = parse_addr(broker)
            self.pub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="lamppost-demo-console")
            self.pub.connect(host, port)
            self.pub.loop_start()
            publish = paho_publisher(self.pub)
        port = int(os.environ.get("LAMPPOST_CONSOLE_PORT") or 0)
        self.web = ConsoleServer(create_app(self.e, Settings(live_interval_s=0.5), publish),
                                 "127.0.0.1", port).start()

    def console_banner(self) -> str:
        if not self.web:
            return ""
        return (f"operations console {self.web.url}/  (log in: {DEMO_USER} / {DEMO_PASSWORD}, "
                f"or the contractor {DEMO_CREW} / {DEMO_PASSWORD})")

    def on_tick(self, t: int) -> None:
        self.t = t
        if (t - self.sc.start) % ROUND_S == 0:
            self.svc.round(t, self._repair_time, "demo crew")

    def _repair_time(self, o) -> int | None:
        """The scenario's repair (`until`) of the fault that began before this order."""
        cands = [f.until for f in self.sc.faults if f.until and f.at <= o["first_t"] + 60]
        return max(cands) if cands else None

    def summary(self) -> str:
        from host_tools.ops.cli import _table, timeline_rows
        self.on_tick(self.t - (self.t - self.sc.start) % ROUND_S + ROUND_S)  # a last round
        out = ["work orders (lamppost-ops, demo contractor webhook "
               f"{self.contractor.url}, {len(self.contractor.tickets)} ticket(s) received):"]
        for o in self.e.orders():
            out.append(f"  order {o['id']}: {o['description']} -> {o['status']} "
                       f"({o['fault_class']} order, priority {o['priority']}, {o['category']}, ticket {o['remote_id'] or '-'})")
            rows = timeline_rows(self.e, o["id"])
            out += ["    " + line for line in _table(
                # a note (one of two alarms cleared) changes no status: its column stays empty,
                # so the table reads as the lifecycle (repaired once, then verified)
                [{"post time": r["post_t"] or r["at"], "status": r["to"] if r["from"] != r["to"] else "",
                  "cause": r["cause"]} for r in rows], ["post time", "status", "cause"]).splitlines()]
        return "\n".join(out)

    def close(self):
        if self.web:
            self.web.stop()
        if self.pub:
            self.pub.loop_stop()
            self.pub.disconnect()
        self.svc.close()
        self.dir.cleanup()
