"""MQTT messages from posts into the engine: one parsing function, and the subscriber.

`parse(topic, payload)` is the ONE place that reads a post's MQTT message; it checks it
with the collector's validator (host_tools/collector/validate.py) first, so the service
and the collector take in exactly the same messages.
"""
from __future__ import annotations

import re
from datetime import datetime, timezone

from host_tools.collector.validate import Reject as VReject
from host_tools.collector.validate import validate

ALARM_RE = re.compile(r"[A-Za-z]{1,40}")
TOPICS = ("stat/+/ALARM", "stat/+/EVENT", "tele/+/STATE", "tele/+/SENSOR", "tele/+/LWT")


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
    state: {t, lamp? on|off, dimmer?}; sensor: {t, Total?, Power?, Voltage?, Current?, Factor?};
    lwt: {online: bool}; a photocell event (`ev: photocell`, state fault|ok) also carries
    alarm "photocell" and state raised|cleared. `t` is the post's own clock (Unix seconds),
    `inc` the outbox's incarnation as a number (0 from a post that sends none). The message
    is first checked by the collector's validator (host_tools/collector/validate.py), the one
    set of payload rules for every consumer; this only picks what the engine reads."""
    try:
        kind, pid, d = validate(topic, payload)
    except VReject as e:
        raise Reject(e.reason) from None
    if kind == "lwt":
        return "lwt", pid, {"online": d == "Online"}
    if kind == "state":
        out = {"t": post_time(d.get("Time"))}
        if d.get("POWER") in ("ON", "OFF"):
            out["lamp"] = d["POWER"].lower()
        if isinstance(d.get("Dimmer"), (int, float)):
            out["dimmer"] = float(d["Dimmer"])
        return "state", pid, out
    if kind == "sensor":  # the meter: telemetry (the console's plots, the energy rollups)
        e = d["ENERGY"]
        return "sensor", pid, {"t": post_time(d.get("Time")),
                               **{k: float(e[k]) for k in ("Total", "operatingHours", "Power", "Voltage",
                                                           "Current", "Factor") if k in e}}
    if kind not in ("alarm", "event"):
        raise Reject(f"{kind} messages are not read by the service")
    if "id" in d and d["id"] != pid:
        raise Reject(f"payload id {str(d['id'])[:40]!r} differs from the topic's {pid}")
    out = {"t": post_time(d.get("t")), "dseq": _int(d, "dseq"),
           "inc": int(d["inc"], 16) if "inc" in d else 0}  # 8 hex digits (validate.INC_RE)
    if kind == "alarm":
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
    if ev == "photocell" and d.get("state") in ("fault", "ok"):
        # the firmware's photocell judgement (schedule.py): the engine keeps it as the
        # alarm `photocell`, raised on fault and cleared on ok, with every alarm rule
        out.update(alarm="photocell", state="raised" if d["state"] == "fault" else "cleared")
    return "event", pid, out
