"""A cabinet that loses its supply: the posts' last-gasp supplyLoss is judged on the service's
clock (a dead post has no clock of its own), so the outage is one supply order while it lasts."""
from __future__ import annotations

from .helpers import T0, Clock, Post, make_engine


def test_last_gasp_supply_loss_of_dead_posts_is_one_supply_order(db_url, tmp_path):
    clock = Clock(T0)
    e = make_engine(db_url, tmp_path, clock=clock)
    for i in range(4):  # cabinet K1: every post sends its last gasp, then nothing
        Post(e, f"HT-{i:04d}").alarm("supplyLoss", "raised", T0 + i)
    clock.t = T0 + 600
    e.tick()
    assert e.orders() == []  # not yet persisted
    clock.t = T0 + 960
    e.tick()
    orders = e.orders()
    assert [(o["subject"], o["fault_class"]) for o in orders] == [("cabinet:houten:K1", "supply")]
    assert orders[0]["posts"] == [f"HT-{i:04d}" for i in range(4)]


def test_last_gasp_cleared_by_the_returning_post_opens_nothing(db_url, tmp_path):
    clock = Clock(T0)
    e = make_engine(db_url, tmp_path, clock=clock)
    p = Post(e, "HT-0005")
    p.alarm("supplyLoss", "raised", T0)
    p.alarm("supplyLoss", "cleared", T0 + 30)  # a blip: the power came back at once
    clock.t = T0 + 5000
    e.tick()
    assert e.orders() == []
