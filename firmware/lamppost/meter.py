"""Turns the sensor front end's raw bytes into a Reading, calibrated and floored.

Front ends (config "sensor"): "ideal" is an exact metering IC (five
little-endian floats: Vrms, Irms, P, PF, Hz) used by the foundation scenarios;
"adc" decodes ESP32 ADC waveform windows (lamppost/adc.py); "cse7766" parses
the metering IC's UART frames (lamppost/cse7766.py). Calibration gains cal_v
and cal_i (lamppost/calib.py) scale V, I and P. Readings below the noise floor
read zero, never garbage. Energy lives in lamppost/energy.py.
"""
import struct
from micropython import const

_NOISE_W = const(1)  # below this many watts a reading is noise and reads zero
_NOISE_W_CSE = const(2)  # the CSE7766's power channel creeps below ~2 W: garbage
_NOISE_V = const(5)  # below this many volts there is no mains


class Meter:
    def __init__(self, kind, cal_v=1.0, cal_i=1.0, v_fs=400.0, i_fs=1.5, ct_phase=0.0):
        self.kind = kind
        self.cal_v = cal_v  # gains from calibration against a reference load
        self.cal_i = cal_i
        self.total_kwh = 0.0
        self.fe = None
        self.noise_w = _NOISE_W_CSE if kind == "cse7766" else _NOISE_W
        if kind in ("adc", "cse7766"):  # import only the front end fitted: RAM
            import gc
            gc.collect()
            if kind == "adc":
                from lamppost.adc import AdcWindow
                self.fe = AdcWindow(v_fs, i_fs, ct_phase)
            else:
                from lamppost.cse7766 import Cse7766
                self.fe = Cse7766()

    def decode(self, raw, r):
        """Fill r from raw front-end bytes; r.ok is False when they are unusable."""
        if self.fe is not None:
            r.ok = self.fe.decode(raw, self.cal_v, self.cal_i, r)
            if r.ok:
                self._floor(r)
            return
        if len(raw) >= 20:
            v, i, p, pf, hz = struct.unpack_from("<fffff", raw, 0)
            r.V = v * self.cal_v
            r.I = i * self.cal_i
            r.P = p * self.cal_v * self.cal_i
            r.Hz = hz
            r.ok = True
            self._floor(r)
        else:
            r.ok = False

    def _floor(self, r):
        """Zero what is below the noise floor; derive S and PF."""
        if r.V < _NOISE_V:
            r.V = 0.0
        p = r.P
        if p < self.noise_w:
            p = 0.0
            if r.I * r.V < self.noise_w:
                r.I = 0.0
        r.P = p
        s = r.V * r.I
        r.S = s
        if p > 0.0 and s > 0.0:
            r.PF = p / s if p < s else 1.0
        else:
            r.PF = 0.0

    def total(self):
        """kWh for Status without an energy counter (lamppost/energy.py counts the real total)."""
        return self.total_kwh
