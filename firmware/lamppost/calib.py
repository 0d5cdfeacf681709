"""Field calibration against a reference load, the way Tasmota users do it.

First set the true voltage (VoltageSet), then the true power at that voltage
(PowerSet) or the true current (CurrentSet), each with a resistive load
(PF ~ 1, never an LED lamp). Each step rescales one gain of the meter and
returns the config keys to persist.
"""

KINDS = ("voltage", "power", "current")


def calibrate(meter, r, kind, true_value):
    """New gains {"cal_v"| "cal_i": value} so that reading r would read true_value.

    Raises ValueError when the reading is too small to calibrate against or the
    resulting gain is outside 0.5..2.0 (wrong load or wrong number typed).
    """
    if kind not in KINDS:
        raise ValueError("calibrate voltage|power|current <true value>")
    if kind == "voltage":
        measured, key, gain = r.V, "cal_v", meter.cal_v
        if measured < 50.0:
            raise ValueError("no mains voltage to calibrate against")
    elif kind == "power":
        measured, key, gain = r.P, "cal_i", meter.cal_i
        if measured < 5.0:
            raise ValueError("switch on a reference load of at least 5 W first")
    else:
        measured, key, gain = r.I, "cal_i", meter.cal_i
        if measured < 0.02:
            raise ValueError("switch on a reference load of at least 0.02 A first")
    new = gain * true_value / measured
    if not 0.5 <= new <= 2.0:
        raise ValueError("gain %.3f out of range 0.5..2.0: check the load and the value" % new)
    setattr(meter, key, new)
    return {key: new}
