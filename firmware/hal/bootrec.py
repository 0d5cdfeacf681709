"""The RTC boot record of the boot-loop guard: how many crash resets in a row, how the last boot ended.

RTC memory survives watchdog and software resets and panics, not power loss.
boot.py reads it with `on_boot` at every boot and writes RUN; the ESP32 HAL marks
the end of a boot (CLEAN for a deliberate restart, CRASH for a caught error)
just before machine.reset(), main.py marks CRASH when the app escapes, and the
watchdog policy (lamppost/health.py) clears the count after a stable run. On an
ESP32 machine.reset() and a panic both report HARD_RESET (SOFT_RESET is only a
Ctrl-D at the REPL), so the cause alone cannot tell a crash from a wanted
restart: a hard or soft reset counts unless the record says CLEAN, so a panic
(which writes nothing) counts like a crash restart. Imports nothing: boot.py
loads it before anything else can fail.
"""
from micropython import const

_CRASH_LIMIT = const(3)  # this many crash resets in a row -> safe mode

MAINT = b"LPMAINT"  # written by `lampctl deploy` or Maintenance before a reset: next boot is for deploying

# reset causes as machine.reset_cause() reports them on ESP32 (ports/esp32/modmachine.c):
# HARD is esp_restart() (machine.reset()) and a panic; SOFT only a Ctrl-D soft reboot;
# power-on also covers the EN button and a brownout
_HARD = const(2)
WDT = const(3)
_DEEPSLEEP = const(4)
_SOFT = const(5)

# how the last boot ended, the record's last byte
RUN = const(0x52)  # "R": boot.py started the firmware; a reset nobody announced is a crash
CRASH = const(0x43)  # "C": the firmware caught an error and restarts (main.py, hal reset(1))
CLEAN = const(0x2D)  # "-": a deliberate restart (Reboot, Normal, end of a deploy): no crash


def record(n, how=CLEAN):
    """RTC memory bytes: crash count n (with a check byte against garbage), how the boot ended."""
    n = min(n, 255)
    return b"LPB" + bytes((n, n ^ 0xA5, how))


def parse(mem):
    """(crash count, how the last boot ended) from RTC memory bytes; (0, CLEAN) for no valid record."""
    if len(mem) == 6 and mem[:3] == b"LPB" and mem[3] ^ 0xA5 == mem[4] and mem[5] in (RUN, CRASH, CLEAN):
        return mem[3], mem[5]
    return 0, CLEAN


def count(mem):
    """The crash count stored in RTC memory bytes, 0 when they hold no valid record."""
    return parse(mem)[0]


def mark(mem, how):
    """mem with how this boot ends set to how (CRASH or CLEAN), the count kept: before a reset."""
    return record(parse(mem)[0], how)


def on_boot(mem, cause):
    """(new RTC memory, safe?, reason, crashes) for RTC memory mem and machine.reset_cause().

    Watchdog resets count up; hard and soft resets (machine.reset(), a panic) count
    unless the last boot marked its end CLEAN (a deliberate restart keeps the count);
    power-on, brownout and the EN button start afresh. A maintenance request is
    obeyed once. The new record says RUN: this boot's end is unknown until it says.
    """
    if mem == MAINT:
        return record(0), True, "maintenance", 0
    n, how = parse(mem)
    if cause == WDT or ((cause == _HARD or cause == _SOFT) and how != CLEAN):
        n += 1
    elif cause != _DEEPSLEEP and cause != _HARD and cause != _SOFT:
        n = 0
    if n >= _CRASH_LIMIT:
        return record(n, RUN), True, "crashes", n
    return record(n, RUN), False, "", n
