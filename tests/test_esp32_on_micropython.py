"""Runs tests/esp32/test_*.py on MicroPython with the fake ESP32 `machine`/`network` (tests/fakes)."""
from __future__ import annotations

import ast
import subprocess
from pathlib import Path

import pytest

from conftest import MP_DIR, mp_env
from simulator.firmware_proc import micropython_path

HERE = Path(__file__).resolve().parent
ESP32_TESTS = HERE / "esp32"
FAKES = HERE / "fakes"


def _cases():
    for path in sorted(ESP32_TESTS.glob("test_*.py")):
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
                yield pytest.param(path.stem, node.name, id=f"{path.stem}::{node.name}")


# 256k: these tests compile the firmware from source (a board loads .mpy and needs far less)
@pytest.mark.parametrize("module,func", list(_cases()))
def test_esp32_on_micropython(module, func, tmp_path):
    env = mp_env(ESP32_TESTS, FAKES)
    env["LAMPPOST_FLASH"] = str(tmp_path)  # the fake board's flash
    p = subprocess.run(
        [micropython_path(), "-X", "heapsize=256k", str(MP_DIR / "runner.py"), module, func],
        env=env, capture_output=True, text=True, timeout=60,
    )
    assert p.returncode == 0 and f"PASS {func}" in p.stdout, p.stdout + p.stderr
