"""Post ids: one rule for lampctl provision, scenarios, the collector and (re-implemented
without `re`) the firmware's config check (firmware/lamppost/config.py check_id).

An id names the post's MQTT topics (`stat/<id>/ALARM`) and files, so it may not hold
`/`, `+`, `#` or anything outside ASCII letters, digits, `-` and `_`: 1-32 characters,
the first a letter or a digit.
"""
from __future__ import annotations

import re

ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,31}")
RULE = "1-32 ASCII letters, digits, '-' or '_', starting with a letter or digit"


def check_post_id(s: object) -> str:
    """s if it is a valid post id; ValueError saying why not."""
    if not isinstance(s, str):
        raise ValueError(f"post id {s!r} must be text ({RULE})")
    if not ID_RE.fullmatch(s):
        raise ValueError(f"post id {s!r} is not valid: use {RULE} "
                         "(it names the post's MQTT topics and files)")
    return s
