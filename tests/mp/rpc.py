"""Serves calls into firmware modules from CPython tests, on the MicroPython interpreter.

One JSON request a line on stdin: {"m": module, "f": function, "a": [args]};
one JSON reply a line on stdout: {"r": result} or {"e": "error text"}. Lets
hypothesis (CPython) generate inputs while the firmware code runs where it ships.
"""
import json
import sys

mods = {}
while True:
    line = sys.stdin.readline()
    if not line:
        break
    try:
        req = json.loads(line)
        m = mods.get(req["m"])
        if m is None:
            m = mods[req["m"]] = __import__(req["m"], None, None, ("x",))
        out = {"r": getattr(m, req["f"])(*req.get("a", ()))}
    except Exception as e:
        out = {"e": "%s: %s" % (type(e).__name__, e)}
    try:
        s = json.dumps(out)
    except Exception as e:
        s = json.dumps({"e": "unserialisable result: %s" % e})
    sys.stdout.write(s + "\n")
