"""Scores alarm reports against the injected faults (the ground truth).

For each injected cause: detected or missed (an alarm the cause should raise,
raised while the fault is active, or for a mains loss just after: see
AFTER_S), the latency from the moment the fault became visible to the
sensors, and the clearance after repair. Every raised alarm no active cause
explains is a false alarm. `summarize` folds many runs
into per-cause detection rates and median / worst latencies.
"""
from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass

from simulator.scenario import CAUSES, Fault


# Seconds after a fault ends in which its alarm still counts as detecting it. A
# board without hold-up (`[post] holdup_s = 0`) cannot send a last gasp: it
# reports the supplyLoss after the fact, at the first tick after it boots with
# the mains back, so its latency is the outage plus the boot.
AFTER_S = {"mains_loss": 60}


def window(f: Fault, end: int) -> tuple[int, int]:
    """(first, last) time a raised alarm explains fault f."""
    return f.at, (end if f.until is None else f.until + AFTER_S.get(f.kind, 0))


@dataclass
class FaultScore:
    kind: str
    at: int
    until: int | None
    expected: list[str]
    observable_at: int | None  # first tick the fault changed what sensors read
    detected: bool = False
    alarm: str | None = None
    raised_at: int | None = None
    latency_s: int | None = None  # raised_at - observable_at
    cleared_at: int | None = None  # when the raised alarm cleared after repair

    def to_dict(self) -> dict:
        return asdict(self)


def alarm_records(reports: list[dict]) -> list[dict]:
    """What the scorer judges, {"alarm","state","time"}, from the firmware's report lines.

    `ev: alarm` reports keep their TALQ names. The photocell is no lamp (TALQ's
    LampMonitorFunction names no photocell event), so the firmware reports it as
    `ev: photocell`; its `fault` counts as the alarm `photocell` raised, `ok` as cleared.
    """
    from simulator.scenario import parse_time
    out = []
    for r in reports:
        ev = r.get("ev")
        if ev == "alarm":
            out.append({"alarm": r["alarm"], "state": r["state"], "time": parse_time(r["t"])})
        elif ev == "photocell" and r.get("state") in ("fault", "ok"):
            out.append({"alarm": "photocell", "state": "raised" if r["state"] == "fault" else "cleared",
                        "time": parse_time(r["t"])})
    return out


def _names(a: dict) -> tuple:
    """The TALQ names an alarm stands for (a baseline margin may stand for several)."""
    return tuple(a.get("talq") or (a["alarm"],))


def score(faults: list[Fault], observable: dict[int, int], alarms: list[dict], end: int):
    """(per-fault scores, false alarms) from alarm reports {"alarm","state","time"[,"talq"]}."""
    scores = []
    explained = set()
    for idx, f in enumerate(faults):
        s = FaultScore(f.kind, f.at, f.until, list(f.expected), observable.get(idx))
        first, last = window(f, end)
        for k, a in enumerate(alarms):
            if a["state"] == "raised" and set(_names(a)) & set(f.expected) and first <= a["time"] <= last:
                explained.add(k)
                if not s.detected:
                    s.detected, s.alarm, s.raised_at = True, a["alarm"], a["time"]
        if s.detected and s.observable_at is not None:
            s.latency_s = s.raised_at - s.observable_at
        if s.detected and f.until is not None:
            for a in alarms:
                if a["state"] == "cleared" and a["alarm"] == s.alarm and a["time"] >= f.until:
                    s.cleared_at = a["time"]
                    break
        scores.append(s)
    false = [a for k, a in enumerate(alarms) if a["state"] == "raised" and k not in explained]
    return scores, false


def summarize(runs: list[dict]) -> dict:
    """Per cause over many runs ({"faults": [FaultScore dicts], "false_alarms": [...]}).

    Returns {"causes": {cause: {n, detected, rate, median_s, worst_s, missed}}, "false_alarms": n}.
    """
    causes: dict[str, dict] = {}
    false = 0
    for run in runs:
        false += len(run["false_alarms"])
        for f in run["faults"]:
            c = causes.setdefault(f["kind"], {"n": 0, "detected": 0, "lat": [], "missed": []})
            c["n"] += 1
            if f["detected"]:
                c["detected"] += 1
                if f["latency_s"] is not None:
                    c["lat"].append(f["latency_s"])
            else:
                c["missed"].append(run.get("scenario", "?"))
    out = {}
    for kind in sorted(causes, key=lambda k: list(CAUSES).index(k) if k in CAUSES else 99):
        c = causes[kind]
        lat = c.pop("lat")
        c["rate"] = c["detected"] / c["n"] if c["n"] else 0.0
        c["median_s"] = statistics.median(lat) if lat else None
        c["worst_s"] = max(lat) if lat else None
        out[kind] = c
    return {"causes": out, "false_alarms": false}
