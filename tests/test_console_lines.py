"""The console's line handling on the real MicroPython interpreter, under property tests.

Before: a Ctrl-A left by mpremote's raw-REPL request stayed in the line buffer,
so the next command read `\\x01status` (unknown command); overlong UTF-8
(C0 AF) and surrogates (ED A0 80) passed as text and were echoed back. Now
control bytes never reach the next line (Ctrl-A..E void the line so far, ESC
sequences are dropped whole), and only strict UTF-8 (RFC 3629) is text.
"""
from __future__ import annotations

import json

from hypothesis import example, given, settings, strategies as st

OK = b"echo ok\n"
RAW_REPL = [b"\x01", b"\x02", b"\x03", b"\x04", b"\x05"]  # Ctrl-A..E: raw REPL, Ctrl-C, Ctrl-D
ESC_SEQ = [b"\x1b[A", b"\x1b[1;5D", b"\x1bOP", b"\x1bc", b"\x1b[?25l", b"\x1b"]


def _replies(mp, *chunks: bytes) -> list[dict]:
    out = bytes.fromhex(mp.call("console_rpc", "feed", [c.hex() for c in chunks]))
    lines = out.split(b"\n")
    assert lines[-1] == b"", out  # every reply ends its line
    replies = [json.loads(x) for x in lines[:-1]]  # every line is one JSON object
    for r in replies:
        assert "cmd" in r and not str(r.get("error", "")).startswith("internal"), r
    return replies


def test_mpremote_raw_repl_request_does_not_corrupt_the_next_command(mp):
    # what `mpremote exec` sends to enter the raw REPL, then the user's next command
    assert _replies(mp, b"\r\x03\x03", b"\r\x01", OK) == [{"cmd": "echo", "echo": "ok"}]


def test_escape_sequences_are_dropped_whole(mp):
    assert _replies(mp, b"ec\x1b[A\x1b[1;5Dho\x1bOP ok\n") == [{"cmd": "echo", "echo": "ok"}]


def test_overlong_utf8_and_surrogates_are_not_text(mp):
    for bad in (b"\xc0\xaf", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xe0\x80\xaf", b"\xf0\x80\x80\xaf"):
        r = _replies(mp, b"echo " + bad + b"\n")
        assert r == [{"cmd": "?", "error": "not UTF-8 text"}], (bad, r)
    assert _replies(mp, "echo ü€😀\n".encode()) == [{"cmd": "echo", "echo": "ü€😀"}]


@settings(max_examples=300, deadline=None, database=None)
@given(st.binary(max_size=8))
@example(b"\xc0\xaf")
@example(b"\xed\xa0\x80")
@example(b"\xf4\x90\x80\x80")
def test_utf8_check_is_rfc3629(mp, b):
    try:
        b.decode("utf-8")  # CPython's codec is strict RFC 3629
        want = True
    except UnicodeDecodeError:
        want = False
    assert mp.call("console_rpc", "strict", b.hex()) is want


_junk = st.lists(st.one_of(st.binary(max_size=40), st.sampled_from(RAW_REPL + ESC_SEQ + [b"\xc0\xaf", b"\xed\xa0\x80"])),
                 max_size=6).map(b"".join)


@settings(max_examples=150, deadline=None, database=None)
@given(_junk, st.sampled_from([b"\n", b"\r", b"\r\n", b"\x03", b"\r\x01", b"\x01", b"\x1b[A\n"]))
@example(b"\x1b[", b"\n")  # an unfinished ESC sequence must not eat the next line's first letter
@example(b"x" * 300, b"\x03")  # an overlong line voided by Ctrl-C
def test_any_bytes_then_an_end_or_a_control_byte_leave_the_next_line_intact(mp, junk, end):
    replies = _replies(mp, junk + end + OK)
    assert replies[-1] == {"cmd": "echo", "echo": "ok"}, replies


@settings(max_examples=100, deadline=None, database=None)
@given(st.lists(st.binary(max_size=30), max_size=8))
def test_arbitrary_chunks_never_crash_and_each_line_gets_at_most_one_reply(mp, chunks):
    data = b"".join(chunks)
    replies = _replies(mp, *chunks)
    assert len(replies) <= data.count(b"\n") + data.count(b"\r")


@settings(max_examples=100, deadline=None, database=None)
@given(_junk, st.sampled_from([b"\n", b"\r", b"\r\x01", b"\x01", b"\x03"]))
@example(b"", b"\r\x01")  # mpremote's raw-REPL request at a board in safe mode
def test_safe_mode_console_keeps_the_next_line_intact_too(mp, junk, end):
    out = bytes.fromhex(mp.call("console_rpc", "safe_feed", [(junk + end).hex(), b"Status\n".hex()]))
    last = json.loads(out.splitlines()[-1])
    assert last["cmd"] == "status" and last["safe"] is True and "error" not in last, out
