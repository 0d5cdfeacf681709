"""Contractors' signed status updates (POST /inbound/<municipality>/<contractor>): applied once,
bad signatures refused and counted, another contractor's or municipality's order out of reach.
On SQLite and PostgreSQL through the plain function; over HTTP in tests/ops/test_serve.py."""
from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings, strategies as st
from sqlalchemy import select

from host_tools.ops import schema
from host_tools.ops.inbound import parse_update, sign, signature_ok, status_update

from .helpers import T0, Clock, Post, make_engine, town

CFG = {"municipality": {
    "houten": {"name": "Houten", "contractor": {
        "citytec": {"adapter": "webhook", "url": "http://127.0.0.1:9/x", "secret": "s3cret"},
        "smid": {"adapter": "email", "host": "127.0.0.1", "to": "x@smid.example", "secret": "sm1d"}}},
    "utrecht": {"name": "Utrecht", "contractor": {
        "citytec": {"adapter": "webhook", "url": "http://127.0.0.1:9/y", "secret": "other"}}}}}


def posts():
    ps = town(6)
    ps.append({**ps[0], "id": "UT-0001", "municipality": "utrecht"})
    return ps


def lamp_order(e, pid):
    p = Post(e, pid)
    p.alarm("lampFailure", "raised", T0)
    p.state(T0 + 1000)
    e.tick()
    return next(o["id"] for o in e.orders() if o["post_id"] == pid)


def post(e, muni, contractor, update: dict, secret: str):
    body = json.dumps(update).encode()
    return status_update(e, muni, contractor, sign(secret, body), body)


def counter(e, name):
    with e.db.connect() as c:
        return c.execute(select(schema.counters.c.value).where(schema.counters.c.name == name)).scalar() or 0


def test_signed_updates_move_the_order_once(db_url, tmp_path):
    e = make_engine(db_url, tmp_path, posts=posts(), cfg=CFG, clock=Clock())
    oid = lamp_order(e, "HT-0005")
    ack = {"event_id": "ct-1", "order": oid, "status": "acknowledged", "cause": "crew planned"}
    assert post(e, "houten", "citytec", ack, "s3cret") == \
        (200, {"order": oid, "status": "acknowledged", "result": "applied"})
    assert post(e, "houten", "citytec", ack, "s3cret")[1]["result"] == "duplicate"  # a resend
    rep = {"event_id": "ct-2", "order": oid, "status": "repaired"}
    assert post(e, "houten", "citytec", rep, "s3cret")[0] == 200
    assert post(e, "houten", "citytec", rep, "s3cret")[1]["result"] == "duplicate"
    [o] = [o for o in e.orders() if o["id"] == oid]
    assert o["status"] == "repaired"
    steps = [(a["to_status"], a["cause"]) for a in e.timeline(oid) if a["from_status"] != a["to_status"]]
    assert steps[1:] == [("acknowledged", "citytec (inbound ct-1): crew planned"),
                         ("repaired", "citytec (inbound ct-2)")]
    # a reused event id for something else is refused, not applied
    code, ans = post(e, "houten", "citytec", {**rep, "event_id": "ct-1"}, "s3cret")
    assert code == 409 and "already used" in ans["error"]


def test_bad_signature_and_strangers_are_refused_and_counted(db_url, tmp_path):
    e = make_engine(db_url, tmp_path, posts=posts(), cfg=CFG, clock=Clock())
    oid = lamp_order(e, "HT-0005")
    ut = lamp_order(e, "UT-0001")
    upd = {"event_id": "x-1", "order": oid, "status": "repaired"}
    body = json.dumps(upd).encode()
    assert status_update(e, "houten", "citytec", sign("guess", body), body)[0] == 401
    assert status_update(e, "houten", "citytec", None, body)[0] == 401
    assert status_update(e, "houten", "nobody", sign("s3cret", body), body)[0] == 401
    # the same contractor name in another municipality has its own secret and its own orders
    assert post(e, "utrecht", "citytec", upd, "s3cret")[0] == 401
    assert post(e, "utrecht", "citytec", upd, "other")[0] == 404
    assert post(e, "houten", "smid", upd, "sm1d")[0] == 404  # not smid's order
    assert post(e, "houten", "citytec", {**upd, "order": ut}, "s3cret")[0] == 404
    assert post(e, "houten", "citytec", {**upd, "status": "verified"}, "s3cret")[0] == 400
    assert counter(e, "inbound_bad_signature") == 4 and counter(e, "inbound_rejected") == 4
    assert {o["status"] for o in e.orders()} == {"opened"}


def test_an_update_the_lifecycle_forbids_is_409_and_can_come_again(db_url, tmp_path):
    e = make_engine(db_url, tmp_path, posts=posts(), cfg=CFG, clock=Clock())
    oid = lamp_order(e, "HT-0005")
    ack = {"event_id": "a-1", "order": oid, "status": "acknowledged"}
    assert post(e, "houten", "citytec", {"event_id": "r-1", "order": oid, "status": "repaired"},
                "s3cret")[0] == 200
    code, ans = post(e, "houten", "citytec", ack, "s3cret")  # late: already repaired
    assert code == 409 and "is repaired" in ans["error"]
    with e.db.connect() as c:  # the refused update left no trace that would swallow a later one
        assert [r.event_id for r in c.execute(select(schema.inbound))] == ["r-1"]


@given(st.one_of(st.binary(max_size=300),
                 st.dictionaries(st.sampled_from(["event_id", "order", "status", "cause", "x"]),
                                 st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=30),
                                           st.sampled_from(["repaired", "acknowledged"])),
                                 max_size=5).map(lambda d: json.dumps(d).encode())))
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_property_any_body_is_parsed_or_refused_with_a_reason(body):
    try:
        u = parse_update(body)
    except ValueError as err:
        assert str(err)
        return
    assert u["status"] in ("acknowledged", "repaired") and isinstance(u["order"], int)


@given(st.binary(max_size=200), st.text(max_size=80))
@settings(max_examples=200, deadline=None)
def test_property_only_the_right_signature_passes(body, header):
    assert signature_ok("s3cret", body, sign("s3cret", body))
    assert signature_ok("s3cret", body, header) == (header.strip() == sign("s3cret", body))
    assert not signature_ok(None, body, sign("", body))
