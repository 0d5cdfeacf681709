"""Per-post configuration: a schema with types, ranges and defaults, validated on load.

A corrupt or out-of-range config never stops the lamp: bad values fall back to
their defaults and each problem is returned so the firmware can report it.
"""
from lamppost import store

PATH = "config.json"

# key: (kind, lo, hi, default, secret). kind "s" string (lo..hi characters),
# "i" int, "f" float, "b" bool, or a tuple of allowed strings.
SCHEMA = {
    "id": ("s", 1, 32, "LP-0000", False),  # post id: names its MQTT topics (tele/<id>/STATE)
    "lamp": (("led", "hps"), 0, 0, "led", False),  # lamp type: sets the detection defaults
    "rated_w": ("f", 1.0, 2000.0, 60.0, False),  # lamp power at full output, W (nameplate)
    "nominal_v": ("f", 100.0, 277.0, 230.0, False),  # the post's nominal supply, V rms
    "hz": ("i", 50, 60, 50, False),  # nominal mains frequency, 50 or 60 (adc windows whole cycles)
    "lat": ("f", -90.0, 90.0, 52.0, False),  # latitude, degrees north: sunset/sunrise
    "lon": ("f", -180.0, 180.0, 5.0, False),  # longitude, degrees east: sunset/sunrise
    "sensor": (("ideal", "adc", "cse7766"), 0, 0, "ideal", False),  # metering front end
    "tele_period": ("i", 10, 86400, 300, False),  # seconds between MQTT STATE/SENSOR
    "sun_elev": ("f", -12.0, 5.0, -0.833, False),  # sun elevation (deg) that is sunset/rise
    "cal_v": ("f", 0.5, 2.0, 1.0, False),  # voltage gain (Calibrate Voltage)
    "cal_i": ("f", 0.5, 2.0, 1.0, False),  # current gain (Calibrate Power / Current)
    "v_fs": ("f", 10.0, 5000.0, 400.0, False),  # adc: volts (peak) of a full-scale swing
    "i_fs": ("f", 0.01, 1000.0, 1.5, False),  # adc: amps (peak) of a full-scale swing (CT)
    "ct_phase": ("f", -5.0, 5.0, 0.0, False),  # adc: CT phase lead, degrees (its datasheet)
    "pin": ("s", 4, 12, "0000", True),  # service PIN for the console Login (change it)
    # switching schedule and console (lamppost/schedule.py, commands.py)
    "photocell": ("b", 0, 0, False, False),  # photocell fitted (tick flag bit 1)
    "pc_window_min": ("i", 0, 240, 30, False),  # photocell decides this near sunset/sunrise
    "dim_level": ("i", 0, 100, 100, False),  # percent inside the dimming window (100 = none)
    "dim_from_min": ("i", 0, 1439, 0, False),  # dimming window, minutes after local midnight
    "dim_to_min": ("i", 0, 1439, 300, False),  # ... until this minute (may wrap midnight)
    "sched_clock": (("solar", "utc"), 0, 0, "solar", False),  # local mean solar or UTC+offset
    "utc_offset_min": ("i", -720, 840, 0, False),  # standard time; sched_clock "utc"
    "dst": (("none", "eu", "us"), 0, 0, "none", False),  # summer time rule for sched_clock "utc"
    "override_s": ("i", 60, 86400, 3600, False),  # Relay/Dim override returns to auto after
    "login_s": ("i", 60, 3600, 600, False),  # console login ends after this long idle
    "selftest_boot": ("b", 0, 0, False, False),  # SelfTest after power-on (mains returned)
    # detection threshold overrides; None = the lamp type's default (lamppost/lamptypes.py)
    "warmup_s": ("i", 0, 900, None, False),  # power alarms wait this long after a strike
    "power_tol": ("f", 0.05, 0.5, None, False),  # lampPowerTooLow/High band, fraction
    "power_tol_w": ("f", 0.1, 50.0, None, False),  # ... never narrower than this many W
    "standby_w": ("f", 0.0, 20.0, None, False),  # the driver's own draw at every dim level
    "fail_frac": ("f", 0.05, 0.5, None, False),  # lampFailure below this fraction of expected
    "pf_min": ("f", 0.1, 0.99, None, False),  # powerFactorTooLow
    "on_w": ("f", 1.0, 100.0, None, False),  # lit while commanded off above this many W
    "temp_max": ("f", 40.0, 120.0, None, False),  # highTemperature, degC
    "v_low": ("f", 0.5, 0.95, None, False),  # supplyVoltageTooLow, fraction of nominal_v
    "v_high": ("f", 1.05, 1.5, None, False),  # supplyVoltageTooHigh
    "cool_s": ("i", 0, 900, None, False),  # lampFailure waits this long for a hot restrike
    "cyc_outs": ("i", 2, 10, None, False),  # cyclingFailure after this many unexplained outs
    "cyc_window_s": ("i", 600, 86400, None, False),  # ... within this many seconds
    "v_raise_s": ("i", 1, 600, None, False),  # supply alarms persist this long (EN 50160 dips)
}


def spec(key):
    """key's schema entry, or None. The network keys (lamppost/uplinkcfg.py) are imported only
    when a key is not in SCHEMA: a console Config on a post without a broker can set them,
    and the import is dropped with the command's handler (lamppost/commands.py)."""
    s = SCHEMA.get(key)
    if s is None:
        from lamppost.uplinkcfg import SCHEMA as NET
        s = NET.get(key)
    return s


def check(key, value, schema=None):
    """The validated value for key, or raise ValueError saying what is wrong."""
    spec = (schema or SCHEMA).get(key)
    if spec is None:
        raise ValueError("unknown key")
    kind, lo, hi = spec[0], spec[1], spec[2]
    if isinstance(kind, tuple):
        if value not in kind:
            raise ValueError("must be one of " + "|".join(kind))
        return value
    if kind == "s":
        if not isinstance(value, str) or not lo <= len(value) <= hi:
            raise ValueError("must be text of %d-%d characters" % (lo, hi))
        if key == "id":  # names topics and files: lamppost_common/ids.py's rule, without re
            for i in range(len(value)):
                c = value[i]
                if not ("0" <= c <= "9" or "a" <= c <= "z" or "A" <= c <= "Z" or i and c in "-_"):
                    raise ValueError("must be letters, digits, - or _ (not first)")
        return value
    if kind == "b":
        if not isinstance(value, bool):
            raise ValueError("must be true or false")
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError("must be a number")
    if kind == "i":
        if value != int(value):
            raise ValueError("must be a whole number")
        value = int(value)
    else:
        value = float(value)
    if not lo <= value <= hi:
        raise ValueError("must be within %s..%s" % (lo, hi))
    return value


def defaults():
    return {k: v[3] for k, v in SCHEMA.items()}


def load(path=PATH):
    """(config, problems): every key present and valid; problems lists 'key: why'."""
    return parse(store.load(path))


def parse(raw):
    """(config, problems) from the JSON object raw (None: unreadable); see load()."""
    if raw and any(k not in SCHEMA for k in raw):  # network keys, only on posts that have some
        from lamppost.uplinkcfg import SCHEMA as NET
        SCHEMA.update(NET)
    cfg = defaults()
    problems = []
    if raw is None:
        problems.append("config: missing or corrupt, using defaults")
        return cfg, problems
    for k, v in raw.items():
        if v is None and k in SCHEMA and SCHEMA[k][3] is None:
            continue  # an unset threshold override, as Config saves it
        try:
            cfg[k] = check(k, v)
        except ValueError as e:
            problems.append("%s: %s" % (k, e))
    return cfg, problems


def secrets():
    """The names of every secret key (config and network schema), kept by the App from boot
    so Status can show the config without importing this schema (~9 KB) beside an MQTT
    client's buffers, where the import found no heap."""
    from lamppost.uplinkcfg import SCHEMA as NET
    return tuple(k for sch in (SCHEMA, NET) for k in sch if sch[k][4])


def public(cfg):
    """A copy of cfg without secrets, safe to print."""
    d = {}
    for k, v in cfg.items():
        s = spec(k)  # a network key set on the console before the reboot that merges them
        if s is not None and not s[4]:
            d[k] = v
    return d
