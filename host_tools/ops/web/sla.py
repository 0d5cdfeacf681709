"""Service-level times per order priority: how long a contractor has from the order's opening.

Defaults follow common Dutch public-lighting maintenance contracts (safety within a day's
working hours, a dark stretch or supply fault within a working day, a single lamp within
five working days, day burning within ten); `[console] sla_h = {1 = 4, ...}` overrides them.
"""
from __future__ import annotations

SLA_H = {1: 4.0, 2: 24.0, 3: 120.0, 4: 240.0}


def sla_hours(priority: int) -> float:
    return SLA_H.get(priority, 120.0)


def configure(over: dict | None) -> None:
    for k, v in (over or {}).items():
        SLA_H[int(k)] = float(v)
