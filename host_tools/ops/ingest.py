"""MQTT messages from posts into the engine: one parsing function, and the subscriber.

`parse(topic, payload)` is the ONE place that reads a post's MQTT message; the lead
can switch it to host_tools/collector/validate.py (same contract: (kind, post_id, data)
or Reject) without touching the rest.
"""
from __future__ import annotations

import json
import re
from datetime import datetime, timezone

POST_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,31}")
ALARM_RE = re.compile(r"[A-Za-z]{1,40}")
MAX_PAYLOAD = 4096
TOPICS = ("stat/+/ALARM", "stat/+/EVENT", "tele/+/STATE", "tele/+/LWT")


class Reject(ValueError):
    """A message the service does not accept; counted, never raised out of the subscriber."""


def post_time(v) -> int:
    """A report's `t` ("2026-01-15T22:00:02Z", UTC) as Unix seconds."""
    if not isinstance(v, str) or len(v) > 32:
        raise Reject(f"t must be an ISO time, not {v!r:.40}")
    try:
        d = datetime.strptime(v, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    except ValueError:
        raise Reject(f"t {v!r} is not YYYY-MM-DDTHH:MM:SSZ") from None
    return int(d.timestamp())


def _int(d: dict, k: str, default=None) -> int:
    v = d.get(k, default)
    if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v < 2**53:
        raise Reject(f"{k} must be a non-negative integer, not {v!r:.40}")
    return v


def parse(topic: str, payload: bytes) -> tuple[str, str, dict]:
    """(kind, post_id, data) of one message, kind alarm | event | state | lwt; Reject otherwise.

    alarm: {alarm, state raised|cleared, t, dseq, inc}; event: {ev, t, dseq, inc, lamp?};
    state: {t}; lwt: {online: bool}. `t` is the post's own clock (Unix seconds)."""
    parts = topic.split("/")
    if len(parts) != 3 or (parts[0], parts[2]) not in (("stat", "ALARM"), ("stat", "EVENT"),
                                                       ("tele", "STATE"), ("tele", "LWT")):
        raise Reject(f"topic {topic[:80]!r} is not one the service reads")
    pid = parts[1]
    if not POST_RE.fullmatch(pid):
        raise Reject(f"post id {pid[:40]!r} must match {POST_RE.pattern}")
    if len(payload) > MAX_PAYLOAD:
        raise Reject(f"payload of {len(payload)} bytes (at most {MAX_PAYLOAD})")
    try:
        text = payload.decode()
    except UnicodeDecodeError:
        raise Reject("payload is not UTF-8") from None
    if parts[2] == "LWT":
        if text not in ("Online", "Offline"):
            raise Reject(f"LWT must be Online or Offline, not {text[:20]!r}")
        return "lwt", pid, {"online": text == "Online"}
    try:
        d = json.loads(text)
    except ValueError:
        raise Reject("payload is not JSON") from None
    if not isinstance(d, dict):
        raise Reject("payload is not a JSON object")
    if parts[2] == "STATE":
        return "state", pid, {"t": post_time(d.get("Time"))}
    if "id" in d and d["id"] != pid:
        raise Reject(f"payload id {str(d['id'])[:40]!r} differs from the topic's {pid}")
    out = {"t": post_time(d.get("t")), "dseq": _int(d, "dseq"), "inc": _int(d, "inc", 0)}
    if parts[2] == "ALARM":
        if d.get("ev") != "alarm" or not isinstance(d.get("alarm"), str) \
                or not ALARM_RE.fullmatch(d["alarm"]) or d.get("state") not in ("raised", "cleared"):
            raise Reject("an ALARM needs ev alarm, an alarm name and state raised|cleared")
        out.update(alarm=d["alarm"], state=d["state"])
        return "alarm", pid, out
    ev = d.get("ev")
    if not isinstance(ev, str) or not ALARM_RE.fullmatch(ev):
        raise Reject("an EVENT needs ev")
    out["ev"] = ev
    if ev == "switch" and d.get("lamp") in ("on", "off"):
        out["lamp"] = d["lamp"]
    return "event", pid, out
