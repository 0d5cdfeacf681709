"""Firmware meter entry points for CPython property tests (called through tests/mp/rpc.py)."""
import binascii
import gc
from lamppost.meter import Meter
from lamppost.reading import Reading

_meters = {}


def _meter(kind, cal_v, cal_i, v_fs, i_fs, ct_phase=0.0):
    key = (kind, cal_v, cal_i, v_fs, i_fs, ct_phase)
    m = _meters.get(key)
    if m is None:
        m = _meters[key] = Meter(kind, cal_v, cal_i, v_fs, i_fs, ct_phase)
    return m


def decode(kind, hexes, cal_v=1.0, cal_i=1.0, v_fs=400.0, i_fs=1.5, fresh=True, ct_phase=0.0):
    """Decode each hex chunk as one tick; [[ok, V, I, P, S, PF, Hz], ...]."""
    if fresh:
        _meters.clear()
    m = _meter(kind, cal_v, cal_i, v_fs, i_fs, ct_phase)
    r = Reading()
    out = []
    for h in hexes:
        m.decode(memoryview(binascii.unhexlify(h)), r)
        out.append([r.ok, r.V, r.I, r.P, r.S, r.PF, r.Hz])
    gc.collect()  # the requests are large: leave the RPC loop an unfragmented heap
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
    """An empty flash directory inside the RPC process's own directory (conftest.py's mp)."""
    import os
    import time
    d = "%s-%d" % (name, time.ticks_us())
    os.mkdir(d)
    os.chdir(d)


def _done():
    import os
    d = os.getcwd()
    for f in os.listdir():
        os.remove(f)
    os.chdir("..")
    os.rmdir(d)


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
    _done()
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
    _done()
    return [e.wh + e.frac, b.wh + b.frac, b.seq]


def calibrate(kind, v_fs, i_fs, ref_hexes, true_v, true_p, load_hexes, ct_phase=0.0):
    """Tasmota-style field calibration on a reference load, then read a lamp.

    Returns [keys, readings of load_hexes before, readings after]."""
    from lamppost import calib
    m = Meter(kind, 1.0, 1.0, v_fs, i_fs, ct_phase)
    r = Reading()

    def restart():  # each pass replays a recorded stream: start the frame parser afresh
        if kind == "cse7766":
            m.fe.restart()

    def mean(hexes):
        restart()
        sv = sp = 0.0
        for h in hexes:
            m.decode(memoryview(binascii.unhexlify(h)), r)
            sv += r.V
            sp += r.P
        r.V = sv / len(hexes)
        r.P = sp / len(hexes)
        return r

    def read(hexes):
        restart()
        out = []
        for h in hexes:
            m.decode(memoryview(binascii.unhexlify(h)), r)
            out.append([r.V, r.I, r.P])
        return out

    before = read(load_hexes)
    keys = calib.calibrate(m, mean(ref_hexes), "voltage", true_v)
    keys.update(calib.calibrate(m, mean(ref_hexes), "power", true_p))
    after = read(load_hexes)
    gc.collect()  # the requests are large: leave the RPC loop an unfragmented heap
    return [keys, before, after]
