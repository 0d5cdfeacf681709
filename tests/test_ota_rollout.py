"""Rollout in waves (host_tools/ota/rollout.py) through a real broker.

The posts here are a local stand-in that follows the post's side of docs/ota.md (it
answers an offer with `ev: ota` reports: downloading, then its verdict); the real
firmware's side of the same protocol is tests/test_ota_sim.py. A canary goes first,
a wave with too many failures halts the rollout, and the posts after it are never offered.
"""
from __future__ import annotations

import json
import threading

import paho.mqtt.client as mqtt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st

from host_tools.ota import bundle as ob
from host_tools.ota.rollout import Rollout, load_status, waves
from host_tools.ota.server import OtaServer
from simulator.broker import Broker, kind_from_env


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

    def __init__(self, b: Broker, verdicts: dict[str, str]):
        self.verdicts = verdicts
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
        for state in ("downloading", verdict):
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
    return ob.build(src, tmp_path_factory.mktemp("b") / "bundle", "0.2.0", "host", Ed25519PrivateKey.generate())


@pytest.mark.parametrize("bad,want", [({}, "done"), ({"R3": "rolledBack", "R4": "refused"}, "halted")])
def test_rollout_waves_halt_on_failure_rate(broker, bundle, tmp_path, bad, want):
    ids = [f"R{i}" for i in range(10)]  # canary R0, then R1-R4, R5-R8, R9
    posts = Posts(broker, bad)
    srv = OtaServer(broker.host, broker.port)
    try:
        r = Rollout(srv, bundle, ids, tmp_path / "state.json", canary_share=0.1, wave_size=4,
                    max_fail=0.25, wave_timeout_s=60)
        res = r.run()
    finally:
        srv.close()
        posts.close()
    assert res["state"] == want
    assert load_status(tmp_path / "state.json")["state"] == want
    if want == "done":
        assert all(v["state"] == "confirmed" for v in res["posts"].values())
        assert sorted(posts.offered) == sorted(ids)
    else:
        assert res["posts"]["R3"]["state"] == "rolledBack" and res["posts"]["R4"]["state"] == "refused"
        assert "wave 1: 2 of 4 failed" in res["why"]
        assert all(res["posts"][p]["state"] == "held" for p in ids[5:])
        assert not set(posts.offered) & set(ids[5:])  # never offered after the halt
        assert res["posts"]["R0"]["state"] == "confirmed"


def test_ota_commands_refuse_a_broker_password_on_the_command_line(tmp_path, capsys):
    """`lampctl ota push` and `lamppost-ops ota rollout` take the broker password from a file or
    $LAMPPOST_MQTT_PASSWORD: one on argv is refused as a usage error before anything connects."""
    from host_tools.lampctl.cli import main as lampctl
    from host_tools.ops.cli import main as ops
    rc = lampctl(["ota", "push", "NL-0001", "--bundle", str(tmp_path), "--broker", "127.0.0.1:9",
                  "--password", "hunter2"])
    assert rc == 2 and "--password-file" in capsys.readouterr().err
    rc = ops(["--db", str(tmp_path / "ops.sqlite"), "ota", "rollout", "--bundle", str(tmp_path),
              "--broker", "127.0.0.1:9", "--posts", "NL-0001", "--password", "hunter2"])
    assert rc == 2 and "--password-file" in capsys.readouterr().err
