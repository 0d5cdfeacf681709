"""Boot-time checks of the files on flash; App imports this once and drops it (no resident heap).

Every file is read defensively (store.load: missing, empty, truncated, not UTF-8,
another JSON type, a directory, oversized or too deeply nested all read as None).
A file that exists but cannot be used is moved aside as NAME.bad (aside())
so the next save can write a good one, and named once in the boot's problems
(reported as `ev: error`). The rules are in docs/persistence.md.
"""
import os
from lamppost import config, store

GOOD = "config.good"  # the last config.json that booted readable with a readable PIN
BAD = "config.bad"
STATE = "state.json"
STATE_B = "state.b.json"  # the same state written right after state.json: its backup
LOCKED = "changes refused until re-provisioned"


def exists(path):
    try:
        os.stat(path)
        return True
    except OSError:
        return False


def aside(path):
    """Move an unreadable file (or a directory in its place) to NAME.bad (one kept), so the
    next save can write a good one; the name loses its extension: config.json -> config.bad.
    Returns the new name, or None if it could not be moved."""
    bad = path.rsplit(".", 1)[0] + ".bad"
    try:
        os.remove(bad)  # the previous one; a directory there stays and the rename fails
    except OSError:
        pass
    try:
        os.rename(path, bad)
        return bad
    except OSError:
        try:
            os.remove(path)
        except OSError:
            pass
        return None


FOUND = []  # the problems of this boot; the event log and the auth counter add theirs


def report(path):
    """Set an unusable file aside and note it once for the boot's error reports."""
    FOUND.append("%s: unreadable, set aside as %s" % (path, aside(path)))


def done():
    """Unload the boot-only code: these checks, and the config schema (~9 KB), which the
    Config and Status handlers import for one command. No heap for them while the lamp runs."""
    import sys
    pkg = sys.modules["lamppost"]
    for m in ("bootfiles", "config", "uplinkcfg"):
        sys.modules.pop("lamppost." + m, None)
        try:
            delattr(pkg, m)
        except (AttributeError, KeyError):  # KeyError: a module's attribute on MicroPython
            pass


def boot(app):
    """Set app.cfg, app.state and app.locked from flash; returns FOUND, the problems to report."""
    app.cfg, problems, app.locked = config_boot()
    app.secret = config.secrets()  # Status's config section without the schema (cmd_read)
    FOUND[:] = problems
    app.state, why = state_boot()
    if why:
        FOUND.append(why)
    energy_boot()
    return FOUND


def config_boot():
    """(cfg, problems, locked): locked is the refusal text ("locked: ...") when the PIN cannot be read.

    A readable config.json runs as is (bad keys fall back one by one) and becomes
    config.good. An unreadable one is kept as config.bad and the post runs on
    config.good (its last good settings, the PIN excepted), refusing every
    state-changing command: its PIN is unknown, so no default may stand in for it.
    The same holds for an invalid `pin` and for a config.json gone from a post
    that had one. A post that never had a config (no config.good, no config.bad)
    runs on defaults.
    """
    path = config.PATH
    raw = store.load(path)
    lock = None
    if raw is None:
        if exists(path):
            lock = "locked: config.json unreadable, set aside as %s" % aside(path)
        elif exists(GOOD) or exists(BAD):
            lock = "locked: config.json missing"
        if lock:
            raw = store.load(GOOD)
            lock += "; on %s; %s" % ("config.good" if raw else "defaults", LOCKED)
    elif "pin" in raw:
        try:
            config.check("pin", raw["pin"])
        except ValueError as e:
            lock = "locked: config.json pin %s; %s" % (e, LOCKED)
    if raw is not None and lock is None and store.load(GOOD) != raw:
        store.save(GOOD, raw)
    cfg, problems = config.parse(raw)
    if lock:
        cfg["pin"] = None  # never a default PIN, never a stale one from config.good
        problems = [p for p in problems if not p.startswith("pin:") and not p.startswith("config:")]
        problems.append(lock)
    return cfg, problems, lock


def _int(v, lo=0):
    return type(v) is int and lo <= v < 0x7FFFFFFF


def _bad_fields(st):
    """Names of the fields of a state dict with a wrong type or range (removed from st)."""
    bad = []
    for k in ("boots", "run", "t", "kwh", "alarm_counts", "alarms_active", "restart"):
        if k not in st:
            continue
        v = st[k]
        if k == "kwh":
            ok = type(v) in (int, float) and 0 <= v < 1e9
        elif k == "alarm_counts":
            ok = type(v) is dict and all(type(n) is str and _int(c) for n, c in v.items())
        elif k == "alarms_active":
            ok = type(v) is list and all(type(n) is str for n in v)
        elif k == "restart":
            ok = type(v) is str and len(v) <= 16
        else:
            ok = _int(v)
        if not ok:
            bad.append(k)
            del st[k]
    return bad


def _read_state(path):
    """(dict of the valid fields, None if all is well, else what was wrong)."""
    if not exists(path):
        return {}, "missing"
    st = store.load(path)
    if st is None:
        return {}, "unreadable, set aside as %s" % aside(path)
    bad = _bad_fields(st)
    return st, ("bad " + ", ".join(bad)) if bad else None


def state_boot():
    """(state, problem or None): state.json, else its backup state.b.json, else the
    valid fields of state.json (so counts and active alarms survive what they can)."""
    st, why = _read_state(STATE)
    bk, why_b = _read_state(STATE_B)
    if why is None:
        if why_b is None or why_b == "missing":
            return st, None
        return st, "state.b.json: " + why_b  # the backup alone: rewritten at this boot
    if why_b is None:
        return bk, "state.json: %s; used state.b.json" % why
    if why == "missing" and why_b == "missing":
        return {}, None  # a new post
    return st, "state.json: " + why


def _record(d):
    """An energy record of the right types with a matching CRC (lamppost/energy.py)."""
    from lamppost.energy import _valid
    try:
        for k in ("seq", "wh", "on_s", "starts"):
            if not _int(d[k]):
                return False
        t = d.get("t")
        return 0.0 <= d["frac"] < 1.0 and (t is None or type(t) is int) and _valid(d)
    except (KeyError, TypeError):
        return False


def energy_boot():
    """An unusable energy record is set aside and reported (the other one counts)."""
    from lamppost.energy import FILES
    for name in FILES:
        if exists(name):
            d = store.load(name)
            if d is None or not _record(d):
                report(name)
