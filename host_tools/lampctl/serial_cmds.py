"""lampctl console commands: status, monitor, alarms, log, config, calibrate, selftest, relay, dim, ...

Each opens the port, sends console commands and prints the replies: plain
words for people, the device's JSON with --json. Exit codes (serial_link):
0 ok, 1 the device refused (bad value, ...), 2 usage, 3 no/busy port,
4 no answer in time, 5 device unplugged, 6 login needed or PIN wrong.
"""
from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
import time

from host_tools.lampctl import serial_link as sl


def add_global_options(ap, suppress: bool = False) -> None:
    """The console's options; suppress=True on a subcommand (see cli.add_global_options)."""
    def d(value):
        return argparse.SUPPRESS if suppress else value
    ap.add_argument("--port", default=d(None),
                    help="serial device or pyserial URL (socket://, rfc2217://, loop://); "
                         "default $LAMPCTL_PORT or the only USB serial port")
    ap.add_argument("--timeout", type=float, default=d(3.0), help="seconds to wait for a reply (3)")
    ap.add_argument("--pin", default=d(None), help="service PIN: log in before a command that "
                                                   "changes state (default $LAMPCTL_PIN)")


def register(sub) -> None:
    """Add this topic's subparsers to `sub`."""
    p = sub.add_parser("ports", help="list serial ports that may be a board (USB ids)")
    p.set_defaults(func=_wrap(cmd_ports, port=False))
    p = sub.add_parser("status", help="firmware, readings, alarms, energy, network, memory, config")
    p.add_argument("section", nargs="?", help="only this section: " + ", ".join(SECTIONS)
                   + " (or Tasmota's 0-11); another is a usage error, exit 2")
    p.set_defaults(func=_wrap(cmd_status))
    p = sub.add_parser("monitor", help="live readings and alarms, refreshed like top")
    p.add_argument("--interval", type=float, default=1.0, help="seconds between refreshes")
    p.add_argument("--count", type=int, default=0, help="stop after this many refreshes (0: Ctrl-C)")
    p.set_defaults(func=_wrap(cmd_monitor))
    p = sub.add_parser("alarms", help="active alarms and their lifetime counts")
    p.set_defaults(func=_wrap(lambda a, d: _show(a, d.request("Alarms"))))
    p = sub.add_parser("log", help="the persisted event log, newest last")
    p.add_argument("-n", type=_log_n, default=10, help="entries (1-20, default 10)")
    p.set_defaults(func=_wrap(lambda a, d: _show(a, d.request("Log", str(a.n)))))
    p = sub.add_parser("config", help="read, change or explain settings",
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       epilog=_config_epilog())
    csub = p.add_subparsers(dest="action", required=True)
    g = csub.add_parser("get", help="all settings, or one (unset ones say so)")
    g.add_argument("key", nargs="?")
    g.set_defaults(func=_wrap(lambda a, d: _show(a, d.request("Config", a.key or ""))))
    e = csub.add_parser("describe", help="what a key means: type, range, default (from the "
                                         "firmware's schema; no board needed)", console=False)
    e.add_argument("key", nargs="?", help="the key (all keys when left out)")
    e.set_defaults(func=_wrap(cmd_config_describe, port=False))
    s = csub.add_parser("set", help="change one setting (validated, saved; needs the PIN)")
    s.add_argument("key")
    s.add_argument("value", help="the new value; '-' prompts without echo (for secrets)")
    s.set_defaults(func=_wrap(cmd_config_set, auth=True))
    p = sub.add_parser("calibrate", help="calibrate against a resistive reference load")
    p.add_argument("kind", choices=("voltage", "power", "current"))
    p.add_argument("value", type=float, help="the true value (V, W or A) from a reference meter")
    p.set_defaults(func=_wrap(lambda a, d: _show(a, d.request("Calibrate", f"{a.kind} {a.value:g}")),
                              auth=True))
    p = sub.add_parser("selftest", help="switch off, on, dim, off and report what was measured")
    p.add_argument("--wait", type=float, default=0, help="seconds to wait for the result "
                                                          "(default: from the test's duration)")
    p.set_defaults(func=_wrap(cmd_selftest, auth=True))
    p = sub.add_parser("relay", help="override the relay (returns to auto after a timeout)")
    p.add_argument("state", nargs="?", choices=("on", "off", "auto"))
    p.set_defaults(func=_wrap(lambda a, d: _show(a, d.request("Relay", a.state or "")), auth=True))
    p = sub.add_parser("dim", help="override the dim level 0-100 or auto")
    p.add_argument("level", nargs="?")
    p.set_defaults(func=_wrap(lambda a, d: _show(a, d.request("Dim", a.level or "")), auth=True))
    p = sub.add_parser("reboot", help="restart the controller")
    p.set_defaults(func=_wrap(lambda a, d: _show(a, d.request("Reboot")), auth=True))
    p = sub.add_parser("login", help="log the console in with the service PIN (prompts)")
    p.set_defaults(func=_wrap(cmd_login))
    p = sub.add_parser("send", help='one raw console command, e.g. "Power ON" or "Status 5" (for scripts; '
                                    'logs in first when a PIN is given)')
    p.add_argument("line", help="the command and its value, as typed on the console")
    p.set_defaults(func=_wrap(cmd_send, auth=True))
    p = sub.add_parser("shell", help="interactive console: history, completion, reports as they "
                                     "arrive, login kept alive")
    p.set_defaults(func=_wrap(cmd_shell, auth=True))
    p = sub.add_parser("logout", help="end the console's login")
    p.set_defaults(func=_wrap(lambda a, d: _show(a, d.request("Logout"))))


SECTIONS = ("fw", "readings", "alarms", "energy", "net", "mem", "config", "thresholds", "schedule")


def _log_n(text: str) -> int:
    """-n of `log`: 1-20 entries (the board's limit), else a usage error before any port."""
    try:
        n = int(text)
    except ValueError:
        n = 0
    if not 1 <= n <= 20:
        raise argparse.ArgumentTypeError(f"{text!r}: give 1-20 entries")
    return n


def _config_epilog() -> str:
    """`lampctl config --help`: every key of the firmware's schema with its meaning."""
    from lamppost_common import fwschema
    try:
        table = fwschema.summary()
    except (fwschema.SchemaError, SyntaxError) as e:
        return f"(config keys unavailable: {e})"
    return ("config keys (firmware/lamppost/config.py and uplinkcfg.py);\n"
            "`lampctl config describe KEY` gives type, range and default:\n" + table)


def _wrap(fn, port: bool = True, auth: bool = False):
    """Open the device, log in if asked, run fn(args, dev); map every failure to an exit code."""
    def run(args) -> int:
        try:
            if not port:
                return fn(args, None)
            path = sl.pick_port(getattr(args, "port", None))
            with sl.Device(path, getattr(args, "timeout", 3.0)) as dev:
                pin = getattr(args, "pin", None) or os.environ.get("LAMPCTL_PIN")
                if auth and pin and _changes_state(args):
                    r = dev.request("Login", pin)
                    if "error" in r:
                        raise sl.LampctlError(f"login failed: {r['error']}", sl.LOGIN)
                return fn(args, dev)
        except sl.LampctlError as e:
            if getattr(args, "json", False):
                print(json.dumps({"error": str(e), "exit": e.code}))
            print(f"lampctl: {e}", file=sys.stderr)
            return e.code
    return run


def _changes_state(args) -> bool:
    if args.cmd in ("send", "shell"):
        return True  # a raw line may change state: log in when a PIN is given
    return not (args.cmd in ("relay", "dim") and not (getattr(args, "state", None)
                                                       or getattr(args, "level", None)))


def _show(args, reply: dict) -> int:
    """Print a reply (JSON or plain) and return its exit code."""
    if str(reply.get("error", "")).startswith("login required"):
        reply = {**reply, "error": reply["error"] + " (give lampctl --pin PIN or set LAMPCTL_PIN)"}
    if args.json:
        print(json.dumps(reply))
    else:
        body = {k: v for k, v in reply.items() if k not in ("cmd", "error")}
        if body:
            print(_plain(body))
        if "error" in reply:
            print(f"lampctl: {reply.get('cmd')}: {reply['error']}", file=sys.stderr)
    if "error" in reply:
        return sl.LOGIN if reply["error"].startswith(("login required", "wrong PIN", "locked out")) \
            else sl.FAILED
    return sl.OK


ORDER = ("fw", "readings", "alarms", "energy", "net", "mem", "schedule", "config", "thresholds",
         "lamp", "dim", "Voltage", "Current", "Power", "ApparentPower", "Factor", "active", "counts")
ENTRY = ("t", "ev", "msg")
# units of the board's fields, shown after the value for people (`Voltage: 230.2 V`)
UNITS = {"Voltage": "V", "Current": "A", "Power": "W", "ApparentPower": "VA", "Frequency": "Hz",
         "Temperature": "°C", "Total": "kWh", "operatingHours": "h", "rated_w": "W",
         "uptime_s": "s", "heap_free": "B", "heap_used": "B", "TelePeriod": "s", "tele_period": "s",
         "downtime_s": "s", "idle_logout_s": "s", "takes_s": "s", "override_s": "s", "login_s": "s",
         "Heap": "kB", "UptimeSec": "s", "DowntimeSec": "s", "RSSI": "dBm", "Signal": "%",
         "dim": "%", "level": "%", "Dimmer": "%", "dim_level": "%", "temp_max": "°C",
         "nominal_v": "V", "on_w": "W", "mqtt_keepalive": "s", "pc_window_min": "min", "standby_w": "W", "warmup_s": "s", "blank_s": "s"}


def _value(k: str, v) -> str:
    """One value for people: yes/no for booleans, a unit where the field has one, `unset`
    for a setting without a value (a threshold left to the lamp type, an empty network key)."""
    if v is None or v == "":
        return "unset"
    if isinstance(v, bool):
        return "yes" if v else "no"
    unit = UNITS.get(k) or ("s" if k.endswith("_s") else None)  # every *_s key is seconds
    if unit and isinstance(v, (int, float)):
        return f"{v} {unit}"
    return str(v)


def _plain(d, indent: int = 0) -> str:
    """Nested dicts as indented `key: value` lines, in a stable order (the board's JSON is not)."""
    pad = "  " * indent
    lines = []
    rank = {k: i for i, k in enumerate(ORDER)}
    for k in sorted(d, key=lambda k: (rank.get(k, len(ORDER)), k)):
        v = d[k]
        if isinstance(v, dict) and v:
            lines.append(f"{pad}{k}:")
            lines.append(_plain(v, indent + 1))
        elif k == "entries" and isinstance(v, list):  # Log rows [seq, t, ev, msg]
            lines.append(f"{pad}{k}:")
            lines += [f"{pad}  {e[1]}  {e[2]:<9} {e[3]}" for e in v if isinstance(e, list)
                      and len(e) == 4] or [f"{pad}  (empty)"]
        elif k == "fields":
            continue
        elif k == "commands" and isinstance(v, list):  # Help: one command a line
            lines.append(f"{pad}{k}:")
            lines += [f"{pad}  {c}" for c in v]
        elif isinstance(v, list) and v and all(isinstance(e, dict) and "cmd" in e for e in v):
            lines.append(f"{pad}{k}:")  # Backlog: each command's own reply, keys and units kept
            for e in v:
                lines.append(f"{pad}  {e['cmd']}:")
                rest = {x: y for x, y in e.items() if x != "cmd"}
                lines.append(_plain(rest, indent + 2) if rest else f"{pad}    ok")
        elif isinstance(v, list) and v and isinstance(v[0], dict):
            lines.append(f"{pad}{k}:")
            for e in v:
                keys = [k for k in ENTRY if k in e] or list(e)
                lines.append(pad + "  " + "  ".join(str(e[k]) for k in keys))
        elif isinstance(v, list):
            lines.append(f"{pad}{k}: {', '.join(map(str, v)) if v else '(none)'}")
        else:
            lines.append(f"{pad}{k}: {_value(k, v)}")
    return "\n".join(lines)


def cmd_ports(args, _dev) -> int:
    ports = sl.candidates()
    rows = [{"port": p.device, "usb": f"{p.vid:04x}:{p.pid:04x}", "serial": p.serial_number,
             "description": p.description} for p in ports]
    if args.json:
        print(json.dumps(rows))
    if not rows:  # no board to talk to: exit 3 with or without --json
        print("no USB serial ports found (a simulator pty is given with --port /dev/pts/N)",
              file=sys.stderr if args.json else sys.stdout)
        return sl.NO_PORT
    if args.json:
        return sl.OK
    for r in rows:
        print(f"{r['port']}  {r['usb']}  {r['serial'] or '-'}  {r['description']}")
    return sl.OK


def cmd_config_set(args, dev) -> int:
    value = args.value
    if value == "-":  # a secret stays out of shell history and off the screen
        value = getpass.getpass(f"{args.key}: ") if sys.stdin.isatty() else sys.stdin.readline()
        value = value.strip()
    return _show(args, dev.request("Config", f"{args.key} {value}"))


def cmd_shell(args, dev) -> int:
    """`lampctl shell` (host_tools/lampctl/shell.py); with a PIN the console is logged in."""
    from host_tools.lampctl.shell import Shell
    sh = Shell(dev, lambda r: _show(args, r))
    sh.logged_in = bool(getattr(args, "pin", None) or os.environ.get("LAMPCTL_PIN"))
    return sh.loop()


def cmd_send(args, dev) -> int:
    """A raw console line (`lampctl send "Backlog Dimmer 40; Power ON"`): its reply, exit code."""
    name, _, value = args.line.strip().partition(" ")
    if not name:
        raise sl.LampctlError("send: give a command, e.g. \"Status 0\"", sl.USAGE)
    return _show(args, dev.request(name, value.strip()))


def cmd_status(args, dev) -> int:
    r = dev.request("Status", args.section or "")
    err = str(r.get("error", ""))
    if err.startswith(("no such section", "Status <n>")):  # the board names the sections
        _show(args, r)
        return sl.USAGE
    return _show(args, r)


def cmd_config_describe(args, _dev) -> int:
    """What a config key means, from the firmware's schema (no board needed)."""
    from lamppost_common import fwschema
    try:
        keys = fwschema.keys()
    except (fwschema.SchemaError, SyntaxError) as e:
        raise sl.LampctlError(str(e), sl.FAILED)
    if not args.key:
        if args.json:
            print(json.dumps({n: _key_json(k) for n, k in keys.items()}))
        else:
            print(fwschema.summary())
        return sl.OK
    k = keys.get(args.key.lower())
    if k is None:
        near = fwschema.closest(args.key)
        raise sl.LampctlError(f"no config key {args.key!r}" + (f", did you mean {near}?" if near else "")
                              + " (`lampctl config describe` lists them)", sl.USAGE)
    print(json.dumps(_key_json(k)) if args.json else fwschema.describe(k))
    return sl.OK


def _key_json(k) -> dict:
    from lamppost_common import fwschema
    return {"key": k.name, "meaning": k.meaning, "type": k.kind_text(), "unit": fwschema.unit(k),
            "default": k.default, "unset_means": fwschema.UNSET if k.default is None else None,
            "secret": k.secret, "group": k.group, "source": "firmware/lamppost/" + k.source}


def cmd_login(args, dev) -> int:
    pin = args.pin or os.environ.get("LAMPCTL_PIN")
    if not pin:
        if not sys.stdin.isatty():
            raise sl.LampctlError("no PIN: give --pin or set LAMPCTL_PIN", sl.USAGE)
        pin = getpass.getpass("service PIN: ")
    r = dev.request("Login", pin)
    code = _show(args, r)
    return sl.LOGIN if "error" in r else code


def cmd_selftest(args, dev) -> int:
    r = dev.request("SelfTest")
    if "error" in r:
        return _show(args, r)
    if r.get("state") == "running":
        takes = 60.0
    else:
        takes = float(r.get("takes_s", 20))
    if not args.json:
        print(f"self test running (about {takes:g} s at real time)...", flush=True)
    res = dev.wait_event("selftest", args.wait or takes * 2 + 10)
    res = {k: v for k, v in res.items() if k not in ("seq", "id")}
    res["cmd"] = "selftest"
    code = _show(args, res)
    return code if res.get("state") == "pass" else sl.FAILED


def _clock_energy(dev) -> tuple[str | None, dict]:
    """The board's clock (ISO UTC) and its energy counters (Total kWh, burning hours,
    switch-ons), for monitor."""
    fw = dev.request("Status", "fw").get("fw") or {}
    en = dev.request("Status", "energy").get("energy") or {}
    return fw.get("time"), en


def cmd_monitor(args, dev) -> int:
    n = 0
    if args.json:
        while not args.count or n < args.count:
            rd = dev.request("Readings")
            al = dev.request("Alarms")
            t, en = _clock_energy(dev)
            print(json.dumps({"time": t, "readings": rd, "alarms": al, "energy": en,
                              "events": dev.events}), flush=True)
            dev.events = []
            n += 1
            if not args.count or n < args.count:
                time.sleep(args.interval)
        return sl.OK
    from rich.live import Live
    from rich.table import Table

    recent: list[dict] = []

    def view(rd: dict, al: dict, clock: str | None, en: dict):
        t = Table(title=f"lamppost on {dev.port}  (Ctrl-C to quit)", show_header=False)
        t.add_column(style="bold")
        t.add_column()
        t.add_row("clock", (clock or "?").replace("T", " ").rstrip("Z") + " UTC (the board's clock)")
        t.add_row("lamp", f"{rd.get('lamp')}  dim {rd.get('dim')}%")
        for k, unit in (("Voltage", "V"), ("Current", "A"), ("Power", "W"), ("ApparentPower", "VA"),
                        ("Factor", ""), ("Frequency", "Hz"), ("Temperature", "°C")):
            t.add_row(k, f"{rd.get(k)} {unit}")
        t.add_row("mains", "present" if rd.get("mains") else "LOST")
        t.add_row("energy", f"{_value('Total', en.get('Total'))}, burning "
                            f"{_value('operatingHours', en.get('operatingHours'))}, "
                            f"{en.get('switchOnCounter', '?')} switch-ons")
        act = al.get("active") or []
        t.add_row("alarms", "[red]" + ", ".join(act) + "[/red]" if act else "[green]none[/green]")
        t.add_row("counts", ", ".join(f"{k} {v}" for k, v in sorted((al.get("counts") or {}).items())))
        for e in recent[-5:]:
            t.add_row(e.get("t", "")[11:19], " ".join(f"{k}={v}" for k, v in e.items()
                                                      if k not in ("t", "id", "seq")))
        return t

    with Live(refresh_per_second=4) as live:
        while not args.count or n < args.count:
            rd = dev.request("Readings")
            al = dev.request("Alarms")
            clock, en = _clock_energy(dev)
            recent.extend(dev.events)
            dev.events = []
            live.update(view(rd, al, clock, en))
            n += 1
            if not args.count or n < args.count:
                time.sleep(args.interval)
    return sl.OK
