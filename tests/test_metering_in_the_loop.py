"""Realistic front ends end to end: field calibration, and the firmware in the loop."""
from __future__ import annotations

import json
import math

import pytest

from simulator.models.frontend import firmware_keys, make_frontend
from simulator.models.lamp import Load
from simulator.models.world import World, spectra_truth
from simulator.runner import Simulation
from simulator.scenario import loads
from conftest import MicroPythonRPC

@pytest.fixture(scope="module")
def mp():
    """Our own MicroPython with room for whole waveform windows per request (shadows conftest's)."""
    rpc = MicroPythonRPC(heap="4m")
    yield rpc
    rpc.close()


def _scenario(sensor, extra="", start="2026-01-15T12:00:00Z", duration="1d", seed=11):
    return loads(f'[post]\nlamp = "led"\nrated_w = 100\nsensor = "{sensor}"\n'
                 f'[run]\nstart = "{start}"\nduration = "{duration}"\nseed = {seed}\n' + extra)


@pytest.mark.parametrize("sensor", ["adc", "cse7766"])
def test_field_calibration_on_a_resistive_load_brings_power_within_half_a_percent(mp, sensor):
    sc = _scenario(sensor, seed=17)  # a board whose parts are 2.7% (cse7766) / 4% (adc) off
    fe, w = make_frontend(sc), World(sc)
    ref, vs, ps = [], [], []
    for k in range(5):  # a 100 W heater on this post's mains
        v, hz = w.supply.step(sc.start + k)
        vh = w.supply.harmonics
        v1 = v / math.sqrt(1 + sum(f * f for _, f, _ in vh))
        i1 = 100.0 / v1
        tr = spectra_truth(v1, hz, vh, Load(100.0, 0.0, [(h, f * i1, ph) for h, f, ph in vh]))
        ref.append(fe.frame(tr).hex())
        vs.append(tr.v)
        ps.append(tr.p)
    lamp, truths = [], []
    for k in range(5, 19):  # then the LED lamp at half power (PF 0.87)
        tr, _ = w.step(sc.start + k, True, 50)
        if k > 6:
            lamp.append(fe.frame(tr).hex())
            truths.append(tr)
    keys = firmware_keys(sc)
    cal, before, after = mp.call("meter_harness", "calibrate", sensor, keys.get("v_fs", 400.0),
                                 keys.get("i_fs", 1.5), ref, sum(vs) / 5, sum(ps) / 5, lamp,
                                 keys.get("ct_phase", 0.0))
    assert set(cal) == {"cal_v", "cal_i"} and all(0.5 <= g <= 2.0 for g in cal.values())
    err_before = max(abs(p / tr.p - 1) for (_, _, p), tr in zip(before, truths))
    err_after = max(abs(p / tr.p - 1) for (_, _, p), tr in zip(after, truths))
    v_after = max(abs(v / tr.v - 1) for (v, _, _), tr in zip(after, truths))
    assert err_before > 0.02  # the component tolerances are real
    assert err_after < 0.005 and v_after < 0.005


def test_calibration_refuses_a_reading_too_small_to_trust(mp):
    fe_sc = _scenario("cse7766")
    fe, w = make_frontend(fe_sc), World(fe_sc)
    tr, _ = w.step(fe_sc.start, True, 0)  # driver standby: 0.3 W
    with pytest.raises(RuntimeError, match="at least 5 W"):
        mp.call("meter_harness", "calibrate", "cse7766", 400.0, 1.5, [fe.frame(tr).hex()], 230.0,
                100.0, [])


@pytest.mark.parametrize("sensor", ["adc", "cse7766"])
def test_firmware_in_the_loop_detects_and_meters_with_a_real_front_end(sensor):
    # a winter morning in NL: lit from the start, the lamp dies for half an hour, sunrise ~07:45
    sc = _scenario(sensor, '[[fault]]\nat = "2026-01-15T06:30:00Z"\nkind = "lamp_dead"\n'
                           'until = "2026-01-15T07:00:00Z"\n',
                   start="2026-01-15T06:00:00Z", duration="2h")
    sim = Simulation(sc)
    true_wh = {}  # by tick: a tick computed ahead and computed again (outputs changed) counts once
    step = sim.world.step

    def metered(t, relay, dim):
        tr, vis = step(t, relay, dim)
        true_wh[t] = tr.p / 3600
        return tr, vis

    sim.world.step = metered
    try:
        res = sim.run()
        saved = [json.loads((sim.flash_dir / f).read_text())
                 for f in ("energy.a.json", "energy.b.json") if (sim.flash_dir / f).exists()]
    finally:
        sim.close()
    assert not res.crashes and res.boots == 1
    (fault,) = res.faults
    assert fault.detected and fault.latency_s <= 10 and fault.cleared_at
    assert res.false_alarms == []
    lit = [r for r in res.alarms() if r["state"] == "cleared"]
    assert lit and abs(lit[0]["Power"] - 100) < 3  # uncalibrated: within the parts' tolerance
    newest = max(saved, key=lambda d: d["seq"])  # saved at switch-off
    wh = newest["wh"] + newest["frac"]
    assert abs(wh / sum(true_wh.values()) - 1) < 0.03
    assert newest["starts"] == 1 and 4000 < newest["on_s"] < 5700
