"""lamppost-ops: alarms from posts become work orders at contractors, tracked until the post verifies the repair.

  lamppost-ops [--db URL] [--config FILE] [--json] COMMAND
    register import FILE.csv|FILE.toml   add or update posts (history kept)
    register list [--municipality M]     the posts
    orders [--municipality M] [--status S]
    order ID                             one order with its timeline (audit trail)
    order-update ID acknowledged|repaired --cause TEXT   a contractor's answer by hand
    tick                                 judge what is due now (serve does it every few seconds)
    dispatch [--retry-rejected]          work the dispatch queue once, poll contractors
    serve --broker HOST:PORT [--health HOST:PORT] [--share GROUP --client-id ID]   the long-running
                                         service; N workers with one --share group split the load
    telemetry maintain | energy [--per hour|day] [--post P]   history: rollups, retention
Exit codes: 0 ok, 2 usage (bad option, config or register file), 1 failure (database, broker).
The database: --db, else $LAMPPOST_OPS_DB, else ./lamppost-ops.sqlite (SQLite); a
postgresql+psycopg:// URL for PostgreSQL. docs/operations.md is the operator's guide.
"""
from __future__ import annotations

import argparse
import json
import sys

from sqlalchemy import select, update
from sqlalchemy.exc import SQLAlchemyError

from host_tools.ops import config as cfgmod
from host_tools.ops import db, register, schema, telemetry
from host_tools.ops.engine import Engine, iso

PROG = "lamppost-ops"


class Usage(Exception):
    pass


def _table(rows: list[dict], cols: list[str]) -> str:
    if not rows:
        return "(none)"
    cells = [cols] + [["" if r.get(c) is None else str(r.get(c)) for c in cols] for r in rows]
    w = [max(len(row[i]) for row in cells) for i in range(len(cols))]
    out = ["  ".join(v.ljust(w[i]) for i, v in enumerate(row)).rstrip() for row in cells]
    out.insert(1, "  ".join("-" * x for x in w))
    return "\n".join(out)


def _out(args, obj, text: str) -> None:
    if args.json:
        json.dump(obj, sys.stdout, indent=1, default=str)
        sys.stdout.write("\n")
    else:
        print(text)


def _engine(args) -> Engine:
    try:
        cfg = cfgmod.load(args.config)
    except cfgmod.ConfigError as e:
        raise Usage(str(e)) from None
    try:
        url = db.resolve_url(args.db)
    except ValueError as e:
        raise Usage(str(e)) from None
    return Engine(db.open_db(url), cfg)


def cmd_register_import(args) -> int:
    e = _engine(args)
    try:
        n = register.import_file(e.db, args.file)
    except register.RegisterError as err:
        raise Usage(str(err)) from None
    _out(args, n, f"{args.file}: {n['posts']} posts, {n['added']} added, {n['updated']} updated, "
                  f"{n['unchanged']} unchanged")
    return 0


def cmd_register_list(args) -> int:
    e = _engine(args)
    P = schema.posts
    q = select(P).order_by(P.c.municipality, P.c.id)
    if args.municipality:
        q = q.where(P.c.municipality == args.municipality)
    with e.db.connect() as c:
        rows = [dict(r) for r in c.execute(q).mappings()]
    for r in rows:
        r["last_t"] = iso(r["last_t"])
    _out(args, rows, _table(rows, ["id", "municipality", "street", "light_point", "cabinet",
                                   "contractor", "lat", "lon", "lwt", "last_t"]))
    return 0


def order_rows(e: Engine, municipality=None, status=None) -> list[dict]:
    rows = e.orders(municipality, status)
    for r in rows:
        r["first"] = iso(r["first_t"])
        r["posts"] = " ".join(r["posts"]) if not isinstance(r["posts"], str) else r["posts"]
    return rows


ORDER_COLS = ["id", "status", "priority", "fault_class", "category", "posts", "contractor",
              "remote_id", "first", "repeat_of"]


def cmd_orders(args) -> int:
    e = _engine(args)
    rows = order_rows(e, args.municipality, args.status)
    _out(args, rows, _table(rows, ORDER_COLS))
    return 0


def timeline_rows(e: Engine, oid: int) -> list[dict]:
    return [{"at": iso(int(a["at"])), "post_t": iso(a["t"]), "from": a["from_status"] or "",
             "to": a["to_status"], "cause": a["cause"]} for a in e.timeline(oid)]


def cmd_order(args) -> int:
    e = _engine(args)
    rows = [o for o in e.orders() if o["id"] == args.id]
    if not rows:
        print(f"{PROG}: no order {args.id}", file=sys.stderr)
        return 1
    tl = timeline_rows(e, args.id)
    o = rows[0]
    _out(args, {"order": o, "timeline": tl},
         f"order {o['id']} ({o['status']}, priority {o['priority']}): {o['description']}\n"
         + _table(tl, ["at", "post_t", "from", "to", "cause"]))
    return 0


def cmd_order_update(args) -> int:
    e = _engine(args)
    ok = e.contractor_update(args.id, args.status, args.cause)
    if not ok:
        print(f"{PROG}: order {args.id} cannot become {args.status} now", file=sys.stderr)
        return 1
    _out(args, {"id": args.id, "status": args.status}, f"order {args.id}: {args.status}")
    return 0


def cmd_tick(args) -> int:
    e = _engine(args)
    n = e.tick()
    _out(args, n, f"{n['opened']} order(s) opened")
    return 0


def cmd_dispatch(args) -> int:
    from host_tools.ops.dispatch import Dispatcher
    e = _engine(args)
    if args.retry_rejected:
        with e.db.begin() as c:
            c.execute(update(schema.dispatch).where(schema.dispatch.c.state == "rejected")
                      .values(state="pending", next_at=e.clock()))
    d = Dispatcher(e, e.cfg)
    n = d.run()
    n["status_changes"] = d.poll()
    _out(args, n, f"sent {n['sent']}, to retry {n['retry']}, refused {n['rejected']}, "
                  f"status changes {n['status_changes']}")
    return 0


def cmd_telemetry_maintain(args) -> int:
    e = _engine(args)
    n = telemetry.maintain(e.db, args.retention_days)
    _out(args, n, f"rolled up {n['rolled_hours']} post-hour(s), dropped {n['dropped_partitions']} "
                  f"partition(s), deleted {n['deleted_rows']} row(s)")
    return 0


def cmd_telemetry_energy(args) -> int:
    e = _engine(args)
    rows = telemetry.energy(e.db, args.per, args.post)
    for r in rows:
        r["start"] = iso(r["start"])
        r["energy_kwh"] = round(r["energy_kwh"], 4)
        r["burn_h"] = round(r["burn_h"], 3)
    _out(args, rows, _table(rows, ["post_id", "start", "energy_kwh", "burn_h", "samples"]))
    return 0


def cmd_serve(args) -> int:
    from host_tools.ops.serve import serve
    e = _engine(args)
    return serve(e, args)


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--db", default=argparse.SUPPRESS,
                        help="database: a SQLite file or postgresql+psycopg://... (default $LAMPPOST_OPS_DB "
                             "or lamppost-ops.sqlite)")
    common.add_argument("--config", default=argparse.SUPPRESS, help="TOML config: municipalities, "
                        "contractors, rules (without it: built-in rules, no contractors)")
    common.add_argument("--json", action="store_true", default=argparse.SUPPRESS,
                        help="machine-readable output")
    ap = argparse.ArgumentParser(prog=PROG, description=__doc__.splitlines()[0], parents=[common],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True, metavar="COMMAND")
    reg = sub.add_parser("register", help="the asset register", parents=[common])
    rs = reg.add_subparsers(dest="sub", required=True, metavar="ACTION")
    p = rs.add_parser("import", help="add or update posts from a CSV or TOML file", parents=[common])
    p.add_argument("file")
    p.set_defaults(func=cmd_register_import)
    p = rs.add_parser("list", help="the posts", parents=[common])
    p.add_argument("--municipality")
    p.set_defaults(func=cmd_register_list)
    p = sub.add_parser("orders", help="work orders", parents=[common])
    p.add_argument("--municipality")
    p.add_argument("--status", choices=["opened", "dispatched", "acknowledged", "repaired", "verified",
                                        "not_verified", "merged"])
    p.set_defaults(func=cmd_orders)
    p = sub.add_parser("order", help="one order and its timeline", parents=[common])
    p.add_argument("id", type=int)
    p.set_defaults(func=cmd_order)
    p = sub.add_parser("order-update", help="record a contractor's answer by hand", parents=[common])
    p.add_argument("id", type=int)
    p.add_argument("status", choices=["acknowledged", "repaired"])
    p.add_argument("--cause", required=True, help="what the contractor said (goes to the audit trail)")
    p.set_defaults(func=cmd_order_update)
    p = sub.add_parser("tick", help="judge what is due now", parents=[common])
    p.set_defaults(func=cmd_tick)
    p = sub.add_parser("dispatch", help="send due orders and poll contractors once", parents=[common])
    p.add_argument("--retry-rejected", action="store_true", help="requeue refused dispatches "
                   "(after fixing the config)")
    p.set_defaults(func=cmd_dispatch)
    p = sub.add_parser("serve", help="ingest from MQTT, judge, dispatch, poll; /healthz", parents=[common])
    p.add_argument("--broker", required=True, help="HOST:PORT of the MQTT broker")
    p.add_argument("--health", default="127.0.0.1:8311", help="HOST:PORT of the health endpoint "
                   "(GET /healthz); port 0 picks a free one")
    p.add_argument("--client-id", default="lamppost-ops", help="MQTT client id (persistent session: "
                   "the broker keeps QoS 1 alarms while the service is down)")
    p.add_argument("--interval", type=float, default=5.0, help="seconds between judging rounds")
    p.add_argument("--for", dest="for_s", type=float, help="stop after this many seconds")
    p.add_argument("--share", metavar="GROUP", help="MQTT 5 shared subscription group "
                   "($share/GROUP/...): N workers with the same GROUP and distinct --client-id split "
                   "the messages (docs/fleet.md)")
    p.add_argument("--backstop", action="store_true", help="also take ALARM/EVENT on a plain "
                   "persistent subscription (client id <client-id>-backstop): with --share on a broker "
                   "that does not restore shared subscriptions after a restart (mosquitto 2.0), give "
                   "it to one or two workers (docs/fleet.md)")
    p.add_argument("--session-expiry", type=int, default=7 * 86400, help="seconds the broker keeps "
                   "this worker's session and its QoS 1 messages while it is away (default 7 days)")
    p.add_argument("--retention-days", type=float, default=telemetry.DEFAULT_RETENTION_DAYS,
                   help="telemetry history kept, days back from the newest report (default "
                        f"{telemetry.DEFAULT_RETENTION_DAYS}); rollups older than that go too")
    p.set_defaults(func=cmd_serve)
    p = sub.add_parser("telemetry", help="telemetry history: maintain (rollup, partitions, "
                       "retention) or energy (the rollups)", parents=[common])
    ts = p.add_subparsers(dest="sub", required=True, metavar="ACTION")
    q = ts.add_parser("maintain", help="roll up new telemetry and apply retention once", parents=[common])
    q.add_argument("--retention-days", type=float, default=telemetry.DEFAULT_RETENTION_DAYS)
    q.set_defaults(func=cmd_telemetry_maintain)
    q = ts.add_parser("energy", help="energy (kWh) and burning hours per post per hour or day "
                      "(from the rollups)", parents=[common])
    q.add_argument("--per", choices=["hour", "day"], default="day")
    q.add_argument("--post", help="one post id")
    q.set_defaults(func=cmd_telemetry_energy)
    return ap


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    for k, v in (("db", None), ("config", None), ("json", False)):
        if not hasattr(args, k):
            setattr(args, k, v)
    try:
        return args.func(args)
    except Usage as e:
        print(f"{PROG}: {e}", file=sys.stderr)
        return 2
    except SQLAlchemyError as e:
        print(f"{PROG}: database: {str(e).splitlines()[0]}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
