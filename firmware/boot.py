"""Runs first at every boot of a board: the boot-loop guard (see lamppost.safe).

Reads the crash counter from RTC memory and the reset cause, stores the new
count, and sets lamppost.safe.MODE for main.py. In safe mode the lamp relay is
switched on at once, before anything else can fail: a dark street is worse
than a lamp burning by day. Never touches the filesystem, so brownouts and
fast power cycles cannot wear or wipe the configuration.
"""
import machine

try:
    from lamppost import safe

    _rtc = machine.RTC()
    _mem, safe.MODE, safe.REASON, safe.CRASHES = safe.on_boot(_rtc.memory(), machine.reset_cause())
    _rtc.memory(_mem)
    if safe.MODE:
        try:
            from lamppost import store
            from hal.esp32 import PINS
            _relay = (store.load("board.json") or {}).get("relay", PINS["relay"])
        except Exception:
            _relay = 26
        machine.Pin(_relay, machine.Pin.OUT, value=1)
except Exception as e:  # our own code is broken (a bad deploy): light the street, keep the REPL
    import sys

    sys.print_exception(e)
    machine.Pin(26, machine.Pin.OUT, value=1)
