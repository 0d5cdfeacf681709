"""Sensor front ends: turn the true electrical state into the bytes the firmware reads.

- ideal: an exact meter (five little-endian floats), for foundation scenarios.
- adc: a CT and a voltage divider biased at mid-rail into the ESP32 ADC1
  (11 dB attenuation), sampled interleaved V, I, V, I ... at 2 kHz per channel;
  each tick is one window of 400 sample pairs (10 mains cycles at 50 Hz) as
  raw 12-bit codes, with the divider's and CT's gain tolerance, the ADC's
  gain and offset error, its compression near both ends of the range, noise,
  quantisation and clipping.
- cse7766: the Chipsea CSE7766 metering IC's UART stream (4800 baud 8E1, a
  24-byte frame every ~55 ms: state, 0x5A, voltage/current/power parameter
  and cycle registers, adjustment byte, CF pulse count, checksum), generated
  from the electrical truth with the module's component tolerances; partial
  frames run across ticks and a rare bit error corrupts a byte.

Window layout (adc), shared with firmware/lamppost/adc.py:
  b"W" <H pairs><H sample period us><B conversions per sample> then
  pairs x (<H v code sum><H i code sum>)
The I sample of a pair is taken half a period after its V sample.
"""
from __future__ import annotations

import math
import random
import struct

import numpy as np

from simulator.models.normals import Normals

FS_COUNTS = 1321  # ADC codes for 1000 mV: the nominal full-scale swing of each channel
BIAS_MV = 1300.0  # mid-rail bias of both channels
PAIRS = 400
PERIOD_US = 500
OSR = 4  # each stored sample is the sum of 4 conversions 10 us apart (oversampling)
V_FS = 400.0  # V peak that swings the voltage channel by FS_COUNTS
CT_PHASE_DEG = 0.3  # the CT model's phase lead (datasheet), compensated by the firmware


def auto_ct_a(rated_w: float, nominal_v: float = 230.0) -> float:
    """Full-scale CT current (A peak) for a lamp: 2.5x its rated peak current (room for an
    HPS's warm-up current and a failed capacitor's 2x), rounded up to 2 significant digits."""
    a = 2.5 * rated_w / nominal_v * math.sqrt(2)
    step = 10 ** math.floor(math.log10(a)) / 10
    return round(math.ceil(a / step - 1e-9) * step, 6)


class IdealMeter:
    """An exact metering IC: Vrms, Irms, P, PF, Hz as five little-endian floats, with tiny noise."""

    kind = "ideal"

    def __init__(self, seed: int):
        self.rng = random.Random(seed ^ 0x5EED)
        self._normals = Normals(self.rng)  # its gauss draws a block at a time: the same values
        self._noise = iter(())  # the next ticks' 1 + rng.gauss(0, 0.001), of the last block

    def encode(self, v: float, i: float, p: float, pf: float, hz: float) -> bytes:
        if self._normals.rng is not self.rng:  # given another rng (bench/bench_metering.py)
            self._normals, self._noise = Normals(self.rng), iter(())
        try:
            n = next(self._noise)
        except StopIteration:
            self._noise = iter([1 + z * 0.001 for z in self._normals.block(1024)])
            n = next(self._noise)
        self._n = n
        return _IDEAL.pack(v * n, i * n, p * n, pf, hz)

    def frame(self, truth) -> bytes:
        return self.encode(truth.v, truth.i, truth.p, truth.pf, truth.hz)

    def reframe(self, truth) -> bytes:
        """The last frame's instant again for another truth: the same noise, no new draw
        (the runner computes a tick ahead on the outputs it expects, and again when they
        turn out different; the draws do not depend on the truth)."""
        n = self._n
        return _IDEAL.pack(truth.v * n, truth.i * n, truth.p * n, truth.pf, truth.hz)


_IDEAL = struct.Struct("<fffff")


def esp32_adc_code(mv, gain: float, offset: float, noise):
    """Raw ADC1 codes (11 dB) for inputs in mV: linear 150-2450 mV, compressed outside, clipped."""
    return _codes(_adc_level(mv, gain, offset), noise)


def _adc_level(mv, gain: float, offset: float):
    """What the ADC would read for inputs in mV before noise, rounding and clipping (a level
    the OSR conversions of one sample share)."""
    mv = np.clip(np.asarray(mv, dtype=float), 0.0, 3300.0)  # the input buffer clamps at the rails
    low, high = mv < 150.0, mv > 2450.0
    lin = mv
    if low.any() or high.any():  # (a mains waveform stays within 150-2450 mV)
        lin = np.where(low, 150.0 * (mv / 150.0) ** 1.5,  # dead zone near 0 V
                       np.where(high, 2450.0 + (mv - 2450.0) * 0.55, mv))  # top compresses
    return lin * FS_COUNTS / 1000.0 * gain + offset


def _codes(level, noise):
    """Raw codes of a level (_adc_level) with noise (any shape the level broadcasts to)."""
    return np.clip(np.rint(level + noise), 0, 4095).astype("<u2")


class AdcFrontEnd:
    """CT + divider into the ESP32 ADC1; one window of raw codes per tick."""

    kind = "adc"

    def __init__(self, seed: int, ct_a: float, v_fs: float = V_FS, noise_lsb: float = 1.5):
        rng = self.rng = random.Random(seed ^ 0xADC)
        self.np_rng = np.random.default_rng(seed ^ 0xADC)
        self.v_fs, self.i_fs = v_fs, ct_a
        # component tolerances: divider 1%, CT 2%, ADC gain 3%, offset 25 codes, CT phase lead
        self.v_gain = rng.uniform(0.99, 1.01) * rng.uniform(0.97, 1.03)
        self.i_gain = rng.uniform(0.98, 1.02) * rng.uniform(0.97, 1.03)
        self.v_off = rng.uniform(-25, 25)
        self.i_off = rng.uniform(-25, 25)
        self.ct_phase = math.radians(CT_PHASE_DEG * rng.uniform(0.9, 1.1))  # unit-to-unit spread
        self.noise = noise_lsb
        self._head = struct.pack("<cHHB", b"W", PAIRS, PERIOD_US, OSR)
        self._k = np.arange(PAIRS) * (PERIOD_US * 1e-6)

    def frame(self, truth) -> bytes:
        # the draws do not depend on the truth: drawn here, kept for reframe()
        # noise[k, 0] and noise[k, 1]: the V and I conversions k of each sample, drawn in that
        # order (one call draws what OSR pairs of calls of PAIRS each would)
        self._draws = (self.rng.random(),  # where in the cycle the window starts
                       self.np_rng.normal(0, self.noise, (OSR, 2, PAIRS)))
        return self.reframe(truth)

    def reframe(self, truth) -> bytes:
        """The last frame's window again for another truth, with the same draws (see
        IdealMeter.reframe)."""
        start, noise = self._draws
        w = 2 * math.pi * max(truth.hz, 1.0)
        tv = start / max(truth.hz, 1.0) + self._k  # starts anywhere in the cycle
        ti = tv + PERIOD_US * 0.5e-6
        v = _waves(truth.vh, w, tv, None)
        i = _waves(truth.ih, w, ti, self.ct_phase)
        if truth.inrush:
            i += truth.inrush * np.exp(-(ti - tv[0]) / 0.0004)
        out = np.empty(2 * PAIRS, dtype="<u2")
        mv_v = BIAS_MV + v * (1000.0 / self.v_fs)
        mv_i = BIAS_MV + i * (1000.0 / self.i_fs)
        # OSR conversions 10 us apart: the same instant for 50 Hz, their codes summed (at most
        # 4 x 4095: no uint16 overflow, so summing all at once is adding one by one)
        out[0::2] = _codes(_adc_level(mv_v, self.v_gain, self.v_off), noise[:, 0]).sum(axis=0)
        out[1::2] = _codes(_adc_level(mv_i, self.i_gain, self.i_off), noise[:, 1]).sum(axis=0)
        return self._head + out.tobytes()


def _waves(spectrum, w: float, t, shift: float | None):
    """The sum over (order h, rms a, phase ph) of a sqrt(2) sin(h w t + ph [+ shift]), added
    one harmonic after another from 0 (all harmonics' sines in one numpy call each step)."""
    hw = np.array([h * w for h, _, _ in spectrum])
    ph = np.array([p for _, _, p in spectrum])
    amp = np.array([a * math.sqrt(2) for _, a, _ in spectrum])
    arg = hw[:, None] * t + ph[:, None]
    if shift is not None:
        arg += shift
    rows = amp[:, None] * np.sin(arg)
    out = np.zeros(t.shape[0])
    for row in rows:
        out += row
    return out


_FRAME = struct.Struct(">BB" + "I" * 6 + "BH")


def cse7766_frame(state: int, vpar: int, vreg: int, ipar: int, ireg: int, ppar: int, preg: int,
                  adj: int, cf: int) -> bytes:
    """One 24-byte CSE7766 frame as its datasheet lays it out (24-bit registers, big-endian)."""
    raw = _FRAME.pack(state, 0x5A, vpar, vreg, ipar, ireg, ppar, preg, adj, cf & 0xFFFF)
    # each ">I" is 4 bytes; keep its low 3 bytes
    body = raw[:2] + b"".join(raw[3 + 4 * k: 6 + 4 * k] for k in range(6)) + raw[26:]
    return body + bytes((sum(body[2:23]) & 0xFF,))


REG_MAX = 0xFFFFFF


class Cse7766FrontEnd:
    """The CSE7766's UART byte stream, ~436 bytes per simulated second."""

    kind = "cse7766"
    BYTES_PER_S = 4800 / 11  # 8E1: 11 bits a byte, frames back to back

    def __init__(self, seed: int, bit_error_rate: float = 2e-5):
        rng = self.rng = random.Random(seed ^ 0xC5E)
        # factory calibration parameters stored in the chip (they differ chip to chip)
        self.vpar = int(190000 * rng.uniform(0.98, 1.02))
        self.ipar = int(16000 * rng.uniform(0.98, 1.02))
        self.ppar = int(5000000 * rng.uniform(0.98, 1.02))
        # module tolerances the factory parameters do not cover: divider 1%, shunt 2%
        self.v_err = rng.uniform(0.99, 1.01)
        self.i_err = rng.uniform(0.98, 1.02)
        self.ber = bit_error_rate
        self.cf = 0
        self.cf_frac = 0.0
        self.adj_cf = 0
        self._acc = 0.0
        self._pending = b""

    def _one(self, truth, dt: float) -> bytes:
        rng = self.rng
        # what the chip measures: the factory parameters make par / reg read volts, amps and
        # watts for nominal parts; the divider's and shunt's tolerances remain
        v = truth.v * self.v_err * (1 + rng.gauss(0, 0.0005))
        i = truth.i * self.i_err * (1 + rng.gauss(0, 0.001))
        p = truth.p * self.v_err * self.i_err * (1 + rng.gauss(0, 0.001))
        if abs(p) < 2.0:  # below ~2 W the power channel's creep dominates: garbage
            p += rng.gauss(0.3, 0.2)
        state = 0
        vreg = round(self.vpar / v) if v > 0.5 else REG_MAX
        ireg = round(self.ipar / i) if i > 0 else REG_MAX
        preg = round(self.ppar / p) if p > 0 else REG_MAX
        if vreg >= REG_MAX:
            state |= 0x08
            vreg = REG_MAX
        if ireg >= REG_MAX:
            state |= 0x04
            ireg = REG_MAX
        if preg >= REG_MAX:
            state |= 0x02
            preg = REG_MAX
        self.cf_frac += max(0.0, truth.p) * dt / 3600.0 * 3.2  # 3200 CF pulses per kWh
        whole = int(self.cf_frac)
        self.cf_frac -= whole
        if self.cf + whole > 0xFFFF:
            self.adj_cf ^= 0x80  # PF register overflow toggles bit 7 of the adjustment byte
        self.cf = (self.cf + whole) & 0xFFFF
        adj = self.adj_cf | 0x40 | (0x20 if not state & 0x04 else 0) | 0x10
        return cse7766_frame(0xF0 | state if state else 0x55, self.vpar, vreg, self.ipar, ireg,
                             self.ppar, preg, adj, self.cf)

    def frame(self, truth) -> bytes:
        """The bytes the chip sent during this second (none while it is unpowered)."""
        if not truth.mains or truth.v < 80:
            self._pending = b""
            self._acc = 0.0
            return b""
        self._acc += self.BYTES_PER_S
        n = int(self._acc)
        self._acc -= n
        out = bytearray(self._pending)
        while len(out) < n:
            out += self._one(truth, 24 / self.BYTES_PER_S)
        self._pending = bytes(out[n:])
        out = out[:n]
        if self.ber and out and self.rng.random() < 1 - (1 - self.ber) ** (8 * len(out)):
            out[self.rng.randrange(len(out))] ^= 1 << self.rng.randrange(8)  # a bit error
        return bytes(out)


def make_frontend(sc):
    """The front end the scenario's post is fitted with."""
    p = sc.post
    if p.sensor == "adc":
        return AdcFrontEnd(sc.seed, p.ct_a or auto_ct_a(p.rated_w, p.nominal_v), _v_fs(p))
    if p.sensor == "cse7766":
        return Cse7766FrontEnd(sc.seed)
    return IdealMeter(sc.seed)


def _v_fs(p) -> float:
    """The divider's full scale: 400 V peak, more for a post above 240 V nominal (a 277 V
    post swells to 1.2 x 277 x 1.41 = 470 V peak)."""
    return V_FS if p.nominal_v <= 240.0 else 500.0


def firmware_keys(sc) -> dict:
    """Config keys the firmware needs to read this front end (board design constants)."""
    p = sc.post
    if p.sensor == "adc":
        return {"v_fs": _v_fs(p), "i_fs": p.ct_a or auto_ct_a(p.rated_w, p.nominal_v),
                "ct_phase": CT_PHASE_DEG}
    return {}
