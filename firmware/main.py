"""Board entry point, kept thin: everything lives in the lamppost package.

boot.py sets lamppost.safe.MODE after repeated crashes or for a deploy; the
simulator runs this file without boot.py, so it starts the normal firmware.
"""
from lamppost import safe

if safe.MODE:
    safe.main()
else:
    from lamppost import app

    app.main()
