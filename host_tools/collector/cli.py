"""`lamppost-collector`: subscribe to a broker, keep every post's state and an alarm register.

  lamppost-collector listen --broker HOST:PORT --db reg.sqlite [--for SECONDS]
  lamppost-collector posts  --db reg.sqlite [--json | --csv]
  lamppost-collector alarms --db reg.sqlite [--post ID] [--all] [--json | --csv]
  lamppost-collector quarantine --db reg.sqlite [--json | --csv]
  lamppost-collector send   --broker HOST:PORT --post ID [--key-file F] COMMAND [PARAM]

Broker account: --user NAME, the password from --password-file FILE or the environment
(LAMPPOST_MQTT_PASSWORD); --tls [--ca CA.pem]. The command key (send) from --key-file FILE
or LAMPPOST_CMD_KEY. Secrets are never taken from the command line (every user can read it).
"""
from __future__ import annotations

import argparse
import csv
import json
import logging
import os
import sqlite3
import sys
import time

from host_tools.secret import SecretError, read_secret  # noqa: F401 (SecretError: re-exported)
from host_tools.collector.store import Register


def text_table(rows: list[dict], cols: list[str]) -> str:
    cells = [cols] + [[str(r.get(c, "")) for c in cols] for r in rows]
    w = [max(len(row[i]) for row in cells) for i in range(len(cols))]
    lines = ["  ".join(v.ljust(w[i]) for i, v in enumerate(row)).rstrip() for row in cells]
    lines.insert(1, "  ".join("-" * x for x in w))
    return "\n".join(lines)


def post_rows(reg: Register) -> list[dict]:
    rows = []
    for p in reg.posts():
        e = p["energy"]
        rows.append({"post": p["id"], "online": p["online"] or "?", "alarms": p["alarms"],
                     "last_dseq": p["last_dseq"], "dups": p["duplicates"],
                     "conflicts": p["conflicts"],
                     "power_W": e.get("Power", ""), "total_kWh": e.get("Total", ""),
                     "uptime": p["state"].get("Uptime", "")})
    return rows


def emit(rows: list[dict], cols: list[str], fmt: str, out=None) -> None:
    out = out or sys.stdout
    if fmt == "json":
        json.dump(rows, out, indent=1)
        out.write("\n")
    elif fmt == "csv":
        w = csv.DictWriter(out, fieldnames=cols, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
    else:
        out.write(text_table(rows, cols) + "\n" if rows else "(nothing yet)\n")


def _argv_secrets(args) -> None:
    """Refuse a secret on the command line (every local user sees it in `ps`)."""
    if getattr(args, "password", None) is not None:
        raise SecretError("--password on the command line is refused (every user on this machine can "
                          "read it): put it in a file for --password-file, or in LAMPPOST_MQTT_PASSWORD")
    if getattr(args, "key", None) is not None:
        raise SecretError("--key on the command line is refused (every user on this machine can read "
                          "it): put the post's cmd_key in a file for --key-file, or in LAMPPOST_CMD_KEY")


def _broker_login(args) -> dict:
    """Listener/paho keyword arguments of the broker options: user, password, tls, ca."""
    _argv_secrets(args)
    pw = read_secret(args.password_file, "LAMPPOST_MQTT_PASSWORD", "broker password")
    if pw and not args.user:
        raise SecretError("a broker password needs --user NAME (MQTT sends a password only with a user)")
    if args.ca and not os.path.isfile(args.ca):
        raise SecretError(f"--ca {args.ca}: no such file")
    return {"user": args.user, "password": pw, "tls": bool(args.tls or args.ca), "ca": args.ca}


def cmd_listen(args) -> int:
    from host_tools.collector.listen import Listener
    from lamppost_common.addr import parse_addr
    logging.basicConfig(level=logging.INFO, format="lamppost-collector: %(message)s")
    try:
        host, port = parse_addr(args.broker)
        login = _broker_login(args)
    except ValueError as e:
        print(f"lamppost-collector: {e}", file=sys.stderr)
        return 2
    try:
        reg = Register(args.db)
    except sqlite3.Error as e:
        print(f"lamppost-collector: cannot open the register {args.db}: {e}", file=sys.stderr)
        return 1
    try:
        lis = Listener(reg, host, port, client_id=args.client_id, **login)
    except OSError as e:
        print(f"lamppost-collector: cannot reach broker {args.broker}: {e}", file=sys.stderr)
        return 1
    lis.answered.wait(30)  # a refused login ends it at once
    if lis.refused or not lis.wait_ready(30):  # subscribed (SUBACK) before it says it listens
        lis.close()
        why = (f"refused the connection: {lis.refused}" if lis.refused else
               "did not acknowledge the subscription within 30 s")
        print(f"lamppost-collector: broker {args.broker} {why}", file=sys.stderr)
        return 1
    session = (f"client id {lis.client_id}, persistent session" if lis.persistent
               else "clean session: nothing is kept for it while it is down (--client-id keeps one)")
    print(f"lamppost-collector: listening on {args.broker}, register {args.db} ({session})", flush=True)
    try:
        end = time.monotonic() + args.for_s if args.for_s else None
        while (end is None or time.monotonic() < end) and not lis.failed.is_set():
            lis.failed.wait(0.2)
    except KeyboardInterrupt:
        pass
    lis.close()
    if lis.failed.is_set():  # a supervisor restarts it; the broker keeps what was not acknowledged
        print(f"lamppost-collector: stopped: {lis.error}", file=sys.stderr)
        return 1
    emit(post_rows(reg), POST_COLS, "table")
    return 0


def cmd_send(args) -> int:
    """Publish one command to a post; sign it when a key is given; print the reply."""
    import threading

    import paho.mqtt.client as mqtt

    from host_tools.collector.sign import sign
    from lamppost_common.addr import parse_addr
    try:
        host, port = parse_addr(args.broker)
        login = _broker_login(args)
        key = read_secret(args.key_file, "LAMPPOST_CMD_KEY", "command key")
    except ValueError as e:
        print(f"lamppost-collector: {e}", file=sys.stderr)
        return 2
    param = " ".join(args.param)
    payload = sign(key, args.post, args.command, param, args.ctr or int(time.time())) \
        if key else param
    reply: list[str] = []
    got = threading.Event()
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"lamppost-send-{os.getpid()}")
    if login["user"]:
        c.username_pw_set(login["user"], login["password"])
    if login["tls"]:
        import ssl
        c.tls_set(ca_certs=login["ca"], cert_reqs=ssl.CERT_REQUIRED)

    def on_connect(cl, *a):
        cl.subscribe(f"stat/{args.post}/RESULT", 1)
        cl.publish(f"cmnd/{args.post}/{args.command}", payload, qos=1)

    def on_message(cl, u, m):
        reply.append(m.payload.decode(errors="replace"))
        got.set()
    c.on_connect = on_connect
    c.on_message = on_message
    try:
        c.connect(host, port)
    except OSError as e:
        print(f"lamppost-collector: cannot reach broker {args.broker}: {e}", file=sys.stderr)
        return 1
    c.loop_start()
    ok = got.wait(args.timeout)
    c.loop_stop()
    c.disconnect()
    if not ok:
        print(f"lamppost-collector: no reply from {args.post} within {args.timeout:g} s",
              file=sys.stderr)
        return 1
    print(reply[0])
    try:
        d = json.loads(reply[0])
    except ValueError:
        return 1  # not a reply the firmware writes
    return 1 if not isinstance(d, dict) or "error" in d else 0


POST_COLS = ["post", "online", "alarms", "last_dseq", "dups", "conflicts", "power_W", "total_kWh",
             "uptime"]
ALARM_COLS = ["device", "inc", "dseq", "t", "ev", "alarm", "state", "conflict"]
QUARANTINE_COLS = ["received", "topic", "size", "reason", "payload"]


def _open(path: str) -> Register | None:
    if not os.path.exists(path):
        print(f"lamppost-collector: no register at {path} (run `lamppost-collector listen` first)",
              file=sys.stderr)
        return None
    try:
        return Register(path)
    except sqlite3.Error as e:
        print(f"lamppost-collector: cannot open the register {path}: {e}", file=sys.stderr)
        return None


def cmd_posts(args) -> int:
    reg = _open(args.db)
    if reg is None:
        return 2
    emit(post_rows(reg), POST_COLS, args.fmt)
    return 0


def cmd_alarms(args) -> int:
    reg = _open(args.db)
    if reg is None:
        return 2
    rows = reg.events(args.post, alarms_only=not args.all)
    emit(rows, ALARM_COLS, args.fmt)
    return 0


def cmd_quarantine(args) -> int:
    reg = _open(args.db)
    if reg is None:
        return 2
    rows = reg.quarantined(args.limit)
    if args.fmt == "table":
        for r in rows:
            r["received"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(r["received"] or 0))
            for k in ("topic", "payload"):  # no control characters reach the terminal
                r[k] = "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(r[k]))[:60]
    emit(rows, QUARANTINE_COLS, args.fmt)
    return 0


def _broker_options(p) -> None:
    p.add_argument("--broker", required=True, help="HOST:PORT of the MQTT broker")
    p.add_argument("--user", help="broker user name (the collector's account, see docs/collector.md)")
    p.add_argument("--password-file", metavar="FILE",
                   help="file whose first line is the broker password (else LAMPPOST_MQTT_PASSWORD)")
    p.add_argument("--tls", action="store_true", help="MQTT over TLS (port 8883 usually)")
    p.add_argument("--ca", metavar="CA.pem", help="CA the broker's certificate is checked against "
                   "(implies --tls; default: the system's CAs)")
    p.add_argument("--password", help=argparse.SUPPRESS)  # refused with a clear error


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="lamppost-collector", description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True, metavar="COMMAND")
    p = sub.add_parser("listen", help="subscribe to a broker and record into the register")
    _broker_options(p)
    p.add_argument("--db", default="lamppost-register.sqlite", help="SQLite register file")
    p.add_argument("--for", dest="for_s", type=float, help="stop after this many seconds")
    p.add_argument("--client-id", help="MQTT client id for a persistent session: the broker keeps the "
                   "alarms and events sent while this collector is down and delivers them when it "
                   "comes back with the same id (default: a unique id per run and a clean session, "
                   "so two collectors on one broker do not knock each other off, but nothing is "
                   "kept for it while it is down)")
    p.set_defaults(func=cmd_listen)
    p = sub.add_parser("send", help="send a command to a post (signed with its key) and show the reply")
    _broker_options(p)
    p.add_argument("--post", required=True, help="post id")
    p.add_argument("--key-file", metavar="FILE", help="file whose first line is the post's cmd_key "
                   "(else LAMPPOST_CMD_KEY): sign the command (state-changing commands need it)")
    p.add_argument("--key", help=argparse.SUPPRESS)  # refused: a secret on the command line
    p.add_argument("--ctr", type=int, help="counter (default: unix time, always increasing)")
    p.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for the reply")
    p.add_argument("command", help="e.g. Status, TelePeriod")
    p.add_argument("param", nargs="*", help="the command's parameter")
    p.set_defaults(func=cmd_send)
    for name, func, hlp in (("posts", cmd_posts, "each post's last state"),
                            ("alarms", cmd_alarms, "the alarm register, in sequence order"),
                            ("quarantine", cmd_quarantine, "messages refused, newest first, with why")):
        q = sub.add_parser(name, help=hlp)
        q.add_argument("--db", default="lamppost-register.sqlite", help="SQLite register file")
        fmt = q.add_mutually_exclusive_group()
        fmt.add_argument("--json", dest="fmt", action="store_const", const="json")
        fmt.add_argument("--csv", dest="fmt", action="store_const", const="csv")
        q.set_defaults(func=func, fmt="table")
        if name == "alarms":
            q.add_argument("--post", help="only this post")
            q.add_argument("--all", action="store_true", help="every event, not only alarms")
        if name == "quarantine":
            q.add_argument("--limit", type=int, default=100, help="at most this many (default 100)")
    args = ap.parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
