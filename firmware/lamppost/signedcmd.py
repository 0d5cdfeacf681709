"""Authenticated remote commands: HMAC-SHA256 over the command with a time-based counter.

A state-changing command arrives as JSON {"param": P, "ctr": N, "mac": HEX}
where HEX = HMAC-SHA256(key, "<id>|<command>|<P>|<N>") in lower-case hex and N
is the sender's Unix time in seconds (as `lamppost-collector send` signs).
N is accepted only if it is larger than the last accepted counter (saved on
flash before the command runs: a counter that cannot be saved refuses the
command) and within SKEW_S of the post's own clock, so a recorded command is
refused later, a counter far in the future cannot lock the post out, and when
the counter file is lost (a reflash, a corrupt auth.json) nothing signed before
this boot is accepted. MicroPython has no hmac module: RFC 2104 here.
"""
import binascii
import hashlib
import json
from micropython import const
from lamppost import store

PATH = "auth.json"
SKEW_S = const(300)  # a counter is Unix seconds within this of the post's clock
UNIX_2000 = const(946684800)  # Unix time of 2000-01-01, the post's epoch
_VALID_T = const(788918400)  # 2024-12-31T00:00Z since 2000: a clock below this was never set


def hmac_sha256(key, msg):
    if isinstance(key, str):
        key = key.encode()
    if isinstance(msg, str):
        msg = msg.encode()
    if len(key) > 64:
        key = hashlib.sha256(key).digest()
    key = key + bytes(64 - len(key))
    inner = hashlib.sha256(bytes(b ^ 0x36 for b in key))
    inner.update(msg)
    outer = hashlib.sha256(bytes(b ^ 0x5C for b in key))
    outer.update(inner.digest())
    return outer.digest()


def mac_hex(key, dev_id, cmd, param, ctr):
    """The MAC of one command. Command names are case-insensitive, so the MAC covers the name
    in lower case (ASCII letters only, as MicroPython's str.lower does; the host agrees)."""
    return binascii.hexlify(hmac_sha256(key, "%s|%s|%s|%d" % (dev_id, cmd.lower(), param, ctr))).decode()


def _same(a, b):
    """Compare without an early exit, so timing does not leak the MAC."""
    if len(a) != len(b):
        return False
    d = 0
    for i in range(len(a)):
        d |= ord(a[i]) ^ ord(b[i])
    return d == 0


class Verifier:
    def __init__(self, key, dev_id, path=PATH):
        self.key = key
        self.id = dev_id
        self.path = path
        st = store.load(path)
        c = st.get("ctr") if st else None
        self.ctr = c if type(c) is int and c >= 0 else None  # None: lost, see check()
        if self.ctr is None:  # nothing signed before this boot is accepted (check())
            from lamppost import bootfiles as bf  # loaded while the App boots
            if bf.exists(path):
                bf.report(path)

    def check(self, cmd, payload, now, boot):
        """(param, None) for a valid signed payload, else (None, reason).

        now and boot are the post's time and its boot time (seconds since 2000)."""
        if not self.key:
            return None, "remote commands that change state are disabled (no cmd_key)"
        try:
            d = json.loads(payload)
            param, ctr, mac = d["param"], d["ctr"], d["mac"]
        except Exception:  # ValueError, KeyError, TypeError, MemoryError (nesting)
            return None, "not authenticated: send {\"param\", \"ctr\", \"mac\"}"
        if not isinstance(param, str) or type(ctr) is not int or not isinstance(mac, str):
            return None, "not authenticated: bad field types"
        if not _same(mac, mac_hex(self.key, self.id, cmd, param, ctr)):
            return None, "not authenticated: bad mac"
        if now < _VALID_T:
            return None, "refused: the post's clock is not set, counters cannot be checked"
        unix = now + UNIX_2000
        if not unix - SKEW_S <= ctr <= unix + SKEW_S:
            return None, "refused: counter %d is not within %d s of the post's clock (Unix %d)" % (
                ctr, SKEW_S, unix)
        last = self.ctr
        if last is None or last > unix + SKEW_S:  # lost, or left by a firmware without this window
            last = boot + UNIX_2000
        if ctr <= last:
            return None, "replay refused: counter %d <= %d" % (ctr, last)
        if not store.save(self.path, {"ctr": ctr}):
            return None, "refused: the counter could not be saved (flash full?)"
        self.ctr = ctr
        return param, None
