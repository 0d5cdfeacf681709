"""lampctl for a technician in the field, against the real firmware through the simulator's
pty (issue 17): a bad status section is a usage error (exit 2), `config get` says unset,
`config describe` explains a key from the firmware's schema, `dim auto` replies with the level
the schedule returns to, and `monitor` shows the board's clock and energy counters."""
from __future__ import annotations

import re

from console_sim import lampctl, running, scenario_text
from host_tools.lampctl import serial_link as sl
from host_tools.lampctl.cli import main

SPEED = 50.0
# dimmed to 50 % all night by the schedule, so an override and its end are both visible
DIMMED = scenario_text() + "\n[firmware]\ndim_level = 50\ndim_from_min = 0\ndim_to_min = 1439\n"


def _text(capsys, *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_usage_errors_unset_values_dim_auto_and_monitor(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("LAMPCTL_PIN", raising=False)
    with running(tmp_path, DIMMED, SPEED) as sim:
        port = ["--port", sim.serial_path]
        code, out, err = _text(capsys, *port, "status", "nosuch")
        assert code == sl.USAGE and "no such section" in err and "readings" in err
        code, r = lampctl(capsys, *port, "status", "3")
        assert code == sl.USAGE and "0|1|2" in r["error"]
        code, out, err = _text(capsys, *port, "config", "get", "warmup_s")
        assert code == 0 and out.strip() == "warmup_s: unset", out
        code, out, err = _text(capsys, *port, "config", "get", "dim_level")
        assert out.strip() == "dim_level: 50 %"
        # dim auto: the reply names the level the schedule returns to, not the override's
        code, r = lampctl(capsys, *port, "--pin", "0000", "dim", "80")
        assert code == 0 and r["level"] == 80 and r["dim"] == 80
        code, r = lampctl(capsys, *port, "--pin", "0000", "dim", "auto")
        assert code == 0 and r["dim"] == "auto" and r["level"] == 50, r
        code, r = lampctl(capsys, *port, "dim")
        assert r["level"] == 50
        code, r = lampctl(capsys, *port, "--pin", "0000", "send", "Dimmer auto")
        assert r["Dimmer"] == 50
        # monitor: the board's clock and its counters beside the readings
        code, r = lampctl(capsys, *port, "monitor", "--count", "1")
        assert code == 0 and r["time"].startswith("2026-01-15T18:")
        assert set(r["energy"]) >= {"Total", "operatingHours", "switchOnCounter"}
        assert r["energy"]["switchOnCounter"] >= 1
        code, out, err = _text(capsys, *port, "monitor", "--count", "1")
        assert code == 0 and re.search(r"clock\s.*2026-01-15 18:\d\d:\d\d UTC \(the board.s clock\)", out), out
        assert re.search(r"energy\s.*\d+(\.\d+)? kWh, burning \d+(\.\d+)? h, \d+ switch-ons", out), out
        cells = " ".join(re.sub(r"[│└┘─┴]", " ", out.split("counts", 1)[1]).split())  # unwrap the table
        counted = re.findall(r"([a-z][A-Za-z]+) \d+", cells)
        assert len(counted) == 12 and counted == sorted(counted), out  # a stable order, as `alarms`
