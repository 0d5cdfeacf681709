"""`lampctl deploy` and mpremote's bytes against the real firmware's console (simulator pty).

Before: a deploy without --pin ran mpremote at the running firmware, which
ignores Ctrl-C; mpremote's raw-REPL request (Ctrl-A) stayed in the console's
line buffer, the next command read `\\x01status` (unknown command) and every
retry failed with "did not answer within 30 s: check the cable". Now deploy
asks the console first and says the PIN is missing, and the console drops
raw-REPL bytes, so the next command works whatever was typed before.
"""
from __future__ import annotations

import pytest
import serial

from console_sim import lampctl, running, scenario_text
from host_tools.lampctl import build, flashing
from host_tools.lampctl.cli import main as lampctl_main

SPEED = 200.0


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    out = tmp_path_factory.mktemp("build")
    build.build(out, requirements=out / "none.txt")
    return out / "bundle"


def test_deploy_without_pin_says_the_pin_is_missing_and_the_console_still_works(
        tmp_path, capsys, monkeypatch, bundle):
    monkeypatch.setattr(flashing, "DEPLOY_TIMEOUTS", (10.0, 10.0))  # main's mpremote gave up here
    monkeypatch.delenv("LAMPCTL_PIN", raising=False)
    with running(tmp_path, scenario_text(), SPEED) as sim:
        capsys.readouterr()
        assert lampctl_main(["deploy", "--port", sim.serial_path, "--bundle", str(bundle)]) == 2
        err = capsys.readouterr().err
        code, st = lampctl(capsys, "--port", sim.serial_path, "status", "fw")
    assert "PIN is missing" in err and "--pin" in err, err
    assert "check the cable" not in err and "Traceback" not in err, err
    assert code == 0 and st["fw"]["boots"] == 1  # the console answers; nothing was restarted


def test_mpremote_raw_repl_bytes_then_a_command_get_its_answer(tmp_path, capsys):
    with running(tmp_path, scenario_text(), SPEED) as sim:
        with serial.Serial(sim.serial_path, 115200) as port:  # what `mpremote exec` types first
            port.write(b"\r\x03\x03\r\x01\x1b[A")
            port.flush()
        code, st = lampctl(capsys, "--port", sim.serial_path, "status", "fw")
    assert code == 0 and "error" not in st and st["fw"]["boots"] == 1, st
