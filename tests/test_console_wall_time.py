"""`lamppost-sim run --console` with --speed: a person's console login and a lockout run on the
wall clock (hal/host.py session_time), so a 600 s login does not end in the fraction of a wall
second that 600 virtual seconds take, and 3 wrong PINs lock out for a real minute (issue 17)."""
from __future__ import annotations

import signal
import subprocess
import sys
import time
from datetime import datetime

from console_sim import scenario_text
from terminal import like_a_shell
from host_tools.lampctl import serial_link as sl

SPEED = 3000.0  # virtual seconds per wall second: the board's 600 s idle logout in 0.2 s


def _t(dev: sl.Device) -> float:
    """The board's clock and whether the console is logged in (Status fw; opens no login)."""
    fw = dev.request("Status", "fw", timeout=30)["fw"]
    return datetime.fromisoformat(fw["time"].replace("Z", "+00:00")).timestamp(), fw["login"]


def _idle(dev: sl.Device, since: float, virtual_s: float) -> float:
    """Wait, sending nothing, until the board's clock is virtual_s past since; its time then.
    Sleeps grow when a loaded machine keeps the simulation below its speed."""
    nap = virtual_s / SPEED * 3
    for _ in range(8):
        time.sleep(nap)
        t, login = _t(dev)
        if t - since >= virtual_s:
            return t
        nap *= 2
    raise AssertionError(f"the simulation did not advance {virtual_s} s")


def test_console_login_and_lockout_last_on_wall_time_in_a_fast_console_run(tmp_path):
    sc = tmp_path / "sc.toml"
    sc.write_text(scenario_text())
    sim = subprocess.Popen([sys.executable, "-m", "testbed.cli", "run", str(sc), "--console",
                            "--speed", str(SPEED), "--hold", "--quiet", "--no-mqtt"],
                           stdout=subprocess.PIPE, text=True, preexec_fn=like_a_shell)
    try:
        port = None
        for line in sim.stdout:
            if "lampctl --port" in line:
                port = line.split("--port ")[1].split()[0]
                break
        assert port
        with sl.Device(port, timeout=30) as dev:
            before, login = _t(dev)
            assert login == "no"
            assert dev.request("Login", "0000")["login"] == "yes"
            # more than login_s (600 s) of virtual time without a command: still logged in
            _idle(dev, before, 900)  # Status changes nothing, and found the login alive:
            assert _t(dev)[1] == "yes"
            r = dev.request("Relay", "off")
            assert r.get("relay") == "off", r
            assert dev.request("Logout")["login"] == "no"
            assert "login required" in dev.request("Relay", "auto")["error"]
            # three wrong PINs: a lockout that outlasts 200 virtual seconds (60 s on the wall)
            for _ in range(3):
                err = dev.request("Login", "9999")["error"]
            assert "locked out for 60 s" in err
            t_lock, _ = _t(dev)
            _idle(dev, t_lock, 200)
            assert "locked out" in dev.request("Login", "0000").get("error", ""), "lockout ended early"
        sim.send_signal(signal.SIGINT)
        sim.stdout.read()
        assert sim.wait(timeout=60) == 0
    finally:
        if sim.poll() is None:
            sim.kill()
            sim.wait()
