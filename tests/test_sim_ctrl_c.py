"""Ctrl-C on `lamppost-sim run --hold` in a terminal: docs/console.md's way to end it.

Before: the terminal's SIGINT reached the firmware process too (same process
group), so the summary counted `firmware crashes: 1`, and the simulator died
with a KeyboardInterrupt traceback. Now the firmware runs in its own process group
(a board has no keyboard), the first Ctrl-C ends the run after the current
tick and scores what ran: exit 0 with --hold (the normal end of a held run),
130 without (the scenario was cut short).
"""
from __future__ import annotations

import os
import pty
import select
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
WALL_S = 120.0  # a guard against a hang only


def _ctrl_c_run(*args: str) -> tuple[int, str]:
    """Run lamppost-sim in a fresh pty session, type Ctrl-C once it ticks; (exit status, output)."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: session leader with the pty as its controlling terminal
        os.chdir(ROOT)  # `lamppost-sim` of this tree
        os.execv(sys.executable, [sys.executable, "-m", "testbed.cli", "run", *args])
    out = b""
    sent = False
    deadline = time.monotonic() + WALL_S
    try:
        while time.monotonic() < deadline:
            r, _, _ = select.select([fd], [], [], 0.5)
            if r:
                try:
                    chunk = os.read(fd, 65536)
                except OSError:  # EIO: the child closed the terminal
                    break
                if not chunk:
                    break
                out += chunk
            # the firmware has booted and switched: virtual time runs; Ctrl-C as a person types it
            if not sent and out.count(b"serial>") >= 2:
                os.write(fd, b"\x03")
                sent = True
        else:
            os.kill(pid, 9)
            pytest.fail("lamppost-sim did not end after Ctrl-C:\n" + out.decode(errors="replace"))
    finally:
        _, status = os.waitpid(pid, 0)
        os.close(fd)
    assert sent, out.decode(errors="replace")
    return os.waitstatus_to_exitcode(status), out.decode(errors="replace")


@pytest.mark.parametrize("hold, code", [(True, 0), (False, 130)])
def test_ctrl_c_ends_the_run_cleanly_and_the_firmware_does_not_crash(hold, code):
    code_got, out = _ctrl_c_run(*(["--hold"] if hold else []), "--speed", "500")
    assert "Traceback" not in out and "KeyboardInterrupt" not in out, out
    assert "firmware crashes" not in out and "firmware crashed" not in out, out
    assert "simulated seconds in" in out, out  # the summary of what ran was printed
    assert code_got == code, out
