"""Tasmota console habits on the real firmware through the simulator's serial pty (issue 17)."""
from __future__ import annotations

from console_sim import running, scenario_text
from host_tools.lampctl import serial_link as sl

SPEED = 50.0  # virtual seconds per wall second: a 600 s login lasts 12 s wall


def test_power_dimmer_map_to_relay_and_dim_and_need_a_login(tmp_path):
    with running(tmp_path, scenario_text(), SPEED) as sim, sl.Device(sim.serial_path) as dev:
        q = dev.request("Power")
        assert q["POWER"] == "ON" and q["relay"] == "auto"  # 18:00 in January: dark
        assert "login required" in dev.request("Power", "OFF")["error"]
        assert dev.request("Relay")["relay"] == "auto"  # the refused one changed nothing
        assert "error" not in dev.request("Login", "0000")
        r = dev.request("Power", "OFF")
        assert r["POWER"] == "OFF" and r["relay"] == "off" and r["until"]
        assert dev.request("Relay")["relay"] == "off"
        assert dev.request("Power1", "TOGGLE")["POWER"] == "ON"
        assert dev.request("power", "toggle")["POWER"] == "OFF"
        assert "Power ON|OFF|TOGGLE" in dev.request("Power", "maybe")["error"]
        d = dev.request("Dimmer", "40")
        assert d["Dimmer"] == 40 and d["dim"] == 40
        assert dev.request("Dim")["level"] == 40
        assert "0-100" in dev.request("Dimmer", "140")["error"]


def test_status_numbers_map_to_sections_under_tasmota_names(tmp_path):
    with running(tmp_path, scenario_text(), SPEED) as sim, sl.Device(sim.serial_path) as dev:
        one = dev.request("Status", "1")["StatusPRM"]
        assert one["boots"] == 1 and one["restart"] == "power-on"
        assert dev.request("Status", "2")["StatusFWR"]["version"]
        assert dev.request("Status", "5")["StatusNET"]["state"] == "not configured"
        sns = dev.request("Status", "10")["StatusSNS"]
        assert 200 < sns["readings"]["Voltage"] < 260 and "Total" in sns["energy"]
        assert set(dev.request("Status", "8")["StatusSNS"]) == {"readings", "energy"}
        sts = dev.request("Status", "11")["StatusSTS"]
        assert sts["POWER"] == "ON" and sts["Heap"] > 0
        st = dev.request("State")
        assert (st["POWER"], st["Dimmer"]) == (sts["POWER"], sts["Dimmer"])
        zero = dev.request("Status", "0")
        assert {"fw", "readings", "alarms", "energy", "net", "mem"} <= set(zero)
        err = dev.request("Status", "3")["error"]
        assert "0|1|2" in err and "11" in err


def test_backlog_runs_each_command_in_turn_and_goes_on_after_a_failure(tmp_path):
    with running(tmp_path, scenario_text(), SPEED) as sim, sl.Device(sim.serial_path) as dev:
        r = dev.request("Backlog", "Login 0000; Dimmer 30; Nonsense; Power OFF; Backlog Help")
        cmds = [x["cmd"] for x in r["backlog"]]
        assert cmds == ["login", "dimmer", "nonsense", "power", "backlog"]
        assert r["backlog"][1]["Dimmer"] == 30 and "error" in r["backlog"][2]
        assert r["backlog"][3]["POWER"] == "OFF" and "nest" in r["backlog"][4]["error"]
        assert dev.request("Dim")["level"] == 30 and dev.request("Relay")["relay"] == "off"
        assert "at most 10" in dev.request("Backlog", "; ".join(["Help"] * 11))["error"]


def test_unknown_command_suggests_the_closest_and_help_is_sorted(tmp_path):
    with running(tmp_path, scenario_text(), SPEED) as sim, sl.Device(sim.serial_path) as dev:
        assert "did you mean Power?" in dev.request("Powr", "ON")["error"]
        assert "did you mean Status?" in dev.request("Stauts")["error"]
        assert "did you mean TelePeriod?" in dev.request("teleperod")["error"]
        far = dev.request("Frobnicate")["error"]
        assert far.startswith("unknown command") and "did you mean" not in far
        cmds = dev.request("Help")["commands"]
        names = [c.split(" ")[0] for c in cmds]
        assert names == sorted(names, key=str.lower)
        assert {"Power", "Dimmer", "State", "Backlog", "TelePeriod", "Relay", "Dim"} <= set(names)
        # TelePeriod exists; without a broker it says so instead of pretending
        assert "mqtt_host" in dev.request("TelePeriod")["error"]
