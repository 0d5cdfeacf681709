"""The console over HTTP (uvicorn on a free port, SQLite and PostgreSQL): login, sessions,
CSRF, the login rate limit, roles, municipality separation on every route, signed commands
through a real broker, the CSV report, the OpenAPI document, the `user` CLI."""
from __future__ import annotations

import csv
import io
import json
import os
import threading
from types import SimpleNamespace

import paho.mqtt.client as mqtt
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from host_tools.collector.sign import mac_hex
from host_tools.ops.web import accounts
from host_tools.ops.web.commands import CommandError, check, paho_publisher
from simulator.broker import Broker, kind_from_env

from .console_helpers import PASSWORD, Http, build_world

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture
def world(db_url, tmp_path):
    w = build_world(db_url, tmp_path)
    yield w
    w.server.stop()
    w.engine.db.dispose()


def test_login_session_csrf_and_rate_limit(world):
    h = Http(world.url)
    code, _, hdr = h.get("/map")
    assert code == 303 and hdr["location"].startswith("/login")
    assert h.get("/api/v1/fleet")[0] == 401
    # a login without the form's CSRF token is refused even with the right password
    assert h.post("/login", form={"username": "ho-viewer", "password": PASSWORD})[0] == 403
    assert h.login("ho-viewer", "wrong password") == 401
    tok = h.csrf()
    code, _, hdr = h.post("/login", form={"csrf": tok, "username": "ho-viewer", "password": PASSWORD})
    assert code == 303 and hdr["location"] == "/map"
    cookie = hdr["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie  # no script, no cross-site sending
    assert h.get("/map")[0] == 200
    code, body, _ = h.get("/api/v1/me")
    assert json.loads(body) == {"username": "ho-viewer", "role": "viewer", "municipality": "houten",
                                "contractor": None}
    # a state-changing request on the session without its CSRF token: refused
    op = world.client("ho-operator")
    oid = world.orders["houten"]
    assert op.post(f"/orders/{oid}/status", form={"status": "acknowledged"})[0] == 403
    assert op.post(f"/api/v1/orders/{oid}/status", js={"status": "acknowledged"})[0] == 403
    assert op.post(f"/api/v1/orders/{oid}/status", js={"status": "acknowledged"},
                   headers={"X-CSRF-Token": "forged"})[0] == 403
    tok = op.csrf("/map")
    assert op.post(f"/api/v1/orders/{oid}/status", js={"status": "acknowledged"},
                   headers={"X-CSRF-Token": tok})[0] == 200
    # five wrong passwords for a name: the sixth try is refused, the right password too
    bad = Http(world.url)
    for _ in range(5):
        assert bad.login("ho-admin", "guess-guess") == 401
    assert bad.login("ho-admin") == 429
    # no page may be framed by another site (clickjacking a "Mark repaired" or a command)
    for path in ("/login", "/map", "/api/v1/me"):
        hdr = h.get(path)[2]
        assert hdr.get("x-frame-options") == "DENY" and "frame-ancestors 'none'" in hdr.get(
            "content-security-policy", ""), path
    # logout ends the session
    assert h.post("/logout", form={"csrf": h.csrf("/map")})[0] == 303
    assert h.get("/api/v1/me")[0] == 401


def _replay(world, h: Http) -> Http:
    """A second client holding a copy of h's session cookie (another tab, or a stolen cookie)."""
    r = Http(world.url)
    for c in h.jar:
        r.jar.set_cookie(c)
    return r


def test_a_copied_session_cookie_dies_with_logout_password_change_and_disable(world):
    """The cookie is signed, not stored: without a server-side check a copy of it kept working
    for its 8 hours after logout, a password change or a disable and enable."""
    def refused(h: Http, what: str):
        assert h.get("/api/v1/me")[0] == 401, what
        code, _, hdr = h.get("/map")
        assert code == 303 and hdr["location"].startswith("/login"), what

    db = world.engine.db
    h = world.client("ho-viewer")
    copy = _replay(world, h)
    assert copy.get("/api/v1/me")[0] == 200
    assert h.post("/logout", form={"csrf": h.csrf("/map")})[0] == 303
    refused(copy, "cookie replayed after logout")
    assert h.login("ho-viewer") == 303 and h.get("/api/v1/me")[0] == 200  # a new login works
    refused(copy, "old cookie after a new login")

    h = world.client("ho-operator")
    copy = _replay(world, h)
    accounts.set_password(db, "ho-operator", "another-password-1")
    refused(copy, "cookie replayed after a password change")
    refused(h, "the session itself after a password change")
    assert h.login("ho-operator", "another-password-1") == 303 and h.get("/api/v1/me")[0] == 200

    h = world.client("ho-admin")
    copy = _replay(world, h)
    accounts.set_disabled(db, "ho-admin", True)
    accounts.set_disabled(db, "ho-admin", False)
    refused(copy, "cookie replayed after disable and enable")
    assert h.login("ho-admin") == 303 and h.get("/api/v1/me")[0] == 200


def _routes(world):
    """(method, path template) of every route the console serves, static files aside."""
    app = world.server.server.config.app
    out = set()
    for r in app.routes:
        for m in getattr(r, "methods", None) or ():
            if m != "HEAD" and not r.path.startswith(("/static", "/api/docs", "/api/openapi")):
                out.add((m, r.path))
    return out


# what each route does for a user of ANOTHER municipality (fill: that municipality's ids)
FOREIGN = {
    ("GET", "/posts/{pid}"): 404, ("POST", "/posts/{pid}/command"): 404,
    ("GET", "/api/v1/posts/{pid}"): 404, ("POST", "/api/v1/posts/{pid}/commands"): 404,
    ("GET", "/orders/{oid}"): 404, ("POST", "/orders/{oid}/status"): 404,
    ("GET", "/api/v1/orders/{oid}"): 404, ("POST", "/api/v1/orders/{oid}/status"): 404,
}
# routes that list: a user's answer must not name anything of the other municipality
LISTS = [("GET", p) for p in ("/map", "/alarms", "/orders", "/reports", "/reports.csv", "/users",
                              "/api/v1/fleet", "/api/v1/alarms", "/api/v1/orders",
                              "/api/v1/reports", "/api/v1/reports.csv", "/api/v1/me",
                              "/reports?by=cabinet", "/api/v1/reports?by=municipality")]
OTHER = {("GET", "/login"), ("POST", "/login"), ("POST", "/logout"), ("GET", "/"),
         ("GET", "/events"), ("POST", "/users")}


def test_every_route_keeps_municipalities_apart(world):
    """An admin of houten (the widest role) against each of utrecht's posts and orders, on
    every route; the route table is compared with the app's so a new route needs a row here."""
    assert _routes(world) == set(FOREIGN) | {(m, p.split("?")[0]) for m, p in LISTS} | OTHER
    ut_order = world.orders["utrecht"]
    for who in ("ho-admin", "ho-operator"):
        h = world.client(who)
        tok = h.csrf("/map")
        for (m, path), want in FOREIGN.items():
            p = path.format(pid="UT-0001", oid=ut_order)
            if m == "GET":
                code, body, _ = h.get(p)
            elif "/api/" in p:
                code, body, _ = h.post(p, js={"status": "repaired", "command": "Relay", "param": "on"},
                                       headers={"X-CSRF-Token": tok})
            else:
                code, body, _ = h.post(p, form={"csrf": tok, "status": "repaired", "command": "Relay",
                                                "param": "on"})
            assert code == want, (who, m, p, code, body[:200])
        for m, p in LISTS:
            code, body, _ = h.get(p)
            assert code in (200, 403), (who, p, code)
            assert "UT-" not in body and "utrecht" not in body and "Oudegracht" not in body, (who, p)
        code, body, _ = h.get("/api/v1/fleet")
        assert set(json.loads(body)["posts"]["id"]) == {f"HT-{i:04d}" for i in range(6)}
        assert h.get("/api/v1/fleet?municipality=utrecht")[1].count("UT-") == 0
    # nothing of utrecht changed, no command was sent or audited
    o = next(o for o in world.engine.orders() if o["id"] == ut_order)
    assert o["status"] == "opened"
    with world.engine.db.connect() as c:
        from sqlalchemy import func, select

        from host_tools.ops import schema
        assert c.execute(select(func.count()).select_from(schema.commands)).scalar() == 0


def test_roles(world):
    oid = world.orders["houten"]
    v = world.client("ho-viewer")
    tok = v.csrf("/map")
    assert v.post(f"/orders/{oid}/status", form={"csrf": tok, "status": "repaired"})[0] == 403
    assert v.post("/posts/HT-0001/command", form={"csrf": tok, "command": "Relay", "param": "on"})[0] == 403
    assert v.get("/users")[0] == 403
    # a contractor sees only its own orders, nothing of the fleet
    other = world.client("ho-othercrew")
    assert json.loads(other.get("/api/v1/orders")[1]) == []
    assert other.get(f"/orders/{oid}")[0] == 404
    for p in ("/map", "/alarms", "/reports", "/posts/HT-0001", "/api/v1/fleet", "/api/v1/alarms",
              "/api/v1/posts/HT-0001", "/api/v1/reports", "/reports.csv"):
        assert other.get(p)[0] == 403, p
    crew = world.client("ho-citytec")
    [o] = json.loads(crew.get("/api/v1/orders")[1])
    assert o["id"] == oid and o["contractor"] == "citytec" and "sla_due" in o
    code, _, hdr = crew.get("/")
    assert hdr["location"] == "/orders"
    tok = crew.csrf(f"/orders/{oid}")
    assert other.post(f"/orders/{oid}/status", form={"csrf": other.csrf("/orders"),
                                                      "status": "repaired"})[0] == 404
    assert crew.post(f"/orders/{oid}/status", form={"csrf": tok, "status": "repaired",
                                                     "note": "driver replaced"})[0] == 303
    tl = json.loads(crew.get(f"/api/v1/orders/{oid}")[1])["timeline"]
    assert tl[-1]["to"] == "repaired" and "ho-citytec (contractor, citytec): driver replaced" in tl[-1]["cause"]
    # an admin adds an account in its own municipality only
    a = world.client("ho-admin")
    tok = a.csrf("/users")
    assert a.post("/users", form={"csrf": tok, "username": "ho-new", "role": "viewer",
                                  "password": "a long password"})[0] == 303
    assert [u["municipality"] for u in accounts.list_users(world.engine.db) if u["username"] == "ho-new"] == ["houten"]


def test_bearer_token_for_scripts_needs_no_csrf(world):
    tok = accounts.new_token(world.engine.db, "ho-operator")
    h = Http(world.url, token=tok)
    assert json.loads(h.get("/api/v1/me")[1])["username"] == "ho-operator"
    code, body, _ = h.post(f"/api/v1/orders/{world.orders['houten']}/status", js={"status": "acknowledged"})
    assert code == 200, body
    assert Http(world.url, token="lpo_" + "x" * 43).get("/api/v1/me")[0] == 401
    accounts.set_disabled(world.engine.db, "ho-operator", True)
    assert h.get("/api/v1/me")[0] == 401
    spec = json.loads(Http(world.url).get("/api/openapi.json")[1])
    assert {"/api/v1/fleet", "/api/v1/orders/{oid}/status", "/api/v1/posts/{pid}/commands",
            "/api/v1/reports"} <= set(spec["paths"])


def test_api_tokens_die_with_a_password_change_and_a_disable(world):
    """A token is a credential like the password: one that leaked with it stops working when
    the password is changed, and a disable revokes it for good (enabling brings none back)."""
    db = world.engine.db
    tok, other = accounts.new_token(db, "ho-operator"), accounts.new_token(db, "ho-viewer")
    h = Http(world.url, token=tok)
    assert h.get("/api/v1/me")[0] == 200
    accounts.set_password(db, "ho-operator", "a brand new password")
    assert h.get("/api/v1/me")[0] == 401
    assert accounts.token_user(db, tok) is None
    tok2 = accounts.new_token(db, "ho-operator")  # a new token after the change works
    assert Http(world.url, token=tok2).get("/api/v1/me")[0] == 200
    accounts.set_disabled(db, "ho-operator", True)
    accounts.set_disabled(db, "ho-operator", False)
    assert Http(world.url, token=tok2).get("/api/v1/me")[0] == 401
    # another account's token is not touched
    assert json.loads(Http(world.url, token=other).get("/api/v1/me")[1])["username"] == "ho-viewer"


def test_post_page_data_and_report_csv(world):
    h = world.client("ho-viewer")
    p = json.loads(h.get("/api/v1/posts/HT-0001")[1])
    assert p["readings"]["voltage_v"] == 235.0 and len(p["history"]["t"]) == 6
    assert p["per_day"][0]["energy_kwh"] == pytest.approx(0.05)
    assert p["per_day"][0]["burning_h"] > 0
    assert [a["alarm"] for a in p["alarms"] if a["raised"]] == ["lampFailure"]
    assert "cmd_key" not in json.dumps(p["config"]) and p["config"]["light_point"] == "LP001"
    code, body, hdr = h.get("/reports.csv?by=cabinet")
    assert code == 200 and hdr["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(body)))
    k1 = next(r for r in rows if r["cabinet"] == "K1")
    assert k1["faults_reported"] == "1" and float(k1["energy_kwh"]) == pytest.approx(0.05)
    assert "<svg" in h.get("/posts/HT-0001")[1]
    assert p["updates"] == []
    # a firmware rollout of two municipalities' posts: each post page shows its own verdict
    from host_tools.ops.rollout import Rollout
    r = Rollout.start(None, SimpleNamespace(version="0.2.0"), ["HT-0001", "UT-0001"], world.engine.db)
    r.states["HT-0001"].update(state="rolledBack", why="trial failed to run")
    r._save(["HT-0001"])
    [u] = json.loads(h.get("/api/v1/posts/HT-0001")[1])["updates"]
    assert (u["rollout"], u["version"], u["state"], u["why"], u["rollout_state"]) == (
        r.id, "0.2.0", "rolledBack", "trial failed to run", "running")
    assert "trial failed to run" in h.get("/posts/HT-0001")[1]
    assert h.get("/api/v1/posts/UT-0001")[0] == 404  # the other municipality's post: not there
    # text from outside (the register, a query string) is escaped on every page
    from sqlalchemy import update

    from host_tools.ops import schema
    with world.engine.db.begin() as c:
        c.execute(update(schema.posts).where(schema.posts.c.id == "HT-0001")
                  .values(street="<script>alert(1)</script>"))
    for path in ("/posts/HT-0001?msg=<b>x</b>", "/alarms", "/map"):
        body = h.get(path)[1]
        assert "<script>alert" not in body and "<b>x</b>" not in body, path
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in h.get("/posts/HT-0001")[1]


def test_map_filters_alarm_ages_and_overdue_orders(world):
    """What the lighting officer filters and reads: the map's street, cabinet and state filters,
    the alarms' age (oldest first), an order turning overdue once its SLA time has passed."""
    h = world.client("ho-viewer")

    def ids(q):
        return sorted(json.loads(h.get("/api/v1/fleet" + q)[1])["posts"]["id"])
    assert ids("?cabinet=K2") == ["HT-0004", "HT-0005"]
    assert ids("?street=Lindelaan") == [f"HT-{i:04d}" for i in range(6)] and ids("?street=Elders") == []
    assert ids("?state=alarm") == ["HT-0001", "HT-0002"]
    assert ids("?state=alarm&cabinet=K2") == []
    al = json.loads(h.get("/api/v1/alarms")[1])
    assert [(a["post_id"], a["alarm"]) for a in al] == [("HT-0001", "lampFailure"), ("HT-0002", "lampUnexpectedOn")]
    assert al[0]["age_s"] >= 1000  # raised at T0, the post has reported until T0 + 1000 s
    [o] = json.loads(h.get("/api/v1/orders")[1])
    assert o["overdue"] is False and o["sla_due_at"] > o["opened_at"]
    assert "<strong>overdue</strong>" not in h.get("/orders")[1]
    world.clock.t = o["sla_due_at"] + 60
    [o] = json.loads(h.get("/api/v1/orders")[1])
    assert o["overdue"] is True
    assert "<strong>overdue</strong>" in h.get("/orders")[1]


def test_signed_command_reaches_the_broker_and_is_audited(db_url, tmp_path):
    keys = tmp_path / "keys"
    keys.mkdir()
    (keys / "HT-0001.key").write_text("s3cret-key-of-HT-0001\n")
    with Broker(kind_from_env()) as b:
        got, seen = threading.Event(), []
        sub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"sub-{b.port}")
        sub.on_message = lambda c, u, m: (seen.append((m.topic, m.payload)), got.set())
        sub.on_connect = lambda c, *a: c.subscribe("cmnd/#", 1)
        sub.connect(b.host, b.port)
        sub.loop_start()
        pub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"console-{b.port}")
        pub.connect(b.host, b.port)
        pub.loop_start()
        w = build_world(db_url, tmp_path, key_dir=keys, publish=paho_publisher(pub))
        try:
            op = w.client("ho-operator")
            tok = op.csrf("/posts/HT-0001")
            code, body, _ = op.post("/api/v1/posts/HT-0001/commands", js={"command": "Dim", "param": "40"},
                                    headers={"X-CSRF-Token": tok})
            assert code == 200 and json.loads(body)["result"] == "published", body
            assert got.wait(30)
            topic, payload = seen[0]
            d = json.loads(payload)
            assert topic == "cmnd/HT-0001/Dim" and d["param"] == "40"
            assert d["mac"] == mac_hex("s3cret-key-of-HT-0001", "HT-0001", "Dim", "40", d["ctr"])
            # refused before sending: no key for this post, a bad parameter
            code, body, _ = op.post("/api/v1/posts/HT-0002/commands", js={"command": "Relay", "param": "on"},
                                    headers={"X-CSRF-Token": tok})
            assert json.loads(body)["result"].startswith("refused: no command key")
            assert op.post("/api/v1/posts/HT-0001/commands", js={"command": "Reboot", "param": ""},
                           headers={"X-CSRF-Token": tok})[0] == 422
            assert op.post("/posts/HT-0001/command", form={"csrf": tok, "command": "SelfTest"})[0] == 303
            cmds = json.loads(op.get("/api/v1/posts/HT-0001")[1])["commands"]
            assert [(c["command"], c["username"], c["result"]) for c in cmds] == [
                ("SelfTest", "ho-operator", "published"), ("Dim", "ho-operator", "published")]
            assert cmds[0]["ctr"] > cmds[1]["ctr"]  # never a replayed counter
        finally:
            w.server.stop()
            w.engine.db.dispose()
            for c in (sub, pub):
                c.loop_stop()
                c.disconnect()


@settings(max_examples=100, deadline=None)
@given(st.sampled_from(["Relay", "Dim", "SelfTest", "Reboot", "relay", ""]), st.text(max_size=12))
def test_command_parameters_are_checked_before_signing(command, param):
    try:
        p = check(command, param)
    except CommandError:
        return
    assert command in ("Relay", "Dim", "SelfTest")
    if command == "Dim":
        assert p == "auto" or 0 <= int(p) <= 100
    else:
        assert p in ("on", "off", "auto", "")


@settings(max_examples=50, deadline=None)
@given(st.lists(st.sampled_from(["a", "b"]), max_size=20))
def test_login_limiter_counts_failures_per_key(fails):
    t = [0.0]
    lim = accounts.LoginLimiter(limit=3, window_s=60, clock=lambda: t[0])
    for k in fails:
        lim.failed(k)
        t[0] += 1
    for k in ("a", "b"):
        assert bool(lim.blocked(k)) == (fails.count(k) >= 3)
    t[0] += 61
    assert not lim.blocked("a") and not lim.blocked("b")


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 10 * 86400), st.one_of(st.none(), st.floats(0, 1e5))), max_size=30))
def test_energy_per_day_is_never_negative_even_across_a_counter_reset(readings):
    from host_tools.ops.web.views import energy_per_day
    per = energy_per_day(readings)
    assert all(v >= 0 for v in per.values())
    totals = [v for _, v in sorted((t, v) for t, v in readings if v is not None)]
    if totals and all(b >= a for a, b in zip(totals, totals[1:])):  # no reset: the counter's rise
        assert sum(per.values()) == pytest.approx(totals[-1] - totals[0], abs=1e-6)


def test_user_cli_takes_the_password_from_a_file_or_the_environment(tmp_path, monkeypatch, capsys):
    from host_tools.ops.cli import main
    dbf = str(tmp_path / "ops.sqlite")
    pw = tmp_path / "pw"
    pw.write_text("a very long password\n")
    monkeypatch.delenv("LAMPPOST_OPS_PASSWORD", raising=False)
    assert main(["--db", dbf, "user", "add", "kim", "--role", "operator", "--municipality", "houten",
                 "--password-file", str(pw)]) == 0
    monkeypatch.setenv("LAMPPOST_OPS_PASSWORD", "another long password")
    assert main(["--db", dbf, "user", "add", "crew", "--role", "contractor", "--municipality", "houten",
                 "--contractor", "citytec"]) == 0
    capsys.readouterr()
    assert main(["--db", dbf, "user", "add", "eve", "--role", "viewer", "--municipality", "houten",
                 "--password", "on the command line"]) == 2
    assert "refused" in capsys.readouterr().err
    monkeypatch.setenv("LAMPPOST_OPS_PASSWORD", "short")
    assert main(["--db", dbf, "user", "add", "short", "--role", "viewer", "--municipality", "houten"]) == 1
    assert "at least 10" in capsys.readouterr().err
    assert main(["--db", dbf, "user", "add", "crew2", "--role", "viewer", "--municipality", "houten",
                 "--contractor", "citytec"]) == 1  # only a contractor account names a contractor
    capsys.readouterr()
    assert main(["--db", dbf, "--json", "user", "list"]) == 0
    users = json.loads(capsys.readouterr().out)
    assert [(u["username"], u["role"]) for u in users] == [("crew", "contractor"), ("kim", "operator")]
    assert main(["--db", dbf, "--json", "user", "token", "kim"]) == 0
    tok = json.loads(capsys.readouterr().out)["token"]
    from host_tools.ops import db
    eng = db.open_db(dbf)
    assert accounts.token_user(eng, tok).username == "kim"
    assert accounts.authenticate(eng, "kim", "a very long password").role == "operator"
    assert accounts.authenticate(eng, "kim", "a very long passwor") is None
    assert accounts.authenticate(eng, "nobody", "a very long password") is None
    assert main(["--db", dbf, "user", "disable", "kim"]) == 0
    assert accounts.authenticate(eng, "kim", "a very long password") is None


def _listen(h: Http, path: str = "/events"):
    """Read a server-sent event stream in a thread; returns (events list, ready event, response)."""
    import urllib.request as ur
    events, ready = [], threading.Event()
    resp = h.op.open(ur.Request(h.base + path, headers={"Accept": "text/event-stream"}), timeout=60)

    def run():
        try:
            for raw in resp:
                line = raw.decode().rstrip("\r\n")
                if line.startswith("data: "):
                    d = json.loads(line[6:])
                    if d.get("type") == "hello":
                        ready.set()
                    events.append(d)
        except (OSError, ValueError, AttributeError):  # closed by the test (http.client drops fp)
            pass
    threading.Thread(target=run, daemon=True).start()
    return events, ready, resp


def test_live_events_reach_only_those_allowed_to_see_them(world):
    import time

    from .helpers import T0, Post
    ho, ut, crew = world.client("ho-viewer"), world.client("ut-viewer"), world.client("ho-othercrew")
    streams = {n: _listen(h) for n, h in (("ho", ho), ("ut", ut), ("crew", crew))}
    for n, (_, ready, _) in streams.items():
        assert ready.wait(30), n
    time.sleep(1.0)  # the feed's cursor is past everything older
    Post(world.engine, "HT-0003").alarm("lampFailure", "raised", T0 + 50)
    Post(world.engine, "UT-0000").alarm("lampFailure", "raised", T0 + 50)
    assert world.engine.contractor_update(world.orders["houten"], "acknowledged", "crew by phone")
    end = time.monotonic() + 30
    while time.monotonic() < end and not (
            any(e.get("type") == "order" for e in streams["ho"][0])
            and any(e.get("type") == "alarm" for e in streams["ut"][0])):
        time.sleep(0.2)
    time.sleep(1.0)  # a wrong event would have arrived by now as well
    ho_ev, ut_ev, crew_ev = (streams[n][0] for n in ("ho", "ut", "crew"))
    assert [(e["post_id"], e["post_states"]) for e in ho_ev if e["type"] == "alarm"] == [
        ("HT-0003", {"HT-0003": "alarm"})]
    assert [e["order_id"] for e in ho_ev if e["type"] == "order"] == [world.orders["houten"]]
    assert [e["post_id"] for e in ut_ev if e["type"] == "alarm"] == ["UT-0000"]
    assert not [e for e in ut_ev if e["type"] == "order"]
    assert [e["type"] for e in crew_ev] == ["hello"]  # another contractor's order, and no alarms
    # the streams end with the server (the fixture stops it; a close here would wait for a ping)


def test_a_disabled_account_gets_no_more_live_events(world):
    """An open event stream is no way around disabling an account: its next event ends it."""
    import time

    from .helpers import T0, Post
    still, gone = world.client("ho-viewer"), world.client("ho-operator")
    streams = {n: _listen(h) for n, h in (("still", still), ("gone", gone))}
    for n, (_, ready, _) in streams.items():
        assert ready.wait(30), n
    time.sleep(1.0)  # the feed's cursor is past everything older
    accounts.set_disabled(world.engine.db, "ho-operator", True)
    Post(world.engine, "HT-0003").alarm("lampFailure", "raised", T0 + 50)
    end = time.monotonic() + 30
    while time.monotonic() < end and not any(e.get("type") == "alarm" for e in streams["still"][0]):
        time.sleep(0.2)
    time.sleep(1.0)  # the disabled one's event would have arrived by now as well
    assert [e["post_id"] for e in streams["still"][0] if e["type"] == "alarm"] == ["HT-0003"]
    assert [e["type"] for e in streams["gone"][0]] == ["hello"]


def test_logout_ends_the_live_event_stream_of_a_copied_cookie(world):
    """An event stream opened with a copy of the cookie stops once the session is logged out."""
    import time

    from .helpers import T0, Post
    still, h = world.client("ho-operator"), world.client("ho-viewer")
    streams = {"still": _listen(still), "gone": _listen(_replay(world, h))}
    for n, (_, ready, _) in streams.items():
        assert ready.wait(30), n
    time.sleep(1.0)  # the feed's cursor is past everything older
    assert h.post("/logout", form={"csrf": h.csrf("/map")})[0] == 303
    Post(world.engine, "HT-0003").alarm("lampFailure", "raised", T0 + 50)
    end = time.monotonic() + 30
    while time.monotonic() < end and not any(e.get("type") == "alarm" for e in streams["still"][0]):
        time.sleep(0.2)
    time.sleep(1.0)  # the logged-out one's event would have arrived by now as well
    assert [e["post_id"] for e in streams["still"][0] if e["type"] == "alarm"] == ["HT-0003"]
    assert [e["type"] for e in streams["gone"][0]] == ["hello"]


def test_console_subcommand_serves_the_console_alone(tmp_path):
    """`lamppost-ops console`: the console without ingest, beside a serve elsewhere."""
    import time
    import urllib.request

    from host_tools.ops.cli import main
    from simulator.broker import free_port
    port = free_port()
    rc = []
    t = threading.Thread(target=lambda: rc.append(main(
        ["--db", str(tmp_path / "ops.sqlite"), "console", "--listen", f"127.0.0.1:{port}", "--for", "8"])))
    t.start()
    body, end = None, time.monotonic() + 60
    while body is None and time.monotonic() < end:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/login", timeout=5) as r:
                body = r.read().decode()
        except OSError:
            time.sleep(0.2)
    t.join(60)
    assert body and "Log in" in body
    assert rc == [0]
    assert main(["--db", str(tmp_path / "ops.sqlite"), "console", "--listen", "nowhere"]) == 1


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(pid=st.text(min_size=1, max_size=40), oid=st.integers(-2**63, 2**63),
       name=st.text(max_size=80), pw=st.text(max_size=80))
@example(pid="0/", oid=0, name="", pw="")  # a trailing slash once redirected to post "0"'s page
@example(pid="x", oid=1, name="\x00", pw="")  # PostgreSQL refuses a NUL: once a 500 at login
def test_any_id_or_login_input_gets_a_clear_answer_never_a_crash(world, pid, oid, name, pw):
    """Whatever a client puts in a path or the login form: 401/404/422/303, never a 500, and
    nothing of another municipality."""
    import urllib.parse
    h = world.client("ho-operator") if not hasattr(world, "_op") else world._op
    world._op = h
    q = urllib.parse.quote(pid, safe="")
    for path in (f"/api/v1/posts/{q}", f"/posts/{q}", f"/api/v1/orders/{oid}", f"/orders/{oid}"):
        code, body, _ = h.get(path)
        assert code in (200, 404, 422), (path, code, body[:200])
        assert "UT-" not in body and "utrecht" not in body
    anon = Http(world.url)
    code, _, _ = anon.post("/login", form={"csrf": anon.csrf(), "username": name, "password": pw})
    assert code in (401, 429, 303)
