"""Service PIN check with lockout, imported only for a Login (it costs no heap otherwise).

The state lives in the resident lamppost.commands.Commands: `fails` and
`locked_until`. After _MAX_FAILS wrong PINs further attempts are refused for a
lockout that doubles with each further failure (60 s, 120 s, ... up to an
hour), whatever channel they come from. The lockout lives in RAM: clearing
it needs a power cycle at the pole, which is physical access anyway.
"""
from micropython import const

_MAX_FAILS = const(3)
_LOCK_S = const(60)
_LOCK_MAX_S = const(3600)


def check(st, now, pin, expected):
    """None if pin is right, else the error text; updates st.fails / st.locked_until."""
    if now < st.locked_until:
        return "locked out for %d s after repeated wrong PINs" % (st.locked_until - now)
    if same(pin, expected):
        st.fails = 0
        return None
    st.fails += 1
    if st.fails >= _MAX_FAILS:
        lock = min(_LOCK_MAX_S, _LOCK_S << min(st.fails - _MAX_FAILS, 6))
        st.locked_until = now + lock
        return "wrong PIN; locked out for %d s" % lock
    return "wrong PIN (%d of %d tries before lockout)" % (st.fails, _MAX_FAILS)


def same(a, b):
    """a == b in a time that depends on the length of a (the input) only: no early exit on a
    wrong digit or a length mismatch, so timing tells neither the PIN's length nor how much matched."""
    if not isinstance(a, str) or not isinstance(b, str):
        return False
    x = a.encode()  # bytes: O(1) indexing (str indexing walks UTF-8 on MicroPython)
    y = b.encode()
    d = len(x) ^ len(y)
    if not y:
        y = b"\0"
    m = len(y)
    for i in range(len(x)):
        d |= x[i] ^ y[i % m]
    return d == 0
