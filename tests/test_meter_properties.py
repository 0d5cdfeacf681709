"""The firmware meter on MicroPython against references computed here in CPython.

- ADC windows of generated waveforms (any amplitude, phase, frequency, 3rd
  harmonic, bias, oversampling, window length): Vrms, Irms, P and Hz agree
  with the analytic values; arbitrary bytes never crash the decoder.
- CSE7766 byte streams: the parser never crashes on arbitrary bytes, rejects
  corrupted frames and finds the next good frame after any garbage, and never
  reads a frame spliced from two (a gap in the stream) even when its checksum
  passes.
"""
from __future__ import annotations

import math
import struct

import pytest
from hypothesis import assume, given, settings, strategies as st

from simulator.models.frontend import cse7766_frame
from conftest import MicroPythonRPC

@pytest.fixture(scope="module")
def mp():
    """Our own MicroPython with room for whole waveform windows per request (shadows conftest's)."""
    rpc = MicroPythonRPC(heap="4m")
    yield rpc
    rpc.close()

FS = 1321
V_FS, I_FS = 400.0, 2.0


def adc_window(pairs, period_us, osr, hz, va, ia, phi, h3v, h3i, bias_v, bias_i):
    """Codes of a V and I waveform (peak amplitudes in V and A), I sampled half a period late."""
    out = bytearray(struct.pack("<cHHB", b"W", pairs, period_us, osr))
    w = 2 * math.pi * hz
    for k in range(pairs):
        tv = k * period_us * 1e-6
        ti = tv + period_us * 0.5e-6
        v = va * (math.sin(w * tv) + h3v * math.sin(3 * w * tv))
        i = ia * (math.sin(w * ti - phi) + h3i * math.sin(3 * w * ti - 3 * phi))
        cv = min(4095, max(0, round(bias_v + v * FS / V_FS))) * osr
        ci = min(4095, max(0, round(bias_i + i * FS / I_FS))) * osr
        out += struct.pack("<HH", cv, ci)
    return out


def reference(va, ia, phi, h3v, h3i):
    v = va / math.sqrt(2) * math.sqrt(1 + h3v * h3v)
    i = ia / math.sqrt(2) * math.sqrt(1 + h3i * h3i)
    p = va * ia / 2 * (math.cos(phi) + h3v * h3i * math.cos(3 * phi))
    return v, i, p


@settings(max_examples=150, deadline=None)
@given(pairs=st.integers(150, 500), period_us=st.sampled_from([250, 400, 500]),
       osr=st.sampled_from([1, 4]), hz=st.floats(45, 65), va=st.floats(100, 380),
       ia=st.floats(0.05, 1.9), phi=st.floats(-1.2, 1.2), h3v=st.floats(0, 0.05),
       h3i=st.floats(0, 0.3), bias_v=st.integers(1500, 1900), bias_i=st.integers(1500, 1900))
def test_adc_rms_power_and_frequency_match_the_analytic_waveform(
        mp, pairs, period_us, osr, hz, va, ia, phi, h3v, h3i, bias_v, bias_i):
    # the meter needs a few whole cycles; shorter windows are not what the sampler takes
    assume(pairs * period_us * 1e-6 * hz >= 3)
    raw = adc_window(pairs, period_us, osr, hz, va, ia, phi, h3v, h3i, bias_v, bias_i)
    (ok, v, i, p, s, pf, f), = mp.call("meter_harness", "decode", "adc", [raw.hex()],
                                       1.0, 1.0, V_FS, I_FS)
    rv, ri, rp = reference(va, ia, phi, h3v, h3i)
    assert ok
    lsb_v, lsb_i = V_FS / FS, I_FS / FS  # one code of quantisation
    assert abs(v - rv) <= 0.0005 * rv + 0.5 * lsb_v, (v, rv)
    # a window's last sample is part of a cycle; the meter extrapolates I there, which a strong,
    # fast harmonic makes imperfect: allow for it in proportion to the slope over the window
    wt = 2 * math.pi * hz * period_us * 1e-6
    assert abs(i - ri) <= (0.0005 + (1 + 3 * h3i) * wt / pairs) * ri + 0.5 * lsb_i, (i, ri)
    # power carries the same end-of-window extrapolation of I as the current does
    tol_p = (0.0005 + (1 + 3 * h3i) * wt / pairs) * rv * ri + 0.5 * (rv * lsb_i + ri * lsb_v)
    if p == 0.0:  # below the 1 W noise floor a reading is zero, not noise
        assert rp < 1.0 + tol_p, rp
    else:
        assert abs(p - rp) <= tol_p, (p, rp)
    assert abs(f - hz) <= 0.0005 * hz, (f, hz)


@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=2100))
def test_adc_decoder_never_crashes_on_arbitrary_bytes(mp, data):
    raw = data
    if data[:1] == b"W" or len(data) % 3 == 0:  # often make it look like a window
        raw = b"W" + data[1:]
    (ok, v, i, p, s, pf, f), = mp.call("meter_harness", "decode", "adc", [raw.hex()])
    if ok:
        assert all(math.isfinite(x) for x in (v, i, p, s, pf, f)) and v >= 0 and i >= 0


def good_frame(volts, amps, watts):
    vpar, ipar, ppar = 190000, 16000, 5000000
    return cse7766_frame(0x55, vpar, round(vpar / volts), ipar, round(ipar / amps), ppar,
                         round(ppar / watts), 0x70, 42)


@settings(max_examples=300, deadline=None)
@given(chunks=st.lists(st.binary(max_size=200), max_size=8))
def test_cse7766_parser_never_crashes_on_arbitrary_bytes(mp, chunks):
    per, good, bad = mp.call("meter_harness", "cse_frames", [c.hex() for c in chunks])
    assert len(per) == len(chunks) and good >= 0 and bad >= 0


@settings(max_examples=200, deadline=None)
@given(garbage=st.binary(max_size=120), volts=st.floats(100, 280), amps=st.floats(0.05, 5),
       watts=st.floats(5, 1000), split=st.integers(0, 48), flip=st.integers(0, 22 * 8 - 1))
def test_cse7766_rejects_a_corrupt_frame_and_recovers_the_next_good_one(
        mp, garbage, volts, amps, watts, split, flip):
    frame = good_frame(volts, amps, watts)
    bad = bytearray(frame)
    bad[2 + flip // 8] ^= 1 << (flip % 8)  # one bit error in the registers or the checksum
    stream = garbage + bytes(bad) + frame + frame  # the chip sends frames back to back
    cut = min(split + len(garbage), len(stream))  # a tick boundary anywhere
    res = mp.call("meter_harness", "decode", "cse7766", [stream[:cut].hex(), stream[cut:].hex()])
    got = [r for r in res if r[0]]
    assert got, "the good frame after the garbage was not found"
    ok, v, i, p, s, pf, f = got[-1]
    assert abs(v - volts) <= 0.002 * volts
    assert abs(p - watts) <= 0.002 * watts
    per, good, nbad = mp.call("meter_harness", "cse_frames", [bytes(bad).hex()])
    assert good == 0 and per == [0]  # the corrupted frame alone is never accepted


def _frame_at(volts, amps, watts, cf, jitter=0):
    vpar, ipar, ppar = 190000, 16000, 5000000
    return cse7766_frame(0x55, vpar, round(vpar / volts), ipar, round(ipar / amps), ppar,
                         round(ppar / watts) + jitter, 0x70, cf)


@settings(max_examples=150, deadline=None)
@given(a=st.tuples(st.floats(180, 260), st.floats(0.05, 5), st.floats(5, 1000)),
       b=st.tuples(st.floats(180, 260), st.floats(0.05, 5), st.floats(5, 1000)),
       cut=st.integers(2, 23), off=st.integers(1, 47), one_tick=st.booleans())
def test_cse7766_never_reads_a_frame_spliced_across_a_gap(mp, a, b, cut, off, one_tick):
    """The stream stops mid-frame (UART overrun, chip restart, mains back) and resumes
    mid-frame: the 8-bit checksum passes 1 splice in 256. Make it pass, and the reading
    must still come only from whole frames: A's before the gap, B's after it."""
    assume(off % 24 != cut % 24)  # resuming exactly where the frame left off is no splice
    before = _frame_at(*a, cf=1) * 3 + _frame_at(*a, cf=2)[:cut]
    after = None
    for trial in range(4096):  # pick B's CF count (and a 1-count jitter) so the splice passes
        tail = b"".join(_frame_at(*b, cf=trial * 16 + k, jitter=trial % 3) for k in range(5))[off:]
        spliced = before[-cut:] + tail[:24 - cut]
        if sum(spliced[2:23]) & 0xFF == spliced[23]:
            after = tail
            break
    assume(after is not None)
    nxt = after[24 - cut:26 - cut]
    assume(not (nxt[0] in (0x55, 0xAA) or nxt[0] >= 0xF0) or nxt[1] != 0x5A)  # looks like a frame start
    ticks = [(before + after).hex()] if one_tick else [before.hex(), after.hex()]
    res = mp.call("meter_harness", "decode", "cse7766", ticks)
    for (ok, v, i, p, s, pf, f), (volts, amps, watts) in zip(res, [b] if one_tick else [a, b]):
        assert ok
        if one_tick:  # A's and B's frames in one tick: the mean of the two, nothing else
            lo_v, hi_v = min(a[0], b[0]), max(a[0], b[0])
            lo_p, hi_p = min(a[2], b[2]), max(a[2], b[2])
            assert lo_v * 0.998 <= v <= hi_v * 1.002 and lo_p * 0.99 <= p <= hi_p * 1.01
        else:
            assert abs(v - volts) <= 0.002 * volts and abs(p - watts) <= 0.002 * watts
