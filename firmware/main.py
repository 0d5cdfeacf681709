"""Board entry point, kept thin: it picks the HAL once and hands it to the firmware.

The core (lamppost/) never imports hal.*: the host HAL on the unix port (the
simulator), the ESP32 HAL on a board, built here from the board's files
(config.json's sensor, board.json's pins) and passed into app.main or safe.main.
boot.py sets lamppost.SAFE after repeated crashes or for a deploy; the
simulator runs this file without boot.py, so it starts the normal firmware.
Anything that escapes the app, its import included (a bad .mpy, a MemoryError),
resets a board, marked as a crash, so boot.py counts it and repeated failures
end in safe mode, never a dark street.
"""
import sys
import machine

_BOARD = hasattr(machine, "reset_cause")  # the unix port's machine (the simulator) has none
if not _BOARD:  # the simulator runs no boot.py: select the A/B slot here (docs/ota.md)
    import os
    import otaboot

    otaboot.select(os.getenv("LAMPPOST_FLASH") or "", os.getenv("LAMPPOST_RESET") or "power-on")
import lamppost

if "otaboot" in sys.modules:  # keep the slot choice, drop the module: its heap is the App's
    _ob = sys.modules.pop("otaboot")
    lamppost.SLOT = (_ob.ROOT, _ob.ACTIVE, _ob.TRIAL)
    _ob = otaboot = None


def _hal(safe):
    """The platform's HAL; in safe mode without metering or watchdog (fewer parts that can fail)."""
    if not _BOARD:
        from hal.host import Hal

        return Hal()
    from hal.esp32 import Hal
    from lamppost import store

    pins = store.load("board.json")
    if safe:
        return Hal("none", pins, False)
    return Hal((store.load("config.json") or {}).get("sensor", "ideal"), pins, True)


if lamppost.SAFE:
    from lamppost import safe

    safe.main(_hal(True))
else:
    try:
        from lamppost import app

        app.main(_hal(False))
    except Exception as e:
        sys.print_exception(e)
        if not _BOARD:  # the unix port (simulator): let the process end
            raise
        try:  # say it was a crash; if even this fails, boot.py's RUN record counts it anyway
            from hal import bootrec

            _rtc = machine.RTC()
            _rtc.memory(bootrec.mark(_rtc.memory(), bootrec.CRASH))
        except Exception:
            pass
        machine.reset()
