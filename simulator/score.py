"""Scores alarm reports against the injected faults (the ground truth).

For each injected cause: detected or missed (an alarm the cause should raise,
raised while the fault is active, or for a mains loss just after: see
AFTER_S), the latency from the moment the fault became visible to the
sensors, and the clearance after repair, or a clearance while the fault is
still active ("cleared early": an alarm must not clear while its cause is
there). Every raised alarm no active cause explains is a false alarm.
Besides the faults: `switching` finds the stretches where the firmware
switched when it should not (lamp on while the sun is above the switching
elevation, off while below; with `[expect] timezone` also dimmed at the wrong
local time), and `expectations` says for each `[expect] not_raised` alarm
whether it was rightly not raised. `summarize` folds many runs into per-cause
detection rates and median / worst latencies and the totals of the rest.
"""
from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass

from simulator.scenario_types import CAUSES, Fault, active, parse_time


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
    cleared_early_at: int | None = None  # an expected alarm cleared while the fault was active

    def to_dict(self) -> dict:
        return asdict(self)


def alarm_records(reports: list[dict]) -> list[dict]:
    """What the scorer judges, {"alarm","state","time"}, from the firmware's report lines.

    `ev: alarm` reports keep their TALQ names. The photocell is no lamp (TALQ's
    LampMonitorFunction names no photocell event), so the firmware reports it as
    `ev: photocell`; its `fault` counts as the alarm `photocell` raised, `ok` as cleared.
    """
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
        if s.detected:
            for a in alarms:
                if (a["state"] == "cleared" and set(_names(a)) & set(f.expected)
                        and s.raised_at < a["time"] < last - AFTER_S.get(f.kind, 0)):
                    s.cleared_early_at = a["time"]
                    break
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


SWITCH_TOL_DEG = 0.1  # the firmware's sun switch is right to 0.05 deg (lamppost/sun.py TOL_DEG)
SUN_RATE = 15.0 / 3600  # deg/s: the sun's elevation never changes faster
SETTLE_S = 3  # s after the run starts or the mains returns: the board is still booting


def switching(sc, trace: list[tuple]) -> list[dict]:
    """Stretches where the lamp was switched when it should not, from the run's trace.

    The lamp should burn while the sun is more than SWITCH_TOL_DEG below the switching
    elevation (`[firmware] sun_elev`, default -0.833) and be off while it is more than that
    above it; with a photocell fitted anywhere a working cell may switch (CLEAR_ELEV ..
    MAX_DARK_ELEV) is right too, and a stuck-photocell fault excuses what it makes the
    lamp do. With `[expect] timezone` a lit lamp must also run at `dim_level` exactly
    inside the dimming window on that zone's civil clock. Ticks without mains and the
    first SETTLE_S after a boot are not judged. Each stretch: {kind: on|off|dim, from, to
    (exclusive), seconds, sun_elev (at its start)}.
    """
    from simulator.models.photocell import CLEAR_ELEV, MAX_DARK_ELEV, STUCK, sun_elevation
    p, fw = sc.post, getattr(sc, "firmware", {}) or {}
    elev = float(fw.get("sun_elev", -0.833))
    cell = p.photocell and fw.get("photocell", True)
    lo = (min(elev, CLEAR_ELEV) if cell else elev) - SWITCH_TOL_DEG
    hi = (max(elev, MAX_DARK_ELEV) if cell else elev) + SWITCH_TOL_DEG
    excused = [(f.at, f.until if f.until is not None else sc.end) for f in sc.faults if f.kind in STUCK]
    zone = (getattr(sc, "expect", {}) or {}).get("timezone")
    local = _civil_minute(zone) if zone else None
    level, a, b = fw.get("dim_level", 100), fw.get("dim_from_min", 0), fw.get("dim_to_min", 300)
    out: list[dict] = []
    cur = None
    settle = trace[0][0] + SETTLE_S if trace else 0
    valid, want, e = -1, None, 0.0
    powered = True
    for row in trace:
        t, relay, dim, mains = row[0], row[1], row[2], row[8]
        kind = None
        if not mains:
            powered = False
        else:
            if not powered:
                settle, powered = t + SETTLE_S, True
            if t >= settle and not any(active(x, y, t) for x, y in excused):
                if t > valid:  # the command at t was decided a tick earlier
                    e = sun_elevation(t - 1, p.latitude, p.longitude)
                    want = True if e < lo else False if e > hi else None
                    valid = t + int(min(abs(e - lo), abs(e - hi)) / SUN_RATE)
                if want is True and not relay:
                    kind = "off"
                elif want is False and relay:
                    kind = "on"
                elif local and relay and level < 100:
                    want_dims = {_dim_at(local(x), level, a, b) for x in (t - 1, t - 2)}
                    if dim not in want_dims:
                        kind = "dim"
        if cur and (kind != cur["kind"] or t != cur["to"]):
            out.append(cur)
            cur = None
        if kind:
            if cur is None:
                cur = {"kind": kind, "from": t, "to": t, "seconds": 0, "sun_elev": round(e, 2)}
            cur["to"], cur["seconds"] = t + 1, cur["seconds"] + 1
    if cur:
        out.append(cur)
    return out


def _civil_minute(zone: str):
    from datetime import datetime
    from zoneinfo import ZoneInfo
    z = ZoneInfo(zone)

    def minute(t: int) -> int:
        d = datetime.fromtimestamp(t, z)
        return d.hour * 60 + d.minute
    return minute


def _dim_at(m: int, level: int, a: int, b: int) -> int:
    inside = (a <= m < b) if a <= b else (m >= a or m < b)
    return level if inside else 100


def expectations(sc, alarms: list[dict]) -> list[dict]:
    """For each `[expect] not_raised` alarm: rightly not raised, or when it was raised."""
    out = []
    for name in (getattr(sc, "expect", {}) or {}).get("not_raised", []):
        hits = [a["time"] for a in alarms if a["state"] == "raised" and name in _names(a)]
        out.append({"alarm": name, "rightly_not_raised": not hits, "raised_at": hits[0] if hits else None})
    return out


@dataclass
class Verdict:
    """How one detector did on one run: the faults, its false alarms, its wrong switching
    (only a detector that switches the lamp) and the [expect] not_raised checks."""
    faults: list[FaultScore]
    false_alarms: list[dict]
    wrong_switching: list[dict]
    expectations: list[dict]


def judge(sc, observable: dict[int, int], alarms: list[dict], trace: list[tuple] | None = None) -> Verdict:
    """The one scoring of a run, for the firmware and the baseline alike: alarms are
    {"alarm","state","time"} records (alarm_records() of the firmware's reports, or the
    baseline's own), observable the first visible tick per fault index, trace the run's
    switching (None for a detector that does not switch)."""
    faults, false = score(sc.faults, observable, alarms, sc.end)
    return Verdict(faults, false, switching(sc, trace) if trace is not None else [],
                   expectations(sc, alarms))


def summarize(runs: list[dict]) -> dict:
    """Per cause over many runs ({"faults": [FaultScore dicts], "false_alarms": [...]}, and
    optionally "wrong_switching" and "expectations" lists).

    Returns {"causes": {cause: {n, detected, rate, median_s, worst_s, missed, cleared_early}},
    "false_alarms": n, "cleared_early": n, "wrong_switching": stretches, "wrong_switching_s": s,
    "not_raised": n expectations, "rightly_not_raised": n}.
    """
    causes: dict[str, dict] = {}
    false = early = wrong = wrong_s = expected = rightly = 0
    for run in runs:
        false += len(run["false_alarms"])
        for w in run.get("wrong_switching") or []:
            wrong += 1
            wrong_s += w["seconds"]
        for x in run.get("expectations") or []:
            expected += 1
            rightly += bool(x["rightly_not_raised"])
        for f in run["faults"]:
            c = causes.setdefault(f["kind"], {"n": 0, "detected": 0, "lat": [], "missed": [],
                                              "cleared_early": 0})
            c["n"] += 1
            if f.get("cleared_early_at") is not None:
                c["cleared_early"] += 1
                early += 1
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
    return {"causes": out, "false_alarms": false, "cleared_early": early, "wrong_switching": wrong,
            "wrong_switching_s": wrong_s, "not_raised": expected, "rightly_not_raised": rightly}
