"""Nobody can publish as another post (issue 10, finding 5): `lampctl provision` writes per-post
broker accounts and an ACL, and a real mosquitto run with those files refuses a post that
speaks for another, keeps each post's commands to itself, and lets the real firmware report
with its provisioned credentials to a collector logged in with its own account."""
from __future__ import annotations

import json
import shutil
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from host_tools.collector import cli as collector_cli
from host_tools.collector.listen import Listener
from host_tools.collector.store import Register
from host_tools.lampctl import broker_acl
from host_tools.lampctl.cli import main as lampctl
from simulator.broker import Broker
from simulator.runner import Simulation
from simulator.scenario import loads, parse_time

pytestmark = pytest.mark.skipif(not shutil.which("mosquitto"),
                                reason="the ACL is mosquitto's (apt-get install mosquitto)")


def _provision(out: Path, *ids: str) -> dict[str, dict]:
    for pid in ids:
        assert lampctl(["provision", "--id", pid, "--wifi", "Gemeente:s3cretpass", "--broker",
                        "mqtt.example.nl", "--lat", "52", "--lon", "5", "--pin", "4711",
                        "--out", str(out)]) == 0
    return {pid: json.loads((out / pid / "config.json").read_text()) for pid in ids}


@pytest.fixture(scope="module")
def acl_broker(tmp_path_factory):
    out = tmp_path_factory.mktemp("posts")
    cfgs = _provision(out, "NL-A1", "NL-B1")
    d = out / broker_acl.DIR
    with Broker("mosquitto", password_file=d / "password_file", acl_file=d / "acl_file") as b:
        yield b, out, cfgs


class Client:
    """A paho client that records what it receives."""

    def __init__(self, b: Broker, user: str | None, password: str | None, name: str):
        self.got: list[tuple[str, bytes]] = []
        self.subacks: list = []
        self.rc = None
        self.up = threading.Event()
        self.done = threading.Event()
        self.c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=name)
        if user:
            self.c.username_pw_set(user, password)

        def on_connect(c, u, flags, rc, props=None):
            self.rc = rc
            self.done.set()
            if not rc.is_failure:
                self.up.set()
        self.c.on_connect = on_connect
        self.c.on_message = lambda c, u, m: self.got.append((m.topic, m.payload))
        self.c.on_subscribe = lambda c, u, mid, rcs, props=None: self.subacks.append(rcs)
        self.c.connect(b.host, b.port)
        self.c.loop_start()
        self.done.wait(10)

    def sub(self, topic: str) -> None:
        n = len(self.subacks)
        self.c.subscribe(topic, 1)
        _until(lambda: len(self.subacks) > n)

    def pub(self, topic: str, payload: str) -> None:
        self.c.publish(topic, payload, qos=1).wait_for_publish(5)

    def close(self) -> None:
        self.c.disconnect()
        self.c.loop_stop()


def _until(cond, timeout=10.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.05)
    return bool(cond())


def _collector_pw(out: Path) -> str:
    return (out / broker_acl.DIR / "collector.password").read_text().strip()


def test_provision_writes_mosquitto_files_and_keeps_passwords_on_a_reprovision(tmp_path):
    cfgs = _provision(tmp_path, "NL-A1", "NL-B1")
    d = tmp_path / broker_acl.DIR
    users = broker_acl.read_password_file(d / "password_file")
    assert set(users) == {"NL-A1", "NL-B1", broker_acl.COLLECTOR_USER, broker_acl.HA_USER}
    assert broker_acl.check_password(cfgs["NL-A1"]["mqtt_pass"], users["NL-A1"])
    assert cfgs["NL-A1"]["mqtt_pass"] != cfgs["NL-B1"]["mqtt_pass"]
    assert (d / "password_file").stat().st_mode & 0o077 == 0
    assert "pattern write stat/%u/+" in (d / "acl_file").read_text()
    again = _provision(tmp_path, "NL-A1")  # a re-provision keeps the deployed board's password
    assert again["NL-A1"]["mqtt_pass"] == cfgs["NL-A1"]["mqtt_pass"]
    assert set(broker_acl.read_password_file(d / "password_file")) == set(users)
    assert lampctl(["provision", "--id", "NL-A1", "--wifi", "G:s3cretpass", "--broker", "b", "--lat",
                    "52", "--lon", "5", "--out", str(tmp_path), "--rotate-broker-password"]) == 0
    rotated = json.loads((tmp_path / "NL-A1" / "config.json").read_text())["mqtt_pass"]
    assert rotated != cfgs["NL-A1"]["mqtt_pass"]
    assert broker_acl.check_password(rotated, broker_acl.read_password_file(d / "password_file")["NL-A1"])


def test_anonymous_and_wrong_passwords_are_refused(acl_broker):
    b, out, cfgs = acl_broker
    for user, pw in ((None, None), ("NL-A1", "guess"), ("NL-A1", cfgs["NL-B1"]["mqtt_pass"])):
        c = Client(b, user, pw, f"refused-{user}")
        try:
            assert c.rc is not None and c.rc.is_failure, (user, c.rc)
        finally:
            c.close()


def test_a_post_cannot_publish_as_another_nor_read_its_commands(acl_broker):
    b, out, cfgs = acl_broker
    reg = Register()
    lis = Listener(reg, b.host, b.port, user=broker_acl.COLLECTOR_USER, password=_collector_pw(out))
    a = Client(b, "NL-A1", cfgs["NL-A1"]["mqtt_pass"], "post-a")
    bb = Client(b, "NL-B1", cfgs["NL-B1"]["mqtt_pass"], "post-b")
    col = Client(b, broker_acl.COLLECTOR_USER, _collector_pw(out), "collector-cmd")
    try:
        assert lis.wait_ready(10) and a.up.is_set() and bb.up.is_set() and col.up.is_set()
        alarm = {"ev": "alarm", "alarm": "lampFailure", "state": "raised", "inc": "0000aaaa"}
        # A speaks for B, then for itself: only its own message reaches the collector
        a.pub("stat/NL-B1/ALARM", json.dumps({**alarm, "dseq": 1}))
        a.pub("tele/NL-B1/LWT", "Offline")
        a.pub("stat/NL-A1/ALARM", json.dumps({**alarm, "dseq": 1}))
        assert _until(lambda: reg.events("NL-A1"))
        assert reg.events("NL-B1", alarms_only=False) == []
        assert all(p["id"] != "NL-B1" for p in reg.posts())
        # A listens to B's commands and commands B; B hears only the collector's command
        a.sub("cmnd/NL-B1/+")
        a.sub("cmnd/NL-A1/+")
        bb.sub("cmnd/NL-B1/+")
        a.pub("cmnd/NL-B1/Relay", "off")
        col.pub("cmnd/NL-B1/Status", "")
        col.pub("cmnd/NL-A1/Status", "")
        assert _until(lambda: ("cmnd/NL-B1/Status", b"") in bb.got and ("cmnd/NL-A1/Status", b"") in a.got)
        time.sleep(0.2)  # anything else in flight arrives in this time (loopback, one broker)
        assert [t for t, _ in a.got] == ["cmnd/NL-A1/Status"], a.got
        assert [t for t, _ in bb.got] == ["cmnd/NL-B1/Status"], bb.got
        assert lis.alive
    finally:
        for c in (a, bb, col):
            c.close()
        lis.close()


def test_the_firmware_reports_with_its_provisioned_account_and_the_collector_commands_it(
        acl_broker, tmp_path, monkeypatch, capsys):
    """The real firmware logs in with the user/password provision wrote into its config.json
    (the simulator's network between them); the collector, with its own account given the way
    docs/collector.md says (user on the command line, password from a file), records its alarm
    and `send` gets a command's reply."""
    b, out, cfgs = acl_broker
    reg = Register()
    lis = Listener(reg, b.host, b.port, user=broker_acl.COLLECTOR_USER, password=_collector_pw(out))
    start = parse_time("2026-01-15T21:00:00Z")
    sent: dict = {}
    pwfile = out / broker_acl.DIR / "collector.password"

    def send():
        sent["rc"] = collector_cli.main(["send", "--broker", b.addr, "--user", broker_acl.COLLECTOR_USER,
                                         "--password-file", str(pwfile), "--post", "NL-A1", "Status"])

    def on_tick(t):
        if t == start + 120 and "th" not in sent:
            sent["th"] = threading.Thread(target=send)
            sent["th"].start()
        if "th" in sent and sent["th"].is_alive():
            sent["th"].join(0.02)  # virtual time slows down (the post answers on a tick) until done
    sc = loads('[post]\nid = "NL-A1"\n[run]\nstart = "2026-01-15T21:00:00Z"\nduration = "2h"\n'
               '[[fault]]\nat = "2026-01-15T22:00:00Z"\nkind = "lamp_dead"\n')
    acct = {k: cfgs["NL-A1"][k] for k in ("mqtt_user", "mqtt_pass")}
    try:
        assert lis.wait_ready(10)
        sim = Simulation(sc, broker=b.addr, net_config=acct, on_tick=on_tick)
        try:
            res = sim.run()
        finally:
            sim.close()
        assert not res.crashes
        assert _until(lambda: reg.events("NL-A1") and any(
            p["id"] == "NL-A1" and p["state"].get("UptimeSec") for p in reg.posts()))
        assert [a["alarm"] for a in reg.events("NL-A1") if a["inc"]] == ["lampFailure"]
        assert sent.get("rc") == 0, capsys.readouterr().err
        reply = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
        assert reply["cmd"] == "status"
    finally:
        lis.close()


def test_collector_takes_secrets_from_a_file_or_the_environment_never_argv(acl_broker, tmp_path,
                                                                           monkeypatch, capsys):
    b, out, _ = acl_broker
    db = str(tmp_path / "reg.sqlite")
    base = ["listen", "--broker", b.addr, "--db", db, "--user", broker_acl.COLLECTOR_USER]
    assert collector_cli.main(base + ["--password", "x", "--for", "0.1"]) == 2
    assert "--password-file" in capsys.readouterr().err
    assert collector_cli.main(["send", "--broker", b.addr, "--post", "NL-A1", "--key", "k", "Status"]) == 2
    assert "LAMPPOST_CMD_KEY" in capsys.readouterr().err
    pwfile = out / broker_acl.DIR / "collector.password"
    assert collector_cli.main(base + ["--password-file", str(pwfile), "--for", "0.2"]) == 0
    assert "listening on" in capsys.readouterr().out
    monkeypatch.setenv("LAMPPOST_MQTT_PASSWORD", _collector_pw(out))
    assert collector_cli.main(base + ["--for", "0.2"]) == 0
    monkeypatch.setenv("LAMPPOST_MQTT_PASSWORD", "wrong")
    assert collector_cli.main(base + ["--for", "0.2"]) == 1  # refused: a supervisor sees it fail
    assert "refused" in capsys.readouterr().err
    assert collector_cli.main(base + ["--password-file", str(tmp_path / "none"), "--for", "0.2"]) == 2
    assert "cannot read" in capsys.readouterr().err
