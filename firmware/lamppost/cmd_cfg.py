"""Console Config and Calibrate (setting needs a login). Loaded per command, then dropped."""
import json
from lamppost import config, store
from lamppost.commands import NeedLogin

# config keys applied at once; others apply after Reboot
LIVE = ("id", "lat", "lon", "sun_elev", "cal_v", "cal_i", "pin", "login_s", "photocell",
        "pc_window_min", "dim_level", "dim_from_min", "dim_to_min", "sched_clock",
        "utc_offset_min", "dst", "override_s")


def c_config(c, p, ok, s):
    cfg = c.cfg
    if not p:
        return {"config": config.public(cfg)}
    key, _, text = p.partition(" ")
    key = key.lower()
    spec = config.spec(key)  # network keys too, on a post that has none set yet
    if spec is None:
        raise ValueError("unknown key %s" % key[:32])
    text = text.strip()
    if not text:
        return {key: "(secret)" if spec[4] else cfg.get(key, spec[3])}
    if not ok:
        raise NeedLogin()
    try:
        value = config.check(key, _value(spec[0], text), {key: spec})
    except ValueError as e:
        raise ValueError("%s: %s" % (key, e))
    had = key in cfg
    old = cfg.get(key)
    cfg[key] = value
    if not store.save(config.PATH, cfg):
        if had:
            cfg[key] = old
        else:
            del cfg[key]
        raise ValueError("flash full: not saved")
    _apply(c, key)
    c.log.add(c.now, "config", "%s set" % key if spec[4] else "%s=%s" % (key, value))
    d = {key: "(secret)" if spec[4] else value, "saved": True}
    if key not in LIVE:
        d["reboot"] = "needed to apply"
    return d


def _apply(c, key):
    cfg = c.cfg
    if key in ("lat", "lon", "sun_elev"):
        c.sun.lat, c.sun.lon, c.sun.elev, c.sun.day = cfg["lat"], cfg["lon"], cfg["sun_elev"], None
    elif key in ("cal_v", "cal_i"):
        setattr(c.meter, key, cfg[key])
    elif key == "id":
        c.rep.id = cfg["id"]
    elif key == "login_s":
        c.idle_s = cfg["login_s"]
    else:
        c.sched.configure(cfg)


def _value(kind, text):
    """The typed value of a Config payload: text for text keys, a choice in lower case
    (`Config lamp HPS` is hps, as commands are case-insensitive), else JSON (1, 2.5, true)."""
    if kind == "s":
        return text
    if isinstance(kind, tuple):
        return text.lower()
    low = text.lower()
    if kind == "b" and low in ("on", "off", "1", "0"):
        return low in ("on", "1")
    try:
        return json.loads(low)
    except ValueError:
        raise ValueError("not a value: %s" % text[:32])


def c_calibrate(c, p, ok, s):
    if not ok:
        raise NeedLogin()
    from lamppost import calib
    kind, _, val = p.lower().partition(" ")
    try:
        true = float(val)
    except ValueError:
        raise ValueError("calibrate voltage|power|current <true value>")
    old = (c.meter.cal_v, c.meter.cal_i)
    gains = calib.calibrate(c.meter, c.r, kind, true)
    try:
        for k in gains:
            c.cfg[k] = config.check(k, gains[k])
    except ValueError:
        c.meter.cal_v, c.meter.cal_i = old
        raise
    store.save(config.PATH, c.cfg)
    c.log.add(c.now, "config", "calibrate %s %s" % (kind, true))
    gains["saved"] = True
    return gains


def c_teleperiod(c, p, ok, s):
    """TelePeriod [10..86400]: seconds between MQTT STATE/SENSOR reports (Tasmota's name)."""
    net = c.net
    if net is None:
        raise ValueError("no MQTT broker configured (mqtt_host)")
    if p:
        if not ok:
            raise NeedLogin()
        try:
            v = int(p)
        except ValueError:
            v = 0
        if not 10 <= v <= 86400:
            raise ValueError("TelePeriod must be 10..86400 s")
        net.set_period(v)
    return {"TelePeriod": net.period}
