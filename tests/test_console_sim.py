"""lampctl against the real firmware on MicroPython, through the simulator's serial pty."""
from __future__ import annotations

import json

import pytest

from console_sim import lampctl, running, scenario_text
from terminal import like_a_shell
from host_tools.lampctl import serial_link as sl

SPEED = 200.0  # virtual seconds per wall second: login timeout 600 s = 3 s wall


def _after_boot(sim, seconds: int) -> None:
    """Wait until the simulation's virtual clock is `seconds` past the scenario's start
    (the deadline only ends a hung run)."""
    import time
    deadline = time.monotonic() + 120
    while sim._t < sim.sc.start + seconds and time.monotonic() < deadline:
        time.sleep(0.01)
    assert sim._t >= sim.sc.start + seconds, "virtual time did not advance"


def test_status_shows_every_section_and_no_secret(tmp_path, capsys):
    with running(tmp_path, scenario_text(), SPEED) as sim:
        # the boot tick's reading precedes the switch-on (Power 0 W, lamp "on"): ask once
        # the lamp has been burning a few virtual seconds, however slow the machine
        _after_boot(sim, 5)
        code, st = lampctl(capsys, "--port", sim.serial_path, "status")
        for section in ("config", "thresholds"):
            st.update(lampctl(capsys, "--port", sim.serial_path, "status", section)[1])
    assert code == 0
    assert set(st) >= {"fw", "readings", "alarms", "energy", "net", "mem", "config",
                       "thresholds", "schedule"}
    assert st["thresholds"]["lampFailure"]["raise_s"] > 0
    assert st["fw"]["boots"] == 1 and st["fw"]["restart"] == "power-on"
    assert st["config"]["id"] == "NL-0042" and "pin" not in st["config"]
    assert st["readings"]["lamp"] == "on"  # 18:00 UTC in January: dark
    assert 200 < st["readings"]["Voltage"] < 260 and st["readings"]["Power"] > 50


def test_alarms_after_injected_fault(tmp_path, capsys):
    # by day with the lamp dead: invisible until the technician switches it on, so the
    # report cannot go out before the tool is listening, however slow the machine
    text = scenario_text(("lamp_dead", "2026-01-15T10:00:00Z"), start="2026-01-15T10:00:00Z")
    with running(tmp_path, text, SPEED) as sim:
        with sl.Device(sim.serial_path) as dev:
            assert dev.request("Alarms")["active"] == []
            assert "error" not in dev.request("Login", "0000")
            assert dev.request("Relay", "on")["lamp"] == "on"
            ev = dev.wait_event("alarm", timeout=10)
        code, al = lampctl(capsys, "--port", sim.serial_path, "alarms")
        _, log = lampctl(capsys, "--port", sim.serial_path, "log", "-n", "20")
    assert ev["alarm"] == "lampFailure" and ev["state"] == "raised"
    assert code == 0 and al["active"] == ["lampFailure"] and al["counts"]["lampFailure"] == 1
    assert ["alarm", "lampFailure raised"] in [e[2:] for e in log["entries"]]


def test_config_set_needs_login_and_is_validated(tmp_path, capsys):
    with running(tmp_path, scenario_text(), SPEED) as sim:
        port = ["--port", sim.serial_path]
        code, r = lampctl(capsys, *port, "config", "set", "dim_level", "50")
        assert code == sl.LOGIN and "login required" in r["error"]
        code, r = lampctl(capsys, *port, "--pin", "0000", "config", "set", "dim_level", "150")
        assert code == sl.FAILED and "dim_level" in r["error"] and "0..100" in r["error"]
        code, r = lampctl(capsys, *port, "config", "get", "dim_level")
        assert r["dim_level"] == 100  # neither attempt changed it
        code, r = lampctl(capsys, *port, "--pin", "0000", "config", "set", "dim_level", "50")
        assert code == 0 and r["dim_level"] == 50 and r["saved"]
        code, r = lampctl(capsys, *port, "config", "get", "pin")
        assert r["pin"] == "(secret)"
    saved = json.loads((tmp_path / "flash" / "config.json").read_text())
    assert saved["dim_level"] == 50


def test_wrong_pins_lock_out_even_the_right_one(tmp_path, capsys):
    with running(tmp_path, scenario_text(), SPEED) as sim:
        port = ["--port", sim.serial_path]
        for _ in range(3):
            code, r = lampctl(capsys, *port, "--pin", "9999", "relay", "off")
            assert code == sl.LOGIN
        code, r = lampctl(capsys, *port, "--pin", "0000", "relay", "off")
        assert code == sl.LOGIN and "locked out" in r["error"]
        code, r = lampctl(capsys, *port, "relay")
        assert r["relay"] == "auto"


def test_calibrate_voltage_rescales_readings(tmp_path, capsys):
    with running(tmp_path, scenario_text(), SPEED) as sim:
        port = ["--port", sim.serial_path]
        code, r = lampctl(capsys, *port, "--pin", "0000", "calibrate", "voltage", "240")
        assert code == 0 and r["saved"] and 1.0 < r["cal_v"] < 1.15
        with sl.Device(sim.serial_path) as dev:
            v = [dev.request("Readings")["Voltage"] for _ in range(5)]
    assert all(225 < x < 260 for x in v) and sum(v) / 5 > 232  # reads high by the new gain
    saved = json.loads((tmp_path / "flash" / "config.json").read_text())
    assert saved["cal_v"] == pytest.approx(r["cal_v"], rel=1e-5)


@pytest.mark.parametrize("fault,expect", [(None, "pass"), ("lamp_dead", "fail")])
def test_selftest_reports_what_it_found(tmp_path, capsys, fault, expect):
    faults = [(fault, "2026-01-15T18:00:01Z")] if fault else []
    with running(tmp_path, scenario_text(*faults), SPEED) as sim:
        code, r = lampctl(capsys, "--port", sim.serial_path, "--pin", "0000", "selftest")
    assert r["state"] == expect and code == (0 if expect == "pass" else sl.FAILED)
    if expect == "pass":
        assert r["Power"]["on"] > 50 and r["Power"]["dim50"] < 0.6 * r["Power"]["on"]
        assert r["Power"]["off"] < 1
    else:
        assert any("rated power" in f for f in r["found"])


def test_unplugged_mid_session_is_a_clear_error_not_a_traceback(tmp_path, capsys):
    with running(tmp_path, scenario_text(), SPEED) as sim:
        with sl.Device(sim.serial_path, timeout=2) as dev:
            assert dev.request("Alarms")["active"] == []
            sim.stop()  # the simulator closes the serial line: the cable is gone
            sim.thread.join(timeout=10)
            with pytest.raises(sl.LampctlError) as e:
                dev.request("Status")
    assert e.value.code in (sl.GONE, sl.TIMEOUT)


def test_monitor_json_gives_readings_and_alarms_each_refresh(tmp_path, capsys):
    with running(tmp_path, scenario_text(), SPEED) as sim:
        from host_tools.lampctl.cli import main
        capsys.readouterr()
        code = main(["--json", "--port", sim.serial_path, "monitor", "--count", "2",
                     "--interval", "0.05"])
        rows = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert code == 0 and len(rows) == 2
    assert all(r["readings"]["lamp"] == "on" and r["alarms"]["active"] == [] for r in rows)


def test_no_port_and_bad_port_exit_with_a_message(capsys, monkeypatch):
    monkeypatch.delenv("LAMPCTL_PORT", raising=False)
    monkeypatch.setattr(sl, "candidates", lambda: [])
    code, r = lampctl(capsys, "status")
    assert code == sl.NO_PORT and "no serial port" in r["error"]
    code, r = lampctl(capsys, "--port", "/dev/does-not-exist", "status")
    assert code == sl.NO_PORT and "cannot open" in r["error"]
    code, r = lampctl(capsys, "--port", "loop://", "--timeout", "0.2", "alarms")
    assert code == sl.TIMEOUT and "no answer" in r["error"]


def test_readme_walkthrough_sim_console_then_lampctl(tmp_path):
    """`lamppost-sim run --console --hold` prints the pty; lampctl works on it; Ctrl-C scores."""
    import signal
    import subprocess
    import sys

    sc = tmp_path / "sc.toml"
    sc.write_text(scenario_text().replace('"1d"', '"1m"'))
    sim = subprocess.Popen([sys.executable, "-m", "testbed.cli", "run", str(sc), "--console",
                            "--speed", "20", "--hold", "--quiet"],
                           stdout=subprocess.PIPE, text=True, preexec_fn=like_a_shell)
    try:
        port = None
        for line in sim.stdout:
            if "lampctl --port" in line:
                port = line.split("--port ")[1].split()[0]
                break
        assert port and port.startswith("/dev/")
        p = subprocess.run([sys.executable, "-m", "host_tools.lampctl", "--port", port,
                            "status", "fw"], capture_output=True, text=True, timeout=30)
        assert p.returncode == 0 and "boots: 1" in p.stdout and "Traceback" not in p.stderr
        sim.send_signal(signal.SIGINT)
        rest = sim.stdout.read()
        assert sim.wait(timeout=30) == 0 and "false alarms: none" in rest
    finally:
        if sim.poll() is None:
            sim.kill()


def test_secret_set_from_stdin_is_saved_but_never_shown(tmp_path, capsys, monkeypatch):
    import io
    with running(tmp_path, scenario_text(), SPEED) as sim:
        port = ["--port", sim.serial_path]
        monkeypatch.setattr("sys.stdin", io.StringIO("s3cret-42\n"))
        code, r = lampctl(capsys, *port, "--pin", "0000", "config", "set", "pin", "-")
        assert code == 0 and r["pin"] == "(secret)"
        code, r = lampctl(capsys, *port, "--pin", "0000", "relay", "on")
        assert code == sl.LOGIN  # the old PIN no longer works
        code, r = lampctl(capsys, *port, "--pin", "s3cret-42", "relay", "on")
        assert code == 0 and r["relay"] == "on"
        _, st = lampctl(capsys, *port, "status")
        _, log = lampctl(capsys, *port, "log", "-n", "20")
    assert "s3cret" not in json.dumps(st) + json.dumps(log)
    assert json.loads((tmp_path / "flash" / "config.json").read_text())["pin"] == "s3cret-42"


def test_global_options_work_before_and_after_the_command(tmp_path, capsys):
    from host_tools.lampctl.cli import main
    with running(tmp_path, scenario_text(), SPEED) as sim:
        got = {}
        for where, argv in (("before", ["--json", "--port", sim.serial_path, "status", "fw"]),
                            ("after", ["status", "fw", "--json", "--port", sim.serial_path]),
                            ("mixed", ["--port", sim.serial_path, "status", "--json", "fw"])):
            capsys.readouterr()
            assert main(argv) == 0, where
            got[where] = json.loads(capsys.readouterr().out)
        assert all(g["fw"]["boots"] == 1 for g in got.values()), got
        # the PIN after a nested subcommand logs in as it does before it
        code = main(["config", "set", "dim_level", "40", "--port", sim.serial_path, "--pin", "0000",
                     "--json"])
        assert code == 0 and json.loads(capsys.readouterr().out)["dim_level"] == 40


def test_ports_without_a_board_exit_3_with_or_without_json(capsys, monkeypatch):
    from host_tools.lampctl.cli import main
    monkeypatch.setattr(sl, "candidates", lambda: [])
    capsys.readouterr()
    assert main(["ports"]) == sl.NO_PORT
    assert "no USB serial ports" in capsys.readouterr().out
    for argv in (["--json", "ports"], ["ports", "--json"]):
        assert main(argv) == sl.NO_PORT
        out = capsys.readouterr()
        assert json.loads(out.out) == [] and "no USB serial ports" in out.err


def test_network_keys_can_be_set_on_a_post_provisioned_without_a_broker(tmp_path, capsys):
    """A technician connects a broker-less post to the network from the console."""
    with running(tmp_path, scenario_text(), SPEED) as sim:
        port = ["--port", sim.serial_path, "--pin", "0000"]
        code, r = lampctl(capsys, *port, "config", "get", "mqtt_host")
        assert code == 0 and r["mqtt_host"] == ""
        code, r = lampctl(capsys, *port, "config", "set", "mqtt_host", "mqtt.example.nl")
        assert code == 0 and r["mqtt_host"] == "mqtt.example.nl" and r["reboot"]
        code, r = lampctl(capsys, *port, "config", "set", "wifi_pass", "s3cretpass")
        assert code == 0 and r["wifi_pass"] == "(secret)"
        code, r = lampctl(capsys, *port, "config", "set", "mqtt_port", "99999")
        assert code == sl.FAILED and "1..65535" in r["error"]
        code, r = lampctl(capsys, *port, "config", "set", "lamp", "HPS")  # like commands: any case
        assert code == 0 and r["lamp"] == "hps"
        code, r = lampctl(capsys, *port, "config", "set", "sched_clock", "UTC")
        assert code == 0 and r["sched_clock"] == "utc"
        _, st = lampctl(capsys, *port, "status", "config")
        code, r = lampctl(capsys, *port, "config", "get")
    assert st["config"]["mqtt_host"] == "mqtt.example.nl" and "wifi_pass" not in st["config"]
    assert code == 0 and r["config"]["lamp"] == "hps" and "s3cretpass" not in json.dumps(r)
    saved = json.loads((tmp_path / "flash" / "config.json").read_text())
    assert saved["mqtt_host"] == "mqtt.example.nl" and saved["wifi_pass"] == "s3cretpass"
    assert saved["lamp"] == "hps" and "mqtt_port" not in saved


def test_console_login_ends_after_login_s_without_a_command(tmp_path):
    """A technician who walks away is logged out: after login_s (600 s) idle a change needs the PIN.

    Virtual time runs only as far as the test grants (on_tick blocks at the limit), so each
    command is handled inside a known window of virtual seconds however slow the machine is:
    no wall-clock margin decides the outcome."""
    import threading
    import time

    lock = threading.Condition()
    grant = {"limit": 0, "t": 0}

    def on_tick(t):
        with lock:
            grant["t"] = t
            lock.notify_all()
            while t >= grant["limit"]:
                lock.wait()

    def run_to(limit):
        """Let virtual time run up to `limit` and wait until it stands there."""
        with lock:
            grant["limit"] = limit
            lock.notify_all()
            assert lock.wait_for(lambda: grant["t"] >= limit, timeout=120), "simulation stalled"

    def allow(limit):
        with lock:
            grant["limit"] = limit
            lock.notify_all()

    def ask(dev, cmd, arg=""):
        """Send while virtual time stands at the limit, then grant 10 s: the firmware handles
        the line inside those 10 virtual seconds however long the reply takes in wall time."""
        limit = grant["limit"]
        dev.send(f"{cmd} {arg}".strip())  # in the pty before the next tick reads it
        allow(limit + 10)
        for obj in dev.objects(time.monotonic() + 120):
            if obj.get("cmd") == cmd.lower():
                return obj
        raise AssertionError(f"no answer to {cmd}")

    with running(tmp_path, scenario_text(), SPEED) as sim:
        sim.on_tick = on_tick
        try:
            with lock:
                assert lock.wait_for(lambda: grant["t"] > 0, timeout=120)
                base = grant["t"] + 5
            run_to(base)
            with sl.Device(sim.serial_path) as dev:
                r = ask(dev, "Login", "0000")
                assert r["login"] == "yes" and r["idle_logout_s"] == 600
                run_to(base + 10)
                assert ask(dev, "Relay", "off")["relay"] == "off"  # handled in (base+10, base+20]
                run_to(base + 20 + 500)
                assert ask(dev, "Relay", "auto")["relay"] == "auto"  # 500-510 s idle: kept
                run_to(base + 530 + 610)  # more than 600 s of silence
                r = ask(dev, "Relay", "on")
                assert "login required" in r["error"]
                allow(1 << 62)
                assert dev.request("Relay")["relay"] == "auto"  # nothing changed
                assert "error" not in dev.request("Login", "0000")  # the PIN logs in again
                assert dev.request("Relay", "on")["relay"] == "on"
        finally:
            allow(1 << 62)
