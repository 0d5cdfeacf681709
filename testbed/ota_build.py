"""OTA bundles of the firmware as the simulator runs it (chip "host": the unix port's .mpy).

variant() copies firmware/ with another FW_VERSION (and optionally code appended to
lamppost/app.py: a bundle that crashes or hangs at import), compiles it as the simulator
does (simulator/mpy_cache.py) and signs it into an OTA bundle (host_tools/ota/bundle.py).
For tests and the bench: an operator builds from `make firmware` with `lampctl ota sign`.
"""
from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path

from host_tools.ota import bundle as ob
from simulator.firmware_proc import FIRMWARE_DIR
from simulator.mpy_cache import compiled_dir

CRASH = '\nraise ImportError("this bundle is broken at import")\n'
HANG = '\nimport time\nwhile True:\n    time.sleep(1)\n'


def variant(version: str, key, out: Path, tail: str = "", chip: str = "host",
            rollback: bool = False) -> ob.Bundle:
    """A signed bundle of the firmware as version (FW_VERSION set to it), tail appended to app.py."""
    with tempfile.TemporaryDirectory(prefix="lamppost-fwvar-") as tmp:
        src = Path(tmp) / "firmware"
        shutil.copytree(FIRMWARE_DIR, src, ignore=shutil.ignore_patterns("__pycache__"))
        app = src / "lamppost" / "app.py"
        text = re.sub(r'FW_VERSION = "[^"]*"', f'FW_VERSION = "{version}"', app.read_text())
        app.write_text(text + tail)
        mpy = compiled_dir(src)
        if mpy is None:
            raise RuntimeError("mpy-cross cannot compile for this machine")
        return ob.build(mpy, out, version, chip, key, rollback)
