"""Scores the firmware's alarm reports against the injected faults (the ground truth)."""
from __future__ import annotations

from dataclasses import asdict, dataclass

from simulator.scenario import Fault


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


def score(faults: list[Fault], observable: dict[int, int], alarms: list[dict], end: int):
    """(per-fault scores, false alarms) from alarm reports {"alarm","state","time"}."""
    scores = []
    explained = set()
    for idx, f in enumerate(faults):
        s = FaultScore(f.kind, f.at, f.until, list(f.expected), observable.get(idx))
        stop = f.until if f.until is not None else end
        for k, a in enumerate(alarms):
            if a["state"] == "raised" and a["alarm"] in f.expected and f.at <= a["time"] <= stop:
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
