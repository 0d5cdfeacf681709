"""Property tests of the firmware's MQTT client (on MicroPython, via the mp fixture),
the scenario's [[network]] table, and the collector's CLI."""
from __future__ import annotations

import json
import struct

import pytest
from hypothesis import given, settings, strategies as st

from host_tools.collector import cli as collector_cli
from host_tools.collector.store import Register
from simulator.scenario import ScenarioError, loads


@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(max_size=64), max_size=8))
def test_arbitrary_bytes_from_the_broker_never_crash_the_client(mp, chunks):
    r = mp.call("mqtt_fuzz", "feed", [c.hex() for c in chunks])
    # either still connected, or it closed the socket and will reconnect: never an exception
    assert r["up"] or (r["closed"] and r["error"]), r


def _publish(topic: bytes, payload: bytes, qos: int, pid: int) -> bytes:
    body = struct.pack("!H", len(topic)) + topic + (struct.pack("!H", pid) if qos else b"") + payload
    n, enc = len(body), bytearray()
    while True:
        b, n = n & 0x7F, n >> 7
        enc.append(b | (0x80 if n else 0))
        if not n:
            break
    return bytes([0x30 | qos << 1]) + bytes(enc) + body


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.text(min_size=1, max_size=40).map(str.encode),
                          st.binary(max_size=300), st.integers(0, 1),
                          st.integers(1, 65535)), max_size=6),
       st.integers(1, 7))
def test_well_formed_publishes_all_arrive_however_they_are_split(mp, msgs, cut):
    stream = b"".join(_publish(t, p, q, i) for t, p, q, i in msgs)
    chunks = [stream[i:i + cut * 13] for i in range(0, len(stream), cut * 13)]
    r = mp.call("mqtt_fuzz", "feed", [c.hex() for c in chunks])
    assert r["up"] and r["messages"] == len(msgs), r


NET = '[run]\nstart = "2026-01-15T12:00:00Z"\nduration = "1d"\n'


def test_network_events_are_validated_with_line_and_field():
    sc = loads(NET + '[[network]]\nkind = "slow"\ndelay = "30s"\nat = "2026-01-15T13:00:00Z"\n'
               'until = "2026-01-15T14:00:00Z"\n')
    (ev,) = sc.network
    assert (ev.kind, ev.delay, ev.until - ev.at) == ("slow", 30, 3600)
    with pytest.raises(ScenarioError, match=r":5: network\[0\].kind: 'wifi_gone' is not one of"):
        loads(NET + '[[network]]\nkind = "wifi_gone"\nat = "2026-01-15T13:00:00Z"\n')
    with pytest.raises(ScenarioError, match=r"network\[0\].until: must be after"):
        loads(NET + '[[network]]\nkind = "link_down"\nat = "2026-01-15T13:00:00Z"\n'
              'until = "2026-01-15T12:00:00Z"\n')
    with pytest.raises(ScenarioError, match=r"network\[0\].when: unknown field"):
        loads(NET + '[[network]]\nkind = "link_down"\nwhen = 3\n')


def test_collector_dedups_and_exports(tmp_path, capsys):
    db = str(tmp_path / "reg.sqlite")
    reg = Register(db)
    a = {"t": "2026-01-15T22:00:02Z", "ev": "alarm", "alarm": "lampFailure", "state": "raised",
         "dseq": 4}
    reg.handle("stat/NL-9/ALARM", json.dumps(a).encode())
    reg.handle("stat/NL-9/ALARM", json.dumps(a).encode())  # a resend after a lost PUBACK
    reg.handle("stat/NL-9/ALARM", b"\xff not json")
    reg.handle("tele/NL-9/LWT", b"Online")
    reg.close()
    assert collector_cli.main(["alarms", "--db", db, "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["device"], r["dseq"], r["alarm"]) for r in rows] == [("NL-9", 4, "lampFailure")]
    assert collector_cli.main(["posts", "--db", db, "--csv"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("post,online,alarms") and out[1].startswith("NL-9,Online,1,4,1,")
    assert collector_cli.main(["posts", "--db", str(tmp_path / "none.sqlite")]) == 2
    assert "no register" in capsys.readouterr().err


def test_sim_and_collector_cli_say_what_is_wrong_with_a_broker_address(tmp_path, capsys):
    from testbed import cli as sim_cli
    assert sim_cli.main(["run", "--broker", "localhost:notaport", "--quiet"]) == 1
    assert "not host:port" in capsys.readouterr().err
    db = str(tmp_path / "r.sqlite")
    assert collector_cli.main(["listen", "--broker", "localhost:99999", "--db", db]) == 2
    assert "not host:port" in capsys.readouterr().err


def test_collector_listen_records_what_a_broker_carries(tmp_path):
    """`lamppost-collector listen` as a user runs it: it says it listens once subscribed, stores
    what arrives, and Ctrl-C ends it with a table. Every wait is on an event (its line, the
    PUBACK, the row in the register), never on a sleep."""
    import signal
    import subprocess
    import sys
    import time
    import paho.mqtt.client as mqtt
    from simulator.broker import Broker, kind_from_env
    from terminal import like_a_shell, signal_state
    db = str(tmp_path / "r.sqlite")
    with Broker(kind_from_env()) as b:
        import os
        proc = subprocess.Popen([sys.executable, "-m", "host_tools.collector.cli", "listen",
                                 "--broker", b.addr, "--db", db],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env={**os.environ, "PYTHONFAULTHANDLER": "1"}, preexec_fn=like_a_shell)
        try:
            assert "listening on" in proc.stdout.readline()  # printed after the SUBACK
            c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"pub-{id(proc)}")
            c.connect(b.host, b.port)
            c.loop_start()
            info = c.publish("stat/NL-7/ALARM", json.dumps({
                "dseq": 1, "ev": "alarm", "alarm": "lampFailure", "state": "raised",
                "t": "2026-01-15T22:00:02Z"}), qos=1)
            info.wait_for_publish(timeout=60)
            assert info.is_published()
            c.loop_stop()
            c.disconnect()
            deadline = time.monotonic() + 60  # a safety net: the row comes within milliseconds
            while not Register(db).events("NL-7") and time.monotonic() < deadline:
                time.sleep(0.05)
            proc.send_signal(signal.SIGINT)
            try:
                out, err = proc.communicate(timeout=60)
            except subprocess.TimeoutExpired:  # seen twice at load 10-20: say where it hangs
                sig = signal_state(proc.pid)
                proc.send_signal(signal.SIGABRT)  # faulthandler prints every thread's stack
                out, err = proc.communicate(timeout=30)
                raise AssertionError(f"listen did not end within 60 s of Ctrl-C:\n{sig}{err}") from None
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert proc.returncode == 0, err
    assert "NL-7" in out
    assert [r["alarm"] for r in Register(db).events("NL-7")] == ["lampFailure"]


def test_host_signature_is_what_the_firmware_checks(mp):
    from host_tools.collector.sign import mac_hex
    for key, dev, cmd, param, ctr in (("k", "NL-1", "teleperiod", "60", 1),
                                      ("a longer key " * 8, "LP-ÆØ", "power", "", 2 ** 40)):
        assert mac_hex(key, dev, cmd, param, ctr) == mp.call(
            "lamppost.signedcmd", "mac_hex", key, dev, cmd, param, ctr)
