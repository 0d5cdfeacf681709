"""One MQTT session on MicroPython, outside the simulator: connect (TLS optional), publish
one QoS 1 message, wait for its PUBACK. Prints one JSON line: ok, error, heap figures.

Usage: micropython mqtt_client_run.py HOST PORT CA|- USER|- PASSWORD|-
Used by the TLS/credential tests and by bench/bench_mqtt.py to find the heap a
TLS session needs (run with decreasing -X heapsize until it fails).
"""
import gc
import json
import sys
import time
from lamppost import mqtt
import lamppost.uplink  # the whole network stack is loaded, as on a board
from hal import sockets as netsock

host, port, ca, user, pw = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
tls = ca != "-"
gc.collect()
base = gc.mem_free()
low = [base]
c = mqtt.Client("heap-probe", lambda: netsock.open_socket(host, port, tls, ca), 60,
                None if user == "-" else user, None if pw == "-" else pw,
                ("tele/probe/LWT", "Offline", 1, True))
q = [(7, mqtt.publish_packet("stat/probe/ALARM", b'{"dseq": 7}', 1, False, 7))]
c.pending = lambda: q[0] if q else None
c.on_acked = lambda: q.pop()
err = ""
for i in range(3000):
    c.poll(i // 100)
    f = gc.mem_free()
    if f < low[0]:
        low[0] = f
    if not q:
        break
    if c.last_error:
        err = c.last_error
        break
    time.sleep_ms(2)
print(json.dumps({"ok": not q, "error": err or c.last_error, "free_before": base,
                  "min_free": low[0], "used_peak": base - low[0]}))
