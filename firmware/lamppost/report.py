"""Reports: one JSON object a line, unsolicited ones marked by an "ev" field.

Every report carries the post id, a per-boot sequence number and the time.
Sinks (the serial console, later the MQTT outbox) each get the same line.
"""
import json
from lamppost import clock


class Reporter:
    def __init__(self, dev_id):
        self.id = dev_id
        self.seq = 0
        self.sinks = []

    def emit(self, now, ev, fields):
        """Send one report of kind ev (alarm, boot, switch, tele, error) with extra fields."""
        self.seq += 1
        # Fixed leading fields so a person reading the serial line sees when/what first.
        t = clock.iso(now)
        head = '{"t": "%s", "id": %s, "seq": %d, "ev": "%s"' % (t, json.dumps(self.id), self.seq, ev)
        line = head + (", " + json.dumps(fields)[1:] if fields else "}")
        fields["ev"] = ev
        fields["t"] = t
        fields["id"] = self.id
        fields["seq"] = self.seq
        for s in self.sinks:
            s(line, fields)
        return line


def readings(r, d):
    """Add Tasmota-named readings (Voltage V, Current A, Power W, Factor) to dict d."""
    d["Voltage"] = round(r.V, 1)
    d["Current"] = round(r.I, 3)
    d["Power"] = round(r.P, 1)
    d["Factor"] = round(r.PF, 2)
    return d
