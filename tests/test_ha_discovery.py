"""Home Assistant discovery of the real firmware against the real broker (issue 17).

Every discovery payload is checked key by key against the documented schema of its platform
(tests/ha_mqtt_schema.py), its templates are rendered with Jinja2 (HA's template engine)
against the post's own STATE/SENSOR messages, the light's command topic switches the lamp
when ha_control is on (and only then), and Decommission leaves no retained config behind.
"""
from __future__ import annotations

import json
import threading
import time

import jinja2
import pytest

import ha_mqtt_schema as S
from host_tools.collector.sign import sign
from lamppost_common import fwschema
from simulator.broker import Broker, kind_from_env
from simulator.runner import Simulation
from simulator.scenario import loads, parse_time

KEY = "test-hmac-key"
START = "2026-01-15T12:00:00Z"  # by day: the schedule keeps the lamp off


@pytest.fixture(scope="module")
def broker():
    b = Broker(kind_from_env())
    yield b
    b.close()


class Sub:
    """A paho client that records every message on its topics, in order."""

    def __init__(self, b: Broker, *topics: str):
        import paho.mqtt.client as mqtt
        self.msgs: list[tuple[str, bytes, bool]] = []
        self.lock = threading.Lock()
        self.ready = threading.Event()
        self.c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"ha-test-{id(self)}")

        def on_connect(cl, *a):
            for t in topics:
                cl.subscribe(t, 1)
        self.c.on_connect = on_connect
        self.c.on_subscribe = lambda *a: self.ready.set()
        self.c.on_message = self._on
        self.c.connect(b.host, b.port)
        self.c.loop_start()
        assert self.ready.wait(30)

    def _on(self, cl, u, m):
        with self.lock:
            self.msgs.append((m.topic, bytes(m.payload), bool(m.retain)))

    def of(self, topic: str) -> list[bytes]:
        with self.lock:
            return [p for t, p, _ in self.msgs if t == topic]

    def publish(self, topic: str, payload: str, retain: bool = False) -> None:
        self.c.publish(topic, payload, 1, retain).wait_for_publish(30)

    def close(self) -> None:
        self.c.loop_stop()
        self.c.disconnect()


def retained(b: Broker, pattern: str) -> dict[str, bytes]:
    """What a new subscriber to pattern gets as retained messages. A retained sentinel on a
    topic subscribed after pattern marks the end (the broker answers subscriptions in order)."""
    import paho.mqtt.client as mqtt
    mark = f"test/sentinel/{time.monotonic_ns()}"
    pub = Sub(b, "test/none")
    pub.publish(mark, "end", retain=True)
    pub.close()
    done = threading.Event()
    got: dict[str, bytes] = {}
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"ret-{mark}")

    def on_connect(cl, *a):
        cl.subscribe(pattern, 1)
        cl.subscribe(mark, 1)

    def on_message(cl, u, m):
        if m.topic == mark:
            done.set()
        elif m.retain:
            got[m.topic] = bytes(m.payload)
    c.on_connect, c.on_message = on_connect, on_message
    c.connect(b.host, b.port)
    c.loop_start()
    try:
        assert done.wait(30), "the sentinel never came back"
    finally:
        c.loop_stop()
        c.disconnect()
    return got


def _run(b: Broker, post: str, net: dict, commands: dict, duration: str = "6m") -> Simulation:
    """Run post from START; commands {seconds after START: [(Command, payload)]} are published
    on cmnd/<post>/ while virtual time waits for them to reach the simulated network."""
    sc = loads(f'[post]\nid = "{post}"\n[run]\nstart = "{START}"\nduration = "{duration}"\n')
    t0 = parse_time(START)
    box: dict = {}
    pub = Sub(b, "test/none")
    sent = set()

    def on_tick(t):
        cmds = commands.get(t - t0)
        if cmds and t not in sent:
            sent.add(t)
            netsim = box["sim"].net
            base = netsim.publishes_down
            for name, payload in cmds:
                pub.publish(f"cmnd/{post}/{name}", payload)
            deadline = time.monotonic() + 60  # only ends a hung run
            while netsim.publishes_down - base < len(cmds) and time.monotonic() < deadline:
                netsim.pump(t)
                time.sleep(0.005)
    sim = Simulation(sc, broker=b.addr, net_config={"cmd_key": KEY, **net}, on_tick=on_tick)
    box["sim"] = sim
    try:
        res = sim.run()
    finally:
        sim.close()
        pub.close()
    assert not res.crashes, res.crashes[0]
    return sim


def _render(template: str, payload: bytes) -> str:
    """A value template rendered as HA does (value_json: the payload parsed as JSON)."""
    env = jinja2.Environment(undefined=jinja2.StrictUndefined)
    return env.from_string(template).render(value=payload.decode(), value_json=json.loads(payload)).strip()


def _check_schema(topic: str, cfg: dict, post: str, site: str) -> str:
    """Assert cfg follows its platform's documented keys; the platform."""
    parts = topic.split("/")
    assert parts[0] == "homeassistant" and parts[-1] == "config" and len(parts) == 5
    comp, node, obj = parts[1], parts[2], parts[3]
    assert node == post and comp in S.PLATFORMS
    plat = S.PLATFORMS[comp]
    for k, v in cfg.items():
        assert k in plat["keys"], f"{topic}: {k} is not a key of the {comp} platform"
        assert isinstance(v, plat["keys"][k]) and not (isinstance(v, bool) and bool not in plat["keys"][k]), (topic, k, v)
    assert plat["required"] <= set(cfg), topic
    assert cfg["unique_id"] == f"lp_{site}_{post}_{obj}"  # namespaced by site
    assert cfg["availability_topic"] == f"tele/{post}/LWT"
    assert (cfg["payload_available"], cfg["payload_not_available"]) == ("Online", "Offline")
    if "entity_category" in cfg:
        assert cfg["entity_category"] in S.ENTITY_CATEGORY
    dev = cfg["device"]
    assert set(dev) <= set(S.DEVICE) and all(isinstance(dev[k], S.DEVICE[k]) for k in dev)
    assert {"identifiers", "name", "manufacturer", "model", "sw_version"} <= set(dev)
    assert dev["identifiers"] == [f"lp_{site}_{post}"]
    org = cfg["origin"]
    assert set(org) <= set(S.ORIGIN) and org["name"] == "lamppost" and org["sw_version"]
    if comp == "sensor":
        dc, unit = cfg.get("device_class"), cfg.get("unit_of_measurement")
        assert cfg["state_class"] in S.STATE_CLASS
        if dc is not None:
            assert dc in S.SENSOR_UNITS and unit in S.SENSOR_UNITS[dc], (topic, dc, unit)
            assert cfg["state_class"] in S.SENSOR_STATE_CLASSES.get(dc, S.STATE_CLASS)
        assert cfg["expire_after"] > 0
    elif comp == "binary_sensor":
        assert cfg["device_class"] in S.BINARY_SENSOR_CLASSES and cfg["device_class"] == "problem"
        assert cfg["expire_after"] > 0
    else:
        assert cfg.get("on_command_type", "last") in S.ON_COMMAND_TYPE
        assert 1 <= cfg["brightness_scale"] <= 255
    return comp


def test_discovery_schema_light_control_and_decommission(broker):
    post, site = "NL-H1", "utrecht"
    sub = Sub(broker, f"homeassistant/+/{post}/+/config", f"tele/{post}/+", f"stat/{post}/RESULT")
    t0 = parse_time(START)
    try:
        _run(broker, post, {"site": site, "ha_control": True, "ha_url": "https://register.example/NL-H1"},
             {30: [("Alarms", "")], 60: [("Power", "ON")], 120: [("Dimmer", "40")], 180: [("Power", "OFF")],
              240: [("Decommission", sign(KEY, post, "decommission", "", t0 + 240))]})
    finally:
        sub.close()
    with sub.lock:
        disc = [(t, p) for t, p, _ in sub.msgs if t.startswith("homeassistant/")]
    announced = {t: json.loads(p) for t, p in disc if p}
    results = [json.loads(p) for p in sub.of(f"stat/{post}/RESULT")]
    by = {r["cmd"]: r for r in results}
    names_fw = set(by["alarms"]["counts"])  # every alarm the firmware knows
    comps = {}
    for t, cfg in announced.items():
        comps.setdefault(_check_schema(t, cfg, post, site), []).append(cfg)
    assert len(comps["binary_sensor"]) == len(names_fw) > 10
    assert {c["name"] for c in comps["binary_sensor"]} == names_fw
    names = {c["name"] for c in comps["sensor"]}
    assert {"Energy", "Power", "Voltage", "Current", "Power factor", "Apparent power",
            "Temperature", "Burning hours", "Switch-ons"} <= names
    assert comps["sensor"][0]["device"]["configuration_url"] == "https://register.example/NL-H1"
    assert len(comps["light"]) == 1
    light = comps["light"][0]
    # every template renders against what the post really sends on that entity's state_topic
    sensor, states = sub.of(f"tele/{post}/SENSOR"), sub.of(f"tele/{post}/STATE")
    assert sensor and states
    for c in comps["sensor"]:
        got = sub.of(c["state_topic"])
        assert got, f"{c['name']}: nothing published on its state_topic {c['state_topic']}"
        v = float(_render(c["value_template"], got[-1]))
        if c.get("device_class") == "voltage":
            assert 200 < v < 260
    for c in comps["binary_sensor"]:
        assert _render(c["value_template"], sub.of(c["state_topic"])[-1]) == "OFF"  # a healthy post
    # a post that reports on time never goes unavailable between two reports, and says Online
    tele = fwschema.keys()["tele_period"].default  # this post's TelePeriod (never changed here)
    assert all(c["expire_after"] > tele for c in comps["sensor"] + comps["binary_sensor"])
    assert b"Online" in sub.of(comps["sensor"][0]["availability_topic"])
    # the light: HA publishes payload_on / a brightness on the command topics; the post obeys
    assert light["command_topic"] == f"cmnd/{post}/Power"
    assert light["brightness_command_topic"] == f"cmnd/{post}/Dimmer"
    power = [r for r in results if r["cmd"] == "power"]
    assert [r.get("POWER") for r in power] == ["ON", "OFF"] and "error" not in power[0]
    assert by["dimmer"]["Dimmer"] == 40
    assert light.get("brightness_state_topic", light["state_topic"]) == light["state_topic"]
    seen = [(_render(light["state_value_template"], p), _render(light["brightness_value_template"], p))
            for p in sub.of(light["state_topic"])]
    assert ("ON", "100") in seen and ("ON", "40") in seen  # state follows each command
    assert seen.index(("ON", "40")) < len(seen) - 1 and seen[-1][0] == "OFF"
    # Decommission: an empty config for every entity announced, and none left retained
    assert "error" not in by["decommission"], by["decommission"]
    emptied = {t for t, p in disc if not p}
    assert set(announced) <= emptied
    assert retained(broker, f"homeassistant/+/{post}/+/config") == {}


def test_without_ha_control_the_light_is_not_offered_and_unsigned_power_is_refused(broker):
    post = "NL-H2"
    sub = Sub(broker, f"stat/{post}/RESULT")
    try:
        # a new TelePeriod (signed) announces again, so HA's expire_after follows the period
        t0 = parse_time(START)
        _run(broker, post, {}, {60: [("Power", "ON"), ("Dimmer", "40")],
                                90: [("TelePeriod", sign(KEY, post, "teleperiod", "600", t0 + 90))]},
             duration="3m")
    finally:
        sub.close()
    results = [json.loads(p) for p in sub.of(f"stat/{post}/RESULT")]
    assert [r["cmd"] for r in results] == ["power", "dimmer", "teleperiod"]
    assert all("not authenticated" in r["error"] for r in results[:2])
    assert results[2]["TelePeriod"] == 600
    ret = retained(broker, f"homeassistant/+/{post}/+/config")
    assert not ret.get(f"homeassistant/light/{post}/lamp/config")
    sensors = {t: json.loads(p) for t, p in ret.items() if p}
    assert sensors and all(c["unique_id"].startswith(f"lp_-_{post}_") for c in sensors.values())
    assert {c["expire_after"] for c in sensors.values()} == {2 * 600 + 60}  # docs/tasmota-ha.md
