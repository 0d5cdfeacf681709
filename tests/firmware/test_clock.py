"""Calendar arithmetic of the firmware, on MicroPython."""
from lamppost import clock


def test_iso_of_known_instants():
    assert clock.iso(0) == "2000-01-01T00:00:00Z"
    # 2026-01-15T20:00:03Z is unix 1768507203
    assert clock.iso(1768507203 - clock.EPOCH2000_UNIX) == "2026-01-15T20:00:03Z"
    assert clock.iso(clock.days_from_civil(2024, 2, 29) * 86400 + 86399) == "2024-02-29T23:59:59Z"


def test_parse_round_trips_over_centuries():
    for days in range(-36500, 36500, 97):
        t = days * 86400 + (days * 7919) % 86400
        assert clock.parse_iso(clock.iso(t)) == t


def test_parse_rejects_garbage():
    for bad in ("", "2026-01-15 20:00:03Z", "2026-13-01T00:00:00Z", "2026-01-15T25:00:00Z", "x" * 20):
        try:
            clock.parse_iso(bad)
        except ValueError:
            continue
        raise AssertionError("accepted " + repr(bad))
