"""Where the firmware sources are, and the firmware's own config schema under CPython.

The sources travel as package data (the `lamppost_firmware` package of the wheel, mapped
onto firmware/ by pyproject.toml), so `lampctl build`/`provision` and the simulator work
from an installed wheel as from a checkout. The config schema is the firmware's
(lamppost/config.py plus the network keys of lamppost/uplinkcfg.py, merged as the firmware
merges them on a post that names a broker): one function builds it for lampctl provision,
the scenario loader and the tests, so host and board can never disagree.
"""
from __future__ import annotations

import importlib
import importlib.util
import sys
import types
from pathlib import Path

_CHECKOUT = Path(__file__).resolve().parent.parent / "firmware"


def firmware_dir() -> Path:
    """The firmware sources (boot.py, main.py, lamppost/, hal/): the installed package data,
    else the checkout's firmware/ directory."""
    if (_CHECKOUT / "main.py").is_file():
        return _CHECKOUT
    spec = importlib.util.find_spec("lamppost_firmware")
    if spec is not None and spec.submodule_search_locations:
        for loc in spec.submodule_search_locations:
            if (Path(loc) / "main.py").is_file():
                return Path(loc)
    raise FileNotFoundError("firmware sources not found: neither a checkout's firmware/ "
                            "nor the installed lamppost_firmware package data")


def build_dir() -> Path:
    """Where lampctl writes bundles and post configs: the checkout's build/, or build/ under
    the working directory when the tools run from an installed wheel."""
    return _CHECKOUT.parent / "build" if (_CHECKOUT / "main.py").is_file() else Path("build")


def module(name: str) -> types.ModuleType:
    """firmware lamppost/<name>.py imported under CPython (a `micropython` shim giving const)."""
    if "micropython" not in sys.modules:
        shim = types.ModuleType("micropython")
        shim.const = lambda x: x  # type: ignore[attr-defined]
        sys.modules["micropython"] = shim
    path = str(firmware_dir())
    sys.path.insert(0, path)
    try:
        return importlib.import_module("lamppost." + name)
    finally:
        sys.path.remove(path)


def config_module() -> types.ModuleType:
    """firmware/lamppost/config.py under CPython (check(), defaults(), SCHEMA)."""
    return module("config")


# the firmware modules whose SCHEMA dicts make a post's config, in merge order (uplinkcfg: the
# network keys, merged by config.load on a post whose config names a broker)
SCHEMA_MODULES = ("config", "uplinkcfg")


def schema() -> dict:
    """Every key a post's config may hold, key -> (kind, lo, hi, default, secret): config.SCHEMA
    plus uplinkcfg.SCHEMA, a fresh dict (the firmware's own dicts stay as they are). The one
    merge on the host: provision, the scenario loader, fwschema.keys() and the tests use it."""
    out: dict = {}
    for name in SCHEMA_MODULES:
        out.update(module(name).SCHEMA)
    return out


def check(key: str, value, sch: dict | None = None):
    """The firmware's own check of one key against the merged schema: the value as the
    firmware stores it, or ValueError saying why (unknown key included)."""
    return config_module().check(key, value, sch if sch is not None else schema())
