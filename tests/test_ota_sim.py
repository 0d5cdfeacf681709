"""Over-the-air updates of the real firmware in the simulator, through a real broker, in virtual time.

One post at night (its lamp must stay lit) is offered, in turn: bundles it must refuse
(signed by another key, for another chip, a tampered byte, an older version), a good
0.2.0 that it downloads in chunks over its MQTT session, runs on trial and confirms,
then a 0.3.0 that crashes at import and a 0.3.1 that hangs (the board's watchdog,
played by the simulator): both roll back by themselves to 0.2.0 and say so (`ev: ota`
`state: rolledBack`). The lamp is never dark while it should burn.
"""
from __future__ import annotations

import threading

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from host_tools.ota import bundle as ob
from host_tools.ota.server import OtaServer
from simulator.broker import Broker, kind_from_env
from testbed.ota_build import CRASH, HANG, variant
from simulator.runner import Simulation
from simulator.scenario import loads

POST = "NL-OTA1"
SCENARIO = f'[post]\nid = "{POST}"\n[run]\nstart = "2026-01-15T19:00:00Z"\nduration = "10h"\n'
WAIT = 300.0  # wall s: a safety net only; every wait ends on an event


@pytest.fixture(scope="module")
def broker():
    b = Broker(kind_from_env())
    yield b
    b.close()


def _boots(res) -> list[str]:
    return [r["fw"] for r in res.reports if r.get("ev") == "boot"]


def _ota(res) -> list[tuple]:
    return [(r["state"], r.get("v")) for r in res.reports if r.get("ev") == "ota"]


def test_update_refusals_trial_confirm_and_rollbacks(broker, tmp_path):
    key = Ed25519PrivateKey.generate()
    other = Ed25519PrivateKey.generate()
    good = variant("0.2.0", key, tmp_path / "good")
    forged = variant("0.2.0", other, tmp_path / "forged")
    chip = ob.build(good.dir / "files", tmp_path / "chip", "0.2.0", "esp32", key)
    tampered = ob.build(good.dir / "files", tmp_path / "tampered", "0.2.0", "host", key)
    first = tampered.files[0][0]  # the first file fetched: the refusal comes early
    f = tampered.dir / "files" / first
    raw = bytearray(f.read_bytes())
    raw[len(raw) // 2] ^= 0x01
    f.write_bytes(bytes(raw))
    older = variant("0.0.9", key, tmp_path / "older")
    crash = variant("0.3.0", key, tmp_path / "crash", CRASH)
    hang = variant("0.3.1", key, tmp_path / "hang", HANG)

    sim = Simulation(loads(SCENARIO), broker=broker.addr, hold=True, watchdog_s=6.0,
                     net_config={"cmd_key": "k", "ota_key": ob.public_hex(key)})
    srv = OtaServer(broker.host, broker.port)
    box: dict = {}
    th = threading.Thread(target=lambda: box.setdefault("res", sim.run()), daemon=True)
    th.start()
    try:
        assert sim.ready.wait(60)
        steps = [(forged, "refused", "bad signature"), (chip, "refused", "chip esp32"),
                 (tampered, "refused", f"{first}: SHA-256"), (older, "refused", "older"),
                 (good, "confirmed", None), (crash, "rolledBack", "resets in a row"),
                 (hang, "rolledBack", "by watchdog")]
        for b, want, why in steps:
            srv.offer(POST, b)
            st = srv.wait(POST, ("confirmed", "rolledBack", "refused", "failed"), WAIT)
            assert st is not None and st.state == want, (b.version, st and st.to_dict())
            if why:
                assert why in (st.why or ""), st.to_dict()
    finally:
        sim.stop()
        th.join(60)
        srv.close()
        sim.close()
    res = box["res"]
    boots = _boots(res)
    assert boots[0] == "0.1.0" and "0.2.0" in boots
    assert boots[-1] == "0.2.0"  # rolled back twice to the confirmed 0.2.0, never to the cable's 0.1.0
    states = _ota(res)
    assert ("downloading", "0.2.0") in states and ("trial", "0.2.0") in states
    assert ("confirmed", "0.2.0") in states
    assert ("rolledBack", "0.3.0") in states and ("rolledBack", "0.3.1") in states
    assert srv.wire_bytes > good.total_bytes()
    # the lamp burnt all night (the scenario's 10 h; a slow run goes on into the day, where
    # dark is right): at most the tick of each restart dark
    night = res.scenario.end
    dark = [row[0] for row in res.trace if row[0] < night and row[8] and not row[1]]
    assert len(dark) <= res.boots, (len(dark), res.boots)
