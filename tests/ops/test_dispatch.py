"""Dispatch adapters against local servers of each API (Open311, Signalen, webhook, SMTP with
STARTTLS), the persisted queue with backoff, a contractor down for 24 h, and no double tickets."""
from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from host_tools.ops import config, schema
from host_tools.ops.dispatch import Dispatcher, Open311, Refused, Transient
from tests.ops_servers.open311 import Open311Server
from tests.ops_servers.signalen import SignalenServer
from tests.ops_servers.smtp import SmtpServer
from tests.ops_servers.webhook import WebhookServer

from .helpers import T0, Clock, Post, make_engine, town


@pytest.fixture
def servers(tmp_path):
    s = {"open311": Open311Server(), "signalen": SignalenServer(), "webhook": WebhookServer(),
         "email": SmtpServer(tmp_path)}
    yield s
    for v in s.values():
        v.close()


def cfg_for(servers, which: str, **over) -> dict:
    opts = {
        "open311": {"adapter": "open311", "url": servers["open311"].url, "api_key": "k3y",
                    "jurisdiction_id": "houten.nl", "service_codes": {"lamp": "001", "supply": "002"}},
        "signalen": {"adapter": "signalen", "url": servers["signalen"].url, "token": "t0ken",
                     "source": "lamppost"},
        "webhook": {"adapter": "webhook", "url": servers["webhook"].url + "/orders", "secret": "s3cret"},
        "email": {"adapter": "email", "host": "127.0.0.1", "port": servers["email"].port,
                  "to": "storingen@aannemer.example", "ca_file": str(servers["email"].certs["ca"])},
    }[which]
    opts.update(over)
    return {"municipality": {"houten": {"name": "Houten", "contractor": {"citytec": opts}}}}


def open_orders(db_url, tmp_path, cfg, clock, posts=("HT-0005",), register=None):
    """An order for each of posts (a lamp failure), on the register given or the default town."""
    e = make_engine(db_url, tmp_path, posts=register, cfg=cfg, clock=clock)
    for pid in posts:
        p = Post(e, pid)
        p.switch(True, T0)
        p.alarm("lampFailure", "raised", T0 + 60)
        p.state(T0 + 1000)
    e.tick()
    return e, Dispatcher(e, config.parse(cfg))


def queue(e):
    with e.db.connect() as c:
        return c.execute(select(schema.dispatch)).mappings().all()


@pytest.mark.parametrize("which", ["open311", "signalen", "webhook", "email"])
def test_adapter_delivers_one_ticket_with_pole_and_location(db_url, tmp_path, servers, which):
    clock = Clock()
    e, d = open_orders(db_url, tmp_path, cfg_for(servers, which), clock)
    assert d.run() == {"sent": 1, "retry": 0, "rejected": 0}
    [o] = e.orders()
    assert o["status"] == "dispatched" and o["remote_id"]
    if which == "open311":
        [r] = servers["open311"].requests
        assert r["service_code"] == "001" and r["attributes"] == {"light_point": "LP005"}
        assert abs(r["lat"] - 52.03135) < 1e-6 and r["long"] == 5.16 and "HT-0005" in r["description"]
    elif which == "signalen":
        [s] = servers["signalen"].signals
        assert s["location"]["geometrie"]["coordinates"] == [5.16, 52.03135]
        assert s["category"]["sub_category"].endswith("/sub_categories/lantaarnpaal-straatverlichting")
        assert s["extra_properties"]["extra_straatverlichting_nummer"] == "LP005"
        assert s["incident_date_start"] == "2026-01-15T18:01:00Z"
    elif which == "webhook":
        [t] = servers["webhook"].tickets.values()
        assert t["body"]["order"]["light_point"] == "LP005" and t["body"]["action"] == "create"
    else:
        [(tls, m)] = servers["email"].messages
        assert tls and "HT-0005" in m["Subject"] and "LP005" in m.get_payload()
    assert d.run()["sent"] == 0  # nothing sent twice


@pytest.mark.parametrize("which", ["open311", "signalen", "webhook"])
def test_wrong_credentials_are_refused_and_held_not_retried(db_url, tmp_path, servers, which):
    bad = {"open311": {"api_key": "nope"}, "signalen": {"token": "nope"}, "webhook": {"secret": "nope"}}
    e, d = open_orders(db_url, tmp_path, cfg_for(servers, which, **bad[which]), Clock())
    assert d.run() == {"sent": 0, "retry": 0, "rejected": 1}
    [row] = queue(e)
    assert row["state"] == "rejected" and ("403" in row["last_error"] or "401" in row["last_error"])
    assert e.orders()[0]["status"] == "opened"


def test_open311_service_code_the_contractor_does_not_offer_is_refused_naming_its_services(
        db_url, tmp_path, servers):
    """GET services first: a code missing from the contractor's list is held for the operator
    with the codes it does offer, and no request is posted."""
    e, d = open_orders(db_url, tmp_path, cfg_for(servers, "open311", service_codes={"lamp": "009"}), Clock())
    assert d.run() == {"sent": 0, "retry": 0, "rejected": 1}
    [row] = queue(e)
    assert "service_code 009" in row["last_error"] and "001, 002" in row["last_error"], row["last_error"]
    assert servers["open311"].requests == []


def test_contractors_down_for_a_day_get_every_order_once(db_url, tmp_path, servers):
    """Open311, Signalen and the webhook are all down for 24 h (virtual clock), two orders each;
    when they are back every order is delivered, once, though each server loses the answer to
    its first ticket (the retry finds the ticket instead of making a second)."""
    clock = Clock(T0 + 1000)
    kinds = ["open311", "signalen", "webhook"]
    contractors = {k: cfg_for(servers, k)["municipality"]["houten"]["contractor"]["citytec"] for k in kinds}
    cfg = {"municipality": {"houten": {"name": "Houten", "contractor": contractors}}}
    posts = town(6, cabinet_of=lambda i: f"K{i}")  # a cabinet each: no grouping
    for i, p in enumerate(posts):
        p["contractor"] = kinds[i % 3]
    for k in kinds:
        servers[k].down = True
    e, d = open_orders(db_url, tmp_path, cfg, clock, [p["id"] for p in posts], register=posts)
    tries = 0
    while clock.t < T0 + 1000 + 86400:  # jump the virtual clock to the next due retry
        tries += d.run()["retry"]
        clock.t = max(clock.t + 1, min(r["next_at"] for r in queue(e)))
    assert tries < 6 * 40  # backoff: ~30 attempts each over a day, not one a minute
    for k in kinds:
        servers[k].down = False
        servers[k].lose_next_answer = True
    back = clock.t
    while clock.t < back + 3 * 3600 and {r["state"] for r in queue(e)} != {"sent"}:
        d.run()  # every order within 3 h of its return (retry_max_s 1 h)
        clock.t = max(clock.t + 1, min(r["next_at"] for r in queue(e)))
    assert len(servers["open311"].requests) == 2
    assert len(servers["signalen"].signals) == 2
    assert len(servers["webhook"].tickets) == 2
    assert [o["status"] for o in e.orders()] == ["dispatched"] * 6
    assert {r["state"] for r in queue(e)} == {"sent"}


def test_status_back_from_open311_and_verification(db_url, tmp_path, servers):
    clock = Clock()
    e, d = open_orders(db_url, tmp_path, cfg_for(servers, "open311"), clock)
    d.run()
    [o] = e.orders()
    servers["open311"].close_request(o["remote_id"], "driver replaced")
    assert d.poll() == 1
    assert e.orders()[0]["status"] == "repaired"
    p = Post(e, "HT-0005")
    p.dseq = 10
    p.alarm("lampFailure", "cleared", T0 + 86400)
    e.tick()
    assert e.orders()[0]["status"] == "verified"


def test_status_back_from_signalen_feed(db_url, tmp_path, servers):
    e, d = open_orders(db_url, tmp_path, cfg_for(servers, "signalen"), Clock())
    d.run()
    sid = e.orders()[0]["remote_id"]
    servers["signalen"].set_status("someone-else", "RESOLVED")
    servers["signalen"].set_status(sid, "IN_PROGRESS")
    assert d.poll() == 1 and e.orders()[0]["status"] == "acknowledged"
    servers["signalen"].set_status(sid, "RESOLVED")
    assert d.poll() == 1 and e.orders()[0]["status"] == "repaired"
    assert d.poll() == 0  # the cursor moved on: nothing twice


@given(ids=st.lists(st.text("0123456789abcdef-", min_size=1, max_size=300), max_size=200))
def test_open311_status_batches_keep_every_ticket_once_within_the_url_budget(ids):
    got = list(Open311(config.Contractor("c", "open311", {"url": "http://x"}))._batches(ids))
    assert [i for b in got for i in b] == ids
    for b in got:
        assert 1 <= len(b) <= 50 and (len(b) == 1 or sum(len(i) + 1 for i in b) <= 2000)


def test_open311_status_of_many_tickets_in_few_requests_and_one_gone_holds_back_none(
        db_url, tmp_path, servers):
    """120 open tickets are asked for with the spec's comma-delimited service_request_id, 50 to
    a GET (3 requests, not 120); one deleted at the contractor (a 404 on its own GET) holds
    back none of the others; a server that ignores the parameter and answers only its newest
    requests still has every closed ticket found (the rest asked one by one), and so does one
    that refuses the parameter (asked one by one from then on)."""
    clock = Clock(T0 + 1000)
    cfg = cfg_for(servers, "open311")
    posts = town(120, cabinet_of=lambda i: f"K{i}")  # a cabinet each: an order each
    e, d = open_orders(db_url, tmp_path, cfg, clock, [p["id"] for p in posts], register=posts)
    while d.run()["sent"]:
        pass
    srv = servers["open311"]
    rids = [o["remote_id"] for o in sorted(e.orders(), key=lambda o: int(o["remote_id"]))]
    assert len(rids) == 120 and len(srv.requests) == 120
    srv.delete_request(rids[0])
    for rid in rids[1:11]:
        srv.close_request(rid, "lamp replaced")
    srv.calls.clear()
    assert d.poll() == 10
    gets = [p for m, p in srv.calls if m == "GET"]
    assert len([g for g in gets if g.startswith("/requests.json?")]) == 3, gets
    assert [g for g in gets if g.startswith("/requests/")] == [f"/requests/{rids[0]}.json"]
    status = {o["remote_id"]: o["status"] for o in e.orders()}
    assert [status[r] for r in rids[:12]] == ["dispatched"] + ["repaired"] * 10 + ["dispatched"]

    srv.multi_id, srv.page = "ignored", 50  # ignores the ids: its newest 50 requests
    for rid in rids[20:23] + rids[115:118]:
        srv.close_request(rid, "driver replaced")
    srv.calls.clear()
    assert d.poll() == 6
    status = {o["remote_id"]: o["status"] for o in e.orders()}
    assert [status[r] for r in rids[20:23] + rids[115:118]] == ["repaired"] * 6
    assert sum(status[r] == "repaired" for r in rids) == 16

    srv.multi_id = "refused"  # 400 to the query: one ticket at a time, and no more queries
    srv.close_request(rids[60], "cable repaired")
    assert d.poll() == 1 and {o["remote_id"]: o["status"] for o in e.orders()}[rids[60]] == "repaired"
    srv.calls.clear()
    d.poll()
    assert not [p for m, p in srv.calls if p.startswith("/requests.json")]


_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=8),
                     st.sampled_from(["1", "2", "closed", "open", "service_request_id", "status"]))
_json = st.recursive(_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4),
    st.dictionaries(st.sampled_from(["service_request_id", "status", "status_notes", "x"]), inner, max_size=4)),
    max_leaves=12)


@pytest.mark.parametrize("which", ["open311", "signalen", "webhook"])
def test_any_answer_of_a_contractor_is_taken_retried_or_refused_never_raised(db_url, tmp_path, servers,
                                                                             which, caplog):
    """Whatever JSON a contractor's server answers (with 200) to a create, a find before a retry
    or a status poll, the dispatcher neither raises (which stopped the round: every other
    contractor's orders waited) nor loses the order: its queue row is sent with a ticket id
    in words, or pending for a retry, or rejected for the operator, each with the adapter's
    own reason (not the dispatcher's last-resort "answer not understood")."""
    clock = Clock(T0 + 1000)
    e, d = open_orders(db_url, tmp_path, cfg_for(servers, which), clock)
    srv = servers[which]
    srv.keep = ("/services.json",)  # the service list as documented: the create's answer is the test
    D, O = schema.dispatch, schema.orders

    @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
    @given(answer=_json, attempts=st.integers(0, 2))
    def check(answer, attempts):
        with e.db.begin() as c:
            c.execute(D.update().values(state="pending", next_at=clock.t - 1, attempts=attempts,
                                        remote_id=None, last_error=None))
            c.execute(O.update().values(remote_id="1"))  # polled as an open ticket
        srv.answer = answer
        d.adapters.clear()  # what an adapter cached (Open311's service list) comes from this answer
        caplog.clear()
        d.run()
        d.poll()
        [row] = queue(e)
        assert row["state"] in ("sent", "pending", "rejected"), row
        if row["state"] == "sent":
            assert isinstance(row["remote_id"], str) and row["remote_id"].strip()
        else:
            assert row["last_error"] and "not understood" not in row["last_error"], row["last_error"]
        assert not [r for r in caplog.records if r.levelname == "ERROR"], caplog.text
    check()
