"""Runs first at every boot of a board: the boot-loop guard (see lamppost.safe).

Reads the crash counter from RTC memory and the reset cause, stores the new
count with this boot marked running (a reset it does not announce, a panic, then
counts as a crash: see lamppost.safe), and sets lamppost.SAFE for main.py (and lamppost.safe.MODE, REASON,
CRASHES for safe mode; in normal mode the guard module is unloaded again). In safe mode the lamp relay is
switched on at once, before anything else can fail: a dark street is worse
than a lamp burning by day. Never touches the filesystem, so brownouts and
fast power cycles cannot wear or wipe the configuration.
"""
import machine

try:
    from lamppost import safe

    import lamppost

    _rtc = machine.RTC()
    _mem, safe.MODE, safe.REASON, safe.CRASHES = safe.on_boot(_rtc.memory(), machine.reset_cause())
    _rtc.memory(_mem)
    lamppost.SAFE = safe.MODE  # what main.py and the HAL look at
    if not safe.MODE:  # normal boot: free the guard's ~6 KB of heap for the app
        import sys

        del sys.modules["lamppost.safe"]
        delattr(lamppost, "safe")
        del safe
    else:
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
