"""`lampctl shell` against the real firmware through the simulator's pty (issue 17): commands
run as typed, completion knows the board's commands and config keys, reports arrive while the
prompt waits, and the login outlives the board's idle logout while the shell is open."""
from __future__ import annotations

import time

from prompt_toolkit.document import Document
from prompt_toolkit.input import create_pipe_input
from prompt_toolkit.output import DummyOutput

from console_sim import running, scenario_text
from host_tools.lampctl import serial_link as sl
from host_tools.lampctl.shell import Shell

SPEED = 200.0  # the board's 600 s idle logout passes in 3 wall seconds


def _until(cond, timeout=60.0):
    end = time.monotonic() + timeout  # only ends a hung run
    while not cond() and time.monotonic() < end:
        time.sleep(0.02)
    return cond()


def test_shell_completes_reports_and_keeps_the_login(tmp_path, monkeypatch):
    monkeypatch.setenv("LAMPCTL_HISTORY", str(tmp_path / "history"))
    text = scenario_text(("lamp_dead", "2026-01-15T10:00:00Z"), start="2026-01-15T10:00:00Z")
    with running(tmp_path, text, SPEED) as sim, create_pipe_input() as inp:
        replies: list[dict] = []
        with sl.Device(sim.serial_path) as dev:
            sh = Shell(dev, lambda r: replies.append(r) or 0, input=inp, output=DummyOutput())
            sh.keepalive = 0.5
            reports: list[str] = []
            sh.out = reports.append
            words = [c.text for c in sh.completer.get_completions(Document("Pow"), None)]
            assert words == ["Power", "Power1"]
            keys = [c.text for c in sh.completer.get_completions(Document("Config dim_l"), None)]
            assert keys == ["dim_level"]
            inp.send_text("Login 0000\n")

            def typed(line):
                inp.send_text(line + "\n")
            import threading
            th = threading.Thread(target=sh.loop, daemon=True)
            th.start()
            assert _until(lambda: replies and replies[0]["cmd"] == "login")
            assert replies[0]["login"] == "yes"
            t_login = sim._t
            typed("Power ON")  # by day with a dead lamp: lampFailure is raised and reported
            assert _until(lambda: any("lampFailure" in r for r in reports)), reports
            # idle past the board's 600 s logout (virtual time), then change something
            assert _until(lambda: sim._t > t_login + 900)
            typed("Power OFF")
            assert _until(lambda: replies[-1]["cmd"] == "power" and replies[-1].get("POWER") == "OFF"
                          or "error" in replies[-1]), replies[-1]
            assert "error" not in replies[-1], replies[-1]
            typed("exit")
            th.join(10)
            assert not th.is_alive()
    assert "Power OFF" in (tmp_path / "history").read_text()
