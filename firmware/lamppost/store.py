"""Crash-safe JSON files on flash: write a temporary file, then rename over.

LittleFS renames atomically, so a power cut leaves either the old or the new
file, never half of one. A file that cannot be read as a JSON object (missing,
empty, truncated, not UTF-8, another JSON type, a directory, over _MAX bytes,
nested too deep for the heap) reads as None, so callers fall back and report
it instead of crashing (lamppost/bootfiles.py sets such a file aside at boot, see
docs/persistence.md).
"""
import json
import os
from micropython import const

_MAX = const(4096)  # bytes: every JSON file the firmware keeps is far smaller


def load(path):
    try:
        if os.stat(path)[6] > _MAX:  # [6] size; a directory's open fails below
            return None
        with open(path) as f:
            v = json.load(f)
        return v if isinstance(v, dict) else None
    except Exception:  # OSError, ValueError (UnicodeError), MemoryError, RuntimeError (depth)
        return None


def save(path, obj):
    """Write obj as JSON atomically; returns False (and keeps the old file) on a full flash."""
    tmp = path + ".tmp"
    try:
        with open(tmp, "w") as f:
            json.dump(obj, f)
        os.rename(tmp, path)
        return True
    except OSError:
        try:
            os.remove(tmp)
        except OSError:
            pass
        return False
