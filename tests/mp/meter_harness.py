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
