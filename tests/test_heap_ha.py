"""The heap stays flat with MQTT and Home Assistant discovery on (issue 17): discovery runs
once per boot and its module is dropped after, so the afternoon has what the morning had.
(The two-day proof without a broker is tests/test_heap.py; with a broker the simulated network
makes a tick dearer, so this runs 6 h across dusk: switching, telemetry, discovery.)"""
from __future__ import annotations

from simulator.broker import Broker, kind_from_env
from simulator.firmware_proc import DEFAULT_HEAP
from simulator.heapprobe import HeapProbe
from simulator.scenario import loads

TOLERANCE = 1024  # bytes, as tests/test_heap.py: high-water marks read without a forced collect
SC = """
[post]
id = "NL-HP1"
[run]
start = "2026-01-15T13:00:00Z"
duration = "6h"
"""


def test_half_a_day_with_broker_and_discovery_without_heap_growth():
    with Broker(kind_from_env()) as b:
        sim = HeapProbe(loads(SC), every=60, heap=DEFAULT_HEAP, broker=b.addr,
                        net_config={"site": "utrecht", "ha_control": True, "tele_period": 60})
        try:
            res = sim.run()
        finally:
            sim.close()
    assert not res.crashes, res.crashes[:1]
    s = sim.run_info.samples
    assert len(s) > 300
    first = max(f for t, f in s if 1800 <= t < 3 * 3600)  # after discovery, before dusk
    last = max(f for t, f in s if 4 * 3600 <= t)  # lit, hours of telemetry later
    assert last >= first - TOLERANCE, (first, last)
    assert min(f for _, f in s) > 0
