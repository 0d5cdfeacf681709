"""The firmware's config schema, read from its source files for people: every key with its
type, range, default, whether it is secret, and what it means (the comment on its line).

The board never loads these descriptions: they are comments in firmware/lamppost/config.py
and uplinkcfg.py, which mpy-cross drops. Host tools (`lampctl config describe`, `config --help`,
the operations register's column check) get the keys, their order and values from
lamppost_common.firmware.schema() (the one merge of the firmware's SCHEMA dicts, imported
under CPython) and the words from the source text, read here with `ast`/`tokenize`.
"""
from __future__ import annotations

import ast
import io
import tokenize
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from lamppost_common import firmware as fw

FIRMWARE = fw.firmware_dir() / "lamppost"  # the checkout's, or the wheel's lamppost_firmware
FILES = tuple(f"{m}.py" for m in fw.SCHEMA_MODULES)  # where the descriptions are
# config keys whose unset value (None) means "the lamp type's default" (lamppost/lamptypes.py)
UNSET = "unset: the lamp type's default (lamppost/lamptypes.py)"
UNITS = {"_w": "W", "_s": "s", "_min": "min"}  # by the end of a key's name
NAMED_UNITS = {"nominal_v": "V", "temp_max": "°C", "lat": "degrees", "lon": "degrees",
               "sun_elev": "degrees", "ct_phase": "degrees", "hz": "Hz", "tele_period": "s"}


class SchemaError(Exception):
    """The firmware source is missing or its SCHEMA is not a literal dict of tuples."""


@dataclass(frozen=True)
class Key:
    name: str
    kind: object  # "s", "i", "f", "b" or a tuple of choices
    lo: object
    hi: object
    default: object
    secret: bool
    meaning: str  # the comment on the key's line ("" if none)
    group: str  # the comment line above a run of keys, if any
    source: str  # "config.py" or "uplinkcfg.py"

    def kind_text(self) -> str:
        """The type and range in words: `whole number 0..100`, `one of led|hps`."""
        if isinstance(self.kind, tuple):
            return "one of " + "|".join(self.kind)
        if self.kind == "b":
            return "true or false"
        if self.kind == "s":
            return f"text of {self.lo}-{self.hi} characters"
        word = "whole number" if self.kind == "i" else "number"
        return f"{word} {self.lo:g}..{self.hi:g}"

    def default_text(self) -> str:
        if self.default is None:
            return UNSET
        if self.default == "":
            return "unset (empty)"
        if isinstance(self.default, bool):
            return "true" if self.default else "false"
        return str(self.default)


def _comments(text: str) -> dict[int, str]:
    """Line number -> the text of the comment on it."""
    out = {}
    for tok in tokenize.generate_tokens(io.StringIO(text).readline):
        if tok.type == tokenize.COMMENT:
            out[tok.start[0]] = tok.string.lstrip("#").strip()
    return out


def read(path: Path) -> list[Key]:
    """The keys of the SCHEMA dict in one firmware source file, in their order."""
    try:
        text = path.read_text()
    except OSError as e:
        raise SchemaError(f"{path}: cannot read the firmware's config schema ({e.strerror or e})") from None
    tree = ast.parse(text, str(path))
    node = next((n.value for n in tree.body if isinstance(n, ast.Assign)
                 and any(isinstance(t, ast.Name) and t.id == "SCHEMA" for t in n.targets)), None)
    if not isinstance(node, ast.Dict):
        raise SchemaError(f"{path}: no literal SCHEMA = {{...}}")
    notes = _comments(text)
    lines = text.splitlines()
    keys, group = [], ""
    for k, v in zip(node.keys, node.values):
        line = k.lineno
        above = lines[line - 2].strip() if line >= 2 else ""
        if above.startswith("#"):  # a comment line heads the keys below it
            group = notes.get(line - 1, group)
        try:
            name = ast.literal_eval(k)
            kind, lo, hi, default, secret = ast.literal_eval(v)
        except (ValueError, TypeError):
            raise SchemaError(f"{path}:{line}: a SCHEMA entry is not (kind, lo, hi, default, secret)") from None
        keys.append(Key(name, kind, lo, hi, default, bool(secret), notes.get(v.end_lineno, ""),
                        group, path.name))
    return keys


@lru_cache(maxsize=1)
def keys() -> dict[str, Key]:
    """Every config key of the firmware by name, as fw.schema() merges them (config.py, then
    uplinkcfg.py), each with the description on its line of the source."""
    told = {k.name: k for f in FILES for k in read(FIRMWARE / f)}  # SchemaError when unreadable
    out: dict[str, Key] = {}
    for name, (kind, lo, hi, default, secret) in fw.schema().items():
        k = told.get(name)
        out[name] = Key(name, kind, lo, hi, default, bool(secret), k.meaning if k else "",
                        k.group if k else "", k.source if k else "")
    return out


def unit(key: Key) -> str:
    """The unit a key's value is in, from its name or comment (`rated_w` W, `login_s` s)."""
    if key.name in NAMED_UNITS:
        return NAMED_UNITS[key.name]
    for end, u in UNITS.items():
        if key.name.endswith(end):
            return u
    if "percent" in key.meaning:
        return "%"
    return ""


def describe(key: Key) -> str:
    """Several lines about one key, for `lampctl config describe KEY`."""
    u = unit(key)
    rng = key.kind_text() + (f" {u}" if u and key.kind in ("i", "f") else "")
    lines = [f"{key.name}: {key.meaning or '(no description in the firmware source)'}",
             f"  type:    {rng}",
             f"  default: {key.default_text()}"]
    if key.group:
        lines.append(f"  group:   {key.group}")
    if key.secret:
        lines.append("  secret:  never shown by the board; set it with `lampctl config set "
                     f"{key.name} -` (prompts without echo)")
    if key.source == "uplinkcfg.py":
        lines.append("  network key (lamppost/uplinkcfg.py): used on a post with a broker (mqtt_host)")
    lines.append(f"  source:  firmware/lamppost/{key.source}")
    return "\n".join(lines)


def summary() -> str:
    """One line per key (name, meaning), for `lampctl config --help`."""
    ks = keys()
    w = max(len(n) for n in ks)
    return "\n".join(f"  {n.ljust(w)}  {k.meaning or k.kind_text()}" for n, k in ks.items())


def closest(name: str) -> str | None:
    """The known key nearest to a mistyped one, or None."""
    import difflib
    m = difflib.get_close_matches(name.lower(), list(keys()), n=1, cutoff=0.6)
    return m[0] if m else None
