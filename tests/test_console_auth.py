"""Console login: failed PINs cannot wipe the event log, and the PIN check leaks no length.

Before: every failed Login wrote an event-log entry (1,129 failures replaced the
whole log), and the PIN check returned early when the lengths differed, so
timing told the PIN's length. Now a failure writes nothing until it earns a
lockout (one entry per lockout), and the check does the same work for any PIN
given an input of the same length.
"""
from __future__ import annotations

import functools
import importlib.util
import sys
import types
from pathlib import Path

from hypothesis import example, given, settings, strategies as st

from console_sim import running, scenario_text
from host_tools.lampctl import serial_link as sl

AUTH = Path(__file__).resolve().parent.parent / "firmware" / "lamppost" / "servicepin.py"


def test_a_flood_of_wrong_pins_writes_one_log_entry_per_lockout(tmp_path):
    # 50 virtual s a wall second: the first lockout (60 s) outlasts the flood
    with running(tmp_path, scenario_text(), 50.0) as sim:
        with sl.Device(sim.serial_path, timeout=10) as dev:
            errors = [dev.request("Login", "9999")["error"] for _ in range(40)]
            log = dev.request("Log", "20")["entries"]
    lockouts = sum("wrong PIN; locked out" in e for e in errors)
    logins = [e for e in log if e[2] == "login"]
    assert lockouts >= 1 and sum("locked out for" in e for e in errors) >= 30
    assert len(logins) == lockouts, logins  # not one per try
    assert all("locked out" in e[3] and "wrong PIN" in e[3] for e in logins), logins
    assert any(e[2] == "boot" for e in log), log  # the log's history is still there


@functools.cache
def _auth():
    """The firmware's auth.py under CPython (a `micropython.const` stand-in), for its tracer."""
    spec = importlib.util.spec_from_file_location("_fw_auth", AUTH)
    mod = importlib.util.module_from_spec(spec)
    shim = types.SimpleNamespace(const=lambda v: v)
    saved = sys.modules.get("micropython")
    sys.modules["micropython"] = shim  # only while auth.py loads
    try:
        spec.loader.exec_module(mod)
    finally:
        if saved is None:
            del sys.modules["micropython"]
        else:
            sys.modules["micropython"] = saved
    return mod


def _steps(fn, *args) -> int:
    """Lines the firmware's function executes for these arguments (CPython's tracer)."""
    n = 0

    def tracer(frame, event, arg):
        nonlocal n
        if event == "line" and frame.f_code is fn.__code__:
            n += 1
        return tracer

    sys.settrace(tracer)
    try:
        fn(*args)
    finally:
        sys.settrace(None)
    return n


_pin = st.text(alphabet="0123456789", min_size=4, max_size=8)


@settings(max_examples=100, deadline=None, database=None)
@given(st.text(max_size=12), _pin, _pin)
@example("12345", "1234", "12345")  # a length mismatch returned at once
@example("1234", "1234", "99999999")
def test_pin_check_work_depends_on_the_input_length_only(guess, pin_a, pin_b):
    same = _auth().same
    assert _steps(same, guess, pin_a) == _steps(same, guess, pin_b)


@settings(max_examples=200, deadline=None, database=None)
@given(st.one_of(_pin, st.text(max_size=10)), _pin)
def test_pin_check_on_micropython_is_equality(mp, guess, pin):
    assert mp.call("lamppost.servicepin", "same", guess, pin) is (guess == pin)
    assert mp.call("lamppost.servicepin", "same", pin, pin) is True
