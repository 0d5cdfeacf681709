"""Firmware meter entry points for CPython property tests (called through tests/mp/rpc.py)."""
import binascii
from lamppost.meter import Meter
from lamppost.reading import Reading

_meters = {}


def _meter(kind, cal_v, cal_i, v_fs, i_fs):
    key = (kind, cal_v, cal_i, v_fs, i_fs)
    m = _meters.get(key)
    if m is None:
        m = _meters[key] = Meter(kind, cal_v, cal_i, v_fs, i_fs)
    return m


def decode(kind, hexes, cal_v=1.0, cal_i=1.0, v_fs=400.0, i_fs=1.5, fresh=True):
    """Decode each hex chunk as one tick; [[ok, V, I, P, S, PF, Hz], ...]."""
    if fresh:
        _meters.clear()
    m = _meter(kind, cal_v, cal_i, v_fs, i_fs)
    r = Reading()
    out = []
    for h in hexes:
        m.decode(memoryview(binascii.unhexlify(h)), r)
        out.append([r.ok, r.V, r.I, r.P, r.S, r.PF, r.Hz])
    return out


def cse_frames(hexes):
    """Feed chunks to a fresh CSE7766 parser; [frames per chunk], good, bad."""
    from lamppost.cse7766 import Cse7766
    p = Cse7766()
    per = []
    for h in hexes:
        p.feed(binascii.unhexlify(h))
        per.append(p.frames)
        p.reset()
    return [per, p.good, p.bad]


def _fresh_flash(name):
    import os
    d = "/tmp/" + name
    try:
        os.mkdir(d)
    except OSError:
        pass
    os.chdir(d)
    for f in os.listdir():
        os.remove(f)


def energy_cuts(plan, save_s=3600, budget=48, flash="lamppost-energy-test"):
    """Run 1-s ticks through segments [watts, seconds, event] with event one of
    "", "cut" (hard power cut at the end), "gasp" (mains lost for a tick, then cut),
    "on"/"off" (switch). Returns [[t, before_wh, after_wh, event], ...], writes, max per day."""
    from lamppost import energy
    _fresh_flash(flash)
    e = energy.Energy(0.0, 2.0, save_s, budget)
    r = Reading()
    r.ok = True
    t = 1000
    cuts = []
    writes = []  # times of all writes, across boots
    for watts, secs, ev in plan:
        r.P = float(watts)
        r.mains = True
        for _ in range(secs):
            t += 1
            n = e.writes
            e.tick(t, 1, r)
            if e.writes != n:
                writes.append(t)
        if ev in ("on", "off"):
            n = e.writes
            e.switched(t, ev == "on")
            if e.writes != n:
                writes.append(t)
        elif ev in ("cut", "gasp"):
            if ev == "gasp":
                r.P = 0.0
                r.mains = False
                t += 1
                n = e.writes
                e.tick(t, 1, r)
                if e.writes != n:
                    writes.append(t)
            before = (e.wh + e.frac)
            e = energy.Energy(0.0, 2.0, save_s, budget)  # reboot: RAM is gone
            cuts.append([t, before, e.wh + e.frac, ev])
            t += 5
    per_day = 0
    for k, w in enumerate(writes):
        per_day = max(per_day, sum(1 for x in writes[k:] if x < w + 86400))
    return [cuts, len(writes), per_day]


def energy_corrupt(flash="lamppost-energy-corrupt"):
    """Save twice, corrupt the newest file: the older record is used, never zero."""
    from lamppost import energy
    _fresh_flash(flash)
    e = energy.Energy(0.0, 2.0, 60, 48)
    r = Reading()
    r.ok = True
    r.P = 3600.0  # 1 Wh a second
    t = 0
    for _ in range(130):
        t += 1
        e.tick(t, 1, r)
    newest = energy.FILES[e.seq & 1]
    with open(newest, "w") as f:
        f.write('{"seq": 99, "wh": 999999')
    b = energy.Energy(0.0, 2.0, 60, 48)
    return [e.wh + e.frac, b.wh + b.frac, b.seq]
