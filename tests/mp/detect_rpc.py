"""Detection engines held on MicroPython for CPython property tests (via tests/mp/rpc.py)."""
from lamppost import detect
from lamppost.reading import Reading

_engines = {}


def new(key, cfg, counts=None, active=None):
    """A fresh engine (or one restored from counts and active alarms, as after a reboot)."""
    _engines.clear()  # one at a time: the RPC heap is small
    _engines[key] = (detect.Engine(cfg, counts, active), Reading())
    return True


def run(key, segments):
    """Step through segments [t0, n, cmd_on, dim, V, P, PF, temp, mains] (readings constant
    within one); returns every alarm change as [t, name, "raised"|"cleared", count]."""
    e, r = _engines[key]
    out = []
    for t0, n, cmd_on, dim, v, p, pf, temp, mains in segments:
        r.ok = True
        r.V = v
        r.P = p
        r.PF = pf
        r.temp = temp
        r.mains = mains
        for t in range(t0, t0 + n):
            e.step(t, cmd_on, dim, r, lambda a, ch: out.append(
                [t, a.name, "raised" if ch == detect.RAISED else "cleared", a.count]))
    return out


def state(key):
    e = _engines[key][0]
    return {"active": e.active(), "counts": e.counts()}
