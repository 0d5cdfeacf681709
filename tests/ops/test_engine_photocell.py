"""Photocell faults (the firmware's `ev: photocell` event, not a TALQ alarm) become their own
order class in the lamp contractor's category, with persistence, per-municipality routing,
and verification when the post's photocell reads sane again."""
from __future__ import annotations

import pytest

from host_tools.ops.ingest import Reject, parse

from .helpers import T0, Clock, Post, iso, make_engine


def photocell(p: Post, state: str, t: int):
    """The event the firmware's schedule sends when it judges the cell (schedule.py on_auto)."""
    p.dseq += 1
    return p._send(f"stat/{p.id}/EVENT", {
        "t": iso(t), "id": p.id, "ev": "photocell", "state": state,
        "photocell": "light" if state == "fault" else "dark", "clock": "dark",
        "dseq": p.dseq, "inc": "%08x" % p.inc})


def test_photocell_fault_opens_one_maintenance_order_after_persistence(db_url, tmp_path):
    e = make_engine(db_url, tmp_path)
    p = Post(e, "HT-0005")
    photocell(p, "fault", T0)
    p.state(T0 + 600)
    e.tick()
    assert e.orders() == []  # not yet persisted (900 s by the post's clock)
    p.state(T0 + 900)
    e.tick()
    photocell(p, "fault", T0 + 2000)  # a second judgement of the same fault attaches
    p.state(T0 + 3000)
    e.tick()
    [o] = e.orders()
    assert (o["fault_class"], o["category"], o["priority"], o["first_t"]) == \
        ("photocell", "lantaarnpaal-straatverlichting", 4, T0)
    assert "photocell at post HT-0005" in o["description"] and "LP005" in o["description"]


def test_photocell_fault_that_recovers_first_opens_nothing(db_url, tmp_path):
    e = make_engine(db_url, tmp_path)
    p = Post(e, "HT-0005")
    photocell(p, "fault", T0)
    photocell(p, "ok", T0 + 700)
    p.state(T0 + 5000)
    e.tick()
    assert e.orders() == []


def test_photocell_order_verified_when_the_cell_reads_sane_not_at_dusk(db_url, tmp_path):
    """A cell stuck dark, replaced at night, is proven only by day: the dusk after the repair
    (lamp on, cell still 'faulty' in the firmware's eyes) must not escalate it."""
    e = make_engine(db_url, tmp_path)
    p = Post(e, "HT-0005")
    photocell(p, "fault", T0)
    p.state(T0 + 1000)
    e.tick()
    [o] = e.orders()
    assert e.contractor_update(o["id"], "repaired", "crew: cell replaced")
    p.switch(True, T0 + 1200)
    p.state(T0 + 1200 + 3 * 3600)  # hours after switching on, still no `ok`
    e.tick()
    assert e.orders()[0]["status"] == "repaired"
    photocell(p, "ok", T0 + 16 * 3600)  # next day, far from twilight
    e.tick()
    o = e.orders()[0]
    assert (o["status"], o["closed_t"]) == ("verified", T0 + 16 * 3600)


def test_photocell_category_and_route_are_per_municipality(db_url, tmp_path):
    cfg = {"municipality": {"houten": {"name": "Houten", "categories": {"photocell": "sensoren"},
                                       "rules": {"persist_s": 3600},
                                       "route": {"photocell": "sensorco"},
                                       "contractor": {"sensorco": {"adapter": "webhook",
                                                                   "url": "http://127.0.0.1:9/x",
                                                                   "secret": "s"}}}}}
    e = make_engine(db_url, tmp_path, cfg=cfg, clock=Clock())
    p = Post(e, "HT-0005")
    photocell(p, "fault", T0)
    p.state(T0 + 1800)
    e.tick()
    assert e.orders() == []  # this municipality persists an hour
    p.state(T0 + 3600)
    e.tick()
    [o] = e.orders()
    assert (o["category"], o["contractor"]) == ("sensoren", "sensorco")


def test_photocell_event_without_a_known_state_is_no_alarm():
    kind, pid, d = parse("stat/HT-1/EVENT", b'{"t": "2026-01-15T18:00:00Z", "ev": "photocell", '
                                            b'"state": "maybe", "dseq": 1}')
    assert (kind, "alarm" in d) == ("event", False)
    with pytest.raises(Reject):
        parse("stat/HT-1/EVENT", b'{"t": "yesterday", "ev": "photocell", "state": "fault", "dseq": 1}')
