"""`lamppost-sim town FILE.toml`: run a town (docs/town.md) with the operations service and
print, per fault, where it was, when it became visible, its order, class, dispatch time
and whether the post verified the repair."""
from __future__ import annotations

import json
import sys

from simulator.firmware_proc import DEFAULT_HEAP
from simulator.runner import FirmwareCrash
from simulator.scenario import ScenarioError
from testbed.timefmt import iso


def add_parser(sub) -> None:
    r = sub.add_parser("town", help="run a town scenario (many posts, cabinets) with the operations service")
    r.add_argument("scenario", help="town scenario TOML (format version 2, docs/town.md)")
    r.add_argument("--heap", default=DEFAULT_HEAP, help=f"MicroPython heap per post (default {DEFAULT_HEAP})")
    r.add_argument("--broker", help="MQTT broker HOST:PORT (default: start an embedded one)")
    r.add_argument("--json", action="store_true", help="the per-fault results as JSON")
    r.set_defaults(func=cmd_town)


def result_dict(res) -> dict:
    ok, n = res.ratio()
    return {"scenario": res.town.path, "posts": len(res.town.posts), "cabinets": len(res.town.cabinets),
            "start": res.town.start, "end": res.town.end, "wall_s": round(res.wall_s, 1),
            "faults": [{"kind": r.fault.kind, "where": r.where, "posts": r.posts, "at": r.fault.at,
                        "until": r.fault.until, "visible_at": r.visible_at, "expected": r.expected,
                        "orders": [{"id": o["id"], "class": o["fault_class"], "category": o["category"],
                                    "priority": o["priority"], "dispatched_at": o["dispatched_at"],
                                    "status": o["status"]} for o in r.orders]} for r in res.faults],
            "stray_orders": [{"id": o["id"], "class": o["fault_class"], "description": o["description"]}
                             for o in res.stray],
            "exactly_one": ok, "fault_count": n, "errors": res.errors}


def cmd_town(args) -> int:
    from testbed.town import TownSim, table
    from simulator.town_scenario import load
    try:
        town = load(args.scenario)
    except ScenarioError as e:
        print(f"lamppost-sim: {e}", file=sys.stderr)
        return 2
    if not args.json:
        print(f"lamppost-sim: {town.path}: {len(town.posts)} posts on {len(town.cabinets)} cabinet(s), "
              f"{iso(town.start)} .. {iso(town.end)}, {len(town.faults)} fault(s)", flush=True)
    try:
        sim = TownSim(town, heap=args.heap, broker=args.broker)
    except (OSError, RuntimeError, ValueError) as e:
        print(f"lamppost-sim: {e}", file=sys.stderr)
        return 1
    try:
        res = sim.run()
    except FirmwareCrash as e:
        print(f"lamppost-sim: {e}", file=sys.stderr)
        return 3
    finally:
        sim.close()
    if args.json:
        json.dump(result_dict(res), sys.stdout, indent=1)
        print()
    else:
        print(table(res, iso))
        ticks = town.duration * len(town.posts)
        print(f"\n{len(town.posts)} posts x {town.duration} simulated seconds in {res.wall_s:.1f} s wall "
              f"({ticks / res.wall_s if res.wall_s else 0:,.0f} post-seconds per second)")
    ok, n = res.ratio()
    return 0 if ok == n and not res.stray and not res.errors else 1
