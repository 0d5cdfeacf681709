"""No alarm clears while its cause is still there (issue 11 class 5), on MicroPython.

A supply event is no evidence that a fault went away: a swell on top of a sag
must not clear supplyVoltageTooLow, and an HPS lamp on a welded relay that a
dip or an interruption puts out (and that restrikes a minute later) must not
clear lampUnexpectedOn / relayFailure.
"""
from lamppost import detect
from lamppost.reading import Reading


def reading(p, v=230.0, mains=True):
    r = Reading()
    r.ok = True
    r.mains = mains
    r.V = v
    r.P = p
    r.PF = 0.95
    r.temp = 25.0
    return r


def drive(e, seq):
    """seq: (t0, t1, cmd_on, reading) segments -> [(t, name, change)]."""
    out = []
    for t0, t1, on, r in seq:
        for t in range(t0, t1):
            e.step(t, on, 100, r, lambda a, ch: out.append((t, a.name, ch)))
    return out


def test_a_swell_inside_a_sag_does_not_clear_supply_too_low():
    e = detect.Engine({"rated_w": 60.0})
    # a 15 min sag to 80 % with a 60 s swell to 201 V (inside limits) in the middle
    ev = drive(e, [(0, 300, True, reading(60.0, v=184.0)), (300, 360, True, reading(60.0, v=201.0)),
                   (360, 900, True, reading(60.0, v=184.0))])
    assert ev == [(60, "supplyVoltageTooLow", detect.RAISED)], ev
    # the sag ends: the alarm clears once the supply has been back as long as it took to raise
    ev = drive(e, [(900, 1000, True, reading(60.0, v=230.0))])
    assert ev == [(960, "supplyVoltageTooLow", detect.CLEARED)], ev


def test_a_dip_inside_a_swell_does_not_clear_supply_too_high():
    e = detect.Engine({"rated_w": 60.0})
    ev = drive(e, [(0, 200, False, reading(0.0, v=262.0)), (200, 259, False, reading(0.0, v=230.0)),
                   (259, 400, False, reading(0.0, v=262.0))])
    assert ev == [(60, "supplyVoltageTooHigh", detect.RAISED)], ev
