"""The MicroPython RPC harness (tests/conftest.py): a call that kills the process fails with
the process's own reason, and the next call gets a fresh process instead of a broken pipe."""
from __future__ import annotations

import pytest

from conftest import MicroPythonRPC


def test_a_call_that_kills_micropython_says_why_and_the_next_call_works():
    rpc = MicroPythonRPC()
    try:
        assert rpc.call("lamppost.clock", "iso", 0) == "2000-01-01T00:00:00Z"
        # SystemExit is no Exception: it escapes the RPC loop, as a fatal firmware error would
        with pytest.raises(RuntimeError, match=r"micropython RPC died in sys.exit .*exit status 3"):
            rpc.call("sys", "exit", 3)
        assert rpc.call("lamppost.clock", "iso", 86400) == "2000-01-02T00:00:00Z"
        assert rpc.restarts == 1
        # a stray line on stdout is not taken for a reply
        with pytest.raises(RuntimeError, match=r"stray output 'hello"):
            rpc.call("builtins", "print", "hello")
        assert rpc.call("lamppost.clock", "iso", 0) == "2000-01-01T00:00:00Z"
        # a request line larger than the heap is refused, and the process stays in step
        restarts = rpc.restarts
        with pytest.raises(RuntimeError, match=r"MemoryError: the request line does not fit"):
            rpc.call("lamppost.clock", "iso", "x" * 1_500_000)
        assert rpc.call("lamppost.clock", "iso", 0) == "2000-01-01T00:00:00Z"
        assert rpc.restarts == restarts
    finally:
        rpc.close()
