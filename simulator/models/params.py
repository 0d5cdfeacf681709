"""Parameters a scenario may give the physical models, with ranges and defaults.

One table for the `[supply]` section and one per fault cause (the extra keys of
a `[[fault]]` table), so scenario.py validates them and the models read them
with their defaults from a single place.
"""
from __future__ import annotations

# key: (lo, hi, default, what it means)
SUPPLY: dict[str, tuple[float, float, float, str]] = {
    # the feeder's own level: defaults to the post's [post] nominal_v / hz; set it apart from
    # them for a steady low or high feeder (the lamp keeps the post's rating)
    "nominal_v": (80.0, 310.0, 230.0, "the feeder's mean voltage, V rms"),
    "hz": (45.0, 65.0, 50.0, "the feeder's mean frequency, Hz"),
    "variation": (0.0, 0.10, 0.02, "slow daily swing, fraction of nominal (EN 50160: within 0.10)"),
    "walk": (0.0, 0.10, 0.02, "bound of the slow random walk, fraction of nominal"),
    "thd": (0.0, 0.08, 0.03, "voltage total harmonic distortion (EN 50160: at most 0.08)"),
    "freq_drift": (0.0, 0.5, 0.05, "bound of the frequency drift, Hz"),
    "dips_per_day": (0.0, 1000.0, 0.0, "random dips (residual 40-90% of nominal, 1-60 s)"),
    "swells_per_day": (0.0, 1000.0, 0.0, "random swells (110-120% of nominal, 1-60 s)"),
    "short_interruptions_per_day": (0.0, 1000.0, 0.0, "random interruptions of 1 s to 3 min"),
    "long_interruptions_per_day": (0.0, 100.0, 0.0, "random interruptions of 3 min to 2 h"),
}

# cause: {key: (lo, hi, default, meaning)}
FAULT: dict[str, dict[str, tuple[float, float, float, str]]] = {
    "lamp_dead": {},
    "relay_welded": {},
    "relay_open": {},
    "hid_end_of_life": {
        "lit_s": (10.0, 3600.0, 180.0, "seconds the arc burns at full power before it goes out"),
        "cool_s": (10.0, 900.0, 60.0, "seconds the lamp needs to cool before it restrikes"),
    },
    "led_string_open": {
        "strings_open": (1.0, 64.0, 1.0, "how many of the N LED strings are open"),
    },
    "driver_fault_high": {
        "factor": (1.05, 3.0, 1.4, "power drawn as a multiple of what it should be"),
    },
    "capacitor_failed": {
        "pf": (0.2, 0.8, 0.45, "power factor with the capacitor (or PFC stage) dead"),
    },
    "supply_sag": {
        "level": (0.0, 0.95, 0.80, "residual voltage, fraction of nominal"),
        "depth": (0.0, 0.95, 0.80, "alias of level: residual voltage, fraction of nominal"),
    },
    "supply_swell": {
        "level": (1.02, 1.5, 1.15, "voltage, fraction of nominal"),
    },
    "mains_loss": {},
    "dimming_stuck": {
        "level": (-1.0, 100.0, -1.0, "dim level the driver sticks at, %; -1 = the level at onset"),
    },
    "overheat": {
        "temp": (40.0, 150.0, 85.0, "temperature the controller/driver heats up to, degC"),
        "tau_s": (1.0, 7200.0, 300.0, "time constant of the heating, s"),
    },
    "photocell_stuck_dark": {},  # reads dark whatever the sky (covered, water inside)
    "photocell_stuck_light": {},  # reads light whatever the sky (open wire, light falling on it)
}


def check_number(value, lo: float, hi: float) -> float:
    """value as a float within lo..hi, or ValueError saying why not."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{value!r} is not a number")
    if not lo <= value <= hi:
        raise ValueError(f"{value} is outside {lo}..{hi}")
    return float(value)


def fault_param(params: dict, kind: str, key: str) -> float:
    """A fault's parameter, or its default."""
    return float(params.get(key, FAULT[kind][key][2]))

# [climate]: the air around the post (simulator/models/world.py Thermal). Without the table the
# ambient is the legacy 10 +- 6 degC day cycle at a seeded phase, so old scenarios run unchanged.
CLIMATE: dict[str, tuple[float, float, float, str]] = {
    "mean": (-40.0, 45.0, 10.0, "yearly mean air temperature, degC"),
    "daily": (0.0, 20.0, 6.0, "daily swing, degC either side (warmest at 15:00 local solar time)"),
    "seasonal": (0.0, 30.0, 0.0, "seasonal swing, degC either side (warmest late July in the north, "
                                 "late January in the south)"),
}
