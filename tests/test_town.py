"""A town on one virtual clock, end to end: 6 posts (each its own MicroPython firmware) on
2 cabinets, one evening, the operations service fed over a real MQTT broker. A dead lamp on
a post of C1 and a supply loss of cabinet C2 must be exactly one lamp order and one supply
order; the healthy posts get none. Plus the version-2 loader's rules."""
from __future__ import annotations

from pathlib import Path

import pytest

from simulator.scenario import Scenario, ScenarioError
from simulator.town_scenario import Town, load, load_any, loads

FILES = Path(__file__).parent / "town_files"
DEMO = Path(__file__).resolve().parent.parent / "scenarios" / "demo.toml"


def test_lamp_dead_and_cabinet_loss_are_one_order_each_and_healthy_posts_none():
    from testbed.town import TownSim
    town = load(FILES / "two_cabinets.toml")
    sim = TownSim(town)
    try:
        res = sim.run()
    finally:
        sim.close()
    assert res.errors == []
    lamp, loss = res.faults
    assert [o["fault_class"] for o in lamp.orders] == ["lamp"]
    assert lamp.orders[0]["posts"] == ["T-0002"]
    assert [o["fault_class"] for o in loss.orders] == ["supply"]
    assert loss.orders[0]["category"] == "verlichting-netstoring"
    assert sorted(loss.orders[0]["posts"]) == [tp.id for tp in town.posts if tp.cabinet == "C2"]
    assert res.stray == []  # no order for a post with no fault
    live = [o for o in res.orders if o["status"] != "merged"]
    assert len(live) == 2
    for r in (lamp, loss):  # dispatched after the fault was visible, within persistence + a round
        o = r.orders[0]
        assert r.visible_at is not None and o["dispatched_at"] is not None
        assert 0 <= o["dispatched_at"] - r.visible_at <= 900 + 900 + 60
        assert o["status"] == "verified"  # the crew repaired at `until`, the post confirmed it
    # one clock: every post ran every tick of the window
    assert {r.ticks for r in res.results.values()} == {town.duration}


def test_version_1_files_load_unchanged():
    sc = load_any(DEMO)
    assert isinstance(sc, Scenario) and sc.post.id == "NL-0001"
    with pytest.raises(ScenarioError, match="version-1"):
        load(DEMO)


def test_generated_fleet_is_seeded_and_cabinet_faults_reach_every_post_on_the_cabinet():
    text = (FILES / "two_cabinets.toml").read_text()
    a, b = loads(text, "a"), loads(text, "b")
    assert isinstance(a, Town) and len(a.posts) == 6 and set(a.cabinets) == {"C1", "C2"}
    assert [(p.id, p.scenario.post.latitude) for p in a.posts] == \
        [(p.id, p.scenario.post.latitude) for p in b.posts]
    for tp in a.posts:
        kinds = [f.kind for f in tp.scenario.faults]
        assert kinds == (["mains_loss"] if tp.cabinet == "C2" else
                         ["lamp_dead"] if tp.id == "T-0002" else [])


@pytest.mark.parametrize("extra, why", [
    ('[[fault]]\ncabinet = "C9"\nkind = "cabinet_loss"\nat = 2026-01-15T19:00:00Z\n', "not a cabinet"),
    ('[[fault]]\npost = "T-0001"\nkind = "cabinet_loss"\nat = 2026-01-15T19:00:00Z\n', "cabinet fault"),
    ('[[fault]]\ncabinet = "C1"\nkind = "lamp_dead"\nat = 2026-01-15T19:00:00Z\n', "post fault"),
    ('[[fault]]\npost = "X-1"\nkind = "lamp_dead"\nat = 2026-01-15T19:00:00Z\n', "not a post"),
    ('[[fault]]\npost = "T-0001"\ncabinet = "C1"\nkind = "lamp_dead"\nat = 2026-01-15T19:00:00Z\n',
     "one of them"),
])
def test_bad_faults_name_the_field(extra, why):
    text = (FILES / "two_cabinets.toml").read_text() + "\n" + extra
    with pytest.raises(ScenarioError, match=why):
        loads(text, "t.toml")


def test_explicit_posts_and_duplicates():
    base = 'version = 2\n[run]\nstart = 2026-01-15T16:00:00Z\nduration = "1h"\n'
    one = '[[post]]\nid = "A-1"\ncabinet = "K1"\nlamp = "hps"\n'
    t = loads(base + one + one.replace("A-1", "A-2"), "t")
    assert [p.scenario.post.lamp for p in t.posts] == ["hps", "hps"] and list(t.cabinets) == ["K1"]
    with pytest.raises(ScenarioError, match="twice"):
        loads(base + one + one, "t")
    with pytest.raises(ScenarioError, match="unknown key"):
        loads(base + one + "colour = 1\n", "t")
    with pytest.raises(ScenarioError, match="either"):
        loads(base, "t")


def test_cabinet_sag_reaches_every_post_on_the_cabinet_as_a_supply_sag():
    text = (FILES / "two_cabinets.toml").read_text() + (
        '\n[[fault]]\ncabinet = "C1"\nkind = "cabinet_sag"\nat = 2026-01-15T21:00:00Z\n'
        'until = 2026-01-15T21:30:00Z\n')
    t = loads(text, "t.toml")
    for tp in t.posts:
        sags = [(f.kind, f.at, f.until) for f in tp.scenario.faults if f.kind == "supply_sag"]
        assert sags == ([("supply_sag", t.faults[-1].at, t.faults[-1].until)] if tp.cabinet == "C1" else [])
