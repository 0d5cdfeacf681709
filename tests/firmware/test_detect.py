"""The alarm state machines, on MicroPython."""
from lamppost import detect
from lamppost.reading import Reading

CFG = {"rated_w": 60.0}


def run(engine, r, t0, t1, cmd_on):
    out = []
    for t in range(t0, t1):
        engine.step(t, cmd_on, 100, r, lambda a, ch: out.append((t, a.name, ch)))
    return out


def lit(p):
    r = Reading()
    r.ok = True
    r.mains = True
    r.V = 230.0
    r.P = p
    return r


def test_dead_lamp_raises_after_persistence_and_clears_when_lit():
    e = detect.Engine(CFG)
    e.switch(0)
    assert run(e, lit(60.0), 0, 100, True) == []
    ev = run(e, lit(0.3), 100, 110, True)
    assert ev == [(102, "lampFailure", detect.RAISED)]
    ev = run(e, lit(59.0), 110, 130, True)
    assert ev == [(115, "lampFailure", detect.CLEARED)]
    assert e.counts()["lampFailure"] == 1


def test_no_alarm_during_blanking_after_switch():
    e = detect.Engine(CFG)
    e.switch(1000)
    # commanded on but the lamp has not drawn power yet: still blanking
    assert run(e, lit(0.0), 1000, 1002, True) == []


def test_day_burning_raises_unexpected_on():
    e = detect.Engine(CFG)
    e.switch(0)
    ev = run(e, lit(60.0), 10, 20, False)
    assert ev == [(12, "lampUnexpectedOn", detect.RAISED)]
    assert e.active() == ["lampUnexpectedOn"]


def test_alarm_holds_while_not_observable():
    e = detect.Engine(CFG)
    e.switch(0)
    run(e, lit(0.0), 10, 20, True)
    assert e.active() == ["lampFailure"]
    # switched off by day: nothing to judge, the alarm stays raised
    e.switch(20)
    assert run(e, lit(0.0), 20, 200, False) == []
    assert e.active() == ["lampFailure"]
