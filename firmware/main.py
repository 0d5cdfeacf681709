"""Board entry point, kept thin: everything lives in the lamppost package.

boot.py sets lamppost.SAFE after repeated crashes or for a deploy; the
simulator runs this file without boot.py, so it starts the normal firmware.
Anything that escapes the app (a HAL that cannot start) resets a board, so
boot.py counts it and repeated failures end in safe mode, never a dark street.
"""
import lamppost

if lamppost.SAFE:
    from lamppost import safe

    safe.main()
else:
    from lamppost import app

    try:
        app.main()
    except Exception as e:
        import sys
        import machine

        sys.print_exception(e)
        if not hasattr(machine, "reset_cause"):  # the unix port (simulator): let the process end
            raise
        machine.reset()
