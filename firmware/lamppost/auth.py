"""Service PIN for state-changing console commands: login, lockout, automatic logout.

One Auth per device counts failed PINs across every channel: after
MAX_FAILS wrong PINs further attempts are refused for a lockout that doubles
with each further failure (60 s, 120 s, ... up to an hour). A Session is one
channel's login (the UART has one); it ends on Logout or after `idle_s`
seconds without a command. The lockout lives in RAM: clearing it needs a
power cycle at the pole, which is physical access anyway.
"""
from micropython import const

MAX_FAILS = const(3)
LOCK_S = const(60)
LOCK_MAX_S = const(3600)


class Auth:
    def __init__(self, get_pin):
        self.get_pin = get_pin  # () -> the configured PIN (a secret, never printed)
        self.fails = 0
        self.locked_until = 0

    def check(self, now, pin):
        """None if pin is right, else the error text (wrong PIN or locked out)."""
        if now < self.locked_until:
            return "locked out for %d s after repeated wrong PINs" % (self.locked_until - now)
        if _same(pin, self.get_pin()):
            self.fails = 0
            return None
        self.fails += 1
        if self.fails >= MAX_FAILS:
            lock = min(LOCK_MAX_S, LOCK_S << min(self.fails - MAX_FAILS, 6))
            self.locked_until = now + lock
            return "wrong PIN; locked out for %d s" % lock
        return "wrong PIN (%d of %d tries before lockout)" % (self.fails, MAX_FAILS)


def _same(a, b):
    """Compare without an early exit, so timing does not tell how much of the PIN matched."""
    if not isinstance(a, str) or len(a) != len(b):
        return False
    d = 0
    for i in range(len(a)):
        d |= ord(a[i]) ^ ord(b[i])
    return d == 0


class Session:
    """One channel's login state with an idle timeout."""

    def __init__(self, auth, idle_s=600):
        self.auth = auth
        self.idle_s = idle_s
        self.until = 0  # logged in while now < until

    def ok(self, now):
        return now < self.until

    def touch(self, now):
        """A command was run: keep a live login alive for another idle period."""
        if now < self.until:
            self.until = now + self.idle_s

    def login(self, now, pin):
        err = self.auth.check(now, pin)
        if err is None:
            self.until = now + self.idle_s
        return err

    def logout(self):
        self.until = 0
