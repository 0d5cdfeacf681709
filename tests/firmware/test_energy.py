"""Energy, operatingHours and switchOnCounter accounting (lamppost/energy.py), on MicroPython."""
import os
import time
from lamppost import energy
from lamppost.reading import Reading


def _fresh():
    """An empty flash directory inside this test's own directory (the runner's cwd)."""
    d = "energy-%d" % time.ticks_us()
    os.mkdir(d)
    os.chdir(d)


def _done():
    d = os.getcwd()
    for f in os.listdir():
        os.remove(f)
    os.chdir("..")
    os.rmdir(d)


def _reading(p, ok=True, mains=True):
    r = Reading()
    r.P = p
    r.ok = ok
    r.mains = mains
    return r


def test_counts_hours_starts_and_survives_a_reboot():
    _fresh()
    e = energy.Energy(0.0, 5.0, 7200, 48)  # no hourly save in this test: switch-off saves
    e.switched(0, True)
    lit, standby = _reading(60.0), _reading(0.3)
    for t in range(1, 3601):
        e.tick(t, 1, lit)
    for t in range(3601, 3701):
        e.tick(t, 1, standby)  # below lit_w: energy counts, hours do not
    e.switched(3701, False)  # switch-off saves
    assert abs(e.total_kwh() - (0.060 + 0.3 * 100 / 3600 / 1000)) < 1e-9
    assert e.on_s == 3600 and e.starts == 1
    b = energy.Energy(0.0, 5.0, 7200, 48)
    assert b.fields() == e.fields() and b.restored
    _done()



def test_a_record_keeps_its_save_time_and_older_records_still_load():
    # the save time bounds when a silent power cut began (lamppost/app.py, supplyLoss)
    _fresh()
    e = energy.Energy(0.0, 2.0, 3600, 48)
    assert e.saved_t is None
    e.tick(1000, 1, _reading(60.0))
    e.switched(1400, False)
    assert energy.Energy(0.0, 2.0, 3600, 48).saved_t == 1400
    from lamppost import store
    old = {"seq": 7, "wh": 5, "frac": 0.25, "on_s": 9, "starts": 2}  # no "t": older firmware
    old["crc"] = energy._crc(7, 5, 0.25, 9, 2)
    store.save(energy.FILES[1], old)
    b = energy.Energy(0.0, 2.0, 3600, 48)
    assert b.restored and b.seq == 7 and b.wh == 5 and b.saved_t is None
    _done()


def test_small_increments_are_not_lost_on_a_large_total():
    # single-precision floats would drop 0.017 Wh added to 10^6 Wh; the integer Wh part keeps it
    _fresh()
    e = energy.Energy(1000.0, 2.0, 3600, 48)  # 1000 kWh from an older firmware's state.json
    r = _reading(60.0)
    for t in range(1, 601):
        e.tick(t, 1, r)
    assert e.wh == 1000010 and abs(e.frac) < 1e-6
    _done()



def test_clock_jumps_and_bad_readings_count_nothing():
    _fresh()
    e = energy.Energy(0.0, 2.0, 3600, 48)
    e.tick(0, 1, _reading(100.0))
    e.tick(100000, 100000, _reading(100.0))  # the clock was set: not 2.8 kWh
    e.tick(100001, 1, _reading(100.0, ok=False))
    assert e.wh == 0 and e.frac > 0 and e.frac < 0.03
    _done()



def test_writes_stay_within_the_daily_budget():
    _fresh()
    e = energy.Energy(0.0, 2.0, 3600, 48)
    r = _reading(100.0)
    for t in range(1, 86401):
        e.tick(t, 1, r)
        if t % 400 == 0:  # a switch cycle every 400 s: each wants an event save
            e.switched(t, False)
            e.switched(t, True)
    assert e.writes <= 48 and e.day_events <= 23
    _done()
