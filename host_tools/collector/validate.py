"""Every MQTT message the collector takes in passes here before anything stores or shows it.

`validate(topic, payload) -> (kind, post_id, data)` or raises `Reject(reason)`. Nothing from the
broker is trusted: the topic must be one of the Tasmota-layout topics a post sends, the post id
must follow the id rule, the payload must be at most MAX_PAYLOAD bytes of UTF-8, JSON payloads
at most MAX_DEPTH deep, every number finite and within a stated range, every string bounded,
and the fields the register reads must have the type it reads. What passes can be stored and
read back by any reader without a check of its own; what fails goes to quarantine
(host_tools/collector/store.py). The rules are in docs/collector.md.
"""
from __future__ import annotations

import json
import math
import re

from lamppost_common.ids import ID_RE, RULE  # one post-id rule everywhere

INC_RE = re.compile(r"[0-9a-f]{8}")  # outbox incarnation: 8 lower-case hex digits
NAME_RE = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,31}")  # ev, alarm, state, cmd names

MAX_PAYLOAD = 8192  # bytes: the firmware's largest message (a `Log` reply) is ~2 KB
MAX_TOPIC = 128  # characters
MAX_DEPTH = 6  # nesting of JSON objects/arrays (a `Log` reply is 3)
MAX_STR = 512  # characters in any JSON string
MAX_KEY = 64  # characters in an object key
MAX_ITEMS = 256  # keys of an object, items of an array
MAX_INT = 2 ** 53  # |integer| beyond this is not exact in JSON readers (JavaScript, floats)
MAX_DSEQ = 2 ** 31 - 1  # the outbox's per-device sequence number, 1 and up

KINDS = {("tele", "LWT"): "lwt", ("tele", "STATE"): "state", ("tele", "SENSOR"): "sensor",
         ("stat", "ALARM"): "alarm", ("stat", "EVENT"): "event", ("stat", "RESULT"): "result"}
LWT = ("Online", "Offline")
ENERGY_NUMBERS = ("Total", "Power", "ApparentPower", "Factor", "Voltage", "Current")
_STRINGS = re.compile(rb"\"(?:[^\"\\]|\\.)*\"", re.S)  # JSON string literals, for the depth pre-scan
_BRACKETS = re.compile(rb"[\[\]{}]")


class Reject(ValueError):
    """A message that is not stored; `reason` says why in words (it goes to quarantine)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def _depth(raw: bytes) -> int:
    """Deepest bracket nesting outside string literals (before json.loads recurses into it)."""
    deepest = d = 0
    for m in _BRACKETS.finditer(_STRINGS.sub(b'""', raw)):
        if m.group() in (b"[", b"{"):
            d += 1
            deepest = max(deepest, d)
        else:
            d -= 1
    return deepest


def _constant(name: str):
    raise Reject(f"{name} is not a number (JSON has no {name})")


def _float(text: str) -> float:
    v = float(text)
    if not math.isfinite(v):
        raise Reject(f"number {text[:24]} is out of range")
    return v


def _int(text: str) -> int:
    if len(text) > 17:
        raise Reject(f"integer {text[:24]}... is out of range (|n| <= 2^53)")
    v = int(text)
    if abs(v) > MAX_INT:
        raise Reject(f"integer {text} is out of range (|n| <= 2^53)")
    return v


def _json(raw: bytes) -> dict:
    if _depth(raw) > MAX_DEPTH:
        raise Reject(f"JSON nested deeper than {MAX_DEPTH}")
    try:
        d = json.loads(raw.decode(), parse_constant=_constant, parse_float=_float, parse_int=_int)
    except Reject:
        raise
    except (ValueError, RecursionError) as e:
        raise Reject(f"not JSON: {str(e)[:80]}") from None
    if not isinstance(d, dict):
        raise Reject(f"JSON {type(d).__name__} where an object belongs")
    _bounded(d, "")
    return d


def _bounded(v, where: str) -> None:
    """Sizes of everything in a parsed document (numbers are checked while parsing)."""
    if isinstance(v, str):
        if len(v) > MAX_STR:
            raise Reject(f"{where or 'text'}: string longer than {MAX_STR} characters")
    elif isinstance(v, dict):
        if len(v) > MAX_ITEMS:
            raise Reject(f"{where or 'object'}: more than {MAX_ITEMS} keys")
        for k, x in v.items():
            if len(k) > MAX_KEY:
                raise Reject(f"{where}: key longer than {MAX_KEY} characters")
            _bounded(x, f"{where}.{k}" if where else k)
    elif isinstance(v, list):
        if len(v) > MAX_ITEMS:
            raise Reject(f"{where or 'array'}: more than {MAX_ITEMS} items")
        for i, x in enumerate(v):
            _bounded(x, f"{where}[{i}]")


def _num(d: dict, key: str, where: str = "", lo=None, hi=None, integer=False, required=False):
    """d[key] must be a number (not a bool) in lo..hi; an integer if asked."""
    name = where + key
    if key not in d:
        if required:
            raise Reject(f"{name}: missing")
        return
    v = d[key]
    ok = (int,) if integer else (int, float)
    if isinstance(v, bool) or not isinstance(v, ok):
        raise Reject(f"{name}: {type(v).__name__} where {'an integer' if integer else 'a number'} "
                     "belongs")
    if (lo is not None and v < lo) or (hi is not None and v > hi):
        raise Reject(f"{name}: {v} is outside {lo}..{hi}")


def _str(d: dict, key: str, where: str = "", pattern=None, choices=None, required=False,
         maxlen=MAX_STR):
    name = where + key
    if key not in d:
        if required:
            raise Reject(f"{name}: missing")
        return
    v = d[key]
    if not isinstance(v, str):
        raise Reject(f"{name}: {type(v).__name__} where text belongs")
    if choices is not None and v not in choices:
        raise Reject(f"{name}: {v[:32]!r} is not one of {'|'.join(choices)}")
    if pattern is not None and not pattern.fullmatch(v):
        raise Reject(f"{name}: {v[:40]!r} is not a valid name")
    if len(v) > maxlen:
        raise Reject(f"{name}: longer than {maxlen} characters")


def _obj(d: dict, key: str, where: str = "", required=False) -> dict:
    name = where + key
    if key not in d:
        if required:
            raise Reject(f"{name}: missing")
        return {}
    v = d[key]
    if not isinstance(v, dict):
        raise Reject(f"{name}: {type(v).__name__} where an object belongs")
    return v


def _state(d: dict) -> None:
    _num(d, "UptimeSec", lo=0, hi=MAX_INT, integer=True)
    _num(d, "Heap", lo=0, hi=MAX_INT, integer=True)
    _num(d, "Dimmer", lo=0, hi=100)
    _str(d, "Uptime", maxlen=32)
    _str(d, "Time", maxlen=32)
    _str(d, "POWER", choices=("ON", "OFF"))
    _wifi(_obj(d, "Wifi"))
    for sect in ("MQTT", "Outbox"):
        s = _obj(d, sect)
        for k, v in s.items():
            if (sect, k) not in _STATE_NOT_COUNTERS:
                _num(s, k, sect + ".", lo=0, hi=MAX_INT, integer=True)
    _str(_obj(d, "MQTT"), "LastError", "MQTT.", maxlen=64)
    out = _obj(d, "Outbox")
    if "FlashFull" in out and not isinstance(out["FlashFull"], bool):
        raise Reject(f"Outbox.FlashFull: {type(out['FlashFull']).__name__} where true/false belongs")


# STATE fields in the counter sections that are not counters: the last MQTT error (text) and
# whether the last outbox write failed (true/false; firmware/lamppost/uplink.py, docs/mqtt.md)
_STATE_NOT_COUNTERS = (("MQTT", "LastError"), ("Outbox", "FlashFull"))


def _wifi(w: dict) -> None:
    """STATE's Wifi, Tasmota's fields; RSSI, Signal, SSId, Channel are null where the
    board's HAL cannot tell (docs/tasmota-ha.md)."""
    for k, v in w.items():
        if v is None and k in ("RSSI", "Signal", "SSId", "Channel"):
            continue
        if k == "RSSI":
            _num(w, k, "Wifi.", lo=-127, hi=0, integer=True)
        elif k == "Signal":
            _num(w, k, "Wifi.", lo=0, hi=100, integer=True)
        elif k == "Channel":
            _num(w, k, "Wifi.", lo=1, hi=196, integer=True)
        elif k == "SSId":
            _str(w, k, "Wifi.", maxlen=32)
        elif k == "Downtime" and isinstance(v, str):  # "0T00:00:03" as Tasmota; firmware
            _str(w, k, "Wifi.", maxlen=32)  # before issue 17 sent seconds (checked below)
        else:
            _num(w, k, "Wifi.", lo=0, hi=MAX_INT, integer=True)


def _sensor(d: dict) -> None:
    _str(d, "Time", maxlen=32)
    e = _obj(d, "ENERGY", required=True)
    for k in ENERGY_NUMBERS:
        _num(e, k, "ENERGY.", lo=-1e9, hi=1e9)


def _report(d: dict, kind: str) -> None:
    _num(d, "dseq", lo=1, hi=MAX_DSEQ, integer=True, required=True)
    _str(d, "inc", pattern=INC_RE)
    _str(d, "ev", pattern=NAME_RE, required=True)
    _str(d, "alarm", pattern=NAME_RE)
    _str(d, "state", pattern=NAME_RE)
    _str(d, "t", maxlen=32)
    _str(d, "id", pattern=ID_RE)
    _num(d, "count", lo=0, hi=MAX_INT, integer=True)


def validate(topic: str, payload: bytes) -> tuple[str, str, object]:
    """(kind, post_id, data) of one MQTT message, or Reject(reason).

    kind is lwt | state | sensor | alarm | event | result; data is "Online"/"Offline" for lwt,
    else the parsed JSON object, checked: safe to store and to show."""
    if not isinstance(topic, str) or not isinstance(payload, (bytes, bytearray)):
        raise Reject("topic must be text and payload bytes")
    if len(topic) > MAX_TOPIC:
        raise Reject(f"topic longer than {MAX_TOPIC} characters")
    parts = topic.split("/")
    if len(parts) != 3:
        raise Reject("topic is not <tele|stat>/<post>/<kind>")
    prefix, post, leaf = parts
    kind = KINDS.get((prefix, leaf))
    if kind is None:
        raise Reject(f"topic {prefix}/+/{leaf[:32]} is not one a post sends")
    if not ID_RE.fullmatch(post):
        raise Reject(f"post id is not {RULE}")
    if len(payload) > MAX_PAYLOAD:
        raise Reject(f"payload of {len(payload)} bytes is over the {MAX_PAYLOAD}-byte limit")
    raw = bytes(payload)
    if kind == "lwt":
        if raw.decode("utf-8", "replace") not in LWT:
            raise Reject("LWT is not Online or Offline")
        return kind, post, raw.decode()
    try:
        raw.decode()
    except UnicodeDecodeError:
        raise Reject("payload is not UTF-8") from None
    d = _json(raw)
    if kind == "state":
        _state(d)
    elif kind == "sensor":
        _sensor(d)
    elif kind in ("alarm", "event"):
        _report(d, kind)
    else:
        _str(d, "cmd", pattern=NAME_RE)
    return kind, post, d
