"""Dispatch through a contractor outage of 24 h: every adapter's local server (Open311,
Signalen, signed webhook, SMTP with STARTTLS; tests/ops_servers) is down for a day of
virtual time while orders queue; then it comes back, and each HTTP server loses the answer
to its first ticket (the work done, the reply never arriving). Printed per adapter: orders,
attempts during the outage (against one a minute, a naive retry's ceiling), delivered,
duplicate tickets (0), and when the last order arrived after the return (against the
backoff ceiling `retry_max_s`).

Scale with LAMPPOST_DISPATCH_ORDERS (orders per adapter, default 10).
"""
from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path

from sqlalchemy import event, select

from host_tools.ops import config, db, register, schema
from host_tools.ops.config import RULES
from host_tools.ops.dispatch import Dispatcher
from host_tools.ops.engine import Engine
from host_tools.ops.ingest import parse

T0 = 1_768_500_000  # 2026-01-15T18:00:00Z
OUTAGE_S = 24 * 3600
KINDS = ("open311", "signalen", "webhook", "email")
POST_RE = re.compile(r"\bDP-\d{4}\b")


class Clock:
    def __init__(self, t: float):
        self.t = t

    def __call__(self) -> float:
        return self.t


def _servers(tmp: Path) -> dict:
    from tests.ops_servers.open311 import Open311Server
    from tests.ops_servers.signalen import SignalenServer
    from tests.ops_servers.smtp import SmtpServer
    from tests.ops_servers.webhook import WebhookServer
    return {"open311": Open311Server(), "signalen": SignalenServer(), "webhook": WebhookServer(),
            "email": SmtpServer(tmp)}


def _contractors(s: dict) -> dict:
    return {
        "open311": {"adapter": "open311", "url": s["open311"].url, "api_key": "k3y",
                    "jurisdiction_id": "houten.nl", "service_codes": {"lamp": "001"}},
        "signalen": {"adapter": "signalen", "url": s["signalen"].url, "token": "t0ken", "source": "lamppost"},
        "webhook": {"adapter": "webhook", "url": s["webhook"].url + "/orders", "secret": "s3cret"},
        "email": {"adapter": "email", "host": "127.0.0.1", "port": s["email"].port,
                  "to": "storingen@aannemer.example", "ca_file": str(s["email"].certs["ca"])},
    }


def tickets(s: dict, kind: str) -> list[str]:
    """The post id named by each ticket the contractor's system holds (one per ticket)."""
    if kind == "open311":
        texts = [r["description"] for r in s[kind].requests]
    elif kind == "signalen":
        texts = [x["text"] for x in s[kind].signals]
    elif kind == "webhook":
        texts = [t["body"]["order"]["post_id"] for t in s[kind].tickets.values()]
    else:
        texts = [m["Subject"] for _, m in s[kind].messages]
    return [(POST_RE.findall(t) or ["?"])[0] for t in texts]


def run(n: int, tmp: Path) -> list[dict]:
    servers = _servers(tmp)
    try:
        posts = [(f"DP-{i:04d}", KINDS[i % len(KINDS)]) for i in range(n * len(KINDS))]
        (tmp / "reg.csv").write_text("id,municipality,street,light_point,cabinet,contractor,lat,lon\n" + "".join(
            f"{pid},houten,Lindelaan,LP{i:04d},K{i},{kind},{52.03 + i * 0.0003:.6f},5.16\n"
            for i, (pid, kind) in enumerate(posts)))  # a cabinet each: no supply grouping
        cfg = config.parse({"municipality": {"houten": {"name": "Houten", "contractor": _contractors(servers)}}})
        eng = db.open_db(str(tmp / "ops.sqlite"))
        event.listen(eng, "connect", lambda conn, _rec: conn.execute("PRAGMA synchronous=OFF"))
        eng.dispose()
        register.import_file(eng, tmp / "reg.csv")
        clock = Clock(T0 + 1000)
        e = Engine(eng, cfg, clock)
        for k in KINDS:
            servers[k].down = True
        for dseq, (pid, _) in enumerate(posts, 1):
            for topic, body in ((f"stat/{pid}/ALARM", {"t": "2026-01-15T18:00:00Z", "ev": "alarm",
                                                       "alarm": "lampFailure", "state": "raised",
                                                       "dseq": dseq, "inc": "00000001"}),
                                (f"tele/{pid}/STATE", {"Time": "2026-01-15T18:16:40Z"})):
                e.ingest(*parse(topic, json.dumps(body).encode()))
        e.tick()
        d = Dispatcher(e, cfg)
        D, O = schema.dispatch, schema.orders

        def queue():
            with eng.connect() as c:
                return c.execute(select(D.c.contractor, D.c.state, D.c.attempts, D.c.next_at,
                                        D.c.sent_at)).all()

        def due():
            pend = [r.next_at for r in queue() if r.state == "pending"]
            return min(pend) if pend else None

        end = clock.t + OUTAGE_S
        while clock.t < end:  # jump the virtual clock from one due retry to the next
            d.run()
            nxt = due()
            clock.t = min(end, max(clock.t + 1, nxt if nxt is not None else end))
        during = {k: sum(r.attempts for r in queue() if r.contractor == k) for k in KINDS}
        for k in KINDS:
            servers[k].down = False
            if k != "email":  # SMTP has no idempotency: a lost 250 would duplicate (docs/operations.md)
                servers[k].lose_next_answer = True
        back = clock.t
        while clock.t < back + 6 * 3600 and due() is not None:
            clock.t = max(clock.t, due())
            d.run()
        rows = []
        q = queue()
        with eng.connect() as c:
            status = dict(c.execute(select(O.c.post_id, O.c.status)).all())
        for k in KINDS:
            mine = [p for p, kind in posts if kind == k]
            got = tickets(servers, k)
            sent = [r for r in q if r.contractor == k and r.state == "sent"]
            rows.append({"adapter": k, "orders": len(mine), "attempts_during_outage": during[k],
                         "delivered": sum(status.get(p) == "dispatched" and p in got for p in mine),
                         "tickets": len(got), "duplicates": len(got) - len(set(got)),
                         "strays": len(set(got) - set(mine)),
                         "last_after_return_s": max((r.sent_at - back for r in sent), default=None)})
        eng.dispose()
        return rows
    finally:
        for s in servers.values():
            s.close()


def main(out: Path) -> None:
    n = max(1, int(os.environ.get("LAMPPOST_DISPATCH_ORDERS", "10")))
    with tempfile.TemporaryDirectory(prefix="lamppost-bench-dispatch-") as tmp:
        rows = run(n, Path(tmp))
    naive = OUTAGE_S // 60  # a retry a minute, per order
    cap = RULES["retry_max_s"]
    print(f"contractor systems down for {OUTAGE_S // 3600} h (virtual clock), {n} orders each; back "
          "with the first answer lost (HTTP adapters); retry 30 s doubling to 1 h")
    head = ("adapter", "orders", "attempts/order in outage", "vs 1/min", "delivered", "tickets",
            "duplicates", "last after return", "vs retry_max_s")
    table = [head]
    for r in rows:
        per = r["attempts_during_outage"] / r["orders"]
        last = r["last_after_return_s"]
        table.append((r["adapter"], str(r["orders"]), f"{per:.1f}", f"{per / naive:.3f}",
                      f"{r['delivered']}/{r['orders']}", str(r["tickets"]), str(r["duplicates"]),
                      "-" if last is None else f"{last / 60:.0f} min",
                      "-" if last is None else f"{last / cap:.2f}"))
    w = [max(len(x[i]) for x in table) for i in range(len(head))]
    lines = ["  ".join(c.ljust(w[i]) for i, c in enumerate(x)).rstrip() for x in table]
    lines.insert(1, "  ".join("-" * x for x in w))
    print("\n".join(lines))
    total = sum(r["orders"] for r in rows)
    print(f"delivered after the outage: {sum(r['delivered'] for r in rows)}/{total}; "
          f"duplicate tickets: {sum(r['duplicates'] for r in rows)}; "
          f"tickets for no order: {sum(r['strays'] for r in rows)}")
    (out / "dispatch.json").write_text(json.dumps(rows, indent=1))
