"""The operations side of `make demo`: the demo scenario's dead lamp becomes a ticket at the
demo contractor, is repaired at the scenario's repair time and verified by the post at dusk
(messages as the firmware sends them, without running the firmware)."""
from __future__ import annotations

import json

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
        assert "repaired at " + iso(dead.until) in ops.summary()
    finally:
        ops.close()
