"""How a shell starts a program: SIGINT at its default and unblocked, so Ctrl-C reaches it.

A child inherits ignored signals and the signal mask of the process that starts it; a test
runner's worker need not have the terminal's, and a child that inherits SIGINT ignored or
blocked never sees the Ctrl-C a test sends (seen: `lamppost-collector listen` looping on
after SIGINT in two full runs at load 10-20). Pass like_a_shell as Popen's preexec_fn."""
from __future__ import annotations

import signal


def like_a_shell() -> None:
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM})
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def signal_state(pid: int) -> str:
    """The SigBlk/SigIgn/SigCgt lines of a process (Linux), for a failure message."""
    try:
        with open(f"/proc/{pid}/status") as f:
            return "".join(line for line in f if line.startswith(("SigBlk", "SigIgn", "SigCgt")))
    except OSError:
        return ""
