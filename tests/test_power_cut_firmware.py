"""Power cut at every flash write of the real firmware's paths, on LittleFS (vfs.VfsLfs2).

tests/mp/powercut_app.py runs the App (config, state and its backup, energy records, event
log, auth counter, outbox) through a workload on a RAM flash chip and tears each block write
in turn; after each cut the firmware boots again and must report no error, keep everything
it had acknowledged and never reuse a sequence number (issue 10, "Also").
"""
from __future__ import annotations

import json
import subprocess

from conftest import MP_DIR, mp_env
from simulator.firmware_proc import micropython_path


def test_power_cut_at_every_flash_write_of_the_firmware():
    p = subprocess.run([micropython_path(), "-X", "heapsize=4m", str(MP_DIR / "powercut_app.py")],
                       env=mp_env(), capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    r = json.loads(p.stdout.strip().splitlines()[-1])
    assert r["writes"] > 50 and r["cuts"] == r["writes"], r
