"""Console commands that change state (need a login), plus Login/Logout. Loaded per command."""
import json
from lamppost import clock, config, store
from lamppost.commands import NeedLogin, parse_int

# config keys applied at once; others apply after Reboot
LIVE = ("id", "lat", "lon", "sun_elev", "cal_v", "cal_i", "pin", "login_s", "photocell",
        "pc_window_min", "dim_level", "dim_from_min", "dim_to_min", "sched_clock",
        "utc_offset_min", "override_s")


def c_config(c, p, ok, s):
    cfg = c.app.cfg
    if not p:
        return {"config": config.public(cfg)}
    key, _, text = p.partition(" ")
    key = key.lower()
    spec = config.SCHEMA.get(key)
    if spec is None:
        raise ValueError("unknown key %s" % key[:32])
    text = text.strip()
    if not text:
        return {key: "(secret)" if spec[4] else cfg[key]}
    if not ok:
        raise NeedLogin()
    value = config.check(key, _value(spec[0], text))  # ValueError names the problem
    old = cfg[key]
    cfg[key] = value
    if not store.save(config.PATH, cfg):
        cfg[key] = old
        raise ValueError("flash full: not saved")
    _apply(c.app, c, key)
    c.log.add(c.app.now, "config", "%s set" % key if spec[4] else "%s=%s" % (key, value))
    d = {key: "(secret)" if spec[4] else value, "saved": True}
    if key not in LIVE:
        d["reboot"] = "needed to apply"
    return d


def _apply(a, c, key):
    cfg = a.cfg
    if key in ("lat", "lon", "sun_elev"):
        a.sun.lat, a.sun.lon, a.sun.elev, a.sun.day = cfg["lat"], cfg["lon"], cfg["sun_elev"], None
    elif key in ("cal_v", "cal_i"):
        setattr(a.meter, key, cfg[key])
    elif key == "id":
        a.rep.id = cfg["id"]
    elif key == "login_s":
        c.session.idle_s = cfg["login_s"]
    else:
        a.sched.configure(cfg)


def _value(kind, text):
    """The typed value of a Config payload: text for text keys, else JSON (1, 2.5, true)."""
    if kind == "s" or isinstance(kind, tuple):
        return text
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
    a = c.app
    old = (a.meter.cal_v, a.meter.cal_i)
    gains = calib.calibrate(a.meter, a.r, kind, true)
    try:
        for k in gains:
            a.cfg[k] = config.check(k, gains[k])
    except ValueError:
        a.meter.cal_v, a.meter.cal_i = old
        raise
    store.save(config.PATH, a.cfg)
    c.log.add(a.now, "config", "calibrate %s %s" % (kind, true))
    gains["saved"] = True
    return gains


def c_selftest(c, p, ok, s):
    sc, a = c.app.sched, c.app
    if p:
        raise ValueError("SelfTest takes no value")
    if sc.test is not None:
        return sc.test.state()
    if not ok:
        raise NeedLogin()
    from lamppost.selftest import SelfTest
    settle = 240 if a.cfg["lamp"] == "hps" else 5

    def done(result):
        a.rep.emit(a.now, "selftest", dict(result))

    sc.test = SelfTest(a.now, a.cfg["rated_w"], settle, done, getattr(a.engine, "on_w", 6.0))
    return {"state": "started", "takes_s": 4 * settle, "result": "as ev selftest"}


def c_relay(c, p, ok, s):
    sc = c.app.sched
    p = p.lower()
    if p:
        if p not in ("on", "off", "auto"):
            raise ValueError("Relay on|off|auto")
        if not ok:
            raise NeedLogin()
        if p == "auto":
            sc.set_override(c.app.now, clear_relay=True)
        else:
            sc.set_override(c.app.now, relay=p == "on")
        c.log.add(c.app.now, "override", "relay " + p)
    o = sc.override()
    return {"relay": o["relay"] if o else "auto", "lamp": "on" if c.app.cmd_on else "off",
            "until": clock.iso(sc.ovr_until) if o else None}


def c_dim(c, p, ok, s):
    sc = c.app.sched
    p = p.lower()
    if p:
        level = None if p == "auto" else parse_int(p, 0, 100, "Dim <0-100>|auto: level")
        if not ok:
            raise NeedLogin()
        if level is None:
            sc.set_override(c.app.now, clear_dim=True)
        else:
            sc.set_override(c.app.now, dim=level)
        c.log.add(c.app.now, "override", "dim " + p)
    o = sc.override()
    return {"dim": o["dim"] if o else "auto", "level": c.app.dim,
            "until": clock.iso(sc.ovr_until) if o else None}


def c_reboot(c, p, ok, s):
    if not ok:
        raise NeedLogin()
    c.reboot_at = c.app.now + 1
    return {"reboot": "in 1 s"}


def c_login(c, p, ok, s):
    if s is None:
        raise ValueError("Login applies to the serial console")
    now = c.app.now
    err = s.login(now, p)
    c.log.add(now, "login", "ok" if err is None else "failed", err is not None)
    if err:
        raise ValueError(err)
    return {"login": "yes", "idle_logout_s": s.idle_s}


def c_logout(c, p, ok, s):
    if s is not None:
        s.logout()
    return {"login": "no"}
