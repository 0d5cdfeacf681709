"""Figures the README and docs/ document, read from those files themselves, for tests that check the code
against what users were told rather than against the code's own constants (issue 18 item 6).

Each figure is found by a pattern in the README's wording; a rewrite that drops the figure
fails here by name, so the docs and the tests cannot drift apart silently.
"""
from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"


def _docs() -> str:
    """The README and every reference page in docs/, as one text (the README is the tour,
    the figures may stand in either)."""
    return "\n".join(p.read_text(encoding="utf-8") for p in [README, *sorted((ROOT / "docs").glob("*.md"))])


def figure(pattern: str, group: int = 1) -> float:
    """The number the README states where `pattern` (whitespace-insensitive) matches."""
    text = " ".join(_docs().split())
    m = re.search(pattern, text)
    assert m, f"README.md and docs/ no longer state: {pattern}"
    return float(m.group(group))


def blank_s() -> int:
    """Seconds lamp alarms are blanked after a switch or dim change ("blanking 2 s")."""
    return int(figure(r"blanking (\d+) s instead of"))


def photocell_fault_s() -> int:
    """Seconds a photocell must disagree with the clock before it is reported ("10 min")."""
    return int(figure(r"disagrees with it for (\d+) min is reported")) * 60


def photocell_elevations() -> tuple[float, float, float]:
    """(clear-sky dark below, cap above which never dark, always dark below), degrees."""
    clear = figure(r"elevation at the post .{0,80}? is below (-?[\d.]+)°")
    cap = figure(r"capped at \+([\d.]+)°")
    night = figure(r"always below (-[\d.]+)°")
    return clear, cap, night


def photocell_skies() -> dict[str, tuple[float, float, float]]:
    """sky -> (share, least, most darkening in degrees), as the README lists them."""
    text = " ".join(_docs().split())
    out = {"clear": (figure(r"clear (\d+) %") / 100, 0.0, 0.0)}
    for name in ("cloudy", "overcast", "fog"):
        m = re.search(rf"{name} (\d+) % \(\+([\d.]+)-([\d.]+)°\)", text)
        assert m, f"README.md no longer states the {name} sky"
        out[name] = (int(m.group(1)) / 100, float(m.group(2)), float(m.group(3)))
    return out
