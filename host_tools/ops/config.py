"""The operator's TOML config: municipalities, their contractors, categories and rules.

    [rules]                         # service-wide overrides of the built-in defaults
    persist_s = 900
    [municipality.houten]
    name = "Houten"
    rules = { persist_s = 1200 }    # this municipality's overrides
    categories = { supply = "verlichting-netstoring" }
    route = { supply = "stedin" }   # fault class -> contractor (default: the post's contractor)
    [municipality.houten.contractor.citytec]
    adapter = "open311"             # open311 | signalen | webhook | email
    url = "https://open311.example/v2"
    api_key_env = "HOUTEN_OPEN311_KEY"   # a secret comes from the environment ...

Secrets (api_key, token, secret, password) are read from the environment variable
named by `<key>_env`; an inline value is accepted for tests and demos only.
The defaults and why they are what they are: docs/operations.md, "Rules".
"""
from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")

# Every rule a municipality may set, with its default (docs/operations.md argues each one).
RULES: dict[str, float] = {
    "persist_s": 900,          # an alarm must stay raised this long (post time) before an order opens
    "group_window_s": 900,     # alarms on one cabinet raised within this window are one event
    "group_min": 2,            # posts on one cabinet (or radius) that make a supply order
    "radius_m": 150,           # grouping radius where a post has no cabinet in the register
    "adjacent_m": 100,         # "adjacent": within this distance of the triggering post
    "adjacent_dark": 3,        # this many adjacent dark posts: priority case
    "silent_s": 3 * 3600,      # no message at all for this long (service clock): communication order
    "offline_s": 1800,         # LWT Offline for this long (service clock): communication order
    "recurrence_s": 30 * 86400,  # same fault again within this (post time) after verification: repeat
    "verify_grace_s": 1800,    # after the first dusk switch-on following a repair, the alarm must clear within this
    "verify_window_s": 48 * 3600,  # no dusk seen at all within this after the repair: not verified
    "retry_base_s": 30,        # first dispatch retry after this; doubles each attempt
    "retry_max_s": 3600,       # backoff ceiling: a contractor back after 24 h gets its orders within an hour
}

# fault class of each alarm (TALQ names), its default category (Signalen sub-category names)
FAULT_CLASS = {
    "lampFailure": "lamp", "cyclingFailure": "lamp", "lampPowerTooLow": "lamp",
    "lampPowerTooHigh": "lamp", "powerFactorTooLow": "lamp", "dimmingFailure": "lamp",
    "lampUnexpectedOn": "dayburning",
    "relayFailure": "relay",
    "highTemperature": "temperature",
    "leakageDetected": "leakage",
    "supplyLoss": "supply", "supplyVoltageTooLow": "supply", "supplyVoltageTooHigh": "supply",
    # not a TALQ alarm: the firmware's `ev: photocell` event (state fault/ok), which the
    # engine keeps as the alarm `photocell` raised/cleared (ingest.parse)
    "photocell": "photocell",
}
# alarms that count as "dark or no supply" for cabinet grouping
GROUPABLE = {"lampFailure", "supplyLoss", "supplyVoltageTooLow", "supplyVoltageTooHigh"}
CATEGORIES = {
    "lamp": "lantaarnpaal-straatverlichting",
    "dayburning": "lantaarnpaal-straatverlichting",
    "relay": "lantaarnpaal-straatverlichting",
    "temperature": "lantaarnpaal-straatverlichting",
    "leakage": "lantaarnpaal-straatverlichting",
    "photocell": "lantaarnpaal-straatverlichting",  # the lamp contractor replaces the cell
    "supply": "verlichting-netstoring",
    "communication": "lantaarnpaal-straatverlichting",
}
# 1 = safety first ... 4 = energy waste
PRIORITY = {"relay": 1, "temperature": 1, "leakage": 1, "supply": 2, "lamp": 3,
            "communication": 3, "dayburning": 4,
            "photocell": 4}  # the firmware falls back to its astronomical clock: maintenance
ADAPTERS = {"open311", "signalen", "webhook", "email"}
SECRETS = ("api_key", "token", "secret", "password")


class ConfigError(ValueError):
    """A config the service cannot run with; the message names the file and key."""


@dataclass
class Contractor:
    name: str
    adapter: str
    options: dict

    def secret(self, key: str) -> str | None:
        env = self.options.get(f"{key}_env")
        if env:
            return os.environ.get(env)
        return self.options.get(key)


@dataclass
class Municipality:
    id: str
    name: str
    rules: dict
    categories: dict
    route: dict
    contractors: dict[str, Contractor] = field(default_factory=dict)


@dataclass
class Config:
    municipalities: dict[str, Municipality]
    console: dict = field(default_factory=dict)  # [console]: host_tools/ops/web (docs/console-web.md)

    def rules(self, muni: str) -> dict:
        m = self.municipalities.get(muni)
        return m.rules if m else dict(RULES)

    def municipality(self, muni: str) -> Municipality:
        m = self.municipalities.get(muni)
        if m is None:
            m = Municipality(muni, muni, dict(RULES), dict(CATEGORIES), {})
        return m


def _rules(where: str, base: dict, over: object) -> dict:
    if over is None:
        return dict(base)
    if not isinstance(over, dict):
        raise ConfigError(f"{where}: rules must be a table")
    out = dict(base)
    for k, v in over.items():
        if k not in RULES:
            raise ConfigError(f"{where}: unknown rule {k!r} (known: {', '.join(RULES)})")
        if isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0:
            raise ConfigError(f"{where}: rule {k} must be a number >= 0, not {v!r}")
        out[k] = v
    return out


def parse(data: dict, where: str = "config") -> Config:
    base = _rules(f"{where}: [rules]", RULES, data.get("rules"))
    munis = {}
    for mid, m in (data.get("municipality") or {}).items():
        w = f"{where}: [municipality.{mid}]"
        if not ID_RE.fullmatch(mid):
            raise ConfigError(f"{w}: id must match {ID_RE.pattern}")
        if not isinstance(m, dict):
            raise ConfigError(f"{w}: must be a table")
        cats = dict(CATEGORIES)
        for k, v in (m.get("categories") or {}).items():
            if k not in CATEGORIES or not isinstance(v, str):
                raise ConfigError(f"{w}: categories.{k}: fault classes are {', '.join(CATEGORIES)}")
            cats[k] = v
        contractors = {}
        for cname, c in (m.get("contractor") or {}).items():
            if not isinstance(c, dict) or c.get("adapter") not in ADAPTERS:
                raise ConfigError(f"{w}: contractor {cname}: adapter must be one of "
                                  f"{', '.join(sorted(ADAPTERS))}")
            contractors[cname] = Contractor(cname, c["adapter"], dict(c))
        route = dict(m.get("route") or {})
        for k, v in route.items():
            if k not in CATEGORIES or v not in contractors:
                raise ConfigError(f"{w}: route.{k} = {v!r}: needs a fault class and a contractor "
                                  "of this municipality")
        munis[mid] = Municipality(mid, str(m.get("name", mid)), _rules(f"{w} rules", base,
                                  m.get("rules")), cats, route, contractors)
    return Config(munis, _console(f"{where}: [console]", data.get("console")))


CONSOLE_KEYS = {"listen": str, "tile_url": str, "tile_attribution": str, "cmd_key_dir": str,
                "session_secret_env": str, "session_secret": str, "secure_cookie": bool,
                "session_max_age_s": (int, float), "live_interval_s": (int, float),
                "login_limit": int, "login_window_s": (int, float), "sla_h": dict}


def _console(where: str, c: object) -> dict:
    if c is None:
        return {}
    if not isinstance(c, dict):
        raise ConfigError(f"{where}: must be a table")
    for k, v in c.items():
        if k not in CONSOLE_KEYS:
            raise ConfigError(f"{where}: unknown key {k!r} (known: {', '.join(CONSOLE_KEYS)})")
        if not isinstance(v, CONSOLE_KEYS[k]) or (isinstance(v, bool) and CONSOLE_KEYS[k] is not bool):
            raise ConfigError(f"{where}: {k} has the wrong type ({type(v).__name__})")
    for k, v in (c.get("sla_h") or {}).items():
        if k not in ("1", "2", "3", "4") or isinstance(v, bool) or not isinstance(v, (int, float)) or v <= 0:
            raise ConfigError(f"{where}: sla_h keys are priorities 1-4, values hours > 0")
    tile = c.get("tile_url")
    if tile is not None and not tile.startswith(("https://", "http://", "/")):
        raise ConfigError(f"{where}: tile_url must be an http(s) URL or a path on this server")
    return dict(c)


def load(path: str | Path | None) -> Config:
    """The config file, or an empty config (built-in rules, no contractors) without one."""
    if path is None:
        return Config({})
    p = Path(path)
    try:
        data = tomllib.loads(p.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{p}: no such file") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise ConfigError(f"{p}: {e}") from None
    return parse(data, str(p))
