"""What the broker, the outbox files or a full flash throw at a post: the real firmware in the
simulator against a real mosquitto (issue 10, findings 2, 9 and 10).

Every test reads what reached the broker with its own subscriber (raw MQTT), so it checks
what a user of the broker sees, whatever a collector does with it.
"""
from __future__ import annotations

import json
import shutil
import threading
import time

import pytest

from simulator.broker import Broker
from simulator.runner import Simulation
from simulator.scenario import loads, parse_time

pytestmark = pytest.mark.skipif(not shutil.which("mosquitto"),
                                reason="needs mosquitto (apt-get install mosquitto)")
T2000 = 946684800  # unix time of 2000-01-01, the firmware's epoch


@pytest.fixture(scope="module")
def broker():
    b = Broker("mosquitto")
    yield b
    b.close()


class Sub:
    """A raw MQTT subscriber: every (topic, payload) on `topic`, in arrival order."""

    def __init__(self, b: Broker, topic: str):
        import paho.mqtt.client as mqtt
        self.msgs: list[tuple[str, bytes]] = []
        self.lock = threading.Lock()
        ready = threading.Event()
        self.c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"sub-{id(self)}")
        self.c.on_connect = lambda cl, *a: cl.subscribe(topic, 1)
        self.c.on_subscribe = lambda *a: ready.set()

        def on_message(cl, u, m):
            with self.lock:
                self.msgs.append((m.topic, bytes(m.payload)))
        self.c.on_message = on_message
        self.c.connect(b.host, b.port)
        self.c.loop_start()
        assert ready.wait(10), "subscriber not ready"

    def json(self, leaf: str) -> list[dict]:
        with self.lock:
            return [json.loads(p) for t, p in self.msgs if t.endswith("/" + leaf)]

    def count(self, leaf: str) -> int:
        with self.lock:
            return sum(1 for t, _ in self.msgs if t.endswith("/" + leaf))

    def close(self) -> None:
        self.c.loop_stop()
        self.c.disconnect()


def _publish(b: Broker, msgs, retain=False, qos=1) -> None:
    """Publish and wait until the broker has each one (PUBACK)."""
    import paho.mqtt.client as mqtt
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"pub-{time.monotonic_ns()}")
    c.max_inflight_messages_set(100)
    c.max_queued_messages_set(0)
    c.connect(b.host, b.port)
    c.loop_start()
    try:
        infos = [c.publish(t, p, qos=qos, retain=retain) for t, p in msgs]
        for i in infos:
            i.wait_for_publish(30)
    finally:
        c.disconnect()
        c.loop_stop()


def _scenario(post: str, start: str, duration: str, extra: str = "") -> str:
    return f'[post]\nid = "{post}"\n[run]\nstart = "{start}"\nduration = "{duration}"\n' + extra


DEAD = '[[fault]]\nat = "{at}"\nkind = "lamp_dead"\n'


def _run(b: Broker, text: str, on_tick=None, status_at=None, **kw):
    """Run the scenario; `Status net` is typed on the console at status_at (unix s)."""
    holder = {}

    def tick(t):
        if on_tick:
            on_tick(t)
        if t == status_at:
            holder["sim"].bridge.send_to_firmware(b"Status net\n")
    sim = holder["sim"] = Simulation(loads(text), broker=b.addr, on_tick=tick,
                                     net_config={"cmd_key": "k"}, **kw)
    try:
        res = sim.run()
    finally:
        sim.close()
    nets = [r["net"] for r in res.reports if r.get("cmd") == "status" and "net" in r]
    return res, (nets[-1] if nets else None)


def _settle(cond, timeout=10.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end and not cond():
        time.sleep(0.05)


@pytest.mark.parametrize("size", [3 * 1024, 64 * 1024])
def test_oversize_retained_command_is_read_past_and_the_alarm_goes_once(broker, size):
    """Finding 2: a retained 3 KB / 64 KB command once made the post reconnect ~every 2 s for
    good (8,892 times) and then send thousands of duplicate alarms."""
    post = f"NL-BIG{size // 1024}"
    _publish(broker, [(f"cmnd/{post}/Status", b"x" * size)], retain=True)
    sub = Sub(broker, f"stat/{post}/#")
    start = parse_time("2026-01-15T21:00:00Z")
    try:
        res, net = _run(broker, _scenario(post, "2026-01-15T21:00:00Z", "90m",
                                          DEAD.format(at="2026-01-15T21:10:00Z")),
                        status_at=start + 85 * 60)
        _settle(lambda: sub.count("ALARM") >= 1 and sub.count("RESULT") >= 1)
        time.sleep(0.3)  # a duplicate would arrive right behind
        assert not res.crashes
        assert net["connects"] == 1 and net["attempts"] == 1, net  # the session never dropped
        assert net["oversize"] >= 1, net  # counted
        alarms = sub.json("ALARM")
        assert [(a["alarm"], a["state"]) for a in alarms] == [("lampFailure", "raised")]
        (reply,) = sub.json("RESULT")  # answered once per session, not run
        assert reply["cmd"] == "status" and "too large" in reply["error"], reply
    finally:
        sub.close()
        _publish(broker, [(f"cmnd/{post}/Status", b"")], retain=True)  # clear the retained one


def test_a_command_flood_is_answered_or_counted_never_a_session_drop(broker):
    """Finding 2: 1,000 commands at once got 28 replies and 13 session drops (MemoryError)."""
    post = "NL-FLOOD"
    n = 1000
    sub = Sub(broker, f"stat/{post}/RESULT")
    start = parse_time("2026-01-15T12:00:00Z")
    flood_at = start + 60
    idle = []

    def on_tick(t):
        if t == flood_at:
            _publish(broker, [(f"cmnd/{post}/Relay", b"")] * n)
        elif t > flood_at and len(idle) < 25 and sub.count("RESULT") < n:
            # virtual time waits (bounded) while the broker delivers, until 25 ticks in a row
            # bring no reply (the rest were dropped and counted)
            seen = sub.count("RESULT")
            end = time.monotonic() + 0.2
            while sub.count("RESULT") == seen and time.monotonic() < end:
                time.sleep(0.002)
            if sub.count("RESULT") == seen:
                idle.append(t)
            else:
                idle.clear()
    try:
        res, net = _run(broker, _scenario(post, "2026-01-15T12:00:00Z", "20m"), on_tick,
                        status_at=start + 19 * 60)
        _settle(lambda: sub.count("RESULT") >= n - net["cmd_dropped"], 5)
        replies = sub.json("RESULT")
        assert not res.crashes
        assert net["connects"] == 1 and net["attempts"] == 1, net
        busy = [r for r in replies if r.get("error") == "busy"]
        done = [r for r in replies if r.get("relay") == "auto"]
        assert len(busy) == net["busy"] and busy and done, (len(busy), len(done), net)
        assert len(done) + len(busy) + net["cmd_dropped"] == n, (len(done), len(busy), net)
    finally:
        sub.close()


GOOD = ('{{"t": "2026-01-15T11:00:{s:02d}Z", "id": "NL-POISON", "seq": {s}, "ev": "alarm", '
        '"alarm": "lampFailure", "state": "raised", "count": 1, "dseq": {s}}}')


def test_unsendable_outbox_files_are_quarantined_and_the_rest_flows(broker, tmp_path):
    """Finding 9: an outbox file with an empty or wildcard topic at the head of the queue
    made 134 reconnects in 10 minutes and none of the 9 messages behind it went out.
    Corrupt files of every kind are set aside, reported once each, and boot goes on."""
    post = "NL-POISON"
    flash = tmp_path / "flash"
    ob = flash / "outbox"
    ob.mkdir(parents=True)
    poison = {
        "00000001.a": b"\n" + GOOD.format(s=1).encode(),  # empty topic
        "00000002.a": b"stat/+/ALARM\n" + GOOD.format(s=2).encode(),  # wildcards
        "00000003.e": b"#\n" + GOOD.format(s=3).encode(),
        "00000004.a": b"stat/NL-POISON/\xff\xfe\n{}",  # not UTF-8
        "00000006.a": b"stat/NL-POISON/ALARM\n{" + b'"x": 1, ' * 20000 + b"}",  # huge
        "00000007.a": b"stat/NL-POISON/ALARM\n" + b"[" * 5000,  # nested, not an object
        "00000008.e": b"stat/NL-POISON/EV",  # truncated: no payload
    }
    for name, data in poison.items():
        (ob / name).write_bytes(data)
    (ob / "00000005.a").mkdir()  # a directory where a message belongs
    good = list(range(9, 18))
    for s in good:
        (ob / f"{s:08d}.a").write_text(f"stat/{post}/ALARM\n" + GOOD.format(s=s))
    (ob / "hi").write_bytes(b"\x00\xff garbage")
    sub = Sub(broker, f"stat/{post}/#")
    start = parse_time("2026-01-15T12:00:00Z")
    try:
        res, net = _run(broker, _scenario(post, "2026-01-15T12:00:00Z", "10m"),
                        status_at=start + 9 * 60, flash_dir=flash)
        _settle(lambda: sub.count("ALARM") >= len(good))
        assert not res.crashes and res.boots == 1
        assert net["connects"] == 1 and net["attempts"] == 1, net
        assert [a["dseq"] for a in sub.json("ALARM")] == good  # each once, in order
        assert net["outbox"] == 0 and net["outbox_bad"] == len(poison) + 1, net
        errors = [r["error"] for r in res.reports if r.get("ev") == "error"]
        for name in [*poison, "00000005.a"]:
            assert sum(name in e for e in errors) == 1, (name, errors)  # reported once
        mqtt_errors = [e["error"] for e in sub.json("EVENT") if e.get("ev") == "error"]
        assert sum("outbox:" in e for e in mqtt_errors) == len(poison) + 1, mqtt_errors
        assert len(list((flash / "outbox.q").iterdir())) >= 1  # set aside for a technician
    finally:
        sub.close()


def test_full_flash_still_sends_the_alarm_and_says_flash_full_everywhere(broker, tmp_path,
                                                                       monkeypatch):
    """Finding 10: on a full filesystem the alarms raised were never sent over MQTT (only
    Outbox.Errors counted). The firmware runs on a 64 KB LittleFS in RAM (hal/ramflash.py)
    that fills up at 21:05, before the lamp dies at 21:10."""
    post = "NL-FULL"
    start = parse_time("2026-01-15T21:00:00Z")
    monkeypatch.setenv("LAMPPOST_FLASH_KB", "64")
    monkeypatch.setenv("LAMPPOST_FLASH_FULL_AT", str(start + 300 - T2000))
    sub = Sub(broker, f"stat/{post}/#")
    try:
        res, net = _run(broker, _scenario(post, "2026-01-15T21:00:00Z", "40m",
                                          DEAD.format(at="2026-01-15T21:10:00Z")),
                        status_at=start + 39 * 60, heap="256k")
        _settle(lambda: sub.count("ALARM") >= 1 and sub.count("EVENT") >= 1)
        time.sleep(0.3)
        assert not res.crashes and res.boots == 1
        assert [(a["alarm"], a["state"]) for a in sub.json("ALARM")] == [("lampFailure", "raised")]
        serial_err = [r["error"] for r in res.reports if r.get("ev") == "error"]
        assert sum("flash full" in e for e in serial_err) == 1, serial_err  # serial, once
        mqtt_err = [e["error"] for e in sub.json("EVENT") if e.get("ev") == "error"]
        assert sum("flash full" in e for e in mqtt_err) == 1, mqtt_err  # MQTT, once
        assert net["flash"] == "full" and net["outbox"] == 0, net  # Status
    finally:
        sub.close()
