"""`lamppost-ops serve` against a real broker: MQTT in, an order out, /healthz, a contractor's
signed status update in over HTTP, JSON logs."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request

import paho.mqtt.client as mqtt
import pytest

from sqlalchemy import select

from host_tools.ops import schema
from host_tools.ops.db import open_db
from host_tools.ops.inbound import sign
from simulator.broker import Broker, free_port, kind_from_env

from .helpers import T0, iso, town, wait_for, write_register

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def health(port):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())
    except OSError:
        return None


def inbound_post(port, body: bytes, signature: str):
    req = urllib.request.Request(f"http://127.0.0.1:{port}/inbound/houten/citytec", data=body,
                                 method="POST", headers={"X-Lamppost-Signature": signature,
                                                         "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def test_serve_turns_mqtt_alarms_into_an_order(db_url, tmp_path):
    reg = write_register(tmp_path / "reg.csv", town(6))
    (tmp_path / "ops.toml").write_text(  # the contractor's system is down: status comes inbound
        '[municipality.houten.contractor.citytec]\nadapter = "webhook"\n'
        'url = "http://127.0.0.1:9/down"\nsecret = "s3cret"\n')
    cli = [sys.executable, "-m", "host_tools.ops", "--db", db_url, "--config", str(tmp_path / "ops.toml")]
    assert subprocess.run([*cli, "register", "import", str(reg)], cwd=ROOT).returncode == 0
    with Broker(kind_from_env()) as b:
        hp = free_port()
        cp = free_port()
        while cp == hp:  # the kernel may hand the same free port out twice in a row
            cp = free_port()
        svc = subprocess.Popen([*cli, "serve", "--broker", b.addr, "--health", f"127.0.0.1:{hp}",
                                "--console", f"127.0.0.1:{cp}",
                                "--interval", "0.3", "--client-id", f"ops-{hp}", "--for", "900"],
                               cwd=ROOT, stderr=subprocess.PIPE, text=True)
        try:
            code, h = wait_for(lambda: (r := health(hp)) and r[0] == 200 and r, what="healthz 200")
            assert h["broker"] and h["database"]
            pub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"post-{hp}")
            pub.connect(b.host, b.port)
            pub.loop_start()
            alarm = {"t": iso(T0), "id": "HT-0005", "seq": 4, "ev": "alarm", "alarm": "lampFailure",
                     "state": "raised", "count": 1, "dseq": 7, "inc": "00000001"}
            for payload in (alarm, alarm):  # a resend after a lost PUBACK
                pub.publish("stat/HT-0005/ALARM", json.dumps(payload), qos=1).wait_for_publish(10)
            pub.publish("stat/HT-0005/ALARM", b"{not json", qos=1).wait_for_publish(10)
            pub.publish("tele/HT-0005/STATE", json.dumps({"Time": iso(T0 + 1000)}), qos=1).wait_for_publish(10)
            # what the console shows of a post: its meter (SENSOR) and its lamp (STATE POWER)
            pub.publish("tele/HT-0005/SENSOR", json.dumps({"Time": iso(T0 + 1001), "ENERGY": {
                "Total": 12.5, "Power": 61.0, "Voltage": 229.8, "Current": 0.27, "Factor": 0.98}}),
                qos=1).wait_for_publish(10)
            pub.publish("tele/HT-0005/STATE", json.dumps({"Time": iso(T0 + 1002), "POWER": "ON"}),
                        qos=1).wait_for_publish(10)
            code, h = wait_for(lambda: (r := health(hp)) and r[1]["open_orders"] == 1 and r, what="an order")
            assert h["rejected"] == 1 and h["duplicates"] == 1
            # the contractor reports it acknowledged by a signed POST; a forged one is refused
            upd = json.dumps({"event_id": "ct-1", "order": 1, "status": "acknowledged"}).encode()
            assert inbound_post(hp, upd, "sha256=" + "0" * 64)[0] == 401
            assert inbound_post(hp, upd, sign("s3cret", upd)) == \
                (200, {"order": 1, "status": "acknowledged", "result": "applied"})
            assert inbound_post(hp, upd, sign("s3cret", upd))[1]["result"] == "duplicate"
            assert health(hp)[1]["inbound_bad_signature"] == 1
            # the web console answers in the same process; its API wants a login
            with urllib.request.urlopen(f"http://127.0.0.1:{cp}/login", timeout=10) as r:
                assert r.status == 200 and b"Log in" in r.read()
            with pytest.raises(urllib.error.HTTPError) as err:
                urllib.request.urlopen(f"http://127.0.0.1:{cp}/api/v1/orders", timeout=10)
            assert err.value.code == 401
            eng = open_db(db_url)
            with eng.connect() as c:
                # stored once, in telemetry, and what the console's post page reads
                wait_for(lambda: c.execute(select(schema.telemetry.c.power_w).where(
                    schema.telemetry.c.post_id == "HT-0005")).scalar() == 61.0 or c.rollback(),
                    what="the SENSOR reading kept for the console")
                from host_tools.ops.web import views
                from host_tools.ops.web.accounts import User
                page = views.post_detail(c, User(1, "v", "viewer", "houten", None), "HT-0005", None)
                assert page["readings"]["power_w"] == 61.0 and page["readings"]["total_kwh"] == 12.5
                assert c.execute(select(schema.post_state.c.lamp).where(
                    schema.post_state.c.post_id == "HT-0005")).scalar() == "on"
            eng.dispose()
            pub.loop_stop()
            pub.disconnect()
        finally:
            svc.terminate()
            _, err = svc.communicate(timeout=30)
    logs = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    assert any(l["msg"] == "message rejected" and "not JSON" in l["why"] for l in logs)
    assert any(l["msg"] == "round" and l.get("opened") == 1 for l in logs)
    out = subprocess.run([*cli, "--json", "orders"], cwd=ROOT, capture_output=True, text=True)
    [o] = json.loads(out.stdout)
    assert (o["post_id"], o["fault_class"], o["first_t"], o["status"]) == ("HT-0005", "lamp", T0, "acknowledged")


def test_a_worker_back_after_kill_9_is_not_handed_every_retained_lwt_again(db_url, tmp_path):
    """Every post's LWT is retained. A worker that comes back under its client id (its
    persistent session holds the subscriptions) must not get the whole fleet's retained
    LWTs again on each restart: at 100,000 posts and a kill every 30 s that was millions of
    updates, and alarms and telemetry waited behind them."""
    reg = write_register(tmp_path / "reg.csv", town(6))
    cli = [sys.executable, "-m", "host_tools.ops", "--db", db_url]
    assert subprocess.run([*cli, "register", "import", str(reg)], cwd=ROOT).returncode == 0
    with Broker(kind_from_env()) as b:
        pub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="lwt-src")
        pub.connect(b.host, b.port)
        pub.loop_start()
        for i in range(6):
            pub.publish(f"tele/HT-{i:04d}/LWT", "Online", qos=1, retain=True).wait_for_publish(10)

        def start():
            hp = free_port()
            return hp, subprocess.Popen([*cli, "serve", "--broker", b.addr, "--health", f"127.0.0.1:{hp}",
                                         "--share", "ops", "--client-id", "ops-rh", "--interval", "0.5",
                                         "--for", "900"], cwd=ROOT, stderr=subprocess.DEVNULL)
        hp, svc = start()
        try:  # a new subscription: the retained LWTs come, as the register needs them
            wait_for(lambda: (r := health(hp)) and r[1]["received"] >= 6, what="the retained LWTs")
        finally:
            svc.kill()
            svc.wait(30)
        hp, svc = start()
        try:
            wait_for(lambda: (r := health(hp)) and r[0] == 200, what="healthz 200")
            time.sleep(1.0)  # SUBACK, then whatever retained the broker would send
            pub.publish("tele/HT-0001/STATE", json.dumps({"Time": iso(T0 + 60), "POWER": "ON"}),
                        qos=1).wait_for_publish(10)
            got = wait_for(lambda: (r := health(hp)) and r[1]["received"] - r[1]["redelivered"] >= 1
                           and r[1], what="the STATE")
            time.sleep(1.0)
            h = health(hp)[1]
            # the STATE, and no retained LWT sent afresh. LWTs the first worker took but had
            # not acknowledged when it was killed come again with DUP set (QoS 1 redelivery,
            # as it must): on a busy machine that is some or all six
            assert h["received"] - h["redelivered"] == 1, (got, h)
        finally:
            svc.kill()
            svc.wait(30)
            pub.loop_stop()
