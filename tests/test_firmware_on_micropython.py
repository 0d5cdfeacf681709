"""Runs every test_* function of tests/firmware/ on the real MicroPython interpreter."""
from __future__ import annotations

import ast
import subprocess
from pathlib import Path

import pytest

from conftest import MP_DIR, MP_TESTS, mp_env
from simulator.firmware_proc import micropython_path


def _cases():
    for path in sorted(MP_TESTS.glob("test_*.py")):
        tree = ast.parse(path.read_text())
        for node in tree.body:
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
                yield pytest.param(path.stem, node.name, id=f"{path.stem}::{node.name}")


@pytest.mark.parametrize("module,func", list(_cases()))
def test_on_micropython(module, func, tmp_path):
    # each test runs in its own directory (pytest's tmp_path) and writes only relative
    # paths there: two runs on one host never share a file
    p = subprocess.run(
        [micropython_path(), "-X", "heapsize=128k", str(MP_DIR / "runner.py"), module, func],
        env=mp_env(), capture_output=True, text=True, timeout=60, cwd=tmp_path,
    )
    assert p.returncode == 0 and f"PASS {func}" in p.stdout, p.stdout + p.stderr
