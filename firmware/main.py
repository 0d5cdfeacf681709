"""Board entry point, kept thin: everything lives in the lamppost package.

boot.py sets lamppost.SAFE after repeated crashes or for a deploy; the
simulator runs this file without boot.py, so it starts the normal firmware.
Anything that escapes the app, its import included (a bad .mpy, a MemoryError),
resets a board, marked as a crash, so boot.py counts it and repeated failures
end in safe mode, never a dark street.
"""
import lamppost

if lamppost.SAFE:
    from lamppost import safe

    safe.main()
else:
    try:
        from lamppost import app

        app.main()
    except Exception as e:
        import sys
        import machine

        sys.print_exception(e)
        if not hasattr(machine, "reset_cause"):  # the unix port (simulator): let the process end
            raise
        try:  # say it was a crash; if even this fails, boot.py's RUN record counts it anyway
            from lamppost import safe

            _rtc = machine.RTC()
            _rtc.memory(safe.mark(_rtc.memory(), safe.CRASH))
        except Exception:
            pass
        machine.reset()
