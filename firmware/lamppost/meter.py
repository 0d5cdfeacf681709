"""Turns the sensor front end's raw bytes into a Reading, and meters energy.

Front ends: "ideal" is an exact metering IC (five little-endian floats:
Vrms, Irms, P, PF, Hz) used by the simulator's foundation scenarios; "adc" and
"cse7766" decode real sensor data (waveform windows, UART frames).
"""
import struct
from micropython import const

NOISE_W = const(1)  # below this many watts a reading is noise and reads zero


class Meter:
    def __init__(self, kind, cal_v=1.0, cal_i=1.0):
        self.kind = kind
        self.cal_v = cal_v  # gains from calibration against a reference load
        self.cal_i = cal_i
        self.wh = 0.0  # energy since the last persisted total, Wh
        self.total_kwh = 0.0  # persisted total at boot, kWh

    def decode(self, raw, r):
        """Fill r from raw front-end bytes; r.ok is False when they are unusable."""
        if self.kind == "ideal" and len(raw) >= 20:
            v, i, p, pf, hz = struct.unpack_from("<fffff", raw, 0)
            v *= self.cal_v
            i *= self.cal_i
            p *= self.cal_v * self.cal_i
            if p < NOISE_W:
                p = 0.0
                pf = 0.0
                if i * v < NOISE_W:
                    i = 0.0
            r.V = v
            r.I = i
            r.P = p
            r.S = v * i
            r.PF = pf
            r.Hz = hz
            r.ok = True
        else:
            r.ok = False

    def integrate(self, r, dt):
        """Add dt seconds at the present power to the energy total."""
        if r.ok and r.P > 0.0:
            self.wh += r.P * dt / 3600.0

    def total(self):
        return self.total_kwh + self.wh / 1000.0
