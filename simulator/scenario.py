"""Scenario files (TOML, format version 1): one post, a run window, injected faults.
The types they load into are simulator/scenario_types.py (re-exported here).

Loading validates every field and raises ScenarioError naming the file, the
line (where TOML gives one) and the field, so a typo never becomes a silent
default.
"""
from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

from lamppost_common import firmware as fw
from lamppost_common.ids import check_post_id
from simulator.models.params import CLIMATE as CLIMATE_PARAMS
from simulator.models.params import FAULT as FAULT_PARAMS
from simulator.models.params import SUPPLY as SUPPLY_PARAMS
from simulator.models.params import check_number
from simulator.scenario_types import (ALARM_NAMES, CAUSES, LAMPS, PHOTOCELL_CAUSES, SENSORS, Fault,
                                      Post, Scenario, parse_time)
from simulator.scenario_types import show_value as _show

FORMAT_VERSION = 1
class ScenarioError(ValueError):
    """A scenario that cannot be run; the message names file, line and field."""


_DUR = re.compile(r"^\s*(\d+)(\.\d+)?\s*([smhd]?)\s*$")
_UNIT = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
# The simulated clock: the firmware counts from 2000-01-01 and the link carries that count
# as an unsigned 32-bit number (simulator/link.py), so every time of a scenario lies in
# [2000-01-01, 2100-01-01) and no run is longer than MAX_DURATION_S.
TIME_MIN = 946684800  # 2000-01-01T00:00:00Z
TIME_MAX = 4102444800  # 2100-01-01T00:00:00Z
MAX_DURATION_S = 3660 * 86400  # ten years and a bit
SEED_MAX = 2**32 - 1  # numpy's and random's seeds: 0..2^32-1


def parse_duration(text: str) -> int:
    """Seconds of '90', '90s', '15m', '6h' or '2d' (up to MAX_DURATION_S)."""
    ok = isinstance(text, (str, int, float)) and not isinstance(text, bool)
    m = _DUR.match(str(text)) if ok else None
    if not m:
        raise ValueError(f"{_show(text)} is not a duration like 30s, 15m, 6h or 2d")
    whole, frac, unit = m.groups()
    if len(whole) > 12:  # float() of 400 digits is inf: refuse before converting
        raise ValueError(f"{_show(text)} is longer than {MAX_DURATION_S // 86400} days")
    s = int(float(whole + (frac or "")[:10]) * _UNIT[unit])
    if s > MAX_DURATION_S:
        raise ValueError(f"{_show(text)} is longer than {MAX_DURATION_S // 86400} days")
    return s


def fault_fields(rd, ft: dict, i: int, kind: str, model: str, reserved: tuple) -> tuple:
    """(at, until, params) of the i-th [[fault]] table: `until` after `at`, every other key a
    parameter of the fault model `model` within its range (both scenario formats use this)."""
    at = rd.get(ft, "fault", "at", _when, index=i)
    until = rd.get(ft, "fault", "until", _when, None, index=i)
    if until is not None and until <= at:
        rd.fail("fault", "until", "must be after `at`", i)
    params = {k: v for k, v in ft.items() if k not in reserved}
    known = FAULT_PARAMS[model]
    for k, v in params.items():
        if k not in known:
            rd.fail("fault", k, f"not a parameter of {kind} (known: {', '.join(known) or 'none'})", i)
        try:
            params[k] = check_number(v, known[k][0], known[k][1])
        except (ValueError, OverflowError) as e:
            rd.fail("fault", k, str(e), i)
    return at, until, params

def _when(text) -> int:
    """A scenario time: parse_time within the simulated clock's range."""
    t = parse_time(text)
    if not TIME_MIN <= t < TIME_MAX:
        raise ValueError(f"{_show(text)} is outside the years 2000-2099 (the firmware's clock)")
    return t


def _line_of(text: str, section: str, key: str, index: int = 0) -> int | None:
    """Best-effort line number of `key` inside the index-th `[section]` table."""
    seen = -1
    inside = False
    for n, line in enumerate(text.splitlines(), 1):
        s = line.strip()
        if s.startswith("["):
            name = s.strip("[]").strip()
            inside = name == section and (seen := seen + 1) == index
            continue
        if inside and re.match(rf"{re.escape(key)}\s*=", s):
            return n
    return None


_BARE = re.compile(r"^[A-Za-z0-9_-]+$")


def _name(key: str) -> str:
    """A key as TOML writes it: bare if it can be, else quoted (one line, never ambiguous)."""
    return key if _BARE.match(key) else json.dumps(key)


def _top_line(text: str, name: str) -> int | None:
    """Best-effort line of a top-level `[name]`, `[[name]]` or `name = ...`."""
    header = re.compile(rf"^\[\[?\s*{re.escape(name)}\s*\]\]?\s*(#.*)?$")
    key = re.compile(rf"^{re.escape(name)}\s*=")
    in_table = False
    for n, line in enumerate(text.splitlines(), 1):
        s = line.strip()
        if header.match(s) or (not in_table and key.match(s)):
            return n
        if s.startswith("["):
            in_table = True
    return None


class _Reader:
    def __init__(self, path: str, text: str):
        self.path, self.text = path, text

    def fail(self, section: str, key: str, why: str, index: int = 0):
        line = _line_of(self.text, section, key, index)
        where = f"{self.path}:{line}" if line else self.path
        label = (f"{section}[{index}].{_name(key)}" if section in ("fault", "network")
                 else f"{section}.{_name(key)}")
        raise ScenarioError(f"{where}: {label}: {why}")

    def top(self, name: str, why: str, label: str | None = None):
        """A whole table is wrong: `file:line: name: why`."""
        line = _top_line(self.text, name)
        where = f"{self.path}:{line}" if line else self.path
        raise ScenarioError(f"{where}: {label or _name(name)}: {why}")

    def table(self, doc: dict, name: str, required: bool = False) -> dict:
        """The single [name] table; anything else (a value, an array, [[name]]) is named."""
        if name not in doc:
            if required:
                self.top(name, f"missing [{name}] table")
            return {}
        t = doc[name]
        if isinstance(t, list):
            self.top(name, f"write one [{name}] table, not [[{name}]] or an array")
        if not isinstance(t, dict):
            self.top(name, f"{_show(t)} is not a table: write [{name}] with its keys below")
        return t

    def tables(self, doc: dict, name: str) -> list[dict]:
        """The [[name]] array of tables; a value or an array holding non-tables is named."""
        raw = doc.get(name, [])
        if isinstance(raw, dict):
            self.top(name, f"{name} entries are written [[{name}]], an array of tables")
        if not isinstance(raw, list):
            self.top(name, f"{_show(raw)} is not an array of tables: write [[{name}]]")
        for i, t in enumerate(raw):
            if not isinstance(t, dict):
                self.top(name, f"{_show(t)} is not a table: write [[{name}]] with its keys",
                         label=f"{name}[{i}]")
        return raw

    def get(self, table: dict, section: str, key: str, conv, default=..., index: int = 0):
        if key not in table:
            if default is ...:
                self.fail(section, key, "missing", index)
            return default
        try:
            return conv(table[key])
        except (ValueError, TypeError, OverflowError) as e:
            self.fail(section, key, str(e), index)


def _choice(options):
    def conv(v):
        if v not in options:
            raise ValueError(f"{_show(v)} is not one of {', '.join(options)}")
        return v
    return conv


def _number(lo, hi):
    def conv(v):
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise ValueError(f"{_show(v)} is not a number")
        if not lo <= v <= hi:
            raise ValueError(f"{_show(v)} is outside {lo}..{hi}")
        return float(v)
    return conv


def _text(v):
    if not isinstance(v, str) or not 1 <= len(v) <= 32:
        raise ValueError(f"{_show(v)} must be text of 1-32 characters")
    return v


def _bool(v):
    if not isinstance(v, bool):
        raise ValueError(f"{_show(v)} is not true or false")
    return v


def _hz(v):
    if v not in (50, 60) or isinstance(v, bool):
        raise ValueError(f"{v!r} is not 50 or 60")
    return int(v)


def _int(v):
    if isinstance(v, bool) or not isinstance(v, int):
        raise ValueError(f"{_show(v)} is not a whole number")
    return v


def _seed(v):
    v = _int(v)
    if not 0 <= v <= SEED_MAX:
        raise ValueError(f"{_show(v)} is outside 0..{SEED_MAX}")
    return v


_TABLES = ("post", "run", "fault", "supply", "firmware", "network", "climate", "expect")


def parse_toml(text: str, path: str) -> dict:
    """The TOML document in text, or ScenarioError `file[:line]: syntax: why` (both formats)."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        m = re.search(r"at line (\d+)", str(e))
        raise ScenarioError(f"{path}{':' + m.group(1) if m else ''}: syntax: not valid TOML: {e}") from None
    except (ValueError, RecursionError, MemoryError) as e:  # an int past Python's digit limit, deep nesting
        raise ScenarioError(f"{path}: syntax: TOML this loader refuses: {_show(str(e))}") from None


def loads(text: str, path: str = "<scenario>") -> Scenario:
    """The scenario in text; ScenarioError `file[:line]: field: why` for anything else."""
    doc = parse_toml(text, path)
    rd = _Reader(path, text)
    for key in doc:
        if key not in _TABLES:
            rd.top(key, "unknown table (expected [post], [run], [supply], [climate], "
                        "[firmware], [expect], [[fault]], [[network]])")
    post_t = rd.table(doc, "post")
    run_t = rd.table(doc, "run", required=True)
    supply_t = rd.table(doc, "supply")
    fw_t = rd.table(doc, "firmware")
    raw_faults = rd.tables(doc, "fault")
    raw_network = rd.tables(doc, "network")
    climate_t = rd.table(doc, "climate") if "climate" in doc else None
    expect_t = rd.table(doc, "expect")
    post = Post(
        id=rd.get(post_t, "post", "id", check_post_id, "NL-0001"),
        lamp=rd.get(post_t, "post", "lamp", _choice(LAMPS), "led"),
        rated_w=rd.get(post_t, "post", "rated_w", _number(1, 2000), 60.0),
        latitude=rd.get(post_t, "post", "latitude", _number(-90, 90), 52.03),
        longitude=rd.get(post_t, "post", "longitude", _number(-180, 180), 5.56),
        sensor=rd.get(post_t, "post", "sensor", _choice(SENSORS), "ideal"),
        holdup_s=rd.get(post_t, "post", "holdup_s", _number(0, 60), 2.0),
        strings=int(rd.get(post_t, "post", "strings", _number(1, 64), 4)),
        ct_a=rd.get(post_t, "post", "ct_a", _number(0, 500), 0.0),
        photocell=rd.get(post_t, "post", "photocell", _bool, False),
    )
    _known(rd, post_t, "post", ("id", "lamp", "rated_w", "latitude", "longitude", "sensor",
                                "holdup_s", "strings", "ct_a", "photocell", "nominal_v", "hz"))
    _known(rd, run_t, "run", ("start", "duration", "seed"))
    supply = _supply(rd, supply_t)
    # the post's rating: [post] nominal_v/hz, else what [supply] names (a 120 V feeder feeds a
    # 120 V post), else 230 V / 50 Hz; [supply] defaults to the post's when it names none
    given = supply_t if isinstance(supply_t, dict) else {}
    feeder_v = supply["nominal_v"] if "nominal_v" in given and 100 <= supply["nominal_v"] <= 277 \
        else 230.0
    post.nominal_v = rd.get(post_t, "post", "nominal_v", _number(100, 277), feeder_v)
    post.hz = rd.get(post_t, "post", "hz", _hz, 60 if supply["hz"] >= 55 else 50)
    if "nominal_v" not in given:
        supply["nominal_v"] = post.nominal_v
    if "hz" not in given:
        supply["hz"] = float(post.hz)
    start = rd.get(run_t, "run", "start", _when)
    duration = rd.get(run_t, "run", "duration", parse_duration)
    if duration <= 0:
        rd.fail("run", "duration", "must be longer than zero")
    if start + duration > TIME_MAX:
        rd.fail("run", "duration", "the run would end after 2099 (the firmware's clock)")
    seed = rd.get(run_t, "run", "seed", _seed, 1)
    faults = []
    for i, ft in enumerate(raw_faults):
        kind = rd.get(ft, "fault", "kind", _choice(tuple(CAUSES)), index=i)
        if kind in PHOTOCELL_CAUSES and not post.photocell:
            rd.fail("fault", "kind", f"{kind} needs a photocell: set [post] photocell = true", i)
        at, until, params = fault_fields(rd, ft, i, kind, kind, ("kind", "at", "until"))
        faults.append(Fault(kind, at, until, params))
    fw = _firmware(rd, fw_t)
    network = _network(rd, raw_network)
    climate = _climate(rd, climate_t)
    expect = _expect(rd, expect_t)
    return Scenario(path, post, start, duration, seed, faults, supply, dict(fw), network,
                    climate, expect)


def _known(rd: _Reader, table: dict, section: str, keys) -> None:
    """A key the format does not know is a typo: name it rather than ignore it."""
    for key in table:
        if key not in keys:
            rd.fail(section, key, f"unknown key (known: {', '.join(keys)})")


def _firmware(rd: _Reader, table: dict) -> dict:
    """[firmware] keys checked by the firmware's own schema (config.py + uplinkcfg.py)."""
    schema = fw.schema()
    out = {}
    for key, value in table.items():
        if key not in schema:
            rd.fail("firmware", key, "not a firmware config key (firmware/lamppost/config.py)")
        try:
            out[key] = fw.check(key, value, schema)
        except (ValueError, TypeError, OverflowError) as e:
            rd.fail("firmware", key, str(e))
    return out


def _supply(rd: _Reader, table) -> dict:
    """The validated [supply] keys (EN 50160 behaviour of the mains), defaults filled in."""
    out = {}
    for key, (lo, hi, default, _) in SUPPLY_PARAMS.items():
        out[key] = rd.get(table, "supply", key, _number(lo, hi), default)
    for key in table:
        if key not in SUPPLY_PARAMS:
            rd.fail("supply", key, f"unknown key (known: {', '.join(SUPPLY_PARAMS)})")
    if out["variation"] + out["walk"] > 0.10 + 1e-9:  # they add up in supply.py
        rd.fail("supply", "walk" if "walk" in table else "variation",
                f"variation + walk is {out['variation'] + out['walk']:g}: EN 50160 keeps slow "
                "variation within 0.10 of nominal")
    return out


def _network(rd: _Reader, raw: list) -> list:
    """[[network]] events: at, kind, optional until, and delay for `slow`."""
    from simulator.netproxy import KINDS, NetEvent
    out = []
    for i, nt in enumerate(raw):
        for k in nt:
            if k not in ("at", "until", "kind", "delay"):
                rd.fail("network", k, "unknown field (expected at, until, kind, delay)", i)
        kind = rd.get(nt, "network", "kind", _choice(KINDS), index=i)
        at = rd.get(nt, "network", "at", _when, index=i)
        until = rd.get(nt, "network", "until", _when, None, index=i)
        if until is not None and until <= at:
            rd.fail("network", "until", "must be after `at`", i)
        delay = rd.get(nt, "network", "delay", parse_duration, 5, index=i)
        out.append(NetEvent(kind, at, until, delay))
    return out


def _climate(rd: _Reader, table) -> dict:
    """The validated [climate] keys, defaults filled in; {} without the table (legacy ambient)."""
    if table is None:
        return {}
    if not isinstance(table, dict):
        raise ScenarioError(f"{rd.path}: [climate] must be a table")
    _known(rd, table, "climate", tuple(CLIMATE_PARAMS))
    return {key: rd.get(table, "climate", key, _number(lo, hi), default)
            for key, (lo, hi, default, _) in CLIMATE_PARAMS.items()}


_ZONE = re.compile(r"^[A-Za-z][A-Za-z_]*(/[A-Za-z0-9_+-]{1,30}){0,2}$")


def _zone(v):
    """An IANA time zone name zoneinfo knows (a strict pattern first: the name becomes a path)."""
    from zoneinfo import ZoneInfo
    if not isinstance(v, str) or len(v) > 64 or not _ZONE.match(v):
        raise ValueError(f"{v!r} is not a time zone name like Europe/Amsterdam")
    try:
        ZoneInfo(v)
    except Exception:
        raise ValueError(f"{v!r} is not a time zone this machine knows") from None
    return v


def _names(v):
    if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
        raise ValueError("must be a list of alarm names, e.g. [\"photocell\"]")
    for x in v:
        if x not in ALARM_NAMES:
            raise ValueError(f"{x!r} is not an alarm (known: {', '.join(ALARM_NAMES)})")
    return list(dict.fromkeys(v))


def _expect(rd: _Reader, table) -> dict:
    """[expect]: what the scorer checks besides the faults."""
    if not isinstance(table, dict):
        raise ScenarioError(f"{rd.path}: [expect] must be a table")
    _known(rd, table, "expect", ("not_raised", "timezone"))
    out = {}
    if "not_raised" in table:
        out["not_raised"] = rd.get(table, "expect", "not_raised", _names)
    if "timezone" in table:
        out["timezone"] = rd.get(table, "expect", "timezone", _zone)
    return out


def load(path: str | Path) -> Scenario:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ScenarioError(f"{p}: cannot read: {e}") from None
    return loads(text, str(p))
