"""The serial console's line handling on MicroPython: garbage gets an error, never a crash."""
import json

from lamppost.console import MAX_LINE, Console


def make():
    out = []
    c = Console(out.append)
    c.add("Echo", lambda p: {"echo": p})
    return c, out


def replies(out):
    return [json.loads(b.decode()) for b in out]


def test_command_is_case_insensitive_and_answers_json():
    c, out = make()
    c.feed(b"eCHO hello world\r\n")
    assert replies(out) == [{"cmd": "echo", "echo": "hello world"}]


def test_unknown_command_and_binary_garbage_get_errors():
    c, out = make()
    c.feed(b"Frobnicate\n\xff\xfe\x00garbage\n")
    r = replies(out)
    assert r[0]["error"].startswith("unknown command") and r[0]["cmd"] == "frobnicate"
    assert r[1]["error"] == "not UTF-8 text"


def test_overlong_line_is_refused_and_the_next_one_works():
    c, out = make()
    c.feed(b"echo " + b"x" * (MAX_LINE * 3) + b"\necho ok\n")
    r = replies(out)
    assert "longer than" in r[0]["error"]
    assert r[1] == {"cmd": "echo", "echo": "ok"}


def test_lines_split_across_reads_are_joined():
    c, out = make()
    for b in (b"ec", b"ho ", b"a", b"b\n"):
        c.feed(b)
    assert replies(out) == [{"cmd": "echo", "echo": "ab"}]


def test_failing_handler_answers_an_error():
    c, out = make()
    c.add("boom", lambda p: 1 / 0)
    c.feed(b"boom\n")
    assert replies(out)[0]["error"].startswith("internal")
