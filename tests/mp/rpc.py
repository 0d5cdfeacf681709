"""Serves calls into firmware modules from CPython tests, on the MicroPython interpreter.

One JSON request a line on stdin: {"m": module, "f": function, "a": [args]};
one JSON reply a line on stdout: {"r": result} or {"e": "error text"}. Lets
hypothesis (CPython) generate inputs while the firmware code runs where it ships.
"""
import gc
import json
import sys

mods = {}
while True:
    # a request line can be tens of KB (hex of MQTT streams): read it into a collected heap,
    # and a line that still does not fit is refused, never an exception out of this loop
    gc.collect()
    try:
        line = sys.stdin.readline()
    except MemoryError:
        while sys.stdin.read(1) not in ("\n", ""):  # the rest of the line: stay in step
            pass
        sys.stdout.write('{"e": "MemoryError: the request line does not fit the RPC heap"}\n')
        continue
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
