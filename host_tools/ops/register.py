"""The asset register: posts imported from CSV or TOML; a re-import updates and keeps history.

Columns: the provisioning file's (`id`, `lat`/`latitude`, `lon`/`longitude`, `lamp`,
`rated_w`; its other config columns, secrets such as wifi or cmd_key among them, are
skipped and never stored here) plus the asset columns `municipality` (required), `street`,
`light_point` (pole / light-point number), `cabinet` (cabinet or feeder id), `luminaire`,
`contractor` (lamppost_common/assets.py), so `lampctl provision --from posts.csv` and
`register import posts.csv` read the same file. A file is
checked whole first: one bad row and nothing is written. Every changed field of a
known post is written to post_history with the old and new value and the file.
"""
from __future__ import annotations

import csv
import re

from lamppost_common import assets, fwschema
from lamppost_common.ids import check_post_id
import time
import tomllib
from pathlib import Path

from sqlalchemy import Engine, insert, select, update

from host_tools.ops import schema
from host_tools.ops.config import ID_RE as MUNI_RE

# the columns (lamppost_common/assets.py: one definition with lampctl provision)
FIELDS = assets.FIELDS
ALIASES = assets.ALIASES


def _ignored() -> set[str]:
    """Provisioning columns that are known but not the register's business (secrets among
    them): every key of the firmware's config schema (read from its source) and provision's
    own shorthands, so a `lampctl provision` CSV imports as it is."""
    try:
        keys = set(fwschema.keys())
    except (fwschema.SchemaError, SyntaxError):  # no firmware source beside this install
        keys = set()
    base = {"wifi", "wifi_ssid", "wifi_pass", "broker", "mqtt_user", "mqtt_pass", "cmd_key", "pin",
            "tls", "ca", "tele_period", "tz", "photocell", "schedule"}  # also without the source
    return (keys | base) - set(FIELDS) - {"id"}


IGNORED = _ignored()


class RegisterError(ValueError):
    """A register file that cannot be imported; the message names file, row and field."""


def _rows(path: Path) -> list[tuple[str, dict]]:
    if not path.exists():
        raise RegisterError(f"{path}: no such file")
    if path.suffix == ".toml":
        try:
            data = tomllib.loads(path.read_text())
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
            raise RegisterError(f"{path}: {e}") from None
        base = data.get("defaults", {})
        posts = data.get("post", [])
        if not isinstance(posts, list) or not isinstance(base, dict):
            raise RegisterError(f"{path}: expected [defaults] and [[post]] tables")
        return [(f"{path}: post[{i}]", {**base, **p}) for i, p in enumerate(posts)
                if isinstance(p, dict)]
    if path.suffix == ".csv":
        try:
            with path.open(newline="") as fh:
                return [(f"{path}:{n + 2}", {k.strip(): v.strip() if isinstance(v, str) else v
                                              for k, v in row.items() if k})
                        for n, row in enumerate(csv.DictReader(fh))]
        except (UnicodeDecodeError, csv.Error) as e:
            raise RegisterError(f"{path}: {e}") from None
    raise RegisterError(f"{path}: give a .csv or .toml file of posts")


def _num(where: str, key: str, v, lo: float, hi: float) -> float | None:
    if v is None or v == "":
        return None
    try:
        x = float(v)
    except (TypeError, ValueError):
        raise RegisterError(f"{where}: {key} must be a number, not {v!r}") from None
    if not lo <= x <= hi:
        raise RegisterError(f"{where}: {key} {x:g} outside {lo:g}..{hi:g}")
    return x


def clean_row(where: str, raw: dict) -> dict:
    """One row as register fields, validated; RegisterError names the row and field."""
    row = {}
    for k, v in raw.items():
        k = assets.column(k)
        if k in IGNORED:
            continue
        if k != "id" and k not in FIELDS:
            raise RegisterError(f"{where}: unknown column {k!r} (known: id, {', '.join(FIELDS)})")
        row[k] = v
    pid = row.get("id")
    try:
        check_post_id(pid)  # one post-id rule everywhere (lamppost_common/ids.py)
    except ValueError as e:
        raise RegisterError(f"{where}: {e}") from None
    muni = row.get("municipality")
    if not isinstance(muni, str) or not MUNI_RE.fullmatch(muni):
        raise RegisterError(f"{where}: post {pid}: municipality is required "
                            f"(an id matching {MUNI_RE.pattern})")
    out = {"id": pid, "municipality": muni,
           "lat": _num(where, "lat", row.get("lat"), -90, 90),
           "lon": _num(where, "lon", row.get("lon"), -180, 180),
           "rated_w": _num(where, "rated_w", row.get("rated_w"), 0, 100000)}
    if (out["lat"] is None) != (out["lon"] is None):
        raise RegisterError(f"{where}: post {pid}: give both lat and lon or neither")
    for k in ("street", "light_point", "cabinet", "luminaire", "contractor", "lamp"):
        v = row.get(k)
        if v is not None and not isinstance(v, (str, int)):
            raise RegisterError(f"{where}: post {pid}: {k} must be text")
        v = str(v).strip() if v is not None else ""
        if len(v) > 200 or any(ord(ch) < 32 for ch in v):
            raise RegisterError(f"{where}: post {pid}: {k} too long or has control characters")
        out[k] = v or None
    return out


def import_file(eng: Engine, path: str | Path, now: float | None = None) -> dict:
    """Import a register file; returns counts {added, updated, unchanged, posts}."""
    path = Path(path)
    rows = []
    seen: dict[str, str] = {}
    for where, raw in _rows(path):
        r = clean_row(where, raw)
        if r["id"] in seen:
            raise RegisterError(f"{where}: post {r['id']} also at {seen[r['id']]}")
        seen[r["id"]] = where
        rows.append(r)
    if not rows:
        raise RegisterError(f"{path}: no posts in it")
    now = time.time() if now is None else now
    added = updated = unchanged = 0
    P = schema.posts
    with eng.begin() as c:
        known_m = set(c.execute(select(schema.municipalities.c.id)).scalars())
        for m in sorted({r["municipality"] for r in rows} - known_m):
            c.execute(insert(schema.municipalities).values(id=m, name=m))
        for r in rows:
            old = c.execute(select(P).where(P.c.id == r["id"]).with_for_update()).mappings().first()
            vals = {k: r[k] for k in FIELDS}
            if old is None:
                c.execute(insert(P).values(id=r["id"], imported_at=now, **vals))
                c.execute(insert(schema.post_history).values(
                    post_id=r["id"], at=now, field="*", old=None, new="added", source=str(path)))
                added += 1
                continue
            changed = {k: v for k, v in vals.items() if old[k] != v}
            if not changed:
                unchanged += 1
                continue
            c.execute(update(P).where(P.c.id == r["id"]).values(imported_at=now, **changed))
            for k, v in changed.items():
                c.execute(insert(schema.post_history).values(
                    post_id=r["id"], at=now, field=k, old=None if old[k] is None else str(old[k]),
                    new=None if v is None else str(v), source=str(path)))
            updated += 1
    return {"added": added, "updated": updated, "unchanged": unchanged, "posts": len(rows)}


def history(eng: Engine, post_id: str) -> list[dict]:
    H = schema.post_history
    with eng.connect() as c:
        return [dict(r) for r in c.execute(select(H).where(H.c.post_id == post_id)
                                           .order_by(H.c.id)).mappings()]
