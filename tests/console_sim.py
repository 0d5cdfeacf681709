"""Helpers for tests that drive the real firmware's console through the simulator's pty."""
from __future__ import annotations

import contextlib
import json
import threading
from pathlib import Path

from simulator.runner import Simulation
from simulator.scenario import load

NIGHT = """
[post]
id = "NL-0042"
lamp = "led"
rated_w = 60
latitude = 52.03
longitude = 5.56

[run]
start = "2026-01-15T18:00:00Z"
duration = "1d"
seed = 3
"""


def scenario_text(*faults: tuple[str, str], start: str = "2026-01-15T18:00:00Z") -> str:
    """NIGHT (or from `start`) plus faults given as (kind, ISO time)."""
    return NIGHT.replace("2026-01-15T18:00:00Z", start) + "".join(f'\n[[fault]]\nat = "{at}"\nkind = "{kind}"\n' for kind, at in faults)


@contextlib.contextmanager
def running(tmp_path: Path, text: str, speed: float | None):
    """A Simulation of `text` running in a thread (held past its end); yields it, stops it after."""
    path = tmp_path / "sc.toml"
    path.write_text(text)
    sim = Simulation(load(str(path)), flash_dir=tmp_path / "flash", speed=speed, hold=True)
    box: dict = {}
    th = threading.Thread(target=lambda: box.setdefault("res", sim.run()), daemon=True)
    th.start()
    sim.thread = th  # tests that "unplug" the board join it after sim.stop()
    try:
        assert sim.ready.wait(timeout=30), "firmware did not boot"
        yield sim
    finally:
        sim.stop()
        th.join(timeout=20)
        sim.close()
    res = box.get("res")
    assert res is not None, "simulation did not finish"
    assert not res.crashes, res.crashes[0]


def lampctl(capsys, *argv: str) -> tuple[int, dict | list | None]:
    """Run lampctl in-process with --json; (exit code, parsed stdout)."""
    from host_tools.lampctl.cli import main
    capsys.readouterr()
    code = main(["--json", *argv])
    out = capsys.readouterr().out.strip()
    return code, (json.loads(out.splitlines()[-1]) if out else None)
