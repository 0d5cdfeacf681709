"""Console SelfTest, Relay, Dim, Reboot, Maintenance (need a login), Login, Logout. Loaded per command."""
from lamppost import clock
from lamppost.commands import NeedLogin, parse_int


def c_selftest(c, p, ok, s):
    sc = c.sched
    if p:
        raise ValueError("SelfTest takes no value")
    if sc.test is not None:
        return sc.test.state()
    if not ok:
        raise NeedLogin()
    from lamppost.selftest import SelfTest
    settle = 240 if c.cfg["lamp"] == "hps" else 5
    # the callback lives in the resident Commands, so this module can be dropped meanwhile
    sc.test = SelfTest(c.now, c.cfg["rated_w"], settle, c.selftest_done, c.engine.on_w)
    return {"state": "started", "takes_s": 4 * settle, "result": "as ev selftest"}


def c_relay(c, p, ok, s):
    sc = c.sched
    p = p.lower()
    if p:
        if p not in ("on", "off", "auto"):
            raise ValueError("Relay on|off|auto")
        if not ok:
            raise NeedLogin()
        if p == "auto":
            sc.set_override(c.now, clear_relay=True)
        else:
            sc.set_override(c.now, relay=p == "on")
        c.log.add(c.now, "override", "relay " + p)
    o = sc.override()
    on = c.cmd_on if sc.relay_ovr is None else sc.relay_ovr  # as from the next tick
    return {"relay": o["relay"] if o else "auto", "lamp": "on" if on else "off",
            "until": clock.iso(sc.ovr_until) if o else None}


def c_dim(c, p, ok, s):
    sc = c.sched
    p = p.lower()
    if p:
        level = None if p == "auto" else parse_int(p, 0, 100, "Dim <0-100>|auto: level")
        if not ok:
            raise NeedLogin()
        if level is None:
            sc.set_override(c.now, clear_dim=True)
        else:
            sc.set_override(c.now, dim=level)
        c.log.add(c.now, "override", "dim " + p)
    o = sc.override()
    if sc.dim_ovr is not None:
        level = sc.dim_ovr
    elif p == "auto":  # the level the schedule returns to at the next tick (Schedule.decide)
        on = c.cmd_on if sc.relay_ovr is None else sc.relay_ovr
        level = sc.dim_auto(c.now) if on else 100
    else:
        level = c.dim
    return {"dim": o["dim"] if o else "auto", "level": level,
            "until": clock.iso(sc.ovr_until) if o else None}


def c_reboot(c, p, ok, s):
    if not ok:
        raise NeedLogin()
    c.reboot_at = c.now + 1
    return {"reboot": "in 1 s"}


def c_maintenance(c, p, ok, uart):
    """Restart into safe mode for a deploy: the REPL and Ctrl-C (off while the app runs) work
    again for mpremote, no watchdog; the deploy's final reset starts the firmware again."""
    if not uart:
        raise ValueError("Maintenance applies to the serial console")
    if not c.hal.repl:
        raise ValueError("Maintenance needs a board (this HAL has no REPL to hand over)")
    if not ok:
        raise NeedLogin()
    c.log.add(c.now, "maintenance", "deploy")
    c.maint = True
    c.reboot_at = c.now + 1
    return {"maintenance": "restarting into safe mode in 1 s: REPL for mpremote, lamp on the fallback schedule"}


def c_login(c, p, ok, uart):
    if not uart:
        raise ValueError("Login applies to the serial console")
    from lamppost import servicepin
    now = c.now
    sess = c.hal.session_time(now)  # the login timers' clock (hal/contract.py)
    locked = c.locked_until
    err = servicepin.check(c, sess, p, c.cfg["pin"])
    if err is None:
        c.log.add(now, "login", "ok")
    elif c.locked_until != locked:  # one entry per lockout, not per wrong PIN: a flood of tries
        c.log.add(now, "login", "locked out %d s after %d wrong PINs" % (  # cannot wipe the log
            c.locked_until - sess, c.fails), True)
    if err:
        raise ValueError(err)
    c.until = sess + c.idle_s
    return {"login": "yes", "idle_logout_s": c.idle_s}


def c_logout(c, p, ok, uart):
    if uart:
        c.until = 0
    return {"login": "no"}
