"""Scores a corpus of scenarios: the firmware and the threshold baseline, side by side.

Each scenario runs through the real firmware on MicroPython (one process per
scenario, `jobs` in parallel); the baseline runs on the trace of the same run.
Results files written by `lamppost-sim run --out` can be scored too (the
firmware's side only: they hold no trace).
"""
from __future__ import annotations

import json
import os
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from simulator.firmware_proc import DEFAULT_HEAP
from simulator import baseline
from simulator.scenario import ScenarioError, load
from simulator.score import judge, summarize


def expand(paths: list[str]) -> list[Path]:
    """Scenario or results files; a directory stands for its *.toml files."""
    out: list[Path] = []
    for p in map(Path, paths):
        out += sorted(p.glob("*.toml")) if p.is_dir() else [p]
    return out


def run_one(path: str, heap: str = DEFAULT_HEAP, sensor: str | None = None,
            ahead: bool = True) -> dict:
    """Run one scenario; {"scenario", "ours": {faults, false_alarms}, "baseline": {...}}.

    `sensor` fits the post with another front end (adc, cse7766) than its file says,
    uncalibrated as shipped, so detection is judged on what that hardware reads.
    `ahead`: ticks in flight while the firmware runs (Simulation); the same results as
    lockstep (ahead=False), faster even with every core busy (docs/simulator-speed.md).
    """
    from simulator.runner import Simulation
    sc = load(path)
    if sensor:
        sc.post.sensor = sensor
    sim = Simulation(sc, heap=heap, ahead=ahead)
    try:
        res = sim.run()
    finally:
        sim.close()
    base_alarms = baseline.run(res.trace, sc.post.rated_w, sc.post.nominal_v)
    b = judge(sc, res.observable, base_alarms)  # scored as the firmware is (simulator/score.py)
    ours = {"scenario": str(path), "faults": [f.to_dict() for f in res.faults],
            "false_alarms": res.false_alarms, "crashes": len(res.crashes),
            "supplyLossCount": _loss_count(res.reports), "wrong_switching": res.wrong_switching,
            "expectations": res.expectations}
    base = {"scenario": str(path), "faults": [f.to_dict() for f in b.faults],
            "false_alarms": [{k: a[k] for k in ("alarm", "state", "time")} for a in b.false_alarms],
            "expectations": b.expectations}  # the baseline does not switch
    return {"scenario": str(path), "ticks": res.ticks, "wall_s": res.wall_s, "ours": ours,
            "baseline": base}


def _loss_count(reports: list[dict]):
    counts = [r["supplyLossCount"] for r in reports if "supplyLossCount" in r]
    return max(counts) if counts else None


def _from_results(path: Path) -> dict:
    d = json.loads(path.read_text())
    ours = {"scenario": d.get("scenario", str(path)), "faults": d["faults"],
            "false_alarms": d["false_alarms"], "crashes": len(d.get("crashes", [])),
            "wrong_switching": d.get("wrong_switching", []), "expectations": d.get("expectations", [])}
    return {"scenario": ours["scenario"], "ticks": d.get("ticks", 0), "wall_s": d.get("wall_s", 0),
            "ours": ours, "baseline": None}


def run_many(paths: list[Path], jobs: int = 2, heap: str = DEFAULT_HEAP,
             sensor: str | None = None) -> list[dict]:
    for p in paths:
        if p.suffix not in (".toml", ".json"):
            raise ScenarioError(f"{p}: not a scenario (.toml), a results file (.json) or a directory")
    tomls = [str(p) for p in paths if p.suffix == ".toml"]
    out = []
    for p in paths:
        if p.suffix == ".json":
            try:
                out.append(_from_results(p))
            except (OSError, ValueError, KeyError, TypeError) as e:
                raise ScenarioError(f"{p}: not a results file from `lamppost-sim run --out`: {e}") from None
    for p in tomls:
        load(p)  # fail early, with file and line, before starting any run
    # each run keeps ticks in flight (Simulation._pipeline) even when the runs fill every
    # core: fewer context switches and less CPU a tick on both sides (8 corpus scenarios,
    # 2 jobs on 2 cores: 27-30 s against lockstep's 44-46 s)
    ahead = True
    if jobs <= 1 or len(tomls) <= 1:
        out += [run_one(p, heap, sensor, ahead) for p in tomls]
    else:
        with ProcessPoolExecutor(jobs) as ex:
            out += list(ex.map(run_one, tomls, [heap] * len(tomls), [sensor] * len(tomls),
                               [ahead] * len(tomls)))
    return out


def _fmt(v) -> str:
    return "-" if v is None else f"{v:g} s"


def table(runs: list[dict]) -> tuple[str, dict]:
    """A per-cause table, ours beside the baseline, and the summaries behind it."""
    ours = summarize([r["ours"] for r in runs])
    based = [r["baseline"] for r in runs if r["baseline"] is not None]
    base = summarize(based) if based else None
    rows = [("cause", "n", "detected", "median", "worst", "cleared early", "baseline detected",
             "median", "worst")]
    for kind, c in ours["causes"].items():
        b = base["causes"].get(kind) if base else None
        rows.append((kind, str(c["n"]), f"{c['detected']}/{c['n']}", _fmt(c["median_s"]),
                     _fmt(c["worst_s"]), str(c["cleared_early"]),
                     f"{b['detected']}/{b['n']}" if b else "-", _fmt(b and b["median_s"]),
                     _fmt(b and b["worst_s"])))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    lines.append(f"false alarms: ours {ours['false_alarms']}"
                 + (f", baseline {base['false_alarms']}" if base else ""))
    lines.append(f"cleared while the fault is still active: ours {ours['cleared_early']}"
                 + (f", baseline {base['cleared_early']}" if base else ""))
    lines.append(f"switched when it should not: ours {ours['wrong_switching']} stretches "
                 f"({ours['wrong_switching_s']} s)")
    if ours["not_raised"]:
        lines.append(f"rightly not raised: ours {ours['rightly_not_raised']}/{ours['not_raised']}"
                     + (f", baseline {base['rightly_not_raised']}/{base['not_raised']}" if base else ""))
    return "\n".join(lines), {"ours": ours, "baseline": base}


def problems(runs: list[dict]) -> dict:
    """Everything the strict score fails on, per kind: [(scenario, what)]."""
    ours = [r["ours"] for r in runs]
    return {
        "missed": [(o["scenario"], f["kind"]) for o in ours for f in o["faults"] if not f["detected"]],
        "false": [(o["scenario"], a) for o in ours for a in o["false_alarms"]],
        "cleared_early": [(o["scenario"], f) for o in ours for f in o["faults"]
                          if f.get("cleared_early_at") is not None],
        "wrong_switching": [(o["scenario"], w) for o in ours for w in o.get("wrong_switching") or []],
        "raised": [(o["scenario"], x) for o in ours for x in o.get("expectations") or []
                   if not x["rightly_not_raised"]],
    }


def cmd_score(args) -> int:
    """`lamppost-sim score`: run or read results, print the table, exit 1 under --strict on misses."""
    paths = expand(args.paths)
    if not paths:
        print("lamppost-sim: no scenarios given or found", file=sys.stderr)
        return 2
    try:
        runs = run_many(paths, args.jobs, args.heap)
    except ScenarioError as e:
        print(f"lamppost-sim: {e}", file=sys.stderr)
        return 2
    except (OSError, ValueError, KeyError) as e:
        print(f"lamppost-sim: cannot score: {e}", file=sys.stderr)
        return 2
    text, summary = table(runs)
    bad = problems(runs)
    missed = bad["missed"]
    crashes = sum(r["ours"].get("crashes", 0) for r in runs)
    if args.json:
        print(json.dumps({"runs": runs, "summary": summary, "missed": missed, "crashes": crashes,
                          "cleared_early": bad["cleared_early"], "wrong_switching": bad["wrong_switching"],
                          "raised_against_expectation": bad["raised"]}))
    else:
        print(text)
        for s, k in missed:
            print(f"MISSED {k} in {s}")
        for s, a in bad["false"]:
            print(f"FALSE ALARM {a['alarm']} at {_iso(a.get('time'))} in {s}")
        for s, f in bad["cleared_early"]:
            print(f"CLEARED EARLY {f['alarm']} for {f['kind']} at {_iso(f['cleared_early_at'])} "
                  f"(fault active until {_iso(f['until'])}) in {s}")
        for s, w in bad["wrong_switching"]:
            what = {"on": "lamp on, should be off", "off": "lamp off, should be on",
                    "dim": "dimmed at the wrong local time"}[w["kind"]]
            print(f"SWITCHED WRONGLY {what}: {_iso(w['from'])} for {w['seconds']} s "
                  f"(sun {w['sun_elev']} deg) in {s}")
        for s, x in bad["raised"]:
            print(f"RAISED {x['alarm']} at {_iso(x['raised_at'])}, expected not raised, in {s}")
        if crashes:
            print(f"firmware crashes: {crashes}")
    if crashes:
        return 3
    if args.strict and any(bad.values()):
        return 1
    return 0


def _iso(t) -> str:
    import datetime as dt
    if t is None:
        return "-"
    return dt.datetime.fromtimestamp(t, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def add_parser(sub) -> None:
    s = sub.add_parser("score", help="score scenarios (or results files): detection, latency, "
                                     "false alarms, against a threshold baseline")
    s.add_argument("paths", nargs="+", help="scenario .toml files, directories of them, or results .json")
    s.add_argument("--jobs", "-j", type=int, default=min(2, os.cpu_count() or 1),
                   help="scenarios run in parallel (default 2)")
    s.add_argument("--heap", default=DEFAULT_HEAP, help=f"MicroPython heap (default {DEFAULT_HEAP})")
    s.add_argument("--json", action="store_true", help="machine-readable output")
    s.add_argument("--strict", action="store_true", help="exit 1 on any missed cause, false alarm, alarm cleared while its fault is "
                        "active, wrong switching or alarm raised against [expect] not_raised")
    s.set_defaults(func=cmd_score)
