"""lamppost-ops: alarms from posts become work orders at contractors, tracked until the post verifies the repair.

  lamppost-ops [--db URL] [--config FILE] [--json] COMMAND
    register import FILE.csv|FILE.toml   add or update posts (history kept)
    register list [--municipality M]     the posts
    register history ID                  what re-imports changed on one post
    orders [--municipality M] [--status S]
    order ID                             one order with its timeline (audit trail)
    order-update ID acknowledged|repaired --cause TEXT   a contractor's answer by hand
    tick                                 judge what is due now (serve does it every few seconds)
    dispatch [--retry-rejected]          work the dispatch queue once, poll contractors
    serve --broker HOST:PORT [--health HOST:PORT] [--console HOST:PORT] [--share GROUP --client-id ID]
                                         the long-running service; N workers with one --share group split the load
    console --listen HOST:PORT [--broker HOST:PORT]   the web console alone (docs/console-web.md)
    user add NAME --role R --municipality M [--contractor C] [--password-file F]   console accounts
    user list | passwd NAME | disable NAME | enable NAME | token NAME
    ota rollout --bundle DIR --broker HOST:PORT (--posts ID,... | --municipality M | --all | --resume ID)
                [--canary 0.1] [--wave 50] [--max-fail 0.2]   update posts in waves (docs/ota.md)
    ota status [ID]                      per-post state of a rollout (the newest without ID)
    ota list                             the rollouts, newest first
    ota abandon ID                       end a rollout whose process died (its posts are free again)
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


class Failed(Exception):
    """A command that could not do its job (exit 1): an unknown order, a refused update."""


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


def _db(args):
    """The database of --db (or its default), migrated; a URL it cannot take is a usage error."""
    try:
        url = db.resolve_url(args.db)
    except ValueError as e:
        raise Usage(str(e)) from None
    return db.open_db(url)


def _engine(args) -> Engine:
    try:
        cfg = cfgmod.load(args.config)
    except cfgmod.ConfigError as e:
        raise Usage(str(e)) from None
    return Engine(_db(args), cfg)


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


def cmd_register_history(args) -> int:
    e = _engine(args)
    rows = register.history(e.db, args.id)
    if not rows:
        raise Failed(f"no post {args.id} in the register")
    for r in rows:
        r["at"] = iso(int(r["at"]))
    _out(args, rows, _table(rows, ["at", "field", "old", "new", "source"]))
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
        raise Failed(f"no order {args.id}")
    tl = timeline_rows(e, args.id)
    o = rows[0]
    _out(args, {"order": o, "timeline": tl},
         f"order {o['id']} ({o['status']}, priority {o['priority']}): {o['description']}\n"
         + _table(tl, ["at", "post_t", "from", "to", "cause"]))
    return 0


def cmd_order_update(args) -> int:
    e = _engine(args)
    if not any(o["id"] == args.id for o in e.orders()):
        raise Failed(f"no order {args.id}")
    if not e.contractor_update(args.id, args.status, args.cause):
        raise Failed(f"order {args.id} cannot become {args.status} now")
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
    if db.read_only(e.db):  # a worker on a replica would retry its first write for ever
        raise Failed("serve: " + db.READ_ONLY)
    return serve(e, args)


PASSWORD_ENV = "LAMPPOST_OPS_PASSWORD"


def _password(args, confirm: bool = True) -> str:
    """The new password from --password-file, else $LAMPPOST_OPS_PASSWORD, else a prompt
    (twice); never from the command line, where every user of the machine could read it."""
    import getpass
    import os
    if getattr(args, "password", None) is not None:
        raise Usage("--password on the command line is refused (other users can read it): "
                    f"use --password-file FILE, ${PASSWORD_ENV} or the prompt")
    if args.password_file:
        try:
            with open(args.password_file) as f:
                return f.readline().rstrip("\r\n")
        except OSError as e:
            raise Usage(f"{args.password_file}: {e.strerror}") from None
    if os.environ.get(PASSWORD_ENV):
        return os.environ[PASSWORD_ENV]
    if not sys.stdin.isatty():
        raise Usage(f"no password: give --password-file FILE or ${PASSWORD_ENV} (no terminal to ask)")
    pw = getpass.getpass("password: ")
    if confirm and getpass.getpass("again: ") != pw:
        raise Usage("the passwords differ")
    return pw


def cmd_user(args) -> int:
    from host_tools.ops.web import accounts
    e = _engine(args)
    try:
        if args.sub == "add":
            u = accounts.add_user(e.db, args.name, _password(args), args.role, args.municipality,
                                  args.contractor)
            _out(args, {"username": u.username, "role": u.role, "municipality": u.municipality,
                        "contractor": u.contractor},
                 f"user {u.username} added ({u.role}, {u.municipality}"
                 + (f", contractor {u.contractor})" if u.contractor else ")"))
        elif args.sub == "list":
            rows = accounts.list_users(e.db, args.municipality)
            _out(args, rows, _table(rows, ["username", "role", "municipality", "contractor", "disabled"]))
        elif args.sub == "passwd":
            accounts.set_password(e.db, args.name, _password(args))
            _out(args, {"username": args.name}, f"password of {args.name} changed")
        elif args.sub in ("disable", "enable"):
            accounts.set_disabled(e.db, args.name, args.sub == "disable")
            _out(args, {"username": args.name, "disabled": args.sub == "disable"},
                 f"user {args.name} {args.sub}d")
        elif args.sub == "token":
            tok = accounts.new_token(e.db, args.name, args.token_name)
            _out(args, {"username": args.name, "token": tok},
                 f"{tok}\n(shown once: scripts send it as 'Authorization: Bearer <token>')")
    except accounts.AccountError as err:
        print(f"{PROG}: {err}", file=sys.stderr)
        return 1
    return 0


def cmd_console(args) -> int:
    from host_tools.ops.serve import run_console
    e = _engine(args)
    return run_console(e, args)


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
    p = rs.add_parser("history", help="what re-imports changed on one post (field, old, new, file)",
                      parents=[common])
    p.add_argument("id")
    p.set_defaults(func=cmd_register_history)
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
                   "(GET /healthz) and of contractors' signed status updates (POST /inbound/M/C); "
                   "port 0 picks a free one")
    p.add_argument("--client-id", default="lamppost-ops", help="MQTT client id (persistent session: "
                   "the broker keeps QoS 1 alarms while the service is down)")
    p.add_argument("--interval", type=float, default=5.0, help="seconds between judging rounds")
    p.add_argument("--for", dest="for_s", type=float, help="stop after this many seconds")
    p.add_argument("--console", metavar="HOST:PORT", help="serve the web console here (default: "
                   "[console] listen of the config; none without it)")
    p.add_argument("--share", metavar="GROUP", help="MQTT 5 shared subscription group "
                   "($share/GROUP/...): N workers with the same GROUP and distinct --client-id split "
                   "the messages (docs/fleet.md)")
    p.add_argument("--backstop", action="store_true", help="also take ALARM/EVENT on a plain "
                   "persistent subscription (client id <client-id>-backstop): with --share on a broker "
                   "that does not restore shared subscriptions after a restart (mosquitto 2.0), give "
                   "it to one or two workers (docs/fleet.md)")
    p.add_argument("--user", help="broker account (a broker without anonymous access: "
                   "deploy/mosquitto/mosquitto.conf, deploy/emqx/acl.conf)")
    p.add_argument("--password-file", dest="password_file", help="first line is the broker password "
                   "(else $LAMPPOST_MQTT_PASSWORD)")
    p.add_argument("--password", help=argparse.SUPPRESS)  # refused: a secret on the command line
    p.add_argument("--session-expiry", type=int, default=7 * 86400, help="seconds the broker keeps "
                   "this worker's session and its QoS 1 messages while it is away (default 7 days)")
    p.add_argument("--retention-days", type=float, default=telemetry.DEFAULT_RETENTION_DAYS,
                   help="telemetry history kept, days back from the newest report (default "
                        f"{telemetry.DEFAULT_RETENTION_DAYS}); rollups older than that go too")
    p.set_defaults(func=cmd_serve)
    p = sub.add_parser("console", help="the web console alone (no ingest); docs/console-web.md",
                       parents=[common])
    p.add_argument("--listen", default=None, help="HOST:PORT (default [console] listen or 127.0.0.1:8312)")
    p.add_argument("--broker", help="HOST:PORT of the MQTT broker, for commands to posts")
    p.add_argument("--for", dest="for_s", type=float, help="stop after this many seconds")
    p.set_defaults(func=cmd_console)
    u = sub.add_parser("user", help="console accounts", parents=[common])
    us = u.add_subparsers(dest="sub", required=True, metavar="ACTION")
    p = us.add_parser("add", help="create an account", parents=[common])
    p.add_argument("name")
    p.add_argument("--role", required=True, choices=["viewer", "operator", "admin", "contractor"])
    p.add_argument("--municipality", required=True)
    p.add_argument("--contractor", help="the contractor (config name) a contractor account acts for")
    p.add_argument("--password-file", help=f"first line is the password (else ${PASSWORD_ENV}, else a prompt)")
    p.add_argument("--password", help=argparse.SUPPRESS)  # refused: a secret on the command line
    p.set_defaults(func=cmd_user)
    p = us.add_parser("list", help="accounts", parents=[common])
    p.add_argument("--municipality")
    p.set_defaults(func=cmd_user)
    p = us.add_parser("passwd", help="set a new password", parents=[common])
    p.add_argument("name")
    p.add_argument("--password-file")
    p.add_argument("--password", help=argparse.SUPPRESS)
    p.set_defaults(func=cmd_user)
    for action in ("disable", "enable"):
        p = us.add_parser(action, help=f"{action} an account", parents=[common])
        p.add_argument("name")
        p.set_defaults(func=cmd_user)
    p = us.add_parser("token", help="a new API token for scripts (shown once)", parents=[common])
    p.add_argument("name")
    p.add_argument("--token-name", default="script", help="what the token is for")
    p.set_defaults(func=cmd_user)
    ota = sub.add_parser("ota", help="over-the-air updates in waves (docs/ota.md)", parents=[common])
    os_ = ota.add_subparsers(dest="sub", required=True, metavar="ACTION")
    p = os_.add_parser("rollout", help="offer a signed bundle to posts in waves, halt on failures",
                       parents=[common])
    p.add_argument("--bundle", required=True, help="signed bundle directory (lampctl ota sign)")
    p.add_argument("--broker", required=True, help="HOST:PORT of the MQTT broker")
    p.add_argument("--user")
    p.add_argument("--password-file", dest="password_file",
                   help="broker password: first line of FILE (else $LAMPPOST_MQTT_PASSWORD)")
    p.add_argument("--password", help=argparse.SUPPRESS)  # refused: a secret on the command line
    p.add_argument("--posts", help="comma-separated post ids")
    p.add_argument("--municipality", help="every post of this municipality in the register")
    p.add_argument("--all", action="store_true", help="every post in the register")
    p.add_argument("--resume", type=int, metavar="ID",
                   help="carry on rollout ID whose process died (its posts, waves and limits)")
    p.add_argument("--canary", type=float, default=0.1, help="share of posts in the first wave (default 0.1)")
    p.add_argument("--wave", type=int, default=50, help="posts per later wave (default 50)")
    p.add_argument("--max-fail", dest="max_fail", type=float, default=0.2,
                   help="halt when more than this share of a wave failed (default 0.2)")
    p.add_argument("--wave-timeout", dest="wave_timeout", type=float, default=3600.0,
                   help="seconds a wave may take; a post without a verdict by then failed (default 3600)")
    p.set_defaults(func=cmd_ota_rollout)
    p = os_.add_parser("status", help="per-post state of a rollout (the newest without ID)", parents=[common])
    p.add_argument("id", nargs="?", type=int)
    p.set_defaults(func=cmd_ota_status)
    p = os_.add_parser("list", help="the rollouts, newest first", parents=[common])
    p.set_defaults(func=cmd_ota_list)
    p = os_.add_parser("abandon", help="end a rollout whose process died, without resuming it",
                       parents=[common])
    p.add_argument("id", type=int)
    p.set_defaults(func=cmd_ota_abandon)
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


def cmd_ota_rollout(args) -> int:
    from pathlib import Path

    from host_tools.ops.rollout import Rollout, RolloutError, TakenOver
    from host_tools.ota import bundle as ob
    from host_tools.ota.server import OtaServer
    from host_tools.secret import SecretError, broker_password
    try:
        pw = broker_password(args)  # before anything else: a secret on argv is a usage error
    except SecretError as e:
        raise Usage(str(e)) from None
    if args.resume is not None:
        if args.posts or args.municipality or args.all:
            raise Usage("--resume carries on a rollout's own posts: name no others")
        posts, scope = [], ""
    elif args.posts:
        posts = [p for p in args.posts.split(",") if p]
        scope = f"posts {args.posts}" if len(args.posts) <= 200 else f"{len(posts)} posts named"
    elif args.municipality or args.all:
        rows = _register_rows(args)
        posts = [r["id"] for r in rows if not args.municipality or r.get("municipality") == args.municipality]
        scope = f"municipality {args.municipality}" if args.municipality else "all posts"
    else:
        raise Usage("name the posts: --posts ID,ID, --municipality M or --all (or --resume ID)")
    if not posts and args.resume is None:
        raise Usage("no posts to update")
    try:
        b = ob.load(Path(args.bundle))
    except ob.BundleError as e:
        raise Usage(str(e)) from None
    eng = _db(args)
    host, _, port = args.broker.rpartition(":")
    try:
        srv = OtaServer(host or "127.0.0.1", int(port), args.user, pw)
    except (OSError, ValueError) as e:
        print(f"{PROG}: broker: {e}", file=sys.stderr)
        return 1
    try:
        if args.resume is not None:
            r = Rollout.resume(srv, b, eng, args.resume)
        else:
            r = Rollout.start(srv, b, posts, eng, args.canary, args.wave, args.max_fail, args.wave_timeout,
                              scope=scope)
        print(f"rollout {r.id}: {b.version} to {sum(map(len, r.plan))} posts in {len(r.plan)} waves "
              f"(`{PROG} ota status {r.id}` from anywhere)", file=sys.stderr)
        res = r.run()
    except TakenOver as e:
        print(f"{PROG}: {e}", file=sys.stderr)
        return 1
    except RolloutError as e:
        raise Usage(str(e)) from None
    finally:
        srv.close()
    _rollout_out(args, res)
    return 0 if res["state"] == "done" else 1


def _rollout_out(args, res: dict) -> None:
    rows = [{"post": p, **v} for p, v in res["posts"].items()]
    state = res["state"] + (" (its process stopped writing: `ota rollout --resume "
                            f"{res['id']}` carries it on, `ota abandon {res['id']}` ends it)"
                            if res["stale"] else "")
    _out(args, res, _table(rows, ["post", "wave", "state", "why"]) + f"\nrollout {res['id']} of "
         f"{res['version']} ({res['scope']}): {state}" + (f" ({res['why']})" if res.get("why") else ""))


def cmd_ota_status(args) -> int:
    from host_tools.ops.rollout import RolloutError, status
    try:
        res = status(_db(args), args.id)
    except RolloutError as e:
        raise Usage(str(e)) from None
    _rollout_out(args, res)
    return 0


def cmd_ota_abandon(args) -> int:
    from host_tools.ops.rollout import RolloutError, abandon, status
    eng = _db(args)
    try:
        abandon(eng, args.id)
    except RolloutError as e:
        raise Usage(str(e)) from None
    _rollout_out(args, status(eng, args.id))
    return 0


def cmd_ota_list(args) -> int:
    from host_tools.ops.rollout import listing
    rows = listing(_db(args))
    for r in rows:
        r["started"] = iso(int(r["started_at"]))
    _out(args, rows, _table(rows, ["id", "version", "scope", "state", "posts", "confirmed", "started"])
         if rows else "no rollout yet")
    return 0


def _register_rows(args) -> list[dict]:
    """The register's posts as dicts (id, municipality, ...)."""
    eng = _db(args)
    with eng.connect() as c:
        return [dict(r._mapping) for r in c.execute(select(schema.posts).order_by(schema.posts.c.id))]


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    for k, v in (("db", None), ("config", None), ("json", False)):
        if not hasattr(args, k):
            setattr(args, k, v)
    try:
        return args.func(args)
    except Usage as e:
        return _error(args, str(e), 2)
    except Failed as e:
        return _error(args, str(e), 1)
    except SQLAlchemyError as e:
        if db.is_read_only_error(e):
            return _error(args, db.READ_ONLY, 1)
        return _error(args, f"database: {str(e).splitlines()[0]}", 1)
    except KeyboardInterrupt:
        return 130


def _error(args, msg: str, code: int) -> int:
    """An error on stderr for people and, with --json, as {"error", "exit"} on stdout as lampctl
    does, so a script reading stdout sees why the command failed, not an empty document."""
    print(f"{PROG}: {msg}", file=sys.stderr)
    if args.json:
        print(json.dumps({"error": msg, "exit": code}))
    return code


if __name__ == "__main__":
    sys.exit(main())
