"""Waveform windows from the ESP32 ADC1 -> Vrms, Irms, P, S, PF, Hz.

A window is b"W" <H pairs><H period us><B conversions per sample> then pairs
of little-endian code sums (V, then I half a period later; each the sum of
that many 12-bit conversions), as the sampler fills it. One viper pass
finds the mean (the bias), the rising zero crossings of V (with hysteresis) and
the integer sums over whole mains cycles only, so a window that is not a whole
number of cycles (frequency drift) does not bias the RMS. Squares carry into
a high word, so the sums are 32-bit safe on the ESP32. The per-sample path
allocates nothing; only the handful of result floats are new objects.

The I sample lags its V sample by half a period: power pairs each I sample
with the mean of the V samples either side and divides by cos(pi f T), the
gain of that interpolation at the measured frequency.
"""
import array
import math
import micropython
from micropython import const

FS_COUNTS = const(1321)  # codes for the nominal full-scale swing (v_fs volts, i_fs amps)
HEAD = const(6)
MAX_PAIRS = const(500)
HYST = const(24)  # codes below the mean that re-arm the zero-crossing detector

# result slots of the viper pass
_N = const(0)
_SV = const(1)
_SI = const(2)
_SVV = const(3)
_SII = const(4)
_SVI = const(5)
_SVI2 = const(6)
_FIRST = const(7)
_FPREV = const(8)
_FCUR = const(9)
_LAST = const(10)
_LPREV = const(11)
_LCUR = const(12)
_NC = const(13)
_CLIP = const(14)
_HVV = const(15)  # high words (units of 2^30) of the squares and products
_HII = const(16)
_HVI = const(17)
_HVI2 = const(18)
_W = 1073741824.0  # 2^30


@micropython.viper
def sums(buf, n: int, o, hyst: int):
    """Integer sums of one window into o (array 'i'): see the slot constants.

    Squares and products carry into a high word every 2^30, so the sums of
    14-bit oversampled codes cannot overflow a 32-bit machine word.
    """
    p = ptr8(buf)
    r = ptr32(o)
    sv = 0
    si = 0
    j = HEAD
    for k in range(n):
        sv += p[j] | (p[j + 1] << 8)
        si += p[j + 2] | (p[j + 3] << 8)
        j += 4
    mv = sv // n
    mi = si // n
    armed = 0
    first = -1
    last = -1
    nc = 0
    fprev = 0
    fcur = 0
    lprev = 0
    lcur = 0
    prev = 0
    clip = 0
    top = 4095 * p[5]
    j = HEAD
    for k in range(n):
        x = (p[j] | (p[j + 1] << 8)) - mv
        c = p[j + 2] | (p[j + 3] << 8)
        if c == 0 or c >= top:
            clip += 1
        if x < 0 - hyst:
            armed = 1
        elif armed:
            if x >= 0:
                if k > 0:
                    armed = 0
                    if first < 0:
                        first = k
                        fprev = prev
                        fcur = x
                    last = k
                    lprev = prev
                    lcur = x
                    nc += 1
        prev = x
        j += 4
    if nc < 2:  # no usable mains cycle: use the whole window
        first = 0
        last = n - 1
    s_v = 0
    s_i = 0
    s_vv = 0
    s_ii = 0
    s_vi = 0
    s_vi2 = 0
    h_vv = 0
    h_ii = 0
    h_vi = 0
    h_vi2 = 0
    j = HEAD + 4 * first
    k = first
    while k < last:
        x = (p[j] | (p[j + 1] << 8)) - mv
        y = (p[j + 2] | (p[j + 3] << 8)) - mi
        x2 = (p[j + 4] | (p[j + 5] << 8)) - mv
        s_v += x
        s_i += y
        s_vv += x * x
        if s_vv > 0x3FFFFFFF:
            s_vv -= 0x40000000
            h_vv += 1
        s_ii += y * y
        if s_ii > 0x3FFFFFFF:
            s_ii -= 0x40000000
            h_ii += 1
        s_vi += x * y
        if s_vi > 0x3FFFFFFF:
            s_vi -= 0x40000000
            h_vi += 1
        elif s_vi < 0 - 0x3FFFFFFF:
            s_vi += 0x40000000
            h_vi -= 1
        s_vi2 += x2 * y
        if s_vi2 > 0x3FFFFFFF:
            s_vi2 -= 0x40000000
            h_vi2 += 1
        elif s_vi2 < 0 - 0x3FFFFFFF:
            s_vi2 += 0x40000000
            h_vi2 -= 1
        j += 4
        k += 1
    r[_N] = last - first
    r[_SV] = s_v
    r[_SI] = s_i
    r[_SVV] = s_vv
    r[_SII] = s_ii
    r[_SVI] = s_vi
    r[_SVI2] = s_vi2
    r[_FIRST] = first
    r[_FPREV] = fprev
    r[_FCUR] = fcur
    r[_LAST] = last
    r[_LPREV] = lprev
    r[_LCUR] = lcur
    r[_NC] = nc
    r[_CLIP] = clip
    r[_HVV] = h_vv
    r[_HII] = h_ii
    r[_HVI] = h_vi
    r[_HVI2] = h_vi2


class AdcWindow:
    """Decodes windows with a preallocated result array; scales from the board's config."""

    def __init__(self, v_fs, i_fs):
        self.kv = v_fs / FS_COUNTS  # volts per code
        self.ki = i_fs / FS_COUNTS  # amps per code
        self.o = array.array("i", bytes(4 * 20))
        self.clipped = 0  # clipped current samples in the last window

    def decode(self, raw, cal_v, cal_i, r):
        """Fill r.V, r.I, r.P, r.S, r.Hz (uncalibrated floor applied by the caller); False if bad."""
        n = len(raw)
        if n < HEAD or raw[0] != 0x57:
            return False
        pairs = raw[1] | (raw[2] << 8)
        per = raw[3] | (raw[4] << 8)
        osr = raw[5]
        if pairs < 8 or pairs > MAX_PAIRS or per == 0 or not 1 <= osr <= 16 \
                or HEAD + 4 * pairs > n:
            return False
        o = self.o
        sums(raw, pairs, o, HYST * osr)
        m = o[_N]
        if m <= 0:
            return False
        self.clipped = o[_CLIP]
        hz = 0.0
        nc = o[_NC]
        if nc >= 2:
            t0 = o[_FIRST] - 1 + o[_FPREV] / (o[_FPREV] - o[_FCUR])
            t1 = o[_LAST] - 1 + o[_LPREV] / (o[_LPREV] - o[_LCUR])
            if t1 > t0:
                hz = (nc - 1) * 1000000.0 / ((t1 - t0) * per)
        sv = o[_SV]
        si = o[_SI]
        vv = (o[_HVV] * _W + o[_SVV] - sv * sv / m) / m
        ii = (o[_HII] * _W + o[_SII] - si * si / m) / m
        vi = ((o[_HVI] + o[_HVI2]) * _W + o[_SVI] + o[_SVI2]) * 0.5
        vi = (vi - sv * si / m) / m
        if hz > 0.0:
            vi /= math.cos(math.pi * hz * per * 1e-6)
        kv = self.kv * cal_v / osr
        ki = self.ki * cal_i / osr
        r.V = math.sqrt(vv) * kv if vv > 0.0 else 0.0
        r.I = math.sqrt(ii) * ki if ii > 0.0 else 0.0
        r.P = vi * kv * ki
        r.Hz = hz
        return True
