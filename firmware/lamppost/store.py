"""Crash-safe JSON files on flash: write a temporary file, then rename over.

LittleFS renames atomically, so a power cut leaves either the old or the new
file, never half of one. A corrupt or missing file reads as None so callers
fall back to defaults and report it instead of crashing.
"""
import json
import os


def load(path):
    try:
        with open(path) as f:
            v = json.load(f)
        return v if isinstance(v, dict) else None
    except (OSError, ValueError):
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
