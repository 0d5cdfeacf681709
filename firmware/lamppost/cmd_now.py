"""Readings and Alarms: the small read commands `lampctl monitor` polls every second."""
from lamppost import report


def s_readings(c):
    r = c.r
    d = report.readings(r, {"ApparentPower": round(r.S, 1), "Frequency": round(r.Hz, 2),
                            "Temperature": round(r.temp, 1), "mains": r.mains,
                            "dark": r.dark, "valid": r.ok})
    d["lamp"] = "on" if c.cmd_on else "off"
    d["dim"] = c.dim
    return d


def s_alarms(c):
    e = c.engine
    return {"active": e.active(), "counts": e.counts()}


def c_readings(c, p, ok, s):
    return s_readings(c)


def c_alarms(c, p, ok, s):
    return s_alarms(c)
