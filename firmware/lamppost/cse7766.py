"""Chipsea CSE7766 UART frames (4800 baud 8E1) -> Vrms, Irms, P.

A frame is 24 bytes: state (0x55 ok, 0xAA not calibrated, 0xFx with bit 3/2/1
= voltage/current/power cycle out of range), 0x5A, six 24-bit big-endian
registers (voltage parameter and cycle, current parameter and cycle, power
parameter and cycle), the adjustment byte (bit 6/5/4: V/I/P updated), the CF
pulse count (16 bits) and a checksum (the low byte of the sum of bytes 2-22).

The parser is a byte-at-a-time state machine over a fixed buffer: it accepts
a frame only with a valid header and checksum, and after a bad checksum it
rescans the 23 bytes after the false header, so it finds the next good frame
inside garbage. The 8-bit checksum also passes 1 in 256 frames spliced from
two (bytes lost in a UART overrun, the chip restarting mid-frame, mains
back after a cut), and one such frame can read megawatts; so a frame counts
only once the next one starts right after it (the chip sends them back to
back), and a silent tick drops a stale partial frame. Each good frame adds
its cycle registers to integer sums; decode() turns a tick's sums into
readings. Nothing is allocated per byte.
"""
from micropython import const

_FRAME = const(24)
_V_PAR = const(190000)  # datasheet defaults when the chip says "not calibrated"
_I_PAR = const(16000)
_P_PAR = const(5000000)


def header_ok(b):
    return b == 0x55 or b == 0xAA or b >= 0xF0


class Cse7766:
    def __init__(self):
        self.buf = bytearray(_FRAME)
        self.scratch = bytearray(_FRAME)
        self.last = bytearray(_FRAME)  # checksum-good frame waiting for the next one to start
        self.pend = False
        self.n = 0
        self.good = 0  # frames accepted (lifetime)
        self.bad = 0  # checksum failures and unconfirmed frames (lifetime)
        self.reset()

    def restart(self):
        """Forget a partial or unconfirmed frame: the byte stream was interrupted."""
        self.n = 0
        self.pend = False

    def reset(self):
        """Start the per-tick sums afresh."""
        self.frames = 0
        self.vpar = _V_PAR
        self.ipar = _I_PAR
        self.ppar = _P_PAR
        self.v_n = 0
        self.v_sum = 0
        self.i_n = 0
        self.i_sum = 0
        self.p_n = 0  # frames with a valid power cycle
        self.p_sum = 0
        self.p_zero = 0  # frames whose power cycle is out of range: no load

    def feed(self, data):
        for b in data:
            self._byte(b)

    def _byte(self, b):
        buf = self.buf
        n = self.n
        if n == 0:
            if header_ok(b):
                buf[0] = b
                self.n = 1
            elif self.pend:  # no frame right after it: it was spliced from garbage
                self.pend = False
                self.bad += 1
            return
        if n == 1:
            if b == 0x5A:
                buf[1] = b
                self.n = 2
                if self.pend:  # the next frame starts right after it: count it
                    self.pend = False
                    self.good += 1
                    self._frame(self.last)
                return
            if self.pend:
                self.pend = False
                self.bad += 1
            if header_ok(b):
                buf[0] = b
            else:
                self.n = 0
            return
        buf[n] = b
        n += 1
        if n < _FRAME:
            self.n = n
            return
        self.n = 0
        s = 0
        for k in range(2, _FRAME - 1):
            s += buf[k]
        if (s & 0xFF) == buf[_FRAME - 1]:
            last = self.last
            for k in range(_FRAME):
                last[k] = buf[k]
            self.pend = True
            return
        self.bad += 1
        sc = self.scratch  # rescan after the false header (at most 23 bytes: no recursion)
        for k in range(1, _FRAME):
            sc[k - 1] = buf[k]
        for k in range(_FRAME - 1):
            self._byte(sc[k])

    def _frame(self, f):
        state = f[0]
        if state != 0x55 and (state & 0xFC) == 0xFC:
            return  # abnormal hardware: V and I both out of range
        self.frames += 1
        if state != 0xAA:
            self.vpar = (f[2] << 16) | (f[3] << 8) | f[4]
            self.ipar = (f[8] << 16) | (f[9] << 8) | f[10]
            self.ppar = (f[14] << 16) | (f[15] << 8) | f[16]
        adj = f[20]
        bad = (state & 0xF0) == 0xF0
        if adj & 0x40 and not (bad and state & 0x08):
            self.v_sum += (f[5] << 16) | (f[6] << 8) | f[7]
            self.v_n += 1
        if adj & 0x20 and not (bad and state & 0x04):
            self.i_sum += (f[11] << 16) | (f[12] << 8) | f[13]
            self.i_n += 1
        if adj & 0x10:
            if bad and state & 0x02:
                self.p_zero += 1
            else:
                self.p_sum += (f[17] << 16) | (f[18] << 8) | f[19]
                self.p_n += 1

    def decode(self, raw, cal_v, cal_i, r):
        """Feed one tick's bytes and fill r.V, r.I, r.P; False when no good frame arrived."""
        if not len(raw):
            self.restart()  # a silent second: the chip stopped, what is buffered is stale
        self.feed(raw)
        ok = self.frames > 0
        if ok:
            r.V = self.vpar * self.v_n / self.v_sum * cal_v if self.v_sum else 0.0
            r.I = self.ipar * self.i_n / self.i_sum * cal_i if self.i_sum else 0.0
            p = 0.0
            if self.p_sum:
                p = self.ppar * self.p_n / self.p_sum  # mean cycle -> mean power of valid frames
                p = p * self.p_n / (self.p_n + self.p_zero)  # out-of-range frames read zero
            r.P = p * cal_v * cal_i
            r.Hz = 0.0  # the CSE7766 does not report frequency
        self.reset()
        return ok
