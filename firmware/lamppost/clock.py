"""Calendar arithmetic on seconds since 2000-01-01T00:00:00Z.

The firmware counts time from the 2000 epoch, as MicroPython's embedded ports
do: the value stays a small int on a 32-bit board until 2034 (no bigint
allocation per tick). Only the HAL converts to and from the host's clock.
"""
from micropython import const

EPOCH2000_UNIX = const(946684800)  # unix time of 2000-01-01T00:00:00Z
_DAY = const(86400)


def civil(days):
    """(year, month, day) of a day number counted from 2000-01-01 (H. Hinnant's algorithm)."""
    z = days + 730425  # shift epoch to 0000-03-01
    era = z // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = mp + 3 if mp < 10 else mp - 9
    return yoe + era * 400 + (1 if m <= 2 else 0), m, d


def days_from_civil(y, m, d):
    """Day number since 2000-01-01 of a proleptic Gregorian date."""
    y -= m <= 2
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 730425


def iso(t):
    """ISO 8601 UTC text of a 2000-epoch time, e.g. '2026-01-15T20:00:03Z'."""
    days = t // _DAY
    s = t - days * _DAY
    y, m, d = civil(days)
    return "%04d-%02d-%02dT%02d:%02d:%02dZ" % (y, m, d, s // 3600, s // 60 % 60, s % 60)


def parse_iso(text):
    """2000-epoch seconds of 'YYYY-MM-DDTHH:MM:SSZ'; ValueError on anything else.

    Exactly that form: digits only where digits belong (int() alone would take ' 1', '+1'
    or '1_0') and a day that exists in its month, so iso(parse_iso(s)) == s always."""
    if not isinstance(text, str) or len(text) != 20 or text[4] != "-" or text[7] != "-" \
            or text[10] != "T" or text[13] != ":" or text[16] != ":" or text[19] != "Z":
        raise ValueError("expected YYYY-MM-DDTHH:MM:SSZ")
    for i in (0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18):
        if not "0" <= text[i] <= "9":
            raise ValueError("expected YYYY-MM-DDTHH:MM:SSZ")
    y, mo, d = int(text[0:4]), int(text[5:7]), int(text[8:10])
    hh, mi, ss = int(text[11:13]), int(text[14:16]), int(text[17:19])
    if not (1 <= mo <= 12 and 1 <= d <= 31 and hh < 24 and mi < 60 and ss < 60):
        raise ValueError("date or time out of range")
    if d > 28 and civil(days_from_civil(y, mo, d))[1] != mo:  # 31 April, 29 February 2026
        raise ValueError("date or time out of range")
    return days_from_civil(y, mo, d) * _DAY + hh * 3600 + mi * 60 + ss
