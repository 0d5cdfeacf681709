"""Tasmota console habits: Power, Dimmer, State, Status <n>, Backlog, and a suggestion for
a mistyped command. Each maps onto lamppost's own command (Relay, Dim, Status sections),
so a technician's muscle memory works; loaded per command and dropped like the other cmd_*.
"""
# Tasmota's Status <n> -> (its section name, our Status sections it is built from)
_STATUS_N = {"1": ("StatusPRM", ("fw",)), "2": ("StatusFWR", ("fw",)), "4": ("StatusMEM", ("mem",)),
             "5": ("StatusNET", ("net",)), "8": ("StatusSNS", ("readings", "energy")),
             "9": ("StatusPTH", ("thresholds",)), "10": ("StatusSNS", ("readings", "energy")),
             "11": ("StatusSTS", None)}
# the Tasmota names this module answers, as Help shows them
NAMES = ("Power", "Power1", "Dimmer", "State", "Backlog")
_BACKLOG_MAX = 10  # commands in one Backlog: a reply is built in RAM


def status_n(c, n):
    """Status <n>: Tasmota's numbered section under its own name; 0 is every section."""
    from lamppost import cmd_read
    if n == "0":
        return cmd_read.c_status(c, "", False, False)
    sec = _STATUS_N.get(n)
    if sec is None:
        raise ValueError("Status <n>: n is one of 0|" + "|".join(sorted(_STATUS_N, key=int)))
    if sec[1] is None:
        return {sec[0]: c_state(c, "", False, False)}
    d = {}
    for name in sec[1]:
        d[name] = getattr(cmd_read, "s_" + name)(c)
    return {sec[0]: d if len(d) > 1 else d[sec[1][0]]}


def c_power(c, p, ok, s):
    """Power [ON|OFF|TOGGLE|1|0|2]: Relay on|off (a login), the reply in Tasmota's POWER form."""
    from lamppost.cmd_ctl import c_relay
    p = p.lower()
    if p:
        if p in ("toggle", "2"):
            sc = c.sched
            on = c.cmd_on if sc.relay_ovr is None else sc.relay_ovr
            p = "off" if on else "on"
        elif p in ("1", "true"):
            p = "on"
        elif p in ("0", "false"):
            p = "off"
        elif p not in ("on", "off", "auto"):
            raise ValueError("Power ON|OFF|TOGGLE|AUTO (Relay on|off|auto)")
    d = c_relay(c, p, ok, s)
    d["POWER"] = "ON" if d["lamp"] == "on" else "OFF"
    return d


c_power1 = c_power


def c_dimmer(c, p, ok, s):
    """Dimmer [0-100|auto]: Dim, the reply with Tasmota's Dimmer field."""
    from lamppost.cmd_ctl import c_dim
    d = c_dim(c, p, ok, s)
    d["Dimmer"] = d["level"]
    return d


def c_state(c, p, ok, s):
    """State: the tele STATE report, now (also without a broker)."""
    net = c.net
    if net is not None:
        return net.state(c.now)
    import gc
    up = c.now - (c.t_boot or c.now)
    gc.collect()
    return {"UptimeSec": up, "Heap": gc.mem_free() // 1024,
            "POWER": "ON" if c.cmd_on else "OFF", "Dimmer": c.dim, "Wifi": None}


def c_backlog(c, p, ok, uart):
    """Backlog a; b; c: run up to _BACKLOG_MAX commands in turn, one reply each; a failed one
    does not stop the rest (as in Tasmota)."""
    if c.in_backlog:
        raise ValueError("Backlog cannot nest")
    parts = [x.strip() for x in p.split(";") if x.strip()]
    if not parts:
        raise ValueError("Backlog <command>; <command>; ...")
    if len(parts) > _BACKLOG_MAX:
        raise ValueError("Backlog takes at most %d commands" % _BACKLOG_MAX)
    out = []
    c.in_backlog = True
    try:
        for line in parts:
            name, _, arg = line.partition(" ")
            out.append(c.execute(name, arg, None if uart else ok))
    finally:
        c.in_backlog = False
    return {"backlog": out}


def _dist(a, b):
    """Edit distance, a swap of two neighbours counting one (Stauts -> Status); names are short."""
    pp, p = None, list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        r = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            r[j] = min(p[j] + 1, r[j - 1] + 1, p[j - 1] + (a[i - 1] != b[j - 1]))
            if pp is not None and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                r[j] = min(r[j], pp[j - 2] + 1)
        pp, p = p, r
    return p[-1]


def c_unknown(c, name, ok, s):
    """An unknown command: the error names the closest known one, when one is close."""
    from lamppost.cmd_read import HELP
    name = name[:32]
    best, bd = None, 99
    for n, _ in HELP:
        d = _dist(name, n.lower())
        if d < bd:
            best, bd = n, d
    if best is not None and bd <= max(1, len(name) // 3):
        raise ValueError("unknown command, did you mean %s? try Help" % best)
    raise ValueError("unknown command, try Help")


def c_decommission(c, p, ok, s):
    """Decommission: remove this post from Home Assistant (an empty retained config for each
    discovery entry) and keep it out (ha_discovery off, saved). Needs a login or a signature."""
    from lamppost.commands import NeedLogin
    from lamppost import config, store
    net = c.net
    if net is None:
        raise ValueError("no MQTT broker configured (mqtt_host): nothing announced")
    if p:
        raise ValueError("Decommission takes no value")
    if not ok:
        raise NeedLogin()
    cfg = c.cfg
    old = cfg.get("ha_discovery", True)
    cfg["ha_discovery"] = False
    if not store.save(config.PATH, cfg):
        cfg["ha_discovery"] = old
        raise ValueError("flash full: not saved")
    net.removing = True
    net.disc = 0
    c.log.add(c.now, "config", "decommission: HA discovery removed")
    return {"decommission": "removing Home Assistant discovery (empty retained configs)",
            "ha_discovery": False}
