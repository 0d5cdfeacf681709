"""Over-the-air updates, measured (docs/ota.md): one post, a wave, a rollback, flash and heap.

1. One post in the simulator, real broker, real firmware: a signed 0.2.0 offered at night.
   Virtual time to download (offer -> trial), to confirm, wall time, bytes on the wire
   (chunk payloads + 6-byte headers) against the bundle's size, and the free heap the
   post reports in STATE (KB after a collection) before and during the download.
2. A bundle that crashes at import: virtual time from the restart into it until the post
   reports `rolledBack` (running the confirmed firmware again).
3. A wave: three posts updated at once by `Rollout` (a canary of one, then two).
4. Flash: LittleFS block writes of a whole update (offer to confirmation) on the RAM flash
   of tests/mp/powercut_ota.py, per chunk.
"""
from __future__ import annotations

import json
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from host_tools.ota import bundle as ob
from host_tools.ops import db
from host_tools.ops.rollout import Rollout
from host_tools.ota.server import TERMINAL, OtaServer
from simulator.broker import Broker, kind_from_env
from simulator.firmware_proc import micropython_path
from testbed.ota_build import CRASH, variant
from simulator.runner import Simulation
from simulator.scenario import loads

ROOT = Path(__file__).resolve().parent.parent
START = "2026-01-15T19:00:00Z"


def _scenario(post: str) -> str:
    return f'[post]\nid = "{post}"\n[run]\nstart = "{START}"\nduration = "10h"\n'


class _Heap:
    """Free heap (KB) from each STATE a post sends, with the post's time."""

    def __init__(self, b: Broker):
        self.rows: list[tuple[str, int]] = []
        self.c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"bench-heap-{id(self):x}")
        self.c.on_connect = lambda c, *a: c.subscribe("tele/+/STATE", 0)
        self.c.on_message = lambda c, u, m: self.rows.append(
            (json.loads(m.payload)["Time"], json.loads(m.payload)["Heap"]))
        self.c.connect(b.host, b.port)
        self.c.loop_start()

    def close(self):
        self.c.loop_stop()
        self.c.disconnect()


def _start(b: Broker, post: str, key, **kw) -> tuple[Simulation, threading.Thread]:
    sim = Simulation(loads(_scenario(post)), broker=b.addr, hold=True, watchdog_s=10.0,
                     net_config={"cmd_key": "k", "ota_key": ob.public_hex(key), "tele_period": 10}, **kw)
    th = threading.Thread(target=sim.run, daemon=True)
    th.start()
    assert sim.ready.wait(60)
    return sim, th


def _stop(sim: Simulation, th: threading.Thread) -> None:
    sim.stop()
    th.join(60)
    sim.close()


def _t(res, state: str) -> int | None:
    from simulator.scenario import parse_time
    for r in res.reports:
        if r.get("ev") == "ota" and r.get("state") == state:
            return parse_time(r["t"])
    return None


def one_post(b: Broker, key, tmp: Path) -> dict:
    good = variant("0.2.0", key, tmp / "good")
    crash = variant("0.3.0", key, tmp / "crash", CRASH)
    heap = _Heap(b)
    srv = OtaServer(b.host, b.port)
    sim, th = _start(b, "NL-BOTA", key)
    last = {"t": 0}
    serve = srv._serve

    def served(post, d):  # the tick of the last chunk served: the restart into the bundle follows
        last["t"] = sim._t
        serve(post, d)
    srv._serve = served
    try:
        time.sleep(1.0)
        w0 = time.monotonic()
        srv.offer("NL-BOTA", good)
        st = srv.wait("NL-BOTA", TERMINAL, 900)
        wall = time.monotonic() - w0
        ok = st is not None and st.state == "confirmed"
        wire = srv.wire_bytes
        srv.offer("NL-BOTA", crash)
        st2 = srv.wait("NL-BOTA", TERMINAL, 900)
        t_last = last["t"]
    finally:
        _stop(sim, th)
        srv.close()
        heap.close()
    res = sim.results
    t_dl, t_trial, t_conf = _t(res, "downloading"), _t(res, "trial"), _t(res, "confirmed")
    t_rb = _t(res, "rolledBack")
    dl2 = [r for r in res.reports if r.get("ev") == "ota" and r.get("state") == "downloading"]
    t_switch2 = t_last or None
    from simulator.scenario import parse_time
    before = [h for t, h in heap.rows if t_dl and parse_time(t) < t_dl]
    during = [h for t, h in heap.rows if t_dl and t_trial and t_dl <= parse_time(t) < t_trial]
    return {"confirmed": ok, "download_s": (t_trial - t_dl) if t_dl and t_trial else None,
            "confirm_s": (t_conf - t_dl) if t_dl and t_conf else None, "wall_s": round(wall, 1),
            "bundle_bytes": good.total_bytes(), "wire_bytes": wire, "chunks": st.chunks if st else None,
            "heap_free_kb_before": min(before) if before else None,
            "heap_free_kb_download_min": min(during) if during else None,
            "rollback_state": st2.state if st2 else None, "rollback_why": st2.why if st2 else None,
            "rollback_s": (t_rb - t_switch2) if t_rb and t_switch2 else None,
            "offers_downloaded": len(dl2)}


def _parse(t: str) -> int:
    from simulator.scenario import parse_time
    return parse_time(t)


def wave(b: Broker, key, tmp: Path) -> dict:
    good = variant("0.2.0", key, tmp / "wave")
    posts = ["NL-BW1", "NL-BW2", "NL-BW3"]
    sims = [_start(b, p, key) for p in posts]
    srv = OtaServer(b.host, b.port)
    try:
        time.sleep(1.0)
        w0 = time.monotonic()
        res = Rollout.start(srv, good, posts, db.open_db(str(tmp / "ops.sqlite")), canary_share=0.34,
                            wave_size=2, max_fail=0.0, wave_timeout_s=900).run()
        wall = time.monotonic() - w0
    finally:
        srv.close()
        for s in sims:
            _stop(*s)
    confs = [_t(s.results, "confirmed") for s, _ in sims]
    dls = [_t(s.results, "downloading") for s, _ in sims]
    spans = [c - d for c, d in zip(confs, dls) if c and d]
    return {"posts": len(posts), "state": res["state"], "wall_s": round(wall, 1),
            "per_post_confirm_s": spans, "wire_bytes": srv.wire_bytes}


def flash(key, tmp: Path) -> dict:
    good = variant("0.2.0", key, tmp / "flash")
    p = subprocess.run([micropython_path(), "-X", "heapsize=4m", str(ROOT / "tests" / "mp" / "powercut_ota.py"),
                        str(good.dir), ob.public_hex(key), "count"],
                       env=_mp_env(), capture_output=True, text=True, timeout=600)
    if p.returncode:
        return {"error": (p.stdout + p.stderr)[-500:]}
    return json.loads(p.stdout.strip().splitlines()[-1])


VERIFY = """
import binascii, gc, time
from lamppost import ed25519
pk = binascii.unhexlify("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
sig = binascii.unhexlify("e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bac"
                         "c61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b")
gc.collect()
t = time.ticks_us()
for _ in range(5):
    ok = ed25519.verify(pk, b"", sig)
print(ok, time.ticks_diff(time.ticks_us(), t) // 5)
"""


def verify_cost(tmp: Path) -> dict:
    """Ed25519 verify on the MicroPython unix port: time per verify, and the smallest heap
    (-X heapsize, KB) in which the module loads and verifies (its peak heap, as on a board)."""
    script = tmp / "verify.py"
    script.write_text(VERIFY)

    def run(kb: int):
        p = subprocess.run([micropython_path(), "-X", f"heapsize={kb}k", str(script)], env=_mp_env(),
                           capture_output=True, text=True, timeout=120)
        out = p.stdout.split()
        return out if p.returncode == 0 and out[:1] == ["True"] else None
    lo, hi = 2, 256
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if run(mid):
            hi = mid
        else:
            lo = mid
    res = run(256)
    return {"verify_us": int(res[1]) if res else None, "min_heap_kb": hi}


def _mp_env() -> dict:
    import os
    env = dict(os.environ)
    env["MICROPYPATH"] = ":".join(str(ROOT / d) for d in ("firmware", "tests/firmware", "tests/mp"))
    return env


def main(out: Path) -> None:
    key = Ed25519PrivateKey.generate()
    with tempfile.TemporaryDirectory(prefix="lamppost-bench-ota-") as d:
        tmp = Path(d)
        fl = flash(key, tmp)
        vc = verify_cost(tmp)
        with Broker(kind_from_env()) as b:
            one = one_post(b, key, tmp)
            wv = wave(b, key, tmp)
    r = {"one_post": one, "wave": wv, "flash": fl, "verify": vc}
    (out / "bench_ota.json").write_text(json.dumps(r, indent=1))
    print("OTA update of one post (simulator, real broker, real firmware; virtual seconds)")
    print(f"  bundle {one['bundle_bytes']} B in {one['chunks']} chunk answers; on the wire {one['wire_bytes']} B "
          f"= {one['wire_bytes'] / one['bundle_bytes']:.2f}x the bundle")
    print(f"  download {one['download_s']} s, confirmed {one['confirm_s']} s after the offer "
          f"(trial 600 s); wall {one['wall_s']} s; confirmed: {one['confirmed']}")
    print(f"  free heap (STATE, KB): {one['heap_free_kb_before']} before, "
          f"{one['heap_free_kb_download_min']} at the lowest during the download")
    print(f"  crash-at-import bundle: {one['rollback_state']} {one['rollback_s']} s after its restart "
          f"({one['rollback_why']})")
    print(f"  Ed25519 verify on the MicroPython unix port: {vc['verify_us'] / 1000:.1f} ms; "
          f"loads and verifies in a {vc['min_heap_kb']} KB heap (-X heapsize)")
    if "error" in fl:
        print(f"  flash: {fl['error']}")
    else:
        print(f"  flash: {fl['writes']} LittleFS block writes for {fl['chunks']} chunks of {fl['files']} files "
              f"= {fl['writes'] / fl['chunks']:.2f} writes a chunk (offer to confirmation)")
    print(f"wave of {wv['posts']} posts (canary 1, then 2): {wv['state']}, wall {wv['wall_s']} s, "
          f"offer-to-confirmed per post {wv['per_post_confirm_s']} s (virtual), wire {wv['wire_bytes']} B")
