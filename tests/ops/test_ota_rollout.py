"""Rollout in waves (host_tools/ops/rollout.py) through a real broker, recorded in the
operations database (SQLite and PostgreSQL).

The posts here are a local stand-in that follows the post's side of docs/ota.md (it
answers an offer with `ev: ota` reports: downloading, then its verdict; offered the
version it runs, `confirmed` again); the real firmware's side of the same protocol is
tests/test_ota_sim.py. A canary goes first, a wave with too many failures halts the
rollout, and the posts after it are never offered; a rollout whose process was killed is
resumed without offering again what already has a verdict.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time

import paho.mqtt.client as mqtt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st

from host_tools.ops import db
from host_tools.ops.cli import main as ops
from host_tools.ops.rollout import Rollout, RolloutError, TakenOver, abandon, status, waves
from host_tools.ota import bundle as ob
from host_tools.ota.server import OtaServer
from simulator.broker import Broker, kind_from_env

from .helpers import wait_for

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@given(n=st.integers(0, 300), share=st.floats(0.01, 1.0), size=st.integers(1, 60))
def test_waves_cover_every_post_once_canary_first(n, share, size):
    posts = [f"P{i}" for i in range(n)]
    w = waves(posts, share, size)
    assert [p for wave in w for p in wave] == posts
    if n:
        assert 1 <= len(w[0]) and len(w[0]) >= share * n - 1e-9 and len(w[0]) <= max(1, share * n + 1)
        assert all(1 <= len(x) <= size for x in w[1:])


class Posts:
    """Posts that answer offers with a verdict each (confirmed unless told otherwise)."""

    def __init__(self, b: Broker, verdicts: dict[str, str], hold: set[str] = frozenset()):
        self.verdicts = verdicts
        self.hold = set(hold)  # these only start downloading (no verdict) while held
        self.offered: list[str] = []
        self.ready = threading.Event()
        self.c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"posts-{id(self):x}")
        self.c.on_connect = lambda c, *a: (c.subscribe("cmnd/+/OtaOffer", 1), self.ready.set())
        self.c.on_message = self._offer
        self.c.connect(b.host, b.port)
        self.c.loop_start()
        assert self.ready.wait(30)

    def _offer(self, c, userdata, m):
        post = m.topic.split("/")[1]
        v = json.loads(m.payload)["v"]
        self.offered.append(post)
        verdict = self.verdicts.get(post, "confirmed")
        for state in ("downloading",) if post in self.hold else ("downloading", verdict):
            d = {"ev": "ota", "state": state, "v": v}
            if state != "confirmed" and state != "downloading":
                d["why"] = "trial failed to run"
            c.publish(f"stat/{post}/EVENT", json.dumps(d), qos=1)

    def close(self):
        self.c.loop_stop()
        self.c.disconnect()


@pytest.fixture(scope="module")
def broker():
    b = Broker(kind_from_env())
    yield b
    b.close()


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    src = tmp_path_factory.mktemp("src")
    (src / "lamppost").mkdir()
    (src / "lamppost" / "app.mpy").write_bytes(b"M\x06 not really code")
    out = tmp_path_factory.mktemp("b") / "bundle"
    return ob.build(src, out, "0.2.0", "host", Ed25519PrivateKey.generate()), out


@pytest.mark.parametrize("bad,want", [({}, "done"), ({"R3": "rolledBack", "R4": "refused"}, "halted")])
def test_rollout_waves_halt_on_failure_rate(broker, bundle, db_url, bad, want, capsys):
    ids = [f"R{i}" for i in range(10)]  # canary R0, then R1-R4, R5-R8, R9
    posts = Posts(broker, bad)
    srv = OtaServer(broker.host, broker.port)
    eng = db.open_db(db_url)
    try:
        r = Rollout.start(srv, bundle[0], ids, eng, canary_share=0.1, wave_size=4, max_fail=0.25,
                          wave_timeout_s=60)
        res = r.run()
    finally:
        srv.close()
        posts.close()
    assert res["state"] == want and not res["stale"]
    assert ops(["--db", db_url, "--json", "ota", "status"]) == 0  # the newest, from the database
    shown = json.loads(capsys.readouterr().out)
    assert shown["state"] == want and shown["posts"] == res["posts"] and shown["waves"] == res["waves"]
    if want == "done":
        assert all(v["state"] == "confirmed" for v in res["posts"].values())
        assert sorted(posts.offered) == sorted(ids)
    else:
        assert res["posts"]["R3"]["state"] == "rolledBack" and res["posts"]["R4"]["state"] == "refused"
        assert "wave 1: 2 of 4 failed" in res["why"]
        assert all(res["posts"][p]["state"] == "held" for p in ids[5:])
        assert not set(posts.offered) & set(ids[5:])  # never offered after the halt
        assert res["posts"]["R0"]["state"] == "confirmed"


def test_a_rollout_whose_process_was_killed_is_resumed_without_offering_verdicts_again(
        broker, bundle, db_url, capsys):
    """`ota rollout` killed -9 in its second wave: the database shows it running, then stale;
    a second rollout of its posts is refused while it is fresh; --resume is refused while the
    heartbeat is fresh, then carries it on: the canary and the posts that had confirmed are not
    offered again, the two without a verdict are, and the later waves follow."""
    ids = [f"K{i}" for i in range(10)]  # canary K0, then K1-K4, K5-K8, K9
    posts = Posts(broker, {}, hold={"K3", "K4"})
    eng = db.open_db(db_url)
    proc = subprocess.Popen([sys.executable, "-m", "host_tools.ops", "--db", db_url, "ota", "rollout",
                             "--bundle", str(bundle[1]), "--broker", f"{broker.host}:{broker.port}",
                             "--posts", ",".join(ids), "--canary", "0.1", "--wave", "4",
                             "--max-fail", "0.25", "--wave-timeout", "600"], cwd=ROOT,
                            stderr=subprocess.PIPE, text=True)
    try:
        def second_wave_under_way():
            try:
                p = status(eng)["posts"]
            except RolloutError:
                return False
            return [p[k]["state"] for k in ids[:5]] == ["confirmed"] * 3 + ["downloading"] * 2
        wait_for(second_wave_under_way, timeout=120, what="K1, K2 confirmed, K3, K4 downloading")
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
        st = status(eng)
        assert st["state"] == "running" and not st["stale"] and len(st["waves"]) == 1
        assert status(eng, clock=lambda: time.time() + 120)["stale"]
        later = lambda: time.time() + 120  # noqa: E731 - the dead process's heartbeat is old now
        srv = OtaServer(broker.host, broker.port)
        try:
            with pytest.raises(RolloutError, match=f"rollout {st['id']} is still running with 1 of.*wait"):
                Rollout.start(srv, bundle[0], ["K3", "Z1"], eng)
            with pytest.raises(RolloutError, match="its process stopped: `ota rollout --resume"):
                Rollout.start(srv, bundle[0], ["K3", "Z1"], eng, clock=later)
            with pytest.raises(RolloutError, match="is running"):
                Rollout.resume(srv, bundle[0], eng, st["id"])
            # a stray report about another version (a rollback of an earlier update) changes no verdict
            posts.c.publish("stat/K1/EVENT", json.dumps({"ev": "ota", "state": "rolledBack", "v": "0.1.9"}),
                            qos=1).wait_for_publish(10)
            posts.hold.clear()
            before = list(posts.offered)
            first = Rollout.resume(srv, bundle[0], eng, st["id"], clock=later)
            with pytest.raises(RolloutError, match="is running"):  # resumed once, not twice
                Rollout.resume(srv, bundle[0], eng, st["id"], clock=later)
            # first stalls past the staleness; another process resumes; first stops at its next write
            res = Rollout.resume(srv, bundle[0], eng, st["id"], clock=lambda: time.time() + 240).run()
            with pytest.raises(TakenOver):
                first.run()
        finally:
            srv.close()
    finally:
        proc.kill()
        posts.close()
    assert before[:1] == ["K0"] and sorted(before[1:]) == ["K1", "K2", "K3", "K4"]
    assert sorted(posts.offered[len(before):]) == ["K3", "K4", "K5", "K6", "K7", "K8", "K9"]
    assert res["posts"]["K1"]["state"] == "confirmed"
    assert res["state"] == "done" and res["id"] == st["id"]
    assert all(v["state"] == "confirmed" for v in res["posts"].values())
    assert [w["wave"] for w in res["waves"]] == [0, 1, 2, 3]
    assert ops(["--db", db_url, "--json", "ota", "list"]) == 0
    [row] = json.loads(capsys.readouterr().out)
    assert (row["id"], row["state"], row["posts"], row["confirmed"]) == (st["id"], "done", 10, 10)
    with pytest.raises(RolloutError, match="has ended"):
        Rollout.resume(None, bundle[0], eng, st["id"])


def test_ota_commands_refuse_a_broker_password_on_the_command_line(tmp_path, capsys):
    """`lampctl ota push` and `lamppost-ops ota rollout` take the broker password from a file or
    $LAMPPOST_MQTT_PASSWORD: one on argv is refused as a usage error before anything connects."""
    from host_tools.lampctl.cli import main as lampctl
    rc = lampctl(["ota", "push", "NL-0001", "--bundle", str(tmp_path), "--broker", "127.0.0.1:9",
                  "--password", "hunter2"])
    assert rc == 2 and "--password-file" in capsys.readouterr().err
    rc = ops(["--db", str(tmp_path / "ops.sqlite"), "ota", "rollout", "--bundle", str(tmp_path),
              "--broker", "127.0.0.1:9", "--posts", "NL-0001", "--password", "hunter2"])
    assert rc == 2 and "--password-file" in capsys.readouterr().err


def test_resumes_at_once_make_one_owner_and_abandon_frees_the_posts(bundle, db_url):
    """Four processes resume one dead rollout at the same moment: one takes it, three are told
    it runs (on PostgreSQL the decision is under an advisory lock; SQLite's BEGIN IMMEDIATE);
    abandon ends it and its posts can go in a new rollout; bad post ids are refused."""
    eng = db.open_db(db_url)
    r = Rollout.start(None, bundle[0], ["A1", "A2"], eng)
    later = lambda: time.time() + 120  # noqa: E731
    gate, got = threading.Barrier(4), []

    def resume():
        gate.wait()
        try:
            got.append(Rollout.resume(None, bundle[0], eng, r.id, clock=later).owner)
        except RolloutError as e:
            got.append(str(e))
    ts = [threading.Thread(target=resume) for _ in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(60)
    assert sorted(len(g) == 16 for g in got) == [False, False, False, True], got
    with pytest.raises(RolloutError, match="stop that process first"):
        abandon(eng, r.id, clock=later)  # the resumed one wrote its heartbeat at `later`
    abandon(eng, r.id, clock=lambda: time.time() + 300)
    assert status(eng, r.id)["state"] == "abandoned"
    assert Rollout.start(None, bundle[0], ["A2", "A3"], eng).id != r.id
    with pytest.raises(RolloutError, match="not valid"):
        Rollout.start(None, bundle[0], ["x" * 40], eng)


def _ops_on_a_skewed_machine(skew_s: float, *argv: str) -> dict:
    """lamppost-ops run by a machine whose clock is skew_s off (set before anything is
    imported, as that machine's clock would be), its --json output."""
    code = ("import sys, time; _t = time.time; time.time = lambda: _t() + float(sys.argv[1]); "
            "from host_tools.ops.cli import main; sys.exit(main(sys.argv[2:]))")
    p = subprocess.run([sys.executable, "-c", code, str(skew_s), *argv], capture_output=True, text=True,
                       timeout=120, cwd=ROOT)
    assert p.returncode == 0, p.stdout + p.stderr
    return json.loads(p.stdout)


def test_machines_whose_clocks_disagree_judge_heartbeats_alike(bundle, pg_cluster):
    """The service's machines may be minutes apart. On PostgreSQL a rollout's heartbeat is
    written and judged by the database's clock: a machine whose clock runs 10 min ahead
    sees a live rollout as live, as one 10 min behind does (SQLite lives in the process:
    its clock is the machine's, nothing to disagree). Judged by each machine's own clock,
    the first called it stale: `ota rollout --resume` there would take over a running one."""
    url = pg_cluster.new_database()
    eng = db.open_db(url)
    r = Rollout.start(None, bundle[0], ["C1", "C2"], eng)
    r._save([])  # a heartbeat, now
    for skew in (600, -600):
        st = _ops_on_a_skewed_machine(skew, "--db", url, "--json", "ota", "status", str(r.id))
        assert st["state"] == "running" and not st["stale"], (skew, st)
    assert abs(status(eng, r.id)["heartbeat_at"] - time.time()) < 30


def test_ota_cli_says_what_is_wrong_with_exit_2(tmp_path, capsys):
    """No rollout to show, --resume beside other posts, an unknown rollout: usage errors in
    words, before any broker is contacted."""
    dbf = str(tmp_path / "ops.sqlite")
    assert ops(["--db", dbf, "ota", "status"]) == 2
    assert "no rollout yet" in capsys.readouterr().err
    assert ops(["--db", dbf, "--json", "ota", "list"]) == 0 and json.loads(capsys.readouterr().out) == []
    assert ops(["--db", dbf, "ota", "status", "7"]) == 2 and "no rollout 7" in capsys.readouterr().err
    assert ops(["--db", dbf, "ota", "rollout", "--bundle", str(tmp_path), "--broker", "127.0.0.1:9",
                "--resume", "7", "--posts", "NL-0001"]) == 2
    assert "--resume carries on a rollout's own posts" in capsys.readouterr().err
