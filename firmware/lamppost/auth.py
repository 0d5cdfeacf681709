"""Service PIN check with lockout, imported only for a Login (it costs no heap otherwise).

The state lives in the resident lamppost.commands.Commands: `fails` and
`locked_until`. After MAX_FAILS wrong PINs further attempts are refused for a
lockout that doubles with each further failure (60 s, 120 s, ... up to an
hour), whatever channel they come from. The lockout lives in RAM: clearing
it needs a power cycle at the pole, which is physical access anyway.
"""
from micropython import const

MAX_FAILS = const(3)
LOCK_S = const(60)
LOCK_MAX_S = const(3600)


def check(st, now, pin, expected):
    """None if pin is right, else the error text; updates st.fails / st.locked_until."""
    if now < st.locked_until:
        return "locked out for %d s after repeated wrong PINs" % (st.locked_until - now)
    if same(pin, expected):
        st.fails = 0
        return None
    st.fails += 1
    if st.fails >= MAX_FAILS:
        lock = min(LOCK_MAX_S, LOCK_S << min(st.fails - MAX_FAILS, 6))
        st.locked_until = now + lock
        return "wrong PIN; locked out for %d s" % lock
    return "wrong PIN (%d of %d tries before lockout)" % (st.fails, MAX_FAILS)


def same(a, b):
    """Compare without an early exit, so timing does not tell how much of the PIN matched."""
    if not isinstance(a, str) or len(a) != len(b):
        return False
    d = 0
    for i in range(len(a)):
        d |= ord(a[i]) ^ ord(b[i])
    return d == 0
