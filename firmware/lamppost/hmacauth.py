"""Authenticated remote commands: HMAC-SHA256 over the command with a monotonic counter.

A state-changing command arrives as JSON {"param": P, "ctr": N, "mac": HEX}
where HEX = HMAC-SHA256(key, "<id>|<command>|<P>|<N>") in lower-case hex. N must
be larger than the last accepted counter (saved on flash), so a recorded
command replayed later is refused. MicroPython has no hmac module: RFC 2104 here.
"""
import binascii
import hashlib
import json
from lamppost import store

PATH = "auth.json"


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
        st = store.load(path) or {}
        self.ctr = st.get("ctr", 0) if isinstance(st.get("ctr", 0), int) else 0

    def check(self, cmd, payload):
        """(param, None) for a valid signed payload, else (None, reason)."""
        if not self.key:
            return None, "remote commands that change state are disabled (no cmd_key)"
        try:
            d = json.loads(payload)
            param, ctr, mac = d["param"], d["ctr"], d["mac"]
        except (ValueError, KeyError, TypeError):
            return None, "not authenticated: send {\"param\", \"ctr\", \"mac\"}"
        if not isinstance(param, str) or not isinstance(ctr, int) or not isinstance(mac, str):
            return None, "not authenticated: bad field types"
        if not _same(mac, mac_hex(self.key, self.id, cmd, param, ctr)):
            return None, "not authenticated: bad mac"
        if ctr <= self.ctr:
            return None, "replay refused: counter %d <= %d" % (ctr, self.ctr)
        self.ctr = ctr
        store.save(self.path, {"ctr": ctr})
        return param, None
