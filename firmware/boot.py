"""Runs first at every boot of a board: the boot-loop guard (hal/bootrec.py, lamppost.safe).

Reads the crash counter from RTC memory and the reset cause, stores the new
count with this boot marked running (a reset it does not announce, a panic, then
counts as a crash: see hal/bootrec.py), and sets lamppost.SAFE for main.py (and
lamppost.safe.MODE, REASON, CRASHES for safe mode; in normal mode the record
module is unloaded again). In safe mode the lamp relay is switched on at once,
before anything else can fail: a dark street is worse than a lamp burning by
day. Never touches the filesystem except to read board.json in safe mode, so
brownouts and fast power cycles cannot wear or wipe the configuration.
"""
import sys
import machine

try:  # A/B slot first (docs/ota.md): lamppost and hal then load from the selected slot
    import otaboot

    _c = machine.reset_cause()
    otaboot.select("", "power-on" if _c == 1 else "watchdog" if _c == 3 else "reset")
except Exception as e:
    sys.print_exception(e)

try:
    from hal import bootrec

    import lamppost

    _rtc = machine.RTC()
    _mem = _rtc.memory()
    if "otaboot" in sys.modules and sys.modules["otaboot"].ROLLED:
        _mem = bootrec.record(0)  # the crashes were the abandoned trial's: the old slot starts afresh
    _mem, _safe, _reason, _n = bootrec.on_boot(_mem, machine.reset_cause())
    _rtc.memory(_mem)
    if _safe:
        from lamppost import safe

        safe.MODE, safe.REASON, safe.CRASHES = True, _reason, _n
    lamppost.SAFE = _safe  # what main.py looks at
    if not _safe:  # normal boot: free the record module's heap for the app
        import hal

        del sys.modules["hal.bootrec"]
        delattr(hal, "bootrec")
        del bootrec
    else:
        try:
            from lamppost import store
            from hal.esp32 import PINS
            _relay = (store.load("board.json") or {}).get("relay", PINS["relay"])
        except Exception:
            _relay = 26
        machine.Pin(_relay, machine.Pin.OUT, value=1)
except Exception as e:  # our own code is broken (a bad deploy): light the street, keep the REPL
    sys.print_exception(e)
    machine.Pin(26, machine.Pin.OUT, value=1)
