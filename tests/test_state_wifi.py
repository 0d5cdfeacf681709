"""STATE as a Tasmota technician reads it (issue 17): Wifi{RSSI, Signal, SSId, Channel,
LinkCount, Downtime} and a Heap that is right from the first report after boot."""
from __future__ import annotations

import json

import pytest

from simulator.broker import Broker, kind_from_env
from test_ha_discovery import Sub, _run


@pytest.fixture(scope="module")
def broker():
    b = Broker(kind_from_env())
    yield b
    b.close()


def test_state_carries_tasmota_wifi_fields_and_a_true_heap_from_the_first(broker):
    post = "NL-W1"
    sub = Sub(broker, f"tele/{post}/STATE")
    try:
        # TelePeriod 30 s: many STATEs; the first goes out before discovery starts
        _run(broker, post, {"wifi_ssid": "Gemeente-IoT", "tele_period": 30}, {}, duration="10m")
    finally:
        sub.close()
    states = [json.loads(p) for p in sub.of(f"tele/{post}/STATE")]
    assert len(states) > 15
    w = states[0]["Wifi"]
    assert set(w) == {"RSSI", "Signal", "SSId", "Channel", "LinkCount", "Downtime", "DowntimeSec"}
    assert w["SSId"] == "Gemeente-IoT" and w["LinkCount"] == 1
    assert w["Downtime"] == "0T00:00:00" and w["DowntimeSec"] == 0
    # the host HAL has no radio: it says null rather than inventing a signal
    assert w["RSSI"] is None and w["Signal"] is None and w["Channel"] is None
    heaps = [s["Heap"] for s in states]
    settled = sorted(heaps[len(heaps) // 2:])[len(heaps) // 4]
    assert abs(heaps[0] - settled) <= 2, heaps  # kB: collected before it is read
