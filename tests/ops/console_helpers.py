"""Helpers for the console tests: two municipalities with posts, orders and accounts, the console
on a free port (uvicorn, as served), and an HTTP client with a cookie jar."""
from __future__ import annotations

import http.cookiejar
import json
import re
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass

from host_tools.ops import register, telemetry
from host_tools.ops.web import accounts
from host_tools.ops.web.app import Settings, create_app
from host_tools.ops.web.server import ConsoleServer

from .helpers import T0, Clock, Post, iso, make_engine, town, write_register

PASSWORD = "lamp-post-2026"
CFG = {"municipality": {"houten": {"name": "Houten"}, "utrecht": {"name": "Utrecht"}}}


def cheap_hashes():
    """argon2id at its lowest cost for the tests' dozens of accounts (the hash names its own
    parameters, so verification is the same code; the service keeps argon2-cffi's defaults)."""
    from argon2 import PasswordHasher
    accounts._hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    accounts._DUMMY = accounts._hasher.hash("not a password of anyone")


def utrecht(n: int = 3) -> list[dict]:
    return [{"id": f"UT-{i:04d}", "municipality": "utrecht", "street": "Oudegracht",
             "light_point": f"U{i:03d}", "cabinet": "UK1", "contractor": "utcrew",
             "lat": round(52.09 + i * 0.0003, 6), "lon": 5.12} for i in range(n)]


class Http:
    """A browser-less client: cookies kept, redirects not followed (the tests look at them)."""

    class _NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *a, **k):
            return None

    def __init__(self, base: str, token: str | None = None):
        self.base, self.token = base, token
        self.jar = http.cookiejar.CookieJar()
        self.op = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar), self._NoRedirect)

    def req(self, method: str, path: str, form: dict | None = None, js=None, headers: dict | None = None):
        h = dict(headers or {})
        data = None
        if form is not None:
            data = urllib.parse.urlencode(form).encode()
            h["Content-Type"] = "application/x-www-form-urlencoded"
        elif js is not None:
            data = json.dumps(js).encode()
            h["Content-Type"] = "application/json"
        if self.token:
            h["Authorization"] = f"Bearer {self.token}"
        r = urllib.request.Request(self.base + path, data=data, method=method, headers=h)
        try:
            with self.op.open(r, timeout=60) as resp:
                return resp.status, resp.read().decode(), dict(resp.headers)
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode(), dict(e.headers)

    def get(self, path, **k):
        return self.req("GET", path, **k)

    def post(self, path, **k):
        return self.req("POST", path, **k)

    def csrf(self, path: str = "/login") -> str:
        _, body, _ = self.get(path)
        return re.search(r'name="csrf" value="([^"]+)"', body).group(1)

    def login(self, user: str, password: str = PASSWORD) -> int:
        tok = self.csrf()
        code, _, _ = self.post("/login", form={"csrf": tok, "username": user, "password": password,
                                               "next": "/"})
        return code


@dataclass
class World:
    url: str
    engine: object
    clock: Clock
    server: ConsoleServer
    orders: dict  # municipality -> an order id of it

    def client(self, user: str | None = None) -> Http:
        h = Http(self.url)
        if user:
            assert h.login(user) == 303, f"login of {user} failed"
        return h


def build_world(db_url, tmp_path, key_dir=None, publish=None, tile_url=None) -> World:
    """houten (6 posts, citytec) and utrecht (3 posts, utcrew), each with one open lamp order,
    one raised alarm, readings and switch events; accounts of every role in both."""
    cheap_hashes()
    clock = Clock()
    e = make_engine(db_url, tmp_path, town(6), cfg=CFG, clock=clock)
    register.import_file(e.db, write_register(tmp_path / "ut.csv", utrecht()))
    for pid in ("HT-0001", "UT-0001"):
        p = Post(e, pid)
        p.switch(True, T0 - 600)
        p.alarm("lampFailure", "raised", T0)
        for k in range(6):
            t = T0 + k * 300
            p._send(f"tele/{pid}/SENSOR", {"Time": iso(t), "ENERGY": {
                "Total": 1.0 + k * 0.01, "operatingHours": 50 + k * 300 / 3600, "Power": 0.5,
                "Voltage": 230 + k, "Current": 0.01, "Factor": 0.5}})
        p.state(T0 + 1000)
    telemetry.maintain(e.db)  # what serve does every minute: the reports read the rollups
    Post(e, "HT-0002").alarm("lampUnexpectedOn", "raised", T0 + 100)
    Post(e, "UT-0002").alarm("lampUnexpectedOn", "raised", T0 + 100)
    clock.t = T0 + 1200
    e.tick()
    orders = {o["municipality"]: o["id"] for o in e.orders()}
    for muni in ("houten", "utrecht"):
        pre = muni[:2]
        for role in ("viewer", "operator", "admin"):
            accounts.add_user(e.db, f"{pre}-{role}", PASSWORD, role, muni)
    accounts.add_user(e.db, "ho-citytec", PASSWORD, "contractor", "houten", "citytec")
    accounts.add_user(e.db, "ho-othercrew", PASSWORD, "contractor", "houten", "othercrew")
    accounts.add_user(e.db, "ut-utcrew", PASSWORD, "contractor", "utrecht", "utcrew")
    st = Settings(session_secret="test-secret", cmd_key_dir=str(key_dir) if key_dir else None,
                  live_interval_s=0.3, tile_url=tile_url)
    srv = ConsoleServer(create_app(e, st, publish)).start()
    return World(srv.url, e, clock, srv, orders)
