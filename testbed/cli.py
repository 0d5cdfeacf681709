"""`lamppost-sim`: run scenarios through the real firmware and score what it reports."""
from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from pathlib import Path

from simulator.firmware_proc import DEFAULT_HEAP
from simulator.runner import FirmwareCrash, Results, Simulation
from simulator.scenario import ScenarioError, load
from testbed.timefmt import iso

DEMO = Path(__file__).resolve().parent.parent / "scenarios" / "demo.toml"
INTERRUPTED = 130  # exit status after Ctrl-C cut a run short (128 + SIGINT, as shells report it)


def table(res: Results) -> str:
    rows = [("fault", "onset", "visible", "alarm", "detected", "latency", "cleared")]
    for f in res.faults:
        rows.append((
            f.kind, iso(f.at), iso(f.observable_at), f.alarm or "/".join(f.expected),
            "yes" if f.detected else
            "not reached" if f.at >= res.scenario.start + res.ticks else "MISSED",  # Ctrl-C'd
            "-" if f.latency_s is None else f"{f.latency_s} s",
            ("CLEARED EARLY " + iso(f.cleared_early_at)) if f.cleared_early_at is not None
            else iso(f.cleared_at) if f.until else "(not repaired)",
        ))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    if res.false_alarms:
        lines.append(f"false alarms: {len(res.false_alarms)}")
        lines += [f"  {iso(a['time'])} {a['alarm']}" for a in res.false_alarms]
    else:
        lines.append("false alarms: none")
    if res.wrong_switching:
        what = {"on": "lamp on, should be off", "off": "lamp off, should be on",
                "dim": "dimmed at the wrong local time"}
        lines.append(f"switched when it should not: {len(res.wrong_switching)}")
        lines += [f"  {iso(w['from'])} {w['seconds']} s {what[w['kind']]} (sun {w['sun_elev']} deg)"
                  for w in res.wrong_switching]
    else:
        lines.append("switched when it should not: never")
    for x in res.expectations:
        lines.append(f"{x['alarm']}: " + ("rightly not raised" if x["rightly_not_raised"]
                                          else f"RAISED at {iso(x['raised_at'])}, expected not"))
    if res.crashes:
        lines.append(f"firmware crashes: {len(res.crashes)}")
    return "\n".join(lines)


def cmd_run(args) -> int:
    try:
        sc = load(args.scenario)
    except ScenarioError as e:
        print(f"lamppost-sim: {e}", file=sys.stderr)
        return 2
    speed = 1.0 if args.realtime else args.speed
    if args.console and speed is None:
        speed = 1.0  # a person at lampctl needs the lamp at human pace

    def show(t: int, line: bytes) -> None:
        if not args.quiet:
            print(f"  serial> {line.decode(errors='replace')}", flush=True)

    mq = None
    if not args.no_mqtt:  # reports also travel over MQTT to a collector (testbed/mqtt_session.py)
        from testbed.mqtt_session import MqttSession
        try:
            mq = MqttSession(args.broker, echo=not args.quiet)
        except (OSError, RuntimeError, ValueError) as e:
            print(f"lamppost-sim: broker: {e}", file=sys.stderr)
            return 1
    ops = None
    if mq and not args.no_ops:  # the alarms also become work orders (host_tools/ops/demo.py)
        from host_tools.ops.demo import OpsDemo
        ops = OpsDemo(sc, broker=mq.addr)
        collect = mq.reg.handle
        mq.reg.handle = lambda topic, payload: (collect(topic, payload), ops.handle(topic, payload))

    def on_tick(t: int) -> None:
        if mq and not args.quiet:
            mq.drain(t)
        if ops:
            ops.on_tick(t)
    sim = Simulation(sc, heap=args.heap, speed=speed, on_line=show, hold=args.hold,
                     broker=mq.addr if mq else None, on_tick=on_tick if mq else None,
                     wall_sessions=args.console)
    try:
        if mq:
            print(f"lamppost-sim: MQTT broker {mq.label}")
        if ops and ops.web:
            print(f"lamppost-sim: {ops.console_banner()}", flush=True)
        print(f"lamppost-sim: {sc.path}: post {sc.post.id} ({sc.post.lamp} {sc.post.rated_w:g} W), "
              f"{iso(sc.start)} .. {iso(sc.end)}, {len(sc.faults)} fault(s)")
        print(f"lamppost-sim: firmware serial console on {sim.serial_path}", flush=True)
        if args.console:
            print(f"lamppost-sim: try  lampctl --port {sim.serial_path} status   "
                  f"(service PIN 0000; Ctrl-C ends{' - held past the end' if args.hold else ''})",
                  flush=True)
        res = _run_until_ctrl_c(sim)
        if mq:
            mq.settle()
    except FirmwareCrash as e:
        print(f"lamppost-sim: {e}", file=sys.stderr)
        return 3
    finally:
        sim.close()
        if mq:
            mq.close()
    print()
    print(table(res))
    if mq:
        print()
        print(mq.summary(sim.net, iso))
    if ops:
        print()
        print(ops.summary())
        if args.keep_console and ops.web:
            print(f"\nlamppost-sim: {ops.console_banner()}\n  stays up to look at the story: "
                  "Ctrl-C ends", flush=True)
            try:
                while True:
                    time.sleep(1)
            except KeyboardInterrupt:
                pass
        ops.close()
    rate = res.ticks / res.wall_s if res.wall_s else 0
    print(f"\n{res.ticks} simulated seconds in {res.wall_s:.1f} s wall ({rate:,.0f}x real time), "
          f"{res.boots} boot(s)")
    if args.out:
        Path(args.out).write_text(json.dumps(res.to_dict(), indent=1))
        print(f"results written to {args.out}")
    if res.crashes:
        print("lamppost-sim: the firmware crashed:\n" + res.crashes[0], file=sys.stderr)
        return 3
    if sim.interrupted and not args.hold:  # cut short: not a complete run of the scenario
        print("lamppost-sim: interrupted (Ctrl-C) before the scenario's end", file=sys.stderr)
        return INTERRUPTED
    if args.strict and (res.false_alarms or not all(f.detected for f in res.faults) or res.wrong_switching
                        or any(f.cleared_early_at is not None for f in res.faults)
                        or not all(x["rightly_not_raised"] for x in res.expectations)):
        return 1
    return 0


def _run_until_ctrl_c(sim: Simulation) -> Results:
    """sim.run(), where Ctrl-C ends the run cleanly after the current tick (the results of what
    ran are scored and shown); a second Ctrl-C aborts at once (KeyboardInterrupt, see main)."""
    def first(*_):
        sim.interrupted = True
        sim.stop()
        signal.signal(signal.SIGINT, signal.default_int_handler)

    old = signal.signal(signal.SIGINT, first)
    try:
        return sim.run()
    finally:
        signal.signal(signal.SIGINT, old)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="lamppost-sim", description=__doc__)
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="run one scenario through the firmware")
    r.add_argument("scenario", nargs="?", default=str(DEMO), help="scenario TOML (default: the demo)")
    r.add_argument("--out", help="write results (ground truth + reports) as JSON here")
    r.add_argument("--heap", default=DEFAULT_HEAP,
                   help=f"MicroPython heap, like a board's (default {DEFAULT_HEAP})")
    pace = r.add_mutually_exclusive_group()
    pace.add_argument("--realtime", action="store_true", help="one simulated second per second")
    pace.add_argument("--speed", type=float, help="simulated seconds per wall second")
    r.add_argument("--quiet", action="store_true", help="do not echo the serial line")
    r.add_argument("--console", action="store_true",
                   help="for lampctl: print how to connect, pace in real time unless --speed; "
                        "console logins and lockouts run on wall time")
    r.add_argument("--hold", action="store_true",
                   help="keep simulating past the scenario's end until Ctrl-C")
    r.add_argument("--broker", help="MQTT broker HOST:PORT (default: start an embedded one)")
    r.add_argument("--no-mqtt", action="store_true", help="no network: serial reports only")
    r.add_argument("--keep-console", action="store_true",
                   help="after the run, keep the operations console up until Ctrl-C (make demo HOLD=1)")
    r.add_argument("--no-ops", action="store_true",
                   help="no operations service (work orders at the demo contractor)")
    r.add_argument("--strict", action="store_true", help="exit 1 on a missed fault, false alarm, early clear, wrong "
                   "switching or an alarm raised against [expect] not_raised")
    r.set_defaults(func=cmd_run)
    from testbed import town_cli  # `town`: many posts and the operations service (docs/town.md)
    town_cli.add_parser(sub)
    from simulator import corpus  # `score`: the detection scorer and baseline (corpus.py)
    corpus.add_parser(sub)
    from testbed import fleet_load  # `fleet-load`: virtual posts at fleet scale (docs/fleet.md)
    fleet_load.add_parser(sub)
    args = ap.parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:  # Ctrl-C while starting up, or a second one: no traceback
        print("\nlamppost-sim: interrupted", file=sys.stderr)
        return INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
