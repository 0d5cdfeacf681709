"""Power cut at every flash write of an over-the-air update (tests/mp/powercut_ota.py).

The real lamppost/ota.py and otaboot.py on a RAM LittleFS chip: a cut at every block write
of the download (every chunk append), the checks, the slot switch (ota.json), the trial
boot and the confirmation; after each cut the post boots on what the flash kept, resumes,
and ends on the new slot, confirmed, every file intact, never refusing its own bundle.
"""
from __future__ import annotations

import json
import subprocess

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from conftest import MP_DIR, mp_env
from host_tools.ota import bundle as ob
from simulator.firmware_proc import micropython_path


def test_power_cut_at_every_write_of_an_update(tmp_path):
    src = tmp_path / "src"
    (src / "lamppost").mkdir(parents=True)
    for i, n in enumerate((700, 1300, 90)):  # a chunk and a half, one short file, one tiny
        (src / "lamppost" / f"m{i}.mpy").write_bytes(bytes((i * 7 + j) % 251 for j in range(n)))
    key = Ed25519PrivateKey.generate()
    b = ob.build(src, tmp_path / "bundle", "0.2.0", "host", key)
    p = subprocess.run([micropython_path(), "-X", "heapsize=2m", str(MP_DIR / "powercut_ota.py"),
                        str(b.dir), ob.public_hex(key)],
                       env=mp_env(), capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    r = json.loads(p.stdout.strip().splitlines()[-1])
    assert r["writes"] > 10 and r["cuts"] == r["writes"], r
