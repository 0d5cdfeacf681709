"""Detection thresholds per lamp type, with where each default comes from.

A controller judges a lamp against what that kind of lamp should draw: an LED
driver draws constant power at once; a high-pressure sodium (HPS) lamp warms
up for minutes, draws power roughly with the square of the supply voltage and
needs a minute to cool before it restrikes. `thresholds(cfg)` merges the lamp
type's defaults with any override in the post's config (same key names).
"""

# Sources: [E] Echelon Lumewave CPD 3000 defaults as managed by Streetlight.Vision
# (power +-15% of a 0/25/50/75/100% dim profile, failed below 20% of expected,
# PF < 0.65 only when on, relay failed above 6 W with the relay open, high
# temperature 65 degC); [N] EN 50160 (supply +10/-15% always, a dip starts
# below 90% with 2% hysteresis and lasts at most 60 s); [D] HPS lamp data sheets
# (run-up to 90% light in 3-5 min, hot restrike after about 1 min of cooling,
# lamp power about +-20% for +-10% supply on a reactor ballast); [L] this
# project's own choice, justified in docs/detection.md.
COMMON = {
    "v_nom": 230.0,  # [N] nominal LV supply, V
    "v_low": 0.85,  # [N] EN 50160 "always" lower limit, fraction of nominal
    "v_high": 1.10,  # [N] EN 50160 "always" upper limit
    "v_hyst": 0.02,  # [N] 2% hysteresis, as for dips
    "v_dip": 0.90,  # [N] below this a dip starts: lamp alarms hold while it lasts
    "v_raise_s": 60,  # [N] a dip lasts up to 60 s: only longer is a supply fault
    "fail_frac": 0.20,  # [E] lampFailure below 20% of expected power
    "power_tol": 0.15,  # [E] lampPowerTooLow/TooHigh outside +-15% of expected
    "power_tol_w": 1.0,  # [L] ... but never closer than 1 W (the meter's noise floor, meter.py)
    "pf_min": 0.65,  # [E] powerFactorTooLow, judged only while on
    "on_w": 6.0,  # [E] lit while commanded off: above 6 W (or 10% of rated)
    "temp_max": 65.0,  # [E] highTemperature, degC
    "temp_hyst": 5.0,  # [L] clear 5 K below
    "blank_s": 2,  # [L] after any switch or dim change: inrush, one-tick actuator delay
    "lamp_raise_s": 2,  # [L] lamp alarms persist 2 s (3 s goal, readings every 1 s)
    "lamp_clear_s": 5,  # [L] and clear after 5 s of health
    "cyc_outs": 2,  # [L] cyclingFailure after 2 unexplained outs while on ...
    "cyc_window_s": 3600,  # [L] ... in one night without a steady burn of twice the lamp's
    # own cycle between them (at least this, at most twice this: cycles up to 2 h are followed)
}

LAMPS = {
    "led": {
        "warmup_s": 0,  # constant-power driver: full power at once
        "cool_s": 0,  # nothing to restrike
        "v_exp": 0.0,  # power does not follow the supply voltage
        "standby_w": 0.3,  # [L] the driver's own draw (standby, control), at every dim level
        "v_min": 0.45,  # [L] a driver runs down to ~40% of nominal: judged down to 45%
        # expected power fraction at dim 0/25/50/75/100% (a profile, as controllers use)
        "profile": (0.0, 0.25, 0.5, 0.75, 1.0),
    },
    "hps": {
        "warmup_s": 300,  # [D] run-up 3-5 min: power alarms wait for it
        "cool_s": 150,  # [D] a hot HPS lamp that goes out restrikes after ~1 min: wait
        "v_exp": 2.0,  # [D] P ~ V^2 on a reactor ballast
        "standby_w": 0.0,  # ballast losses are part of the rated system power
        "v_min": 0.80,  # [D] no restrike below ~80% of nominal: judged from there up
        # a magnetic ballast does not dim: full power at every commanded level
        # (a bi-level ballast would be e.g. (0.5, 0.5, 0.5, 0.75, 1.0))
        "profile": (1.0, 1.0, 1.0, 1.0, 1.0),
    },
}


def thresholds(cfg):
    """The lamp type's thresholds, overridden by any same-named key in cfg."""
    th = dict(COMMON)
    th.update(LAMPS.get(cfg.get("lamp", "led"), LAMPS["led"]))
    for k in th:
        v = cfg.get(k)
        if v is not None:
            th[k] = v
    th["rated_w"] = cfg.get("rated_w", 60.0)
    nom = cfg.get("nominal_v")
    if nom:  # the post's nominal supply (230 V Europe, 120 V / 277 V America, 240 V UK/AU)
        th["v_nom"] = nom
    if cfg.get("sensor") == "cse7766" and cfg.get("power_tol_w") is None:
        th["power_tol_w"] = 2.0  # its power channel reads zero below ~2 W (meter.py)
    return th


def apply(e, th):
    """Copy thresholds th onto detection engine e as attributes (run once at boot)."""
    e.temp_max, e.temp_hyst = th["temp_max"], th["temp_hyst"]
    e.v_low, e.v_high, e.v_hyst, e.v_dip = th["v_low"], th["v_high"], th["v_hyst"], \
        th["v_dip"]
    e.cyc_window_s, e.cyc_outs, e.pf_min = th["cyc_window_s"], th["cyc_outs"], th["pf_min"]
    e.rated_w = th["rated_w"]
    e.profile = th["profile"]
    e.dimmable = e.profile[2] < e.profile[4]  # else dimmingFailure is never judged
    e.v_exp = th["v_exp"]
    e.v_nom = th["v_nom"]
    e.blank_s = th["blank_s"]
    e.warmup_s = th["warmup_s"]
    e.cool_s = th["cool_s"]
    e.tol = th["power_tol"]
    e.fail_frac = th["fail_frac"]
    e.floor_w = th["power_tol_w"]
    e.standby_w = min(th["standby_w"], 0.5 * e.rated_w)
    e.v_min = th["v_min"]
    e.on_w = max(th["on_w"], 0.1 * e.rated_w)
