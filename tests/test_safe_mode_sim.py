"""Safe mode through the simulator: broken firmware still lights the street at night.

The real firmware starts in safe mode (as boot.py makes it after repeated crashes)
on the host HAL, in lockstep with the world model, over one day; the lamp must
burn from before sunset to after sunrise, on the fallback schedule alone.
"""
from __future__ import annotations

import datetime as dt

from astral import Observer
from astral.sun import sunrise, sunset

from simulator.runner import Simulation
from simulator.scenario import loads

from firmware_prelude import boot_with

EPOCH2000 = 946684800
DAY = """
[post]
id = "NL-0001"
latitude = 52.03
longitude = 5.56

[run]
start = "2026-01-15T12:00:00Z"
duration = "1d"
seed = 3
"""


def test_safe_mode_lights_the_lamp_from_before_sunset_to_after_sunrise(tmp_path, monkeypatch):
    # boots with lamppost.SAFE set, as boot.py does on a board after 3 crashes
    boot_with(monkeypatch, tmp_path, "import lamppost\n"
                                     "from lamppost import safe\n"
                                     "lamppost.SAFE = safe.MODE = True\n"
                                     "safe.REASON, safe.CRASHES = 'crashes', 3\n")
    sim = Simulation(loads(DAY, "safe-day.toml"))
    try:
        res = sim.run()
    finally:
        sim.close()
    assert res.crashes == [] and res.boots == 1
    assert res.reports[0]["ev"] == "safe" and res.reports[0]["reason"] == "crashes"
    switches = [(r["lamp"], r["t"] + EPOCH2000) for r in res.reports if r.get("ev") == "switch"]
    assert [s[0] for s in switches] == ["off", "on", "off"], switches  # noon: off; evening on; morning off
    obs = Observer(latitude=52.03, longitude=5.56)
    utc = dt.timezone.utc
    set_ = sunset(obs, dt.date(2026, 1, 15), utc).timestamp()
    rise = sunrise(obs, dt.date(2026, 1, 16), utc).timestamp()
    on, off = switches[1][1], switches[2][1]
    assert set_ - 20 * 60 <= on <= set_ - 10 * 60, (on - set_) / 60  # 15 min early, to light
    assert rise + 10 * 60 <= off <= rise + 20 * 60, (off - rise) / 60  # 15 min late
