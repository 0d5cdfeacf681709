"""Town scenarios (TOML, format version 2): many posts on cabinets, one run window, faults
on posts and on cabinets. Reference: docs/town.md.

A version-1 file (one `[post]`) is not read here: `load_any` hands it to
simulator/scenario.py unchanged. Every field is checked with that loader's validators and
errors name the file, line and field the same way.
"""
from __future__ import annotations

import math
import random
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from lamppost_common.ids import check_post_id
from simulator import scenario as s1
from simulator.scenario import ScenarioError
from simulator.scenario_types import CAUSES, LAMPS, PHOTOCELL_CAUSES, SENSORS, Fault, Post, Scenario

FORMAT_VERSION = 2
MAX_POSTS = 500  # each post is its own MicroPython process
# cabinet-level causes: the fault every post on the cabinet gets, and the order expected
CABINET_CAUSES = {"cabinet_loss": "mains_loss", "cabinet_sag": "supply_sag"}
CABINET_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,31}")
POST_KEYS = ("id", "cabinet", "lamp", "rated_w", "latitude", "longitude", "sensor", "holdup_s",
             "strings", "ct_a", "photocell")
SPACING_M = 30.0  # generated fleet: posts along a street from their cabinet, this far apart
_TABLES = ("version", "town", "post", "run", "fault", "supply", "firmware", "climate", "expect")


@dataclass
class TownFault:
    kind: str  # a scenario.CAUSES kind, or cabinet_loss / cabinet_sag
    at: int
    until: int | None
    params: dict
    post: str | None = None  # the post it is on, or
    cabinet: str | None = None  # the cabinet (cabinet_loss, cabinet_sag)


@dataclass
class TownPost:
    cabinet: str
    scenario: Scenario  # this post's own version-1 scenario (its faults, the town's run)

    @property
    def id(self) -> str:
        return self.scenario.post.id


@dataclass
class Town:
    path: str
    start: int
    duration: int
    seed: int
    posts: list[TownPost]
    faults: list[TownFault]
    cabinets: dict[str, tuple[float, float]] = field(default_factory=dict)  # id -> lat, lon
    supply: dict = field(default_factory=dict)

    @property
    def end(self) -> int:
        return self.start + self.duration


def _cabinet(v):
    if not isinstance(v, str) or not CABINET_RE.fullmatch(v):
        raise ValueError(f"{s1._show(v)} is not a cabinet id (1-32 letters, digits, '-', '_')")
    return v


def _count(lo, hi):
    def conv(v):
        v = s1._int(v)
        if not lo <= v <= hi:
            raise ValueError(f"{v} is outside {lo}..{hi}")
        return v
    return conv


def _offset(lat: float, lon: float, north_m: float, east_m: float) -> tuple[float, float]:
    lat2 = lat + north_m / 111_320.0
    lon2 = lon + east_m / (111_320.0 * max(0.01, math.cos(math.radians(lat))))
    return round(max(-90.0, min(90.0, lat2)), 6), round((lon2 + 180.0) % 360.0 - 180.0, 6)


def _post(rd, t: dict, i: int, defaults: dict) -> tuple[Post, str]:
    """One [[post]] table (over the generated defaults) as a Post and its cabinet."""
    _keys = {**defaults, **t}
    for key in t:
        if key not in POST_KEYS:
            rd.fail("post", key, f"unknown key (known: {', '.join(POST_KEYS)})", i)
    g = lambda key, conv, default=...: rd.get(_keys, "post", key, conv, default, index=i)  # noqa: E731
    p = Post(id=g("id", check_post_id), lamp=g("lamp", s1._choice(LAMPS), "led"),
             rated_w=g("rated_w", s1._number(1, 2000), 60.0),
             latitude=g("latitude", s1._number(-90, 90), 52.03),
             longitude=g("longitude", s1._number(-180, 180), 5.56),
             sensor=g("sensor", s1._choice(SENSORS), "ideal"),
             holdup_s=g("holdup_s", s1._number(0, 60), 2.0),
             strings=int(g("strings", s1._number(1, 64), 4)),
             ct_a=g("ct_a", s1._number(0, 500), 0.0),
             photocell=g("photocell", s1._bool, False))
    return p, g("cabinet", _cabinet)


def _fleet(rd, town: dict) -> tuple[list[dict], dict]:
    """A generated fleet: `posts` posts on `cabinets` cabinets placed in the area by `seed`."""
    n = rd.get(town, "town", "posts", _count(1, MAX_POSTS))
    k = rd.get(town, "town", "cabinets", _count(1, MAX_POSTS), 1)
    if k > n:
        rd.fail("town", "cabinets", f"{k} cabinets for {n} posts: every cabinet feeds a post")
    seed = rd.get(town, "town", "seed", s1._seed, 1)
    lat = rd.get(town, "town", "latitude", s1._number(-89, 89), 52.03)
    lon = rd.get(town, "town", "longitude", s1._number(-180, 180), 5.56)
    radius = rd.get(town, "town", "radius_m", s1._number(10, 50_000), 1000.0)
    prefix = rd.get(town, "town", "prefix", s1._text, "T")
    rng = random.Random(seed)
    cabinets, rows = {}, []
    for c in range(k):
        r, a = radius * math.sqrt(rng.random()), rng.random() * 2 * math.pi
        cid = f"C{c + 1}"
        cabinets[cid] = _offset(lat, lon, r * math.cos(a), r * math.sin(a))
        heading = rng.random() * 2 * math.pi  # the cabinet's street
        members = [i for i in range(n) if i * k // n == c]
        for j, i in enumerate(members):
            d = SPACING_M * (j + 1)
            plat, plon = _offset(*cabinets[cid], d * math.cos(heading), d * math.sin(heading))
            rows.append({"id": f"{prefix}-{i + 1:04d}", "cabinet": cid, "latitude": plat,
                         "longitude": plon})
    try:
        check_post_id(f"{prefix}-{n:04d}")
    except ValueError as e:
        rd.fail("town", "prefix", str(e))
    return rows, cabinets


def loads(text: str, path: str = "<town>") -> Town:
    """The town in text (format version 2); ScenarioError `file[:line]: field: why` otherwise."""
    doc = s1.parse_toml(text, path)
    rd = s1._Reader(path, text)
    for key in doc:
        if key not in _TABLES:
            rd.top(key, "unknown table (expected version, [town], [[post]], [run], [supply], "
                        "[climate], [firmware], [expect], [[fault]])")
    if doc.get("version", FORMAT_VERSION) != FORMAT_VERSION:
        rd.top("version", f"{s1._show(doc['version'])}: this loader reads version {FORMAT_VERSION}")
    town_t = rd.table(doc, "town")
    raw_posts = rd.tables(doc, "post")
    run_t = rd.table(doc, "run", required=True)
    if bool(raw_posts) == ("posts" in town_t):
        rd.top("town", "give either [town] posts = N (a generated fleet) or [[post]] tables, one of them")
    if raw_posts:
        s1._known(rd, town_t, "town", ())
        rows, cabinets = raw_posts, {}
        defaults = {}
    else:
        s1._known(rd, town_t, "town", ("posts", "cabinets", "seed", "latitude", "longitude",
                                       "radius_m", "prefix", "lamp", "rated_w", "sensor"))
        rows, cabinets = _fleet(rd, town_t)
        defaults = {k: town_t[k] for k in ("lamp", "rated_w", "sensor") if k in town_t}
    posts: list[tuple[Post, str]] = []
    seen = set()
    for i, row in enumerate(rows):
        p, cab = _post(rd, {**defaults, **row} if not raw_posts else row, i, {})
        if p.id in seen:
            rd.fail("post", "id", f"{p.id} is given twice", i)
        seen.add(p.id)
        posts.append((p, cab))
        if cab not in cabinets:  # an explicit town: the cabinet sits at its first post
            cabinets[cab] = (p.latitude, p.longitude)
    s1._known(rd, run_t, "run", ("start", "duration", "seed"))
    start = rd.get(run_t, "run", "start", s1._when)
    duration = rd.get(run_t, "run", "duration", s1.parse_duration)
    if duration <= 0:
        rd.fail("run", "duration", "must be longer than zero")
    if start + duration > s1.TIME_MAX:
        rd.fail("run", "duration", "the run would end after 2099 (the firmware's clock)")
    seed = rd.get(run_t, "run", "seed", s1._seed, 1)
    supply = s1._supply(rd, rd.table(doc, "supply"))
    supply.setdefault("nominal_v", 230.0)
    supply.setdefault("hz", 50.0)
    fw = s1._firmware(rd, rd.table(doc, "firmware"))
    climate = s1._climate(rd, rd.table(doc, "climate") if "climate" in doc else None)
    expect = s1._expect(rd, rd.table(doc, "expect"))
    by_id = {p.id: (p, cab) for p, cab in posts}
    faults: list[TownFault] = []
    for i, ft in enumerate(rd.tables(doc, "fault")):
        kind = rd.get(ft, "fault", "kind", s1._choice(tuple(CAUSES) + tuple(CABINET_CAUSES)), index=i)
        if ("post" in ft) == ("cabinet" in ft):
            rd.fail("fault", "kind", "name the post (post = \"ID\") or the cabinet (cabinet = \"C1\"), "
                    "one of them", i)
        where_post = rd.get(ft, "fault", "post", s1._text, None, index=i)
        where_cab = rd.get(ft, "fault", "cabinet", _cabinet, None, index=i)
        if where_post is not None and where_post not in by_id:
            rd.fail("fault", "post", f"{where_post!r} is not a post of this town", i)
        if where_cab is not None and where_cab not in cabinets:
            rd.fail("fault", "cabinet", f"{where_cab!r} is not a cabinet of this town", i)
        if (where_cab is not None) != (kind in CABINET_CAUSES):
            rd.fail("fault", "kind", f"{kind} is a {'cabinet' if kind in CABINET_CAUSES else 'post'} "
                    f"fault: give {'cabinet' if kind in CABINET_CAUSES else 'post'} = \"ID\"", i)
        if kind in PHOTOCELL_CAUSES and not by_id[where_post][0].photocell:
            rd.fail("fault", "kind", f"{kind} needs a photocell: set photocell = true on the post", i)
        at, until, params = s1.fault_fields(rd, ft, i, kind, CABINET_CAUSES.get(kind, kind),
                                            ("kind", "at", "until", "post", "cabinet"))
        faults.append(TownFault(kind, at, until, params, where_post, where_cab))
    out = []
    for n, (p, cab) in enumerate(posts):
        mine = [Fault(CABINET_CAUSES.get(f.kind, f.kind), f.at, f.until, dict(f.params))
                for f in faults if f.post == p.id or f.cabinet == cab]
        p.nominal_v, p.hz = supply["nominal_v"] if 100 <= supply["nominal_v"] <= 277 else 230.0, \
            60 if supply["hz"] >= 55 else 50
        sc = Scenario(path, p, start, duration, (seed + 7919 * (n + 1)) % (s1.SEED_MAX + 1), mine,
                      dict(supply), dict(fw), [], climate, expect)
        out.append(TownPost(cab, sc))
    return Town(path, start, duration, seed, out, faults, cabinets, supply)


def is_town(doc: dict) -> bool:
    """A version-2 document: `version = 2`, a [town] table or [[post]] tables."""
    return "version" in doc or "town" in doc or isinstance(doc.get("post"), list)


def load_any(path: str | Path) -> Scenario | Town:
    """A town (version 2) or, for anything else, the version-1 loader's Scenario, unchanged."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ScenarioError(f"{p}: cannot read: {e}") from None
    try:
        doc = tomllib.loads(text)
    except (tomllib.TOMLDecodeError, ValueError, RecursionError, MemoryError):
        doc = {}  # the version-1 loader names the syntax error
    if isinstance(doc, dict) and is_town(doc):
        return loads(text, str(p))
    return s1.loads(text, str(p))


def load(path: str | Path) -> Town:
    """A town file; a version-1 file is a ScenarioError here (run it with `lamppost-sim run`)."""
    got = load_any(path)
    if not isinstance(got, Town):
        raise ScenarioError(f"{path}: a version-1 scenario (one [post]): run it with `lamppost-sim run`")
    return got
