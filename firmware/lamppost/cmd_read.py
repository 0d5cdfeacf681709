"""Console read commands (open to all): Help, Status, Readings, Alarms, Log. Loaded per command."""
import gc
from lamppost import clock, config, report
from lamppost.commands import parse_int

LOG_MAX = 30  # entries per Log reply: one reply line stays a few KB in a 64 KB heap
SECTIONS = ("fw", "readings", "alarms", "energy", "net", "mem", "config", "thresholds", "schedule")


def c_help(c, p, ok, s):
    return {"commands": {
        "Help": "", "Status": "[" + "|".join(SECTIONS) + "]", "Readings": "", "Alarms": "",
        "Log": "[n] newest last, n <= %d" % LOG_MAX,
        "Config": "[key [value]] (set: login)",
        "Calibrate": "voltage|power|current <true value> (resistive load; login)",
        "SelfTest": "(off, on, dim 50%, off; result as ev selftest; login)",
        "Relay": "[on|off|auto] (login)", "Dim": "[0-100|auto] (login)",
        "Reboot": "(login)", "Login": "<pin>", "Logout": ""},
        "login": "yes" if ok else "no"}


def c_status(c, p, ok, s):
    p = p.lower()
    if p and p not in SECTIONS:
        raise ValueError("no such section; one of " + "|".join(SECTIONS))
    out = {}
    for name in SECTIONS:
        if not p or p == name:
            out[name] = globals()["s_" + name](c)
    return out


def s_fw(c):
    a = c.app
    from lamppost import app as appmod
    return {"version": getattr(appmod, "FW_VERSION", "?"), "hal": a.hal.name,
            "boots": a.state.get("boots"), "restart": c.restart, "time": clock.iso(a.now),
            "login": "yes" if c.session.ok(a.now) else "no"}


def s_readings(c):
    a, r = c.app, c.app.r
    d = report.readings(r, {"ApparentPower": round(r.S, 1), "Frequency": round(r.Hz, 2),
                            "Temperature": round(r.temp, 1), "mains": r.mains,
                            "dark": r.dark, "valid": r.ok})
    d["lamp"] = "on" if a.cmd_on else "off"
    d["dim"] = a.dim
    return d


def s_alarms(c):
    e = c.app.engine
    return {"active": e.active(), "counts": e.counts()}


def s_energy(c):
    return {"Total": round(c.app.meter.total(), 4)}


def s_net(c):
    net = getattr(c.app, "net", None)
    if net is not None and hasattr(net, "status"):
        return net.status()
    return {"state": "not configured"}


def s_mem(c):
    gc.collect()
    return {"heap_free": gc.mem_free(), "heap_used": gc.mem_alloc(),
            "log_writes": c.log.writes}


def s_config(c):
    return config.public(c.app.cfg)


def s_thresholds(c):
    e = c.app.engine
    d = {}
    for k in ("rated_w", "blank_s", "fail_frac", "on_w"):
        if hasattr(e, k):
            d[k] = getattr(e, k)
    for al in getattr(e, "alarms", ()):
        if hasattr(al, "raise_s"):
            d[al.name] = {"raise_s": al.raise_s, "clear_s": al.clear_s}
    return d


def s_schedule(c):
    sc, a = c.app.sched, c.app
    sun = sc.sun
    return {"by": sc.why, "sunrise": clock.iso(sun.rise), "sunset": clock.iso(sun.set),
            "photocell": ("fault" if sc.pc_fault else "ok") if sc.photocell else "not fitted",
            "dim_clock": "solar" if sc.solar else "utc%+d min" % (sc.offset_s // 60),
            "local_min": sc.local_minute(a.now), "override": sc.override()}


def c_readings(c, p, ok, s):
    return s_readings(c)


def c_alarms(c, p, ok, s):
    return s_alarms(c)


def c_log(c, p, ok, s):
    n = parse_int(p or "10", 1, LOG_MAX, "Log [n]: n")
    return {"entries": [{"seq": e[0], "t": clock.iso(e[1]), "ev": e[2], "msg": e[3]}
                        for e in c.log.tail(n)]}
