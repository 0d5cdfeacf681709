"""No message stops the collector or breaks a reader: every payload is validated
(host_tools/collector/validate.py), a reject goes to quarantine with its reason, the listener
stays up, a register it cannot write makes `listen` exit non-zero, and `posts`, `alarms` and
the simulator's summary read any register, old bad rows included."""
from __future__ import annotations

import json
import sqlite3
import threading
import time
from types import SimpleNamespace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from host_tools.collector import cli
from host_tools.collector.listen import Listener
from host_tools.collector.store import Register
from host_tools.collector.validate import MAX_PAYLOAD, Reject, validate
from simulator.broker import Broker, kind_from_env
from testbed.mqtt_session import MqttSession

# the examples of issue 10, finding 3, and their whole family
POISON = [
    ("stat/X/ALARM", b'{"dseq":1e400}'),
    ("stat/X/ALARM", b'{"dseq":Infinity}'),
    ("stat/X/ALARM", b'{"dseq":-Infinity,"ev":"alarm"}'),
    ("stat/X/ALARM", b'{"dseq":NaN,"ev":"alarm"}'),
    ("stat/X/ALARM", b'{"dseq":99999999999999999999,"ev":"alarm"}'),
    ("stat/X/ALARM", b'{"dseq":{"a":1},"ev":"alarm"}'),
    ("stat/X/EVENT", b'{"dseq":[1],"ev":"boot"}'),
    ("stat/X/ALARM", b'{"dseq":1,"ev":{"x":1}}'),
    ("stat/X/ALARM", b'{"dseq":1,"ev":"alarm","alarm":[1]}'),
    ("stat/X/ALARM", b'{"dseq":1.5,"ev":"alarm"}'),
    ("stat/X/ALARM", b'{"dseq":true,"ev":"alarm"}'),
    ("stat/X/ALARM", b'[' * 5000 + b']' * 5000),
    ("stat/X/ALARM", b'{"a":' * 2000 + b'1' + b'}' * 2000),
    ("stat/X/EVENT", b'{"dseq":2,"ev":"boot","x":' + b'[' * 40 + b']' * 40 + b'}'),
    ("tele/X/STATE", b"not json"),
    ("tele/X/STATE", b'["a list"]'),
    ("tele/X/STATE", b'{"UptimeSec":1e400}'),
    ("tele/X/STATE", b'{"Outbox":7}'),
    ("tele/X/STATE", b'{"Outbox":{"FlashFull":"yes"}}'),
    ("tele/X/STATE", b'{"Outbox":{"Queued":true}}'),
    ("tele/X/SENSOR", b'{"ENERGY":7}'),
    ("tele/X/SENSOR", b'{"ENERGY":{"Power":"lots"}}'),
    ("tele/X/SENSOR", b'{"Time":"x"}'),
    ("tele/X/LWT", b"Maybe"),
    ("stat/X/RESULT", b"\xff\xfe"),
    ("stat/X/RESULT", b'"just a string"'),
    ("stat/X/ALARM", b'{"dseq":1,"ev":"alarm","inc":"NOT-HEX!"}'),
    ("stat/X/ALARM", b'{"dseq":1,"ev":"alarm","t":"' + b"x" * 600 + b'"}'),
    ("stat/X/ALARM", b"{" + b'"k":1,' * 2000 + b'"z":1}'),
    ("stat/X/ALARM", b'{"dseq":1,"ev":"alarm","pad":"' + b"x" * MAX_PAYLOAD + b'"}'),
    ("stat/X/ALARM", b""),
    ("stat/NL+1/ALARM", b'{"dseq":1,"ev":"alarm"}'),
    ("stat/" + "x" * 40 + "/ALARM", b'{"dseq":1,"ev":"alarm"}'),
    ("stat/X/POWER", b"ON"),
    ("tele/X/STATE/extra", b"{}"),
]
GOOD_ALARM = json.dumps({"t": "2026-01-15T22:00:02Z", "id": "X", "seq": 4, "ev": "alarm",
                         "alarm": "lampFailure", "state": "raised", "count": 1, "Voltage": 230.8,
                         "inc": "0badcafe", "dseq": 9})


def _readers(reg: Register) -> str:
    """Everything a user reads from a register: the CLI's tables, JSON and CSV, the simulator's
    summary. Returns the text (so a reader that fails, fails the test)."""
    import io
    out = io.StringIO()
    for fmt in ("table", "json", "csv"):
        cli.emit(cli.post_rows(reg), cli.POST_COLS, fmt, out)
        cli.emit(reg.events(alarms_only=False), cli.ALARM_COLS, fmt, out)
        cli.emit(reg.quarantined(), cli.QUARANTINE_COLS, fmt, out)
    json.dumps(reg.results())
    out.write(MqttSession.summary(SimpleNamespace(reg=reg)))
    return out.getvalue()


@pytest.mark.parametrize("topic,payload", POISON, ids=[f"{t[:20]}:{p[:24]!r}" for t, p in POISON])
def test_each_poison_message_is_quarantined_with_a_reason(topic, payload):
    reg = Register()
    with pytest.raises(Reject) as e:
        validate(topic, payload)
    assert e.value.reason
    assert reg.handle(topic, payload) is None
    (q,) = reg.quarantined()
    assert q["reason"] == e.value.reason and q["size"] == len(payload)
    assert q["topic"] == topic[:256]
    assert reg.events(alarms_only=False) == [] and all(
        p["state"] == {} and p["energy"] == {} for p in reg.posts())
    _readers(reg)


def test_the_real_firmware_messages_pass():
    """Messages as the firmware writes them (uplink.py) are stored, not quarantined."""
    reg = Register()
    state = {"Time": "2026-01-15T22:00:00Z", "Uptime": "0T01:00:00", "UptimeSec": 3600, "Heap": 40,
             "POWER": "ON", "Dimmer": 100, "Wifi": {"LinkCount": 1, "Downtime": 0},
             "MQTT": {"Connects": 1, "Attempts": 1, "LastError": "", "Oversize": 0, "Busy": 0,
                      "Dropped": 0},
             "Outbox": {"Queued": 0, "Alarms": 0, "Lost": 0, "Errors": 0, "Ram": 0, "Bad": 0,
                        "FlashFull": False}}
    sensor = {"Time": "2026-01-15T22:00:00Z", "ENERGY": {"Total": 1.234, "operatingHours": 3,
              "switchOnCounter": 2, "Power": 60.1, "ApparentPower": 62.0, "Factor": 0.97,
              "Voltage": 230.1, "Current": 0.27}}
    for topic, payload in (("tele/X/LWT", "Online"), ("tele/X/STATE", json.dumps(state)),
                           ("tele/X/SENSOR", json.dumps(sensor)), ("stat/X/ALARM", GOOD_ALARM),
                           ("stat/X/RESULT", json.dumps({"cmd": "log", "entries": [[1, 2, "boot"]]}))):
        assert reg.handle(topic, payload.encode()) is not None, topic
    assert reg.quarantined() == []
    (p,) = reg.posts()
    assert p["online"] == "Online" and p["state"] == state and p["energy"]["Power"] == 60.1
    assert [(a["alarm"], a["dseq"], a["inc"]) for a in reg.events()] == [("lampFailure", 9, "0badcafe")]


def _json_value():
    scalars = (st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True, allow_infinity=True)
               | st.text(max_size=40))
    return st.recursive(scalars, lambda kids: st.lists(kids, max_size=4)
                        | st.dictionaries(st.sampled_from(["dseq", "ev", "alarm", "state", "t", "inc",
                                                           "ENERGY", "Power", "UptimeSec", "Outbox",
                                                           "MQTT", "cmd", "x"]) | st.text(max_size=8),
                                          kids, max_size=6), max_leaves=20)


def _payload():
    def dumps(v):
        try:
            return json.dumps(v).encode()
        except (ValueError, RecursionError):
            return b"{}"
    near = st.fixed_dictionaries({"dseq": st.integers(-5, 2 ** 64) | _json_value(),
                                  "ev": st.sampled_from(["alarm", "boot", ""]) | _json_value()},
                                 optional={"inc": st.text(max_size=10), "alarm": _json_value(),
                                           "state": _json_value(), "t": _json_value()})
    return (st.binary(max_size=300) | _json_value().map(dumps) | near.map(dumps)
            | st.sampled_from([p for _, p in POISON]))


TOPIC = (st.builds(lambda pre, post, leaf: f"{pre}/{post}/{leaf}",
                   st.sampled_from(["tele", "stat", "cmnd", ""]),
                   st.sampled_from(["X", "NL-0001", "a_b", ""]) | st.text(max_size=40),
                   st.sampled_from(["LWT", "STATE", "SENSOR", "ALARM", "EVENT", "RESULT", "POWER"]))
         | st.text(max_size=60))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(msgs=st.lists(st.tuples(TOPIC, _payload()), min_size=1, max_size=6))
def test_any_message_is_stored_valid_or_quarantined_and_readers_never_fail(msgs):
    reg = Register()
    stored = quarantined = 0
    for topic, payload in msgs:
        got = reg.handle(topic, payload)
        if got is None:
            quarantined += 1
        else:
            stored += 1
            assert got == validate(topic, payload)  # what is stored passed the validator
    assert len(reg.quarantined(1000)) == quarantined and stored + quarantined == len(msgs)
    for p in reg.posts():  # what a reader gets has the types it reads
        assert isinstance(p["state"], dict) and isinstance(p["energy"], dict)
    for e in reg.events(alarms_only=False):
        assert isinstance(e["dseq"], int) and 1 <= e["dseq"] < 2 ** 31 and isinstance(e["ev"], str)
    _readers(reg)


OLD_SCHEMA = """
CREATE TABLE posts (id TEXT PRIMARY KEY, lwt TEXT, state TEXT, sensor TEXT, updated REAL,
                    duplicates INTEGER DEFAULT 0);
CREATE TABLE events (arrival INTEGER PRIMARY KEY AUTOINCREMENT, device TEXT NOT NULL,
    dseq INTEGER NOT NULL, ev TEXT, alarm TEXT, state TEXT, t TEXT, payload TEXT, received REAL,
    UNIQUE (device, dseq));
CREATE TABLE results (device TEXT, payload TEXT, received REAL);
"""


def test_a_register_with_bad_rows_from_an_older_collector_is_read_and_kept(tmp_path, capsys):
    """What today's main stored raw (non-JSON STATE, {"ENERGY":7}, odd event values) no longer
    breaks `posts`, `alarms` or the summary, and its events survive the new key."""
    db = tmp_path / "old.sqlite"
    con = sqlite3.connect(db)
    con.executescript(OLD_SCHEMA)
    con.executemany("INSERT INTO posts VALUES (?,?,?,?,?,?)", [
        ("X", "Online", "not json", '{"ENERGY":7}', 0, 0),
        ("Y", "weird", '["list"]', "{bad", 0, 3),
        ("Z", None, '{"Uptime": {"deep": [1]}}', '{"ENERGY": {"Power": Infinity}}', 0, 0)])
    con.executemany("INSERT INTO events (device, dseq, ev, alarm, state, t, payload, received) "
                    "VALUES (?,?,?,?,?,?,?,?)", [
                        ("X", 1, "alarm", "lampFailure", "raised", "2026-01-15T22:00:00Z",
                         '{"dseq": 1, "ev": "alarm"}', 0),
                        ("X", 2, "alarm", 3.5, float("inf"), None, "garbage", 0),
                        ("Y", 1, None, None, None, None, None, None)])
    con.execute("INSERT INTO results VALUES ('X', 'not json', 0)")
    con.commit()
    con.close()
    for argv in (["posts", "--db", str(db)], ["posts", "--db", str(db), "--json"],
                 ["alarms", "--db", str(db), "--all", "--csv"], ["alarms", "--db", str(db), "--json"]):
        assert cli.main(argv) == 0, argv
    out = capsys.readouterr().out
    assert "lampFailure" in out
    reg = Register(str(db))
    assert [(e["device"], e["dseq"], e["inc"]) for e in reg.events(alarms_only=False)] == [
        ("X", 1, ""), ("X", 2, ""), ("Y", 1, "")]
    _readers(reg)
    # an old post resending dseq 1 (no inc) is still a duplicate, not a new row
    reg.handle("stat/X/ALARM", b'{"dseq": 1, "ev": "alarm"}')
    assert len(reg.events("X")) == 2 and next(p for p in reg.posts() if p["id"] == "X")["duplicates"] == 1


# --- against a real broker: the listener survives every poison message -------------------------

@pytest.fixture(scope="module")
def broker():
    b = Broker(kind_from_env())
    yield b
    b.close()


def _publish(b: Broker, msgs, client_id="poisoner") -> None:
    import paho.mqtt.client as mqtt
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id)
    c.connect(b.host, b.port)
    c.loop_start()
    try:
        for topic, payload in msgs:
            c.publish(topic, payload, qos=1).wait_for_publish(5)
    finally:
        c.disconnect()
        c.loop_stop()


def _until(cond, timeout=10.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.05)
    return cond()


def test_the_listener_survives_every_poison_message_and_records_what_follows(broker):
    """Issue 10 finding 3: `{"dseq":1e400}` killed the listener thread; a later valid alarm and
    LWT were lost."""
    reg = Register()
    lis = Listener(reg, broker.host, broker.port)
    try:
        assert lis.wait_ready(10)
        poison = [(t.replace("X", "PZ"), p) for t, p in POISON if len(p) < 2000 and "+" not in t
                  and t.count("/") == 2]  # what a collector subscribed to tele/+/+ and stat/+/+ gets
        _publish(broker, poison + [("stat/PZ/ALARM", GOOD_ALARM.encode()),
                                   ("tele/PZ/LWT", b"Offline")])
        assert _until(lambda: reg.events("PZ") and next(
            (p for p in reg.posts() if p["id"] == "PZ"), {}).get("online") == "Offline"), \
            f"listener alive: {lis.alive}, quarantined: {reg.rejected}"
        assert lis.alive
        assert [a["alarm"] for a in reg.events("PZ")] == ["lampFailure"]
        seen = {(q["topic"], q["size"]) for q in reg.quarantined(1000)}
        assert seen == {(t, len(p)) for t, p in poison}
        reasons = {q["reason"] for q in reg.quarantined(1000)}
        assert any("out of range" in r for r in reasons) and any("Infinity" in r for r in reasons)
        _readers(reg)
    finally:
        lis.close()


@pytest.mark.skipif(not __import__("shutil").which("mosquitto"), reason="needs mosquitto (persistent "
                    "sessions queue what the failed collector did not acknowledge)")
def test_listen_exits_non_zero_when_the_register_cannot_be_written_and_loses_nothing(tmp_path, capsys):
    """A fatal error (here: another process holds the register locked) stops `listen` with exit 1
    and a reason, so a supervisor restarts it; the message it could not store was not
    acknowledged, so the broker delivers it again to the restarted collector."""
    db = str(tmp_path / "reg.sqlite")
    Register(db).close()
    with Broker("mosquitto") as b:
        listen = ["listen", "--broker", b.addr, "--db", db, "--client-id", "depot-fatal"]
        assert cli.main(listen + ["--for", "0.5"]) == 0  # the persistent session exists
        capsys.readouterr()
        rc: dict = {}
        th = threading.Thread(target=lambda: rc.setdefault("rc", cli.main(listen + ["--for", "60"])))
        th.start()
        said: list[str] = []
        assert _until(lambda: said.append(capsys.readouterr().out) or "listening on" in "".join(said), 20)
        lock = sqlite3.connect(db, timeout=0)
        lock.execute("BEGIN EXCLUSIVE")
        try:
            _publish(b, [("stat/FATAL-1/ALARM", GOOD_ALARM.encode())], "fatal-src")
            th.join(30)
        finally:
            lock.rollback()
            lock.close()
        assert not th.is_alive() and rc["rc"] == 1
        assert "register cannot be written" in capsys.readouterr().err
        assert cli.main(listen + ["--for", "5"]) == 0  # restarted: the broker delivers it again
        assert [e["alarm"] for e in Register(db).events("FATAL-1")] == ["lampFailure"]
