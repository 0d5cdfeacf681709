"""The world model produces the physics of every fault cause, supply behaviour and lamp type."""
from __future__ import annotations

import math

import pytest
from hypothesis import given, settings, strategies as st

from simulator.models.lamp import Load
from simulator.models.supply import Supply
from simulator.models.world import World, spectra_truth
from simulator.scenario import CAUSES, ScenarioError, loads

START = "2026-01-15T12:00:00Z"


def scenario(lamp="led", rated=70, faults=(), extra_post="", supply=""):
    text = f'[post]\nlamp = "{lamp}"\nrated_w = {rated}\n{extra_post}\n'
    text += f'[run]\nstart = "{START}"\nduration = "1d"\nseed = 3\n'
    if supply:
        text += f"[supply]\n{supply}\n"
    for kind, params in faults:
        text += f'[[fault]]\nat = "{START}"\nkind = "{kind}"\n'
        text += "".join(f"{k} = {v}\n" for k, v in params.items())
    return loads(text)


def run(sc, seconds, relay=True, dim=100, world=None, t0=0):
    w = world or World(sc)
    out = []
    for k in range(seconds):
        out.append(w.step(sc.start + t0 + k, relay, dim))
    return w, out


def healthy_and_faulted(kind, lamp="led", seconds=400, relay=True, dim=100, **params):
    _, h = run(scenario(lamp), seconds, relay, dim)
    _, f = run(scenario(lamp, faults=[(kind, params)]), seconds, relay, dim)
    return h[-1][0], f[-1][0], f[-1][1]


def test_every_cause_has_physics_and_is_observable():
    """Each cause changes what a sensor reads in the situation it is meant for."""
    situations = {"relay_welded": dict(relay=False), "hid_end_of_life": dict(lamp="hps", seconds=600),
                  "capacitor_failed": dict(lamp="hps"), "dimming_stuck": dict(dim=30)}
    for kind in CAUSES:
        kw = situations.get(kind, {})
        if kind.startswith("photocell_"):  # no electrical effect: the photocell's reading
            stuck_dark = kind == "photocell_stuck_dark"  # wrong by day; stuck light, at 20:00
            sc = scenario(faults=[(kind, {})], extra_post="photocell = true")
            _, out = run(sc, 1, t0=0 if stuck_dark else 8 * 3600)
            assert out[0][0].dark == stuck_dark and out[0][1], kind
            continue
        if kind == "dimming_stuck":  # stuck at full while later commanded to 30%
            sc = scenario(faults=[(kind, {"level": 100})])
            _, out = run(sc, 10, dim=30)
            h, f, vis = run(scenario(), 10, dim=30)[1][-1][0], out[-1][0], out[-1][1]
        elif kind == "hid_end_of_life":
            sc = scenario("hps", faults=[(kind, {"lit_s": 60})])
            _, out = run(sc, 600)
            assert any(not tr.lit for tr, _ in out[300:]) and any(v for _, v in out)
            continue
        else:
            h, f, vis = healthy_and_faulted(kind, **kw)
        assert vis, kind
        assert (h.p, h.v, h.pf, h.temp, h.mains) != (f.p, f.v, f.pf, f.temp, f.mains), kind


def test_fault_numbers_match_the_field_notes():
    h, f, _ = healthy_and_faulted("lamp_dead")
    assert f.p < 0.5 and h.p > 60
    h, f, _ = healthy_and_faulted("led_string_open")
    assert f.p == pytest.approx(h.p * 3 / 4, rel=0.02)  # one of 4 strings
    h, f, _ = healthy_and_faulted("led_string_open", strings_open=2)
    assert f.p == pytest.approx(h.p / 2, rel=0.02)
    h, f, _ = healthy_and_faulted("driver_fault_high", factor=1.5)
    assert f.p == pytest.approx(1.5 * h.p, rel=0.01)
    h, f, _ = healthy_and_faulted("capacitor_failed", lamp="hps")
    assert 0.4 < f.pf < 0.5 and h.pf > 0.85 and f.i > 1.7 * h.i
    h, f, _ = healthy_and_faulted("supply_sag", depth=0.8)
    assert f.v == pytest.approx(0.8 * h.v, rel=1e-6) and f.p == pytest.approx(h.p, rel=0.01)
    h, f, _ = healthy_and_faulted("supply_swell", level=1.12)
    assert f.v == pytest.approx(1.12 * h.v, rel=1e-6)
    h, f, _ = healthy_and_faulted("mains_loss")
    assert not f.mains and f.v == 0 and f.p == 0 and h.mains
    h, f, _ = healthy_and_faulted("overheat", seconds=3000, temp=90)
    assert f.temp > 85 and h.temp < 50
    h, f, _ = healthy_and_faulted("relay_welded", relay=False)
    assert f.p > 60 and h.p == 0
    h, f, _ = healthy_and_faulted("relay_open")
    assert f.p == 0 and f.i == 0 and f.v == h.v  # line-side voltage sense still sees mains


def test_hps_warms_up_restrikes_only_when_cool_and_cycles_at_end_of_life():
    sc = scenario("hps")
    w, out = run(sc, 400)
    p = [tr.p for tr, _ in out]
    i = [tr.i for tr, _ in out]
    assert p[0] < 0.4 * p[-1] and i[0] > 1.3 * i[-1]  # high current, low power at first
    t95 = next(k for k, x in enumerate(p) if x > 0.95 * p[-1])
    assert 150 <= t95 <= 300  # 3-5 min to full output
    _, off = run(sc, 5, relay=False, world=w, t0=400)
    _, back = run(sc, 200, world=w, t0=405)
    first_lit = next(k for k, (tr, _) in enumerate(back) if tr.lit)
    assert 20 <= first_lit <= 120  # hot restrike delay
    sc = scenario("hps", faults=[("hid_end_of_life", {"lit_s": 120, "cool_s": 60})])
    _, out = run(sc, 3600)
    lit = [tr.lit for tr, _ in out]
    outs = sum(1 for a, b in zip(lit, lit[1:]) if a and not b)
    assert 5 <= outs <= 12  # ~ every 4 + 1 + 1 min


def test_led_pf_falls_when_dimmed_and_standby_is_small():
    sc = scenario("led", rated=60)
    pf = {d: run(sc, 3, dim=d)[1][-1][0] for d in (100, 50, 10, 0)}
    assert pf[100].pf > 0.93 > pf[50].pf > pf[10].pf
    assert 0.1 < pf[0].p < 0.5 and pf[0].i < 0.02
    _, out = run(sc, 3)
    assert out[0][0].inrush > 10 and out[1][0].inrush == 0  # inrush at power-up only


@settings(max_examples=60, deadline=None)
@given(p1=st.floats(0, 500), q1=st.floats(-500, 500), v1=st.floats(150, 260),
       thd=st.floats(0, 0.08), seed=st.integers(0, 1000))
def test_truth_agrees_with_its_own_waveforms(p1, q1, v1, thd, seed):
    """Vrms, Irms and P of Truth equal those of the sampled waveforms it describes."""
    sup = Supply(seed, {"thd": thd})
    load = Load(p1, q1, [(3, 0.1 * math.hypot(p1, q1) / v1, 0.3), (5, 0.05 * math.hypot(p1, q1) / v1, 1.0)])
    tr = spectra_truth(v1, 50.0, sup.harmonics, load)
    n = 2000
    vs = [sum(math.sqrt(2) * a * math.sin(h * 2 * math.pi * k / n + ph) for h, a, ph in tr.vh) for k in range(n)]
    is_ = [sum(math.sqrt(2) * a * math.sin(h * 2 * math.pi * k / n + ph) for h, a, ph in tr.ih) for k in range(n)]
    assert math.sqrt(sum(x * x for x in vs) / n) == pytest.approx(tr.v, rel=1e-6)
    assert math.sqrt(sum(x * x for x in is_) / n) == pytest.approx(tr.i, rel=1e-6, abs=1e-9)
    assert sum(a * b for a, b in zip(vs, is_)) / n == pytest.approx(tr.p, rel=1e-6, abs=1e-6)


def test_supply_is_reproducible_and_stays_within_en50160():
    a = Supply(5, {"variation": 0.05, "walk": 0.05})
    b = Supply(5, {"variation": 0.05, "walk": 0.05})
    va = [a.step(t)[0] for t in range(0, 86400, 7)]
    assert va == [b.step(t)[0] for t in range(0, 86400, 7)]
    assert 0.9 * 230 <= min(va) and max(va) <= 1.1 * 230


def test_supply_events_happen_at_the_rate_asked():
    s = Supply(1, {"dips_per_day": 50, "short_interruptions_per_day": 10})
    seen = set()
    zero = 0
    for t in range(86400):
        v, hz = s.step(t)
        seen.add(s.event)
        zero += v == 0
        assert 49 < hz < 51
    assert {"dip", "interruption"} <= seen and zero > 0


def test_version_1_files_still_load_and_new_keys_are_checked():
    sc = scenario()
    assert sc.supply["nominal_v"] == 230 and sc.post.strings == 4
    with pytest.raises(ScenarioError, match=r"supply\.thd: 0.2 is outside"):
        scenario(supply="thd = 0.2")
    with pytest.raises(ScenarioError, match="supply.volts: unknown key"):
        scenario(supply="volts = 230")
    with pytest.raises(ScenarioError, match=r"fault\[0\]\.depht: not a parameter of supply_sag"):
        scenario(faults=[("supply_sag", {"depht": 0.8})])
    with pytest.raises(ScenarioError, match=r"fault\[0\]\.factor: 9 is outside"):
        scenario(faults=[("driver_fault_high", {"factor": 9})])
