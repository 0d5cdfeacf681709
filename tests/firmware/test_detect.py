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
    r.PF = 0.95
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
    # the engine sees the command change at t=10 itself: 2 s blanking, 2 s persistence
    assert ev == [(14, "lampUnexpectedOn", detect.RAISED), (14, "relayFailure", detect.RAISED)]
    assert sorted(e.active()) == ["lampUnexpectedOn", "relayFailure"]


def test_alarm_holds_while_not_observable():
    e = detect.Engine(CFG)
    e.switch(0)
    run(e, lit(0.0), 10, 20, True)
    assert e.active() == ["lampFailure"]
    # switched off by day: nothing to judge, the alarm stays raised
    e.switch(20)
    assert run(e, lit(0.0), 20, 200, False) == []
    assert e.active() == ["lampFailure"]


def reading(p, v=230.0, pf=0.95, temp=25.0, mains=True):
    r = lit(p)
    r.V = v
    r.PF = pf
    r.temp = temp
    r.mains = mains
    return r


def drive(engine, seq, dim=100):
    """seq: (t0, t1, cmd_on, reading[, dim]) segments; returns [(t, name, change)]."""
    out = []
    for seg in seq:
        t0, t1, cmd_on, r = seg[0], seg[1], seg[2], seg[3]
        d = seg[4] if len(seg) > 4 else dim
        for t in range(t0, t1):
            engine.step(t, cmd_on, d, r, lambda a, ch: out.append((t, a.name, ch)))
    return out


HPS = {"lamp": "hps", "rated_w": 100.0}


def test_hps_warm_up_is_not_a_fault():
    e = detect.Engine(HPS)
    # run-up: 40% power for 4 minutes, then full
    ev = drive(e, [(0, 240, True, reading(40.0)), (240, 3600, True, reading(100.0))])
    assert ev == []


def test_hps_dead_at_switch_on_raises_after_warm_up():
    e = detect.Engine(HPS)
    ev = drive(e, [(0, 400, True, reading(2.0))])
    assert ev == [(302, "lampFailure", detect.RAISED)]


def test_hps_cycling_raises_cycling_not_lamp_failure():
    e = detect.Engine(HPS)
    seq = [(0, 600, True, reading(100.0))]
    t = 600
    for _ in range(3):  # out 60 s (cooling), restrike, 5 min run-up, 5 min lit
        seq += [(t, t + 60, True, reading(5.0)), (t + 60, t + 360, True, reading(45.0)),
                (t + 360, t + 660, True, reading(100.0))]
        t += 660
    ev = drive(e, seq)
    names = [n for _, n, c in ev if c == detect.RAISED]
    assert names == ["cyclingFailure"], ev
    assert ev[0][0] == 600 + 660  # at the second out


def test_dimming_follows_profile_and_stuck_driver_raises_dimming_failure():
    e = detect.Engine(CFG)
    ok = drive(e, [(0, 100, True, reading(60.0), 100), (100, 200, True, reading(30.0), 50)])
    assert ok == []
    ev = drive(e, [(200, 300, True, reading(60.0), 50)])
    assert ev == [(202, "dimmingFailure", detect.RAISED)], ev


def test_string_open_and_overdrive_raise_power_alarms():
    e = detect.Engine(CFG)
    ev = drive(e, [(0, 20, True, reading(60.0)), (20, 40, True, reading(45.0)),
                   (40, 60, True, reading(60.0)), (60, 80, True, reading(75.0))])
    assert [(n, c) for _, n, c in ev] == [
        ("lampPowerTooLow", detect.RAISED), ("lampPowerTooLow", detect.CLEARED),
        ("lampPowerTooHigh", detect.RAISED)], ev


def test_low_power_factor_raises():
    e = detect.Engine(HPS)
    ev = drive(e, [(0, 400, True, reading(100.0, pf=0.45))])
    assert ev == [(300 + 5, "powerFactorTooLow", detect.RAISED)], ev


def test_supply_dip_is_not_a_fault_but_long_sag_is():
    e = detect.Engine(CFG)
    ev = drive(e, [(0, 10, True, reading(60.0)), (10, 60, True, reading(60.0, v=180.0)),
                   (60, 100, True, reading(60.0))])
    assert ev == []
    ev = drive(e, [(100, 300, True, reading(60.0, v=180.0)), (300, 370, True, reading(60.0))])
    assert ev == [(160, "supplyVoltageTooLow", detect.RAISED),
                  (360, "supplyVoltageTooLow", detect.CLEARED)], ev


def test_supply_swell_raises_too_high():
    e = detect.Engine(CFG)
    ev = drive(e, [(0, 100, False, reading(0.0, v=260.0))])
    assert ev == [(60, "supplyVoltageTooHigh", detect.RAISED)], ev


def test_supply_loss_raises_at_once_and_counts_survive_restart():
    e = detect.Engine(CFG)
    ev = drive(e, [(0, 10, True, reading(60.0)), (10, 12, True, reading(0.0, v=0.0, mains=False))])
    assert ev == [(10, "supplyLoss", detect.RAISED)]
    # reboot: the caller restores counts and active alarms from flash
    e2 = detect.Engine(CFG, e.counts(), e.active())
    ev = drive(e2, [(100, 110, True, reading(60.0))])
    assert ev == [(102, "supplyLoss", detect.CLEARED)]
    assert e2.counts()["supplyLoss"] == 1


def test_supply_loss_after_the_fact_is_counted_and_clears_with_the_mains():
    # no hold-up: the outage is only known at the next boot, which raises it there
    e = detect.Engine(CFG, {"supplyLoss": 3})
    out = []
    e.supply_lost(lambda a, ch: out.append((a.name, ch, a.count, a.active)))
    assert out == [("supplyLoss", detect.RAISED, 4, True)]
    assert e.active() == ["supplyLoss"] and e.counts()["supplyLoss"] == 4
    ev = drive(e, [(100, 110, True, reading(60.0))])
    assert ev == [(102, "supplyLoss", detect.CLEARED)] and e.counts()["supplyLoss"] == 4


def test_welded_relay_raises_unexpected_on_and_relay_failure():
    e = detect.Engine(CFG)
    ev = drive(e, [(0, 10, False, reading(60.0))])
    assert sorted(n for _, n, _ in ev) == ["lampUnexpectedOn", "relayFailure"]


def test_high_temperature_with_hysteresis():
    e = detect.Engine(CFG)
    ev = drive(e, [(0, 20, False, reading(0.0, temp=70.0)), (20, 100, False, reading(0.0, temp=63.0)),
                   (100, 200, False, reading(0.0, temp=55.0))])
    assert ev == [(10, "highTemperature", detect.RAISED), (160, "highTemperature", detect.CLEARED)], ev


def test_threshold_override_from_config():
    # a post whose owner accepts +-30%: a lost string (-25%) is no longer an alarm
    e = detect.Engine({"lamp": "led", "rated_w": 60.0, "power_tol": 0.30, "pf_min": None})
    ev = drive(e, [(0, 20, True, reading(60.0)), (20, 60, True, reading(45.0))])
    assert ev == []
    assert e.pf_min == 0.65  # None keeps the lamp type's default
