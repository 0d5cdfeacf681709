"""The operations side of `make demo`: the demo scenario's dead lamp becomes a ticket at the
demo contractor, is repaired at the scenario's repair time and verified by the post at dusk
(messages as the firmware sends them, without running the firmware)."""
from __future__ import annotations

import json
import re

from host_tools.ops.demo import ROUND_S, OpsDemo
from testbed.cli import DEMO
from simulator.scenario import load

from .helpers import iso


def test_demo_dead_lamp_becomes_a_verified_order():
    sc = load(DEMO)
    ops = OpsDemo(sc)
    try:
        pid = sc.post.id
        dead = sc.faults[0]
        msgs = {dead.at + 2: ("stat", "ALARM", {"alarm": "lampFailure", "state": "raised"}),
                dead.until + 6 * 3600: ("stat", "ALARM", {"alarm": "lampFailure", "state": "cleared"})}
        dseq = 0
        for t in range(sc.start, dead.until + 8 * 3600, ROUND_S):
            if t in msgs or any(t < m < t + ROUND_S for m in msgs):
                mt = next(m for m in msgs if t <= m < t + ROUND_S)
                pre, leaf, body = msgs[mt]
                dseq += 1
                ops.handle(f"{pre}/{pid}/{leaf}", json.dumps(
                    {"t": iso(mt), "id": pid, "ev": "alarm", "dseq": dseq, **body}).encode())
            ops.handle(f"tele/{pid}/STATE", json.dumps({"Time": iso(t)}).encode())
            ops.on_tick(t)
        [o] = ops.e.orders()
        assert o["status"] == "verified" and o["remote_id"] == "DEMO-1"
        assert len(ops.contractor.tickets) == 1
        steps = [a["to_status"] for a in ops.e.timeline(o["id"]) if a["from_status"] != a["to_status"]]
        assert steps == ["opened", "dispatched", "acknowledged", "repaired", "verified"]
        summary = ops.summary()
        assert "repaired at " + iso(dead.until) in summary
        # the timeline's status column says repaired once: the post's clear is the verification
        rows = re.findall(r"(?m)^ +\d{4}-\d\d-\d\dT[\d:]+Z +(\w+) ", summary)
        assert rows == ["opened", "dispatched", "acknowledged", "repaired", "verified"], summary
        # the console on the demo's database: the banner's login works, the crew sees its order
        from host_tools.ops.demo import DEMO_CREW, DEMO_PASSWORD

        from .console_helpers import Http
        assert ops.web.url in ops.console_banner() and DEMO_PASSWORD in ops.console_banner()
        crew = Http(ops.web.url)
        assert crew.login(DEMO_CREW, DEMO_PASSWORD) == 303
        [seen] = json.loads(crew.get("/api/v1/orders")[1])
        assert (seen["id"], seen["status"]) == (o["id"], "verified")
    finally:
        ops.close()


def test_demo_welded_relay_order_says_repaired_once_though_it_holds_two_alarms():
    """The welded relay raises lampUnexpectedOn and relayFailure: one relay order. The post
    clears them one after the other; the first clear is a note, not a second 'repaired'."""
    sc = load(DEMO)
    ops = OpsDemo(sc, console=False)
    try:
        pid, welded = sc.post.id, sc.faults[1]
        msgs = [(welded.at + 2, "lampUnexpectedOn", "raised"), (welded.at + 2, "relayFailure", "raised"),
                (welded.until + 5, "lampUnexpectedOn", "cleared"), (welded.until + 5, "relayFailure", "cleared")]
        for dseq, (mt, alarm, state) in enumerate(msgs, 1):
            msgs[dseq - 1] = (mt, json.dumps({"t": iso(mt), "id": pid, "ev": "alarm", "dseq": dseq,
                                              "alarm": alarm, "state": state}).encode())
        for t in range(sc.start, welded.until + 2 * 3600, ROUND_S):
            for mt, body in msgs:
                if t <= mt < t + ROUND_S:
                    ops.handle(f"stat/{pid}/ALARM", body)
            ops.handle(f"tele/{pid}/STATE", json.dumps({"Time": iso(t)}).encode())
            ops.on_tick(t)
        orders = ops.e.orders()
        assert len(orders) == 1, ops.summary()
        o = orders[0]
        assert (o["fault_class"], o["status"]) == ("relay", "verified"), ops.summary()
        summary = ops.summary()
        assert "reports lampUnexpectedOn cleared" in summary  # the note is kept, as a note
        rows = re.findall(r"(?m)^ +\d{4}-\d\d-\d\dT[\d:]+Z +(opened|dispatched|acknowledged|repaired|verified) ",
                          summary)
        assert rows == ["opened", "dispatched", "acknowledged", "repaired", "verified"], summary
    finally:
        ops.close()
