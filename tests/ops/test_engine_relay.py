"""A relay fault raises lampFailure (the lamp is out) and relayFailure: one relay order, whatever
order the two reports reach the database in (chaos: a worker killed, a redelivery, reports of
one post on two workers). A relayFailure judged after the lamp order opened takes that order
over; the contractor gets one job with its category corrected."""
from __future__ import annotations

import json
import threading

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from sqlalchemy import select, text

from host_tools.ops import config, db, schema
from host_tools.ops.dispatch import Dispatcher
from host_tools.ops.ingest import parse

from .helpers import T0, Clock, Post, iso, make_engine, reset
from .test_dispatch import cfg_for, servers  # noqa: F401 - the fixture

PID = "HT-0005"  # alone on cabinet K2 with HT-0004: a lamp out there is no supply group


def _opened(e, alarm: str) -> Post:
    """PID raises `alarm` at T0 and reports past persistence: its order is open."""
    p = Post(e, PID)
    p.alarm(alarm, "raised", T0)
    p.state(T0 + 1000)
    e.tick()
    return p


def _attached(e, oid):
    with e.db.connect() as c:
        return {r.alarm for r in c.execute(select(schema.order_alarms.c.alarm)
                                           .where(schema.order_alarms.c.order_id == oid))}


def _queue(e):
    with e.db.connect() as c:
        return c.execute(select(schema.dispatch).order_by(schema.dispatch.c.id)).mappings().all()


def test_relay_failure_after_the_lamp_order_takes_it_over(db_url, tmp_path):
    e = make_engine(db_url, tmp_path)
    p = _opened(e, "lampFailure")
    [lamp] = e.orders()
    assert lamp["fault_class"] == "lamp"
    p.alarm("relayFailure", "raised", T0 + 2)  # the late report, by post time just after
    e.tick()
    [o] = e.orders()
    assert o["id"] == lamp["id"] and o["open_slot"] == f"post:{PID}|relay"
    assert (o["fault_class"], o["priority"], o["category"]) == \
        ("relay", 1, "lantaarnpaal-straatverlichting")
    assert _attached(e, o["id"]) == {"lampFailure", "relayFailure"}
    assert "relayFailure" in o["description"]
    assert any("the lamp order is the relay fault's" in a["cause"] for a in e.timeline(o["id"]))
    assert [(d["action"], d["state"]) for d in _queue(e)] == [("create", "pending")]
    # the lamp's repeat attaches to the same order
    p.alarm("lampFailure", "cleared", T0 + 1100)
    p.alarm("lampFailure", "raised", T0 + 1200)
    p.state(T0 + 2500)
    e.tick()
    assert [x["id"] for x in e.orders()] == [o["id"]]


def test_lamp_failure_after_the_relay_order_attaches(db_url, tmp_path):
    e = make_engine(db_url, tmp_path)
    p = _opened(e, "relayFailure")
    p.alarm("lampFailure", "raised", T0 + 2)
    e.tick()
    [o] = e.orders()
    assert (o["fault_class"], o["priority"]) == ("relay", 1)
    assert _attached(e, o["id"]) == {"lampFailure", "relayFailure"}


def test_takeover_routes_to_the_relay_contractor_of_the_config(db_url, tmp_path):
    hook = {"adapter": "webhook", "url": "http://127.0.0.1:9/orders", "secret": "s"}
    cfg = {"municipality": {"houten": {"name": "Houten", "route": {"relay": "elektra"},
                                       "contractor": {"citytec": hook, "elektra": hook},
                                       "categories": {"relay": "verdeelkasten-bekabeling"}}}}
    e = make_engine(db_url, tmp_path, cfg=cfg)
    p = _opened(e, "lampFailure")
    p.alarm("relayFailure", "raised", T0 + 2)
    e.tick()
    [o] = e.orders()
    assert (o["fault_class"], o["contractor"], o["category"]) == \
        ("relay", "elektra", "verdeelkasten-bekabeling")
    # the lamp contractor's create was never tried: it goes nowhere; the relay one's is queued
    assert [(d["contractor"], d["action"], d["state"]) for d in _queue(e)] == \
        [("citytec", "create", "merged"), ("elektra", "create", "pending")]


# ---------- the contractor's side: one job, its category corrected ----------

def _dispatched_lamp_then_relay(db_url, tmp_path, cfg):
    clock = Clock()
    e = make_engine(db_url, tmp_path, cfg=cfg, clock=clock)
    d = Dispatcher(e, config.parse(cfg))
    p = _opened(e, "lampFailure")
    assert d.run()["sent"] == 1
    [lamp] = e.orders()
    assert (lamp["status"], lamp["fault_class"]) == ("dispatched", "lamp")
    p.alarm("relayFailure", "raised", T0 + 2)
    clock.t += 60
    e.tick()
    d.run()
    [o] = e.orders()
    assert (o["id"], o["fault_class"], o["priority"], o["remote_id"]) == \
        (lamp["id"], "relay", 1, lamp["remote_id"])
    return e, o


@pytest.mark.parametrize("which", ["signalen", "webhook", "email"])
def test_dispatched_lamp_order_gets_an_update_not_a_second_ticket(db_url, tmp_path, servers, which):
    e, o = _dispatched_lamp_then_relay(db_url, tmp_path, cfg_for(servers, which))
    assert [(d["action"], d["state"]) for d in _queue(e)] == [("create", "sent"), ("update", "sent")]
    if which == "signalen":
        [sig] = servers["signalen"].signals
        assert sig["signal_id"] == o["remote_id"]
        assert sig["priority"] == {"priority": "high"}
        assert sig["category"]["sub_category"].endswith("/lantaarnpaal-straatverlichting")
        assert "UPDATE, now relay priority 1" in sig["history"][0]["category"]["text"]
    elif which == "webhook":
        bodies = [t["body"] for t in servers["webhook"].tickets.values()]
        assert [(b["action"], b["order"]["id"], b["order"]["fault_class"]) for b in bodies] == \
            [("create", o["id"], "lamp"), ("update", o["id"], "relay")]
    else:
        mails = [m for _, m in servers["email"].messages]
        assert len(mails) == 2
        assert mails[1]["Subject"].startswith(f"[lamppost order {o['id']}] UPDATE relay priority 1")
        assert mails[1]["In-Reply-To"] == mails[0]["Message-ID"] == o["remote_id"]
    assert any("update delivered" in a["cause"] for a in e.timeline(o["id"]))


def test_open311_cannot_update_a_request_so_the_operator_is_told(db_url, tmp_path, servers):
    cfg = cfg_for(servers, "open311", service_codes={"lamp": "001", "relay": "001"})
    e, o = _dispatched_lamp_then_relay(db_url, tmp_path, cfg)
    assert len(servers["open311"].requests) == 1  # no second ticket
    assert [(d["action"], d["state"]) for d in _queue(e)] == [("create", "sent"), ("update", "manual")]
    assert any("Open311 GeoReport v2 cannot change request" in a["cause"] for a in e.timeline(o["id"]))


def test_update_waits_for_the_create_still_on_its_way(db_url, tmp_path, servers):
    """The lamp order's create failed once (contractor down): it may or may not have made a
    ticket; the update goes out after the create, to the ticket the create made."""
    cfg = cfg_for(servers, "webhook")
    clock = Clock()
    e = make_engine(db_url, tmp_path, cfg=cfg, clock=clock)
    d = Dispatcher(e, config.parse(cfg))
    p = _opened(e, "lampFailure")
    servers["webhook"].down = True
    assert d.run()["retry"] == 1
    p.alarm("relayFailure", "raised", T0 + 2)
    e.tick()
    d.run()  # the update is due, the create not yet: the update waits
    assert servers["webhook"].tickets == {}
    servers["webhook"].down = False
    for _ in range(4):
        clock.t += 3600
        d.run()
    [o] = e.orders()
    bodies = [t["body"] for t in servers["webhook"].tickets.values()]
    assert [(b["action"], b["order"]["fault_class"]) for b in bodies] == \
        [("create", "relay"), ("update", "relay")]
    assert [(x["action"], x["state"]) for x in _queue(e)] == [("create", "sent"), ("update", "sent")]
    assert o["fault_class"] == "relay"


def test_relay_to_another_contractor_keeps_its_ticket_when_the_first_create_lands_late(
        db_url, tmp_path):
    """The lamp contractor's create reached its system but the answer was lost (a retry is
    due); the relayFailure then routes the order to the relay contractor. Its ticket stays the
    order's: the first create is not sent again (the old contractor's ticket, if any, is for
    the operator to withdraw), and a create already on its way that lands afterwards changes
    neither the order's ticket nor its status."""
    from tests.ops_servers.webhook import WebhookServer
    lamp_sys, relay_sys = WebhookServer(prefix="C"), WebhookServer(prefix="E")
    try:
        cfg = {"municipality": {"houten": {
            "name": "Houten", "route": {"relay": "elektra"},
            "contractor": {"citytec": {"adapter": "webhook", "url": lamp_sys.url + "/orders",
                                       "secret": "s3cret"},
                           "elektra": {"adapter": "webhook", "url": relay_sys.url + "/orders",
                                       "secret": "s3cret"}}}}}
        clock = Clock()
        e = make_engine(db_url, tmp_path, cfg=cfg, clock=clock)
        d = Dispatcher(e, config.parse(cfg))
        p = _opened(e, "lampFailure")
        lamp_sys.lose_next_answer = True
        assert d.run()["retry"] == 1  # citytec made ticket C1; we never heard
        assert len(lamp_sys.tickets) == 1
        p.alarm("relayFailure", "raised", T0 + 2)
        e.tick()
        for _ in range(6):  # long past every retry of the first create
            clock.t += 3600
            d.run()
        [o] = e.orders()
        [relay_ticket] = relay_sys.tickets.values()
        assert (o["contractor"], o["remote_id"], o["status"]) == ("elektra", relay_ticket["id"], "dispatched")
        assert len(lamp_sys.tickets) == 1  # not sent to citytec again
        assert [(x["contractor"], x["action"], x["state"]) for x in _queue(e)] == \
            [("citytec", "create", "merged"), ("elektra", "create", "sent")]
        assert any("withdraw" in a["cause"] and "citytec" in a["cause"] for a in e.timeline(o["id"]))

        # a create already on its way when the order moved (another worker's lease) lands late
        with e.db.begin() as c:
            c.execute(schema.dispatch.update().where(schema.dispatch.c.contractor == "citytec")
                      .values(state="pending", next_at=clock.t))
        d.run()
        [o2] = e.orders()
        assert (o2["remote_id"], o2["contractor"]) == (o["remote_id"], "elektra")
        assert any("C1" in a["cause"] and "withdraw" in a["cause"] for a in e.timeline(o["id"]))
        assert [x["id"] for x in relay_sys.tickets.values()] == [o["remote_id"]]
        assert d.poll() == 0 and relay_sys.tickets  # polls elektra about elektra's ticket only
    finally:
        lamp_sys.close()
        relay_sys.close()


# ---------- any arrival order ----------

def _messages():
    """A relay fault's reports, each with its own (inc, dseq): a redelivery is the same message."""
    def msg(topic, payload):
        return parse(topic, json.dumps(payload).encode())

    def alarm(name, state, t, dseq):
        return msg(f"stat/{PID}/ALARM", {"t": iso(t), "id": PID, "ev": "alarm", "alarm": name,
                                         "state": state, "dseq": dseq, "inc": "00000001"})
    return {
        "lamp": alarm("lampFailure", "raised", T0, 1),
        "relay": alarm("relayFailure", "raised", T0 + 1, 2),
        "state": msg(f"tele/{PID}/STATE", {"Time": iso(T0 + 1000), "UptimeSec": 1}),
        "lamp_clear": alarm("lampFailure", "cleared", T0 + 1500, 3),  # a lamp swap, relay still bad
        "state2": msg(f"tele/{PID}/STATE", {"Time": iso(T0 + 1600), "UptimeSec": 1}),
    }


@pytest.fixture
def migrated(db_url):
    eng = db.open_db(db_url)
    yield eng
    eng.dispose()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_property_any_arrival_order_is_one_relay_order(migrated, tmp_path, data):
    msgs = _messages()
    names = list(msgs) + data.draw(st.lists(st.sampled_from(["lamp", "relay"]), max_size=2),
                                   label="redeliveries")
    arrival = data.draw(st.permutations(names), label="arrival")
    ticks = data.draw(st.lists(st.booleans(), min_size=len(arrival), max_size=len(arrival)),
                      label="tick after")
    reset(migrated)
    e = make_engine(migrated, tmp_path)
    for name, tick in zip(arrival, ticks):
        e.ingest(*msgs[name])
        if tick:
            e.tick()
    e.tick()
    [o] = e.orders()  # one order ever: none opened and merged or closed beside it
    assert (o["fault_class"], o["priority"], o["open_slot"]) == ("relay", 1, f"post:{PID}|relay")
    assert "relayFailure" in _attached(e, o["id"])
    assert [(d["action"], d["contractor"]) for d in _queue(e)] == [("create", "citytec")]


# ---------- two workers at once (PostgreSQL) ----------

def test_two_workers_lamp_judged_while_the_relay_report_arrives_one_order(pg_cluster, tmp_path):
    """Worker 1 is inside the transaction opening the lamp order when worker 2 receives the
    post's relayFailure and judges it. Worker 1 holds on until worker 2 is done or waits on a
    lock: the post's lock makes it wait, so it sees the lamp order and takes it over."""
    url = pg_cluster.new_database()
    e1 = make_engine(url, tmp_path)
    e2 = type(e1)(db.open_db(url), e1.cfg, e1.clock)
    Post(e1, PID).alarm("lampFailure", "raised", T0)
    Post(e1, PID).state(T0 + 1000)
    watch = db.open_db(url)
    errors: list[Exception] = []

    def worker2():
        try:
            Post(e2, PID, inc=2).alarm("relayFailure", "raised", T0 + 1)
            # its tick reaches the relay alarm first (the lamp alarm's group lock, were it
            # judged first, would make worker 2 wait anyway)
            e2._judge(PID, "relayFailure", T0 + 1, e2.clock())
        except Exception as err:  # noqa: BLE001 - reported below
            errors.append(err)
    w2 = threading.Thread(target=worker2)
    real = e1._enqueue

    def enqueue(c, oid, contractor, action, now):
        real(c, oid, contractor, action, now)
        if w2.ident is None:  # inside worker 1's transaction, the lamp order written
            w2.start()
            while w2.is_alive():
                with watch.connect() as wc:
                    if wc.execute(text("SELECT count(*) FROM pg_locks WHERE NOT granted")).scalar():
                        break
                threading.Event().wait(0.01)
    e1._enqueue = enqueue
    e1.tick()
    w2.join()
    watch.dispose()
    assert errors == []
    e1.tick()
    [o] = e1.orders()
    assert (o["fault_class"], o["priority"]) == ("relay", 1)
    assert _attached(e1, o["id"]) == {"lampFailure", "relayFailure"}


def test_a_relay_fault_after_a_repaired_lamp_order_gets_its_own_order(db_url, tmp_path):
    """The demo's two faults: a dead lamp, its order repaired by the crew; the next afternoon
    the relay welds. That is a second fault with an order of its own, not the lamp order
    re-classed (the takeover is for one fault's two reports arriving out of order)."""
    e = make_engine(db_url, tmp_path)
    p = _opened(e, "lampFailure")
    [lamp] = e.orders()
    assert e.contractor_update(lamp["id"], "repaired", "crew: new lamp")
    p.alarm("relayFailure", "raised", T0 + 16 * 3600)
    p.alarm("lampUnexpectedOn", "raised", T0 + 16 * 3600)
    p.state(T0 + 16 * 3600 + 1000)
    e.tick()
    orders = {o["id"]: o for o in e.orders()}
    assert orders[lamp["id"]]["fault_class"] == "lamp"
    [relay] = [o for o in orders.values() if o["id"] != lamp["id"]]
    assert relay["fault_class"] == "relay" and _attached(e, relay["id"]) >= {"relayFailure"}
    assert _attached(e, lamp["id"]) == {"lampFailure"}
