"""The firmware's console line handling, callable from CPython tests over tests/mp/rpc.py.

Bytes travel as hex (JSON carries no bytes); the console's output comes back
as hex too, so the CPython side judges it byte for byte.
"""
from binascii import hexlify, unhexlify

from lamppost.console import Console


def feed(chunks):
    """Feed each hex chunk to a Console with an Echo command; its whole output, as hex."""
    out = []
    c = Console(out.append)
    c.add("Echo", lambda p: {"echo": p})
    for h in chunks:
        c.feed(unhexlify(h))
    return hexlify(b"".join(out)).decode()


def strict(h):
    """lamppost.utf8.ok on the hex bytes."""
    from lamppost.utf8 import ok
    return ok(unhexlify(h))


class _Uart:
    def __init__(self):
        self.out = []

    def uart_write(self, b):
        self.out.append(bytes(b))


def safe_feed(chunks):
    """Feed each hex chunk to safe mode's console; its output, as hex."""
    from lamppost.safe import SafeMode
    h = _Uart()
    s = SafeMode(h, {"id": "NL-0001", "lat": 52.0, "lon": 5.0, "photocell": False})
    for c in chunks:
        s.feed(unhexlify(c))
    return hexlify(b"".join(h.out)).decode()
