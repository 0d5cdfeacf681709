"""Properties of the host tools' input paths (issue 18 item 7): the collector's message
handling (the listener's store path) and lampctl's reading of console replies over a real pty.
"""
from __future__ import annotations

import json
import os
import threading

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from host_tools.collector.store import Register
from host_tools.lampctl import serial_link as sl

SETTINGS = settings(max_examples=150, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=10)
payloads = st.one_of(
    st.binary(max_size=64),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.fixed_dictionaries({"dseq": json_values | st.sampled_from([1e400, -1, 2**70, "7"])},
                          optional={"ev": json_values, "alarm": json_values, "state": json_values,
                                    "t": json_values}).map(lambda v: json.dumps(v).encode()),
    st.just(b'{"dseq": 1e400}'), st.just(b"[" * 5000 + b"]" * 5000))
topics = st.one_of(
    st.builds(lambda p, d, leaf: f"{p}/{d}/{leaf}", st.sampled_from(["stat", "tele", "cmnd", "x"]),
              st.text(max_size=8), st.sampled_from(["ALARM", "EVENT", "RESULT", "LWT", "STATE",
                                                    "SENSOR", "X"])),
    st.text(max_size=20))
GOOD = {"dseq": 9, "ev": "alarm", "alarm": "lampFailure", "state": "raised", "t": "2026-01-15T22:00:00Z"}


@SETTINGS
@given(st.lists(st.tuples(topics, payloads), max_size=8))
def test_no_message_stops_the_register_from_storing_the_next_alarm(msgs):
    """Whatever arrives, handle() never raises (the listener thread would die with it) and a
    valid alarm after it is stored."""
    reg = Register()
    try:
        for topic, payload in msgs:
            reg.handle(topic, payload)
        reg.handle("stat/NL-PROP/ALARM", json.dumps(GOOD).encode())
        assert [(e["dseq"], e["alarm"]) for e in reg.events("NL-PROP")] == [(9, "lampFailure")]
    finally:
        reg.close()


class _Console:
    """The far end of a pty: what a board's console writes, in chunks of any size."""

    def __init__(self):
        self.master, self.slave = os.openpty()
        self.path = os.ttyname(self.slave)

    def write(self, data: bytes) -> None:
        os.write(self.master, data)

    def close(self) -> None:
        os.close(self.master)
        os.close(self.slave)


@SETTINGS
@given(junk=st.lists(st.binary(max_size=40).filter(lambda b: b"\n" not in b) | json_values.map(
           lambda v: json.dumps(v).encode()), max_size=6),
       reply=st.dictionaries(st.sampled_from(["ok", "relay", "error", "n"]), json_values, max_size=3))
@example(junk=[], reply={"ok": float("nan")})  # a NaN reply once failed the comparison, not lampctl
def test_lampctl_finds_its_reply_among_any_other_console_output(junk, reply):
    """Lines that are not JSON objects, or objects for something else, are skipped (events
    are kept aside); the reply to the command is returned whole; nothing raises."""
    con = _Console()
    try:
        with sl.Device(con.path, timeout=30) as dev:
            lines = b"".join(j + b"\n" for j in junk) + json.dumps({**reply, "cmd": "status"}).encode() + b"\n"
            # written from another thread in small pieces while lampctl waits for the reply
            th = threading.Thread(target=lambda: [con.write(lines[i:i + 7]) for i in range(0, len(lines), 7)])
            th.start()
            got = dev.request("Status")
            th.join()
        # compared as JSON text: a NaN the reply carries is never == itself
        assert json.dumps(got, sort_keys=True) == json.dumps({**reply, "cmd": "status"}, sort_keys=True)
    finally:
        con.close()
