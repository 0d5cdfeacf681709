"""The firmware against a real MQTT broker over loopback TCP, through the simulator's network.

mosquitto when installed (.ci/run installs it), else the embedded amqtt;
LAMPPOST_BROKER=mosquitto|amqtt forces one. The collector is the receiving end.
"""
from __future__ import annotations

import json
import threading

import pytest

from conftest import need
from host_tools.collector.listen import Listener
from host_tools.collector.store import Register
from simulator.broker import Broker, kind_from_env
from simulator.runner import Simulation
from simulator.scenario import loads, parse_time

KEY = "test-hmac-key"


@pytest.fixture(scope="module")
def broker():
    b = Broker(kind_from_env())
    yield b
    b.close()


def _collector(b: Broker) -> tuple[Register, Listener]:
    reg = Register()
    lis = Listener(reg, b.host, b.port, client_id=f"collector-{threading.get_ident()}-{id(reg)}")
    assert lis.wait_ready()
    return reg, lis


def _scenario(post: str, start: str, duration: str, extra: str = "") -> str:
    return (f'[post]\nid = "{post}"\n[run]\nstart = "{start}"\nduration = "{duration}"\n'
            + extra)


def _run(b: Broker, text: str, on_tick=None, box: dict | None = None, **kw):
    sc = loads(text)
    sim = Simulation(sc, broker=b.addr, net_config={"cmd_key": KEY}, on_tick=on_tick, **kw)
    if box is not None:
        box["sim"] = sim  # for an on_tick that waits on the simulator's network
    try:
        res = sim.run()
    finally:
        sim.close()
    return sc, sim, res


def _post(reg: Register, pid: str) -> dict:
    """One post's row (retained wills of other tests' posts are in the register too)."""
    return next((p for p in reg.posts() if p["id"] == pid), {"online": None, "state": {}})


def _settle(reg: Register, cond, timeout=60.0):
    """Wait until cond() holds: an event; the timeout is only a safety net for a hung run."""
    import time
    end = time.monotonic() + timeout
    while time.monotonic() < end and not cond():
        time.sleep(0.05)


FAULT = '[[fault]]\nat = "{at}"\nkind = "lamp_dead"\nuntil = "{until}"\n'


def test_telemetry_alarm_qos1_and_will_on_killed_firmware(broker):
    reg, lis = _collector(broker)
    try:
        _, _, res = _run(broker, _scenario(
            "NL-T1", "2026-01-15T21:00:00Z", "2h",
            FAULT.format(at="2026-01-15T22:00:00Z", until="2026-01-16T10:00:00Z")))
        _settle(reg, lambda: _post(reg, "NL-T1")["online"] == "Offline")
        post = _post(reg, "NL-T1")
        assert not res.crashes
        assert post["online"] == "Offline"  # the will, published by the broker for a dead post
        assert post["state"]["UptimeSec"] > 0 and post["energy"]["Voltage"] > 200
        alarms = reg.events("NL-T1")
        assert [(a["alarm"], a["state"]) for a in alarms] == [("lampFailure", "raised")]
        serial = [r for r in res.alarms()]
        assert alarms[0]["t"] == serial[0]["t"]
        if broker.kind != "mosquitto":  # amqtt 0.12.1 files the will under the last retained topic
            need("mosquitto", "mosquitto", "Home Assistant discovery is checked on mosquitto")
            pytest.skip("Home Assistant discovery is checked on mosquitto (LAMPPOST_BROKER=amqtt)")
        disc = _retained(broker, "homeassistant/sensor/NL-T1/total/config")
        assert disc["device_class"] == "energy" and disc["state_class"] == "total_increasing"
        assert disc["availability_topic"] == "tele/NL-T1/LWT"
    finally:
        lis.close()


def _retained(b: Broker, topic: str) -> dict:
    """The retained message on topic, as a new subscriber gets it."""
    import paho.mqtt.client as mqtt
    got = threading.Event()
    box = {}
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"retained-{id(box)}")
    c.on_connect = lambda cl, *a: cl.subscribe(topic, 1)

    def on_message(cl, u, m):
        box.update(json.loads(m.payload))
        got.set()
    c.on_message = on_message
    c.connect(b.host, b.port)
    c.loop_start()
    try:
        assert got.wait(60), f"nothing retained on {topic}"
    finally:
        c.loop_stop()
        c.disconnect()
    return box


def test_commands_need_a_signature_and_replay_is_refused(broker):
    from host_tools.collector.sign import sign
    reg, lis = _collector(broker)
    sent = []
    start = parse_time("2026-01-15T12:00:00Z")

    signed = sign(KEY, "NL-T2", "teleperiod", "60", start + 60)  # Unix time, as collector send signs
    # one burst of 12 in a tick: more replies than the 4 KB send queue holds, so the client
    # must hold back the broker's packets until the queue drains (lamppost/mqtt.py _read)
    bursts = {start + 60: (("Status", ""), ("TelePeriod", "60"), ("TelePeriod", signed),
                           ("TelePeriod", signed), ("NoSuch", ""),
                           ("Readings", ""), ("Alarms", ""), ("Log", "3"), ("Config", "dim_level"),
                           ("Config", "dim_level 50"), ("Relay", ""), ("Relay", "off"))}

    box = {}

    def on_tick(t):
        if t in bursts and t not in sent:
            import time
            net = box["sim"].net
            base = net.publishes_down
            for cmd, payload in bursts[t]:
                lis.publish(f"cmnd/NL-T2/{cmd}", payload)
            sent.append(t)
            # virtual time stands still until the broker has handed all 12 to the simulated
            # network (an event the netsim counts); the deadline only ends a hung run
            deadline = time.monotonic() + 60
            while net.publishes_down - base < len(bursts[t]) and time.monotonic() < deadline:
                net.pump(t)
                time.sleep(0.005)
    try:
        _run(broker, _scenario("NL-T2", "2026-01-15T12:00:00Z", "1h"), on_tick, box)
        _settle(reg, lambda: len(reg.results()) >= 12)
        res = reg.results()
        assert [r["cmd"] for r in res] == ["status", "teleperiod", "teleperiod", "teleperiod",
                                          "nosuch", "readings", "alarms", "log", "config", "config",
                                          "relay", "relay"]
        assert res[0]["fw"] and "mqtt_pass" not in res[0]["config"]
        assert "cmd_key" not in json.dumps(res[0]) and KEY not in json.dumps(res[0])
        assert "not authenticated" in res[1]["error"]
        assert res[2] == {"device": "NL-T2", "cmd": "teleperiod", "TelePeriod": 60}
        assert "replay" in res[3]["error"]
        assert "unknown" in res[4]["error"]
        # what only reads runs unsigned (docs/mqtt.md, Remote commands); what changes state does not
        assert "error" not in res[5] and res[5]["Voltage"] > 200
        assert res[6]["active"] == [] and res[7]["entries"][0][2] == "boot"
        assert res[8] == {"device": "NL-T2", "cmd": "config", "dim_level": 100}
        assert "not authenticated" in res[9]["error"]
        assert res[10]["relay"] == "auto" and "not authenticated" in res[11]["error"]
    finally:
        lis.close()


NET_OUTAGE = """
[[network]]
kind = "broker_down"
at = "2026-01-15T21:00:00Z"
until = "2026-01-16T03:00:00Z"
[[network]]
kind = "half_open"
at = "2026-01-16T04:00:00Z"
until = "2026-01-16T04:30:00Z"
[[network]]
kind = "link_down"
at = "2026-01-16T05:00:00Z"
until = "2026-01-16T06:00:00Z"
[[network]]
kind = "slow"
delay = "20s"
at = "2026-01-16T06:00:00Z"
until = "2026-01-16T07:00:00Z"
"""


def test_outage_and_recovery_deliver_everything_in_order_once(broker):
    reg, lis = _collector(broker)
    try:
        sc, sim, res = _run(broker, _scenario(
            "NL-T3", "2026-01-15T18:00:00Z", "14h",
            FAULT.format(at="2026-01-15T22:00:00Z", until="2026-01-16T02:00:00Z") + NET_OUTAGE))
        _settle(reg, lambda: _post(reg, "NL-T3")["online"] == "Offline")
        events = reg.events("NL-T3", alarms_only=False)
        serial = [r for r in res.reports if r.get("ev") in ("alarm", "switch", "boot")]
        assert [e["dseq"] for e in events] == list(range(1, len(serial) + 1))
        assert [e["t"] for e in events] == [r["t"] for r in serial]  # every report, once
        assert [e["arrival"] for e in events] == sorted(e["arrival"] for e in events)  # in order
        assert [(a["alarm"], a["state"]) for a in reg.events("NL-T3")] == [
            ("lampFailure", "raised"), ("lampFailure", "cleared")]
        st = _post(reg, "NL-T3")["state"]
        assert st["Outbox"]["Queued"] == 0 and st["Outbox"]["Lost"] == 0
        # Backoff caps at 300 s with 50-100 % jitter: at worst one attempt per 150 s
        # while the broker is unreachable (under 8 h here, the slow hour included),
        # where a fixed 5 s retry would make 5,760.
        assert 4 < st["MQTT"]["Attempts"] <= 8 * 3600 // 150 + 10, st["MQTT"]
        kinds = [w for _, w in sim.net.log]
        assert "half_open begins" in kinds and "link_down ends" in kinds
    finally:
        lis.close()


def test_real_broker_restart_is_survived():
    b = Broker(kind_from_env())
    reg, lis = _collector(b)
    start = parse_time("2026-01-15T21:00:00Z")
    restarted = []

    def on_tick(t):
        if t == start + 1800 and not restarted:
            b.restart()
            restarted.append(t)
            lis.wait_ready()  # the collector reconnects before the story goes on
    try:
        _, _, res = _run(b, _scenario(
            "NL-T4", "2026-01-15T21:00:00Z", "2h",
            FAULT.format(at="2026-01-15T22:00:00Z", until="2026-01-16T10:00:00Z")), on_tick)
        _settle(reg, lambda: reg.events("NL-T4"))
        assert restarted and not res.crashes and res.boots == 1  # no reboot for a broker crash
        assert [(a["alarm"], a["state"]) for a in reg.events("NL-T4")] == [
            ("lampFailure", "raised")]
    finally:
        lis.close()
        b.close()


def _session(b: Broker, ca: str, user: str, pw: str) -> dict:
    """One MQTT session from MicroPython (tests/mp/mqtt_client_run.py)."""
    import subprocess
    from conftest import mp_env
    from simulator.firmware_proc import micropython_path
    from conftest import MP_DIR
    p = subprocess.run([micropython_path(), "-X", "heapsize=128k", str(MP_DIR / "mqtt_client_run.py"),
                        "localhost", str(b.port), ca, user, pw],
                       env=mp_env(), capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stdout + p.stderr
    return json.loads(p.stdout.strip().splitlines()[-1])


def test_tls_with_pinned_ca_and_per_device_password(tmp_path):
    need("mosquitto", "mosquitto", "TLS and passwords")
    from simulator.tls_certs import make
    other = make(tmp_path / "other")  # a CA the broker's certificate was not signed by
    with Broker("mosquitto", tls=True, users={"NL-1": "s3cret"}) as b:
        ok = _session(b, str(b.ca_path), "NL-1", "s3cret")
        assert ok["ok"], ok
        wrong_ca = _session(b, str(other["ca_der"]), "NL-1", "s3cret")
        assert not wrong_ca["ok"] and wrong_ca["error"], wrong_ca
        wrong_pw = _session(b, str(b.ca_path), "NL-1", "guess")
        assert not wrong_pw["ok"] and "refused" in wrong_pw["error"], wrong_pw


def test_collector_send_signs_and_shows_the_reply(broker, capsys, monkeypatch):
    import time
    from host_tools.collector import cli as collector_cli
    monkeypatch.setenv("LAMPPOST_CMD_KEY", KEY)  # never on the command line (docs/collector.md)
    reg, lis = _collector(broker)  # sees stat/…/RESULT, so we know when the reply went out
    start = parse_time("2026-01-15T12:00:00Z")
    out: dict = {}

    def send():
        # the post runs on the simulated clock (2026-01-15), and a signed counter must be within
        # 300 s of the post's clock (docs/persistence.md): sign with the simulated time
        out["rc"] = collector_cli.main(["send", "--broker", broker.addr, "--post", "NL-T5",
                                        "--ctr", str(start + 60), "--timeout", "120",
                                        "TelePeriod", "120"])

    box: dict = {}

    def on_tick(t):
        if t == start + 60:
            net = box["sim"].net
            base = net.publishes_down
            out["th"] = threading.Thread(target=send)
            out["th"].start()
            # virtual time stands still until the command reached the simulated network (an
            # event the netsim counts): the run cannot end first; the deadline ends a hung run
            deadline = time.monotonic() + 60
            while net.publishes_down == base and time.monotonic() < deadline:
                net.pump(t)
                time.sleep(0.005)
    try:
        _run(broker, _scenario("NL-T5", "2026-01-15T12:00:00Z", "2h"), on_tick, box)
        out["th"].join(120)
        assert out["rc"] == 0
        assert json.loads(capsys.readouterr().out.strip().splitlines()[-1]) == {
            "TelePeriod": 120, "cmd": "teleperiod"}
    finally:
        lis.close()


def test_status_net_on_the_console_shows_the_live_session(broker):
    holder = {}
    start = parse_time("2026-01-15T12:00:00Z")

    def on_tick(t):
        if t == start + 120:
            holder["sim"].bridge.send_to_firmware(b"Status net\n")

    sc = loads(_scenario("NL-T9", "2026-01-15T12:00:00Z", "5m"))
    sim = Simulation(sc, broker=broker.addr, net_config={"cmd_key": KEY}, on_tick=on_tick)
    holder["sim"] = sim
    try:
        res = sim.run()
    finally:
        sim.close()
    net = next(r["net"] for r in res.reports if r.get("cmd") == "status")
    assert net["mqtt"] == "up" and net["wifi"] == "up" and net["connects"] >= 1
    assert net["broker"].endswith(":%d" % sim.net.port)
    assert KEY not in json.dumps(net)


def test_two_collectors_on_one_broker_both_keep_every_alarm(broker):
    """Default client ids are unique: a second collector must not knock the first off the broker."""
    regs = [Register(), Register()]
    liss = [Listener(r, broker.host, broker.port) for r in regs]
    try:
        for lis in liss:
            assert lis.wait_ready()
        for n in range(1, 4):
            liss[1].publish("stat/TWO-COLL/ALARM", json.dumps({"dseq": n, "ev": "set", "alarm": "lampFailure"}))
        for r in regs:
            _settle(r, lambda r=r: len(r.events("TWO-COLL", alarms_only=False)) == 3)
            assert [e["dseq"] for e in r.events("TWO-COLL", alarms_only=False)] == [1, 2, 3]
        assert all(lis.ready.is_set() for lis in liss)
    finally:
        for lis in liss:
            lis.close()


def test_readme_documents_every_collector_command_with_a_runnable_example():
    """Each `lamppost-collector` subcommand has an example in the docs (docs/mqtt.md) that its
    parser accepts."""
    import argparse
    import shlex
    from pathlib import Path

    from host_tools.collector import cli
    readme = (Path(__file__).resolve().parents[1] / "docs" / "mqtt.md").read_text()
    examples = [ln.strip() for ln in readme.splitlines() if ln.strip().startswith("lamppost-collector ")]
    seen = set()
    called = []
    for ex in examples:
        argv = [a for a in shlex.split(ex.replace("[", "").replace("]", "").replace(" | ", " "))[1:]
                if a != "--csv"]
        seen.add(argv[0])
        orig = argparse.ArgumentParser.parse_args
        try:
            argparse.ArgumentParser.parse_args = lambda self, a=None, ns=None: called.append(
                orig(self, a, ns)) or argparse.Namespace(func=lambda args: 0)
            assert cli.main(argv) == 0, ex
        finally:
            argparse.ArgumentParser.parse_args = orig
    assert {"listen", "posts", "alarms", "send"} <= seen, seen


def _publish_qos1(b: Broker, msgs: list[tuple[str, str]]) -> None:
    """Publish at QoS 1 and wait for each PUBACK: the broker has accepted every message."""
    import paho.mqtt.client as mqtt
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="alarm-source")
    c.connect(b.host, b.port)
    c.loop_start()
    try:
        for topic, payload in msgs:
            info = c.publish(topic, payload, qos=1)
            info.wait_for_publish(60)
            assert info.is_published(), topic
    finally:
        c.disconnect()
        c.loop_stop()


def test_collector_with_client_id_gets_the_alarms_sent_while_it_was_down(tmp_path, capsys):
    """`listen --client-id ID` is a persistent session: the broker queues QoS 1 alarms for it."""
    need("mosquitto", "mosquitto", "persistent sessions")
    from host_tools.collector import cli as collector_cli
    db = str(tmp_path / "reg.sqlite")
    with Broker("mosquitto") as b:
        listen = ["listen", "--broker", b.addr, "--db", db, "--for", "1"]
        assert collector_cli.main(listen + ["--client-id", "depot-1"]) == 0  # subscribes, then stops
        assert "persistent session" in capsys.readouterr().out
        down = [(f"stat/DOWN-1/ALARM", json.dumps({"dseq": n, "ev": "alarm", "alarm": "lampFailure",
                                                   "state": "raised"})) for n in (1, 2, 3)]
        _publish_qos1(b, down)  # the collector is down: only the broker holds these
        # back with the same id: wait for the three queued alarms in the register (an event,
        # not a listening window that a loaded machine may not fill)
        lis = Listener(Register(db), b.host, b.port, client_id="depot-1")
        try:
            assert lis.wait_ready()
            _settle(lis.reg, lambda: len(lis.reg.events("DOWN-1")) == 3, timeout=60)
        finally:
            lis.close()
        capsys.readouterr()
        assert collector_cli.main(["alarms", "--db", db, "--post", "DOWN-1", "--json"]) == 0
        got = json.loads(capsys.readouterr().out)
        assert [r["dseq"] for r in got] == [1, 2, 3]
        # without --client-id the session is clean: nothing is kept while it is down
        assert collector_cli.main(listen) == 0
        assert "clean session" in capsys.readouterr().out
        _publish_qos1(b, [("stat/DOWN-2/ALARM", json.dumps({"dseq": 1, "ev": "alarm"}))])
        assert collector_cli.main(listen) == 0
        assert Register(db).events("DOWN-2", alarms_only=False) == []


def test_the_whole_firmware_reports_over_tls_with_a_pinned_ca(tmp_path):
    """The post's own MQTT session over TLS (pinned CA on flash, password) through a night
    with a dead lamp: one connect, `Status net` shows the TLS session up. The simulator's
    network cannot read TLS frames, so this also runs its pump on traffic it cannot parse."""
    import shutil
    need("mosquitto", "mosquitto", "TLS")
    start = parse_time("2026-01-15T15:00:00Z")
    holder = {}

    def on_tick(t):
        if t == start + 3 * 3600:
            holder["sim"].bridge.send_to_firmware(b"Status net\n")
    with Broker("mosquitto", tls=True, users={"NL-1": "s3cret"}) as b:
        flash = tmp_path / "flash"
        flash.mkdir()
        shutil.copy(b.ca_path, flash / "ca.der")
        sc = loads(_scenario("NL-TLS", "2026-01-15T15:00:00Z", "4h",
                             '[[fault]]\nat = "2026-01-15T17:00:00Z"\nkind = "lamp_dead"\n'))
        sim = holder["sim"] = Simulation(
            sc, flash_dir=flash, broker=b.addr, on_tick=on_tick, heap="192k",
            net_config={"mqtt_tls": True, "mqtt_ca": "ca.der", "mqtt_user": "NL-1",
                        "mqtt_pass": "s3cret"})
        try:
            res = sim.run()
        finally:
            sim.close()
    assert res.crashes == [] and res.boots == 1
    (f,) = res.faults
    assert f.detected and f.alarm == "lampFailure"
    net = next(r["net"] for r in res.reports if r.get("cmd") == "status")
    assert net["tls"] is True and net["mqtt"] == "up" and net["connects"] == 1, net
