"""Genuine alarms are never dropped as duplicates (issue 10, finding 4).

The register dedupes on (post, inc, dseq), `inc` being the outbox's incarnation: a resend of
the same message is counted once, the same key with other content is kept and both are
flagged `conflict`, and a board that restarts its numbering (reflashed, outbox lost) has a new
incarnation, so its dseq 1 is not taken for the old one.
"""
from __future__ import annotations

import json
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from host_tools.collector import cli
from host_tools.collector.listen import Listener
from host_tools.collector.store import Register
from simulator.broker import Broker, kind_from_env
from simulator.runner import Simulation
from simulator.scenario import loads


def _alarm(dseq: int, inc: str | None, alarm="lampFailure", state="raised", t="2026-01-15T22:00:02Z"):
    d = {"t": t, "ev": "alarm", "alarm": alarm, "state": state, "dseq": dseq}
    if inc is not None:
        d["inc"] = inc
    return json.dumps(d).encode()


def test_prepublished_events_do_not_hide_the_real_alarm():
    reg = Register()
    for n in range(1, 51):  # someone publishes under the post's id first
        reg.handle("stat/NL-0001/EVENT", json.dumps({"dseq": n, "ev": "boot"}).encode())
    reg.handle("stat/NL-0001/ALARM", _alarm(9, "1f2e3d4c"))
    assert [(a["alarm"], a["dseq"], a["inc"]) for a in reg.events("NL-0001")] == [
        ("lampFailure", 9, "1f2e3d4c")]


def test_same_key_other_content_is_kept_and_flagged_and_a_resend_is_counted_once(capsys, tmp_path):
    db = str(tmp_path / "r.sqlite")
    reg = Register(db)
    fake = _alarm(9, "1f2e3d4c", alarm="lampUnexpectedOn")
    real = _alarm(9, "1f2e3d4c")
    reg.handle("stat/NL-0001/ALARM", fake)
    reg.handle("stat/NL-0001/ALARM", real)
    reg.handle("stat/NL-0001/ALARM", real)  # the post resends after a lost PUBACK
    rows = reg.events("NL-0001")
    assert sorted(a["alarm"] for a in rows) == ["lampFailure", "lampUnexpectedOn"]
    assert all(a["conflict"] == 1 for a in rows)
    (p,) = reg.posts()
    assert p["duplicates"] == 1 and p["conflicts"] == 2
    assert cli.main(["alarms", "--db", db, "--json"]) == 0
    assert [r["conflict"] for r in json.loads(capsys.readouterr().out)] == [1, 1]


def test_a_reflashed_board_starting_again_at_dseq_1_is_recorded():
    reg = Register()
    for n in (1, 2, 3):
        reg.handle("stat/NL-0001/ALARM", _alarm(n, "aaaaaaaa", t=f"2026-01-1{n}T22:00:00Z"))
    for n in (1, 2):  # new outbox, new incarnation: numbering starts again
        reg.handle("stat/NL-0001/ALARM", _alarm(n, "bbbbbbbb", t=f"2026-01-2{n}T22:00:00Z"))
    got = [(a["inc"], a["dseq"]) for a in reg.events("NL-0001")]
    assert got == [("aaaaaaaa", 1), ("aaaaaaaa", 2), ("aaaaaaaa", 3), ("bbbbbbbb", 1), ("bbbbbbbb", 2)]
    assert reg.posts()[0]["last_dseq"] == 2 and reg.posts()[0]["duplicates"] == 0


@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["", "aaaaaaaa", "bbbbbbbb"]), st.integers(1, 4),
                          st.sampled_from(["lampFailure", "relayFailure"])), max_size=25))
def test_every_distinct_message_is_kept_once(msgs):
    """Any mix of incarnations, numbers and contents, resends included: one row per distinct
    message, none lost; rows sharing a key with other content are all flagged."""
    reg = Register()
    for inc, dseq, alarm in msgs:
        reg.handle("stat/P/ALARM", _alarm(dseq, inc or None, alarm=alarm))
    rows = reg.events("P")
    assert sorted((r["inc"], r["dseq"], r["alarm"]) for r in rows) == sorted(set(msgs))
    keys = [(r["inc"], r["dseq"]) for r in rows]
    for r in rows:
        assert r["conflict"] == (keys.count((r["inc"], r["dseq"])) > 1)
    dups = reg.posts()[0]["duplicates"] if msgs else 0
    assert dups == len(msgs) - len(set(msgs))


# --- the real firmware through a real broker -----------------------------------------------------

@pytest.fixture(scope="module")
def broker():
    b = Broker(kind_from_env())
    yield b
    b.close()


def _run(b: Broker, post: str, flash) -> None:
    sc = loads(f'[post]\nid = "{post}"\n[run]\nstart = "2026-01-15T21:00:00Z"\nduration = "2h"\n'
               '[[fault]]\nat = "2026-01-15T22:00:00Z"\nkind = "lamp_dead"\n')
    sim = Simulation(sc, flash_dir=flash, broker=b.addr)
    try:
        res = sim.run()
    finally:
        sim.close()
    assert not res.crashes and [a["alarm"] for a in res.alarms()] == ["lampFailure"]


def _publish(b: Broker, msgs) -> None:
    import paho.mqtt.client as mqtt
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="impostor")
    c.connect(b.host, b.port)
    c.loop_start()
    try:
        for topic, payload in msgs:
            c.publish(topic, payload, qos=1).wait_for_publish(5)
    finally:
        c.disconnect()
        c.loop_stop()


def test_the_firmwares_alarm_survives_prepublished_numbers_and_a_reflash(broker, tmp_path):
    reg = Register()
    lis = Listener(reg, broker.host, broker.port)
    try:
        assert lis.wait_ready(10)
        _publish(broker, [("stat/NL-D1/EVENT", json.dumps({"dseq": n, "ev": "boot"}))
                          for n in range(1, 51)])
        (tmp_path / "a").mkdir()
        (tmp_path / "b").mkdir()
        _run(broker, "NL-D1", tmp_path / "a")
        _run(broker, "NL-D1", tmp_path / "b")  # the same post reflashed: a new, empty flash
        end = time.monotonic() + 10
        while time.monotonic() < end and len(reg.events("NL-D1")) < 2:
            time.sleep(0.05)
        alarms = reg.events("NL-D1")
        assert [a["alarm"] for a in alarms] == ["lampFailure", "lampFailure"], alarms
        assert alarms[0]["inc"] != alarms[1]["inc"] and all(len(a["inc"]) == 8 for a in alarms)
        assert alarms[0]["dseq"] == alarms[1]["dseq"]  # the same number, both kept
        assert not any(a["conflict"] for a in alarms)
    finally:
        lis.close()
