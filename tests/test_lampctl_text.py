"""lampctl for people and scripts (issue 17): `send` a raw line, units and yes/no in text
output, Help one command a line, and a login error that says how to give the PIN."""
from __future__ import annotations

import re

from console_sim import lampctl, running, scenario_text
from host_tools.lampctl import serial_link as sl
from host_tools.lampctl.cli import main

SPEED = 50.0


def _text(capsys, *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_send_units_yes_no_help_and_login_hint(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("LAMPCTL_PIN", raising=False)
    with running(tmp_path, scenario_text(), SPEED) as sim:
        port = ["--port", sim.serial_path]
        code, out, err = _text(capsys, *port, "status", "readings")
        assert code == 0 and re.search(r"^  Voltage: 2\d\d(\.\d)? V$", out, re.M), out
        assert re.search(r"^  Power: \d+(\.\d)? W$", out, re.M)
        assert re.search(r"^  mains: yes$", out, re.M) and "True" not in out
        # every seconds field says so, the detection timers too (not only the ones listed by name)
        code, out, err = _text(capsys, *port, "status", "thresholds")
        assert re.search(r"^    raise_s: \d+ s$", out, re.M) and re.search(r"^  blank_s: \d+ s$", out, re.M), out
        assert not re.search(r"_s: \d+$", out, re.M), out
        code, out, err = _text(capsys, *port, "send", "Power OFF")
        assert code == sl.LOGIN and "--pin" in err and "LAMPCTL_PIN" in err
        code, r = lampctl(capsys, *port, "--pin", "0000", "send", "Power OFF")
        assert code == 0 and r["POWER"] == "OFF"
        code, r = lampctl(capsys, *port, "send", "Status 5")
        assert code == 0 and "StatusNET" in r
        code, r = lampctl(capsys, *port, "send", "Powr ON")
        assert code == sl.FAILED and "did you mean Power?" in r["error"]
        # Backlog in text: each command's reply under its name, with keys and units, not bare values
        code, out, err = _text(capsys, *port, "send", "Backlog Dimmer 30; Stauts")
        assert code == 0 and re.search(r"^  dimmer:\n(    \S.*\n)*    Dimmer: 30 %$", out, re.M), out
        assert re.search(r"^  stauts:\n    error: unknown command, did you mean Status\?", out, re.M), out
        code, out, err = _text(capsys, *port, "send", "Help")
        lines = [x.strip() for x in out.splitlines()[1:] if x.startswith("  ")]
        names = [x.split(" ")[0] for x in lines]
        assert code == 0 and len(names) > 15 and names == sorted(names, key=str.lower)
        assert "Power" in names and "Backlog" in names
