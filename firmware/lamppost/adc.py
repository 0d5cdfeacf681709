"""Waveform windows from the ESP32 ADC1 -> Vrms, Irms, P, S, PF, Hz.

A window is b"W" <H pairs><H period us><B conversions per sample> then pairs
of little-endian code sums (V, then I half a period later; each the sum of
that many 12-bit conversions), as the sampler fills it. One viper pass
finds the mean (the bias), the rising zero crossings of V (with hysteresis) and
the integer sums over whole mains cycles only, so a window that is not a whole
number of cycles (frequency drift) does not bias the RMS. Squares carry into
a high word, so the sums are 32-bit safe on the ESP32. The per-sample path
allocates nothing; only the handful of result floats are new objects.

The I sample lags its V sample by half a period and the CT leads by its
datasheet phase (config ct_phase): power pairs each I sample with V
interpolated to that instant and divides by the interpolation's gain at the
measured frequency.
"""
import array
import math
import micropython
from micropython import const

_FS_COUNTS = const(1321)  # codes for the nominal full-scale swing (v_fs volts, i_fs amps)
_HEAD = const(6)
_MAX_PAIRS = const(500)
_HYST = const(24)  # codes below the mean that re-arm the zero-crossing detector

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
_HVV = const(15)  # high words (units of 2^29) of the squares and products
_HII = const(16)
_HVI = const(17)
_HVI2 = const(18)
_IL = const(19)  # I at the sample `last`
_VL1 = const(20)  # V at the sample after `last`


@micropython.viper
def sums(buf, n: int, o, hyst: int):
    """Integer sums of one window into o (array 'i'): see the slot constants.

    Squares and products carry into a high word every 2^29, so the sums of
    14-bit oversampled codes cannot overflow a 32-bit machine word.
    """
    p = ptr8(buf)
    r = ptr32(o)
    sv = 0
    si = 0
    j = _HEAD
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
    j = _HEAD
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
    j = _HEAD + 4 * last  # the samples at the end, to correct for a fractional sample
    r[_IL] = (p[j + 2] | (p[j + 3] << 8)) - mi
    if last + 1 < n:
        r[_VL1] = (p[j + 4] | (p[j + 5] << 8)) - mv
    else:
        r[_VL1] = (p[j] | (p[j + 1] << 8)) - mv
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
    j = _HEAD + 4 * first
    k = first
    while k < last:
        x = (p[j] | (p[j + 1] << 8)) - mv
        y = (p[j + 2] | (p[j + 3] << 8)) - mi
        x2 = (p[j + 4] | (p[j + 5] << 8)) - mv
        s_v += x
        s_i += y
        s_vv += x * x
        if s_vv > 0x1FFFFFFF:
            s_vv -= 0x20000000
            h_vv += 1
        s_ii += y * y
        if s_ii > 0x1FFFFFFF:
            s_ii -= 0x20000000
            h_ii += 1
        s_vi += x * y
        if s_vi > 0x1FFFFFFF:
            s_vi -= 0x20000000
            h_vi += 1
        elif s_vi < 0 - 0x1FFFFFFF:
            s_vi += 0x20000000
            h_vi -= 1
        s_vi2 += x2 * y
        if s_vi2 > 0x1FFFFFFF:
            s_vi2 -= 0x20000000
            h_vi2 += 1
        elif s_vi2 < 0 - 0x1FFFFFFF:
            s_vi2 += 0x20000000
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

    def __init__(self, v_fs, i_fs, ct_phase=0.0):
        self.kv = v_fs / _FS_COUNTS  # volts per code
        self.ki = i_fs / _FS_COUNTS  # amps per code
        self.ct_phase = ct_phase * math.pi / 180.0  # the CT's phase lead, rad
        self.o = array.array("i", bytes(4 * 24))
        self.clipped = 0  # clipped current samples in the last window

    def decode(self, raw, cal_v, cal_i, r):
        """Fill r.V, r.I, r.P, r.S, r.Hz (uncalibrated floor applied by the caller); False if bad."""
        n = len(raw)
        if n < _HEAD or raw[0] != 0x57:
            return False
        pairs = raw[1] | (raw[2] << 8)
        per = raw[3] | (raw[4] << 8)
        osr = raw[5]
        if pairs < 8 or pairs > _MAX_PAIRS or per == 0 or not 1 <= osr <= 16 \
                or _HEAD + 4 * pairs > n:
            return False
        o = self.o
        sums(raw, pairs, o, _HYST * osr)
        m = o[_N]
        if m <= 0:
            return False
        self.clipped = o[_CLIP]
        # integer work first (no heap on a 64-bit host; big ints only past 2^30 on the ESP32),
        # then as few float operations as possible: each one allocates a float
        svv = (o[_HVV] << 29) + o[_SVV]
        sii = (o[_HII] << 29) + o[_SII]
        svi = (o[_HVI] << 29) + o[_SVI]
        svi2 = (o[_HVI2] << 29) + o[_SVI2]
        lp = o[_LPREV]
        lc = o[_LCUR]
        il = o[_IL]
        hz = 0.0
        span = m
        nc = o[_NC]
        if nc >= 2:
            fp = o[_FPREV]
            # whole cycles between the first and last rising crossings, in samples
            sp = (o[_LAST] - o[_FIRST]) + (lp / (lp - lc) - fp / (fp - o[_FCUR]))
            if sp > m - 1:
                span = sp
                hz = (nc - 1) * 1000000 / (span * per)
        # the m samples cover m sample periods, the cycles `span`: extend or trim the sums at
        # the end of the window by the difference (V is near zero there)
        d = span - m
        sv = o[_SV] + d * (lp + lc) / 2
        si = o[_SI] + d * il
        vv = (svv + d * ((lp + lc) * (lp + lc)) / 4 - sv * sv / span) / span
        ii = (sii + d * (il * il) - si * si / span) / span
        # V at the instant I was really taken: half a sample later, plus the CT's phase lead
        if hz > 0.0:
            wt = 6.283185307179586 * hz * per / 1000000  # one sample period, rad
            a = 0.5 + self.ct_phase / wt  # a lead: the current seen is from later
            b = 1 - a
            vi = (b * (svi + d * lc * il) + a * (svi2 + d * o[_VL1] * il) - sv * si / span) / span
            vi /= math.sqrt(1 - 2 * a * b * (1 - math.cos(wt)))  # the interpolation's gain
        else:
            vi = ((svi + svi2) / 2 - sv * si / span) / span
        kv = self.kv * cal_v / osr
        ki = self.ki * cal_i / osr
        r.V = math.sqrt(vv) * kv if vv > 0.0 else 0.0
        r.I = math.sqrt(ii) * ki if ii > 0.0 else 0.0
        r.P = vi * kv * ki
        r.Hz = hz
        return True
