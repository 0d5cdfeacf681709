"""How the testbed's command lines print a time: ISO 8601 UTC to the second, "-" for none
(lamppost-sim run, town, fleet-load; its own module so cli.py and town_cli.py need not
import each other)."""
from __future__ import annotations

import datetime as dt


def iso(t: int | None) -> str:
    if t is None:
        return "-"
    return dt.datetime.fromtimestamp(t, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
