"""Console read commands (open to all): Help, Status, Log. Loaded per command."""
import gc
from lamppost import clock
from lamppost.cmd_now import s_alarms, s_readings  # noqa: F401 (Status sections)
from lamppost.commands import parse_int

LOG_MAX = 20  # entries per Log reply: one reply line stays a few KB in a 64 KB heap
SECTIONS = ("fw", "readings", "alarms", "energy", "net", "mem", "config", "thresholds", "schedule")


# (command, what it takes), sorted: Help lists them in this order, one a line
HELP = (
    ("Alarms", ""),
    ("Backlog", "<cmd>; <cmd>; ... up to 10, in turn (Tasmota)"),
    ("Calibrate", "voltage|power|current <true value> (resistive load; login)"),
    ("Config", "[key [value]] (set: login)"),
    ("Decommission", "remove the post from Home Assistant, keep it out (login)"),
    ("Dim", "[0-100|auto] (login)"),
    ("Dimmer", "[0-100|auto] = Dim (Tasmota)"),
    ("Help", ""),
    ("Log", "[n] newest last, n <= %d" % LOG_MAX),
    ("Login", "<pin>"),
    ("Logout", ""),
    ("Maintenance", "(login; serial) safe mode + REPL for a deploy"),
    ("Power", "[ON|OFF|TOGGLE|AUTO] = Relay (Tasmota; login)"),
    ("Power1", "= Power"),
    ("Readings", ""),
    ("Reboot", "(login)"),
    ("Relay", "[on|off|auto] (login)"),
    ("SelfTest", "(off, on, dim 50%, off; result as ev selftest; login)"),
    ("State", "the tele STATE report, now (Tasmota)"),
    ("Status", "[" + "|".join(SECTIONS) + "|0|1|2|4|5|8|9|10|11]"),
    ("TelePeriod", "[10-86400] s between MQTT telemetry (set: login)"),
)


def c_help(c, p, ok, s):
    return {"commands": [(n + " " + a) if a else n for n, a in HELP],
            "login": "yes" if ok else "no"}


def c_status(c, p, ok, s):
    p = p.lower()
    if p.isdigit():  # Tasmota's Status <n> (lamppost/cmd_tas.py)
        from lamppost.cmd_tas import status_n
        return status_n(c, p)
    if p and p not in SECTIONS:
        raise ValueError("no such section; one of " + "|".join(SECTIONS))
    out = {}
    for name in SECTIONS:
        if not p or p == name:
            f = globals()["s_" + name]
            # on the UART a full Status is built one section at a time, while it is written
            out[name] = (lambda f=f: f(c)) if c.lazy and not p else f(c)
    return out


def s_fw(c):
    return {"version": c.fw, "hal": c.hal.name,
            "boots": c.state.get("boots"), "restart": c.restart, "time": clock.iso(c.now),
            "uptime_s": c.now - (c.t_boot or c.now),
            "login": "yes" if c.hal.session_time(c.now) < c.until else "no"}


def s_energy(c):
    e = c.energy
    return e.fields() if e is not None else {"Total": round(c.meter.total(), 4)}


def s_net(c):
    net = c.net
    if net is not None:
        return net.status()
    return {"state": "not configured"}


def s_mem(c):
    gc.collect()
    return {"heap_free": gc.mem_free(), "heap_used": gc.mem_alloc(),
            "log_writes": c.log.writes}


def s_config(c):
    """The config without its secrets (names kept from boot: App.secret). The schema is not
    resident (bootfiles.done()) and importing it for a Status built in RAM over MQTT found
    no heap; cfg holds only keys the schema checked at boot or a Config set checked since."""
    sec = c.secret
    if sec is None:  # an app that did not boot through bootfiles
        from lamppost import config
        return config.public(c.cfg)
    d = dict(c.cfg)
    for k in sec:
        d.pop(k, None)
    return d


def s_thresholds(c):
    e = c.engine
    d = {}
    for k in ("rated_w", "blank_s", "warmup_s", "fail_frac", "tol", "on_w", "pf_min",
              "v_low", "v_high", "temp_max"):
        d[k] = getattr(e, k)
    d.update(e.persistence())
    return d


def s_schedule(c):
    sc = c.sched
    sun = sc.sun
    return {"by": sc.why, "sunrise": clock.iso(sun.rise), "sunset": clock.iso(sun.set),
            "photocell": ("fault" if sc.pc_fault else "ok") if sc.photocell else "not fitted",
            "dim_clock": "solar" if sc.solar else "utc%+d min%s" % (sc.offset_s // 60, ("", " dst eu", " dst us")[sc.dst]),
            "local_min": sc.local_minute(c.now), "override": _ovr(sc)}


def _ovr(sc):
    o = sc.override()
    if o:
        o["until"] = clock.iso(o["until"])
    return o


def c_log(c, p, ok, s):
    n = parse_int(p or "10", 1, LOG_MAX, "Log [n]: n")
    entries = c.log.tail(n)
    for e in entries:  # compact [seq, time, kind, text] rows: the reply is built in RAM
        e[1] = clock.iso(e[1])
    return {"entries": entries, "fields": "seq t ev msg"}
