"""`lamppost-collector`: subscribe to a broker, keep every post's state and an alarm register.

  lamppost-collector listen --broker HOST:PORT --db reg.sqlite [--for SECONDS]
  lamppost-collector posts  --db reg.sqlite [--json | --csv]
  lamppost-collector alarms --db reg.sqlite [--post ID] [--all] [--json | --csv]
  lamppost-collector send   --broker HOST:PORT --post ID [--key K] COMMAND [PARAM]
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import time

from host_tools.collector.store import Register


def _table(rows: list[dict], cols: list[str]) -> str:
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
        out.write(_table(rows, cols) + "\n" if rows else "(nothing yet)\n")


def cmd_listen(args) -> int:
    from host_tools.collector.listen import Listener
    from simulator.broker import parse_addr
    try:
        host, port = parse_addr(args.broker)
    except ValueError as e:
        print(f"lamppost-collector: {e}", file=sys.stderr)
        return 2
    reg = Register(args.db)
    try:
        lis = Listener(reg, host, port, client_id=args.client_id)
    except OSError as e:
        print(f"lamppost-collector: cannot reach broker {args.broker}: {e}", file=sys.stderr)
        return 1
    if not lis.wait_ready(30):  # subscribed (SUBACK) before it says it listens
        lis.close()
        print(f"lamppost-collector: broker {args.broker} did not acknowledge the subscription "
              "within 30 s", file=sys.stderr)
        return 1
    session = (f"client id {lis.client_id}, persistent session" if lis.persistent
               else "clean session: nothing is kept for it while it is down (--client-id keeps one)")
    print(f"lamppost-collector: listening on {args.broker}, register {args.db} ({session})", flush=True)
    try:
        end = time.monotonic() + args.for_s if args.for_s else None
        while end is None or time.monotonic() < end:
            time.sleep(0.2)
    except KeyboardInterrupt:
        pass
    lis.close()
    emit(post_rows(reg), POST_COLS, "table")
    return 0


def cmd_send(args) -> int:
    """Publish one command to a post; sign it when a key is given; print the reply."""
    import threading

    import paho.mqtt.client as mqtt

    from host_tools.collector.sign import sign
    from simulator.broker import parse_addr
    try:
        host, port = parse_addr(args.broker)
    except ValueError as e:
        print(f"lamppost-collector: {e}", file=sys.stderr)
        return 2
    param = " ".join(args.param)
    payload = sign(args.key, args.post, args.command, param, args.ctr or int(time.time())) \
        if args.key else param
    reply: list[str] = []
    got = threading.Event()
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"lamppost-send-{os.getpid()}")

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
    return 1 if "error" in json.loads(reply[0]) else 0


POST_COLS = ["post", "online", "alarms", "last_dseq", "dups", "power_W", "total_kWh", "uptime"]
ALARM_COLS = ["device", "dseq", "t", "ev", "alarm", "state"]


def _open(path: str) -> Register | None:
    if not os.path.exists(path):
        print(f"lamppost-collector: no register at {path} (run `lamppost-collector listen` first)",
              file=sys.stderr)
        return None
    return Register(path)


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


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="lamppost-collector", description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True, metavar="COMMAND")
    p = sub.add_parser("listen", help="subscribe to a broker and record into the register")
    p.add_argument("--broker", required=True, help="HOST:PORT of the MQTT broker")
    p.add_argument("--db", default="lamppost-register.sqlite", help="SQLite register file")
    p.add_argument("--for", dest="for_s", type=float, help="stop after this many seconds")
    p.add_argument("--client-id", help="MQTT client id for a persistent session: the broker keeps the "
                   "alarms and events sent while this collector is down and delivers them when it "
                   "comes back with the same id (default: a unique id per run and a clean session, "
                   "so two collectors on one broker do not knock each other off, but nothing is "
                   "kept for it while it is down)")
    p.set_defaults(func=cmd_listen)
    p = sub.add_parser("send", help="send a command to a post (signed with --key) and show the reply")
    p.add_argument("--broker", required=True, help="HOST:PORT of the MQTT broker")
    p.add_argument("--post", required=True, help="post id")
    p.add_argument("--key", help="the post's cmd_key: sign the command (state-changing commands)")
    p.add_argument("--ctr", type=int, help="counter (default: unix time, always increasing)")
    p.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for the reply")
    p.add_argument("command", help="e.g. Status, TelePeriod")
    p.add_argument("param", nargs="*", help="the command's parameter")
    p.set_defaults(func=cmd_send)
    for name, func, hlp in (("posts", cmd_posts, "each post's last state"),
                            ("alarms", cmd_alarms, "the alarm register, in sequence order")):
        q = sub.add_parser(name, help=hlp)
        q.add_argument("--db", default="lamppost-register.sqlite", help="SQLite register file")
        fmt = q.add_mutually_exclusive_group()
        fmt.add_argument("--json", dest="fmt", action="store_const", const="json")
        fmt.add_argument("--csv", dest="fmt", action="store_const", const="csv")
        q.set_defaults(func=func, fmt="table")
        if name == "alarms":
            q.add_argument("--post", help="only this post")
            q.add_argument("--all", action="store_true", help="every event, not only alarms")
    args = ap.parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
