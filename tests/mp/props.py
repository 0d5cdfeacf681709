"""Firmware calls for the property tests of tests/test_firmware_properties.py (on MicroPython).

Each runs in the RPC process's own directory (conftest.MicroPythonRPC), so the files they
write are private to one test run.
"""
import json
import os


def config_load(text):
    """config.load of a file holding text: [cfg, problems, keys whose value is neither the
    default nor valid] (the last must be empty)."""
    from lamppost import config
    with open("prop-config.json", "w") as f:
        f.write(text)
    cfg, problems = config.load("prop-config.json")
    d = config.defaults()
    bad = []
    for k, v in cfg.items():
        if k in d and v == d[k]:
            continue
        try:
            if config.check(k, v) != v:
                bad.append(k)
        except ValueError:
            bad.append(k)
    for name in ("prop-config.json", "prop-config.json.tmp"):
        try:
            os.remove(name)
        except OSError:
            pass
    return [sorted(cfg), problems, bad]


def config_check(key, value):
    """["ok", v] or ["ValueError", why]: any other exception is a finding."""
    from lamppost import config
    try:
        return ["ok", config.check(key, value)]
    except ValueError as e:
        return ["ValueError", str(e)]


def verify(key, dev_id, last_ctr, cmd, payload, now, boot):
    """hmacauth.Verifier.check of payload for cmd at the post's time now (booted at boot,
    both seconds since 2000), the counter last accepted being last_ctr (None: lost):
    [param or None, reason or None, counter after]."""
    from lamppost import signedcmd as hmacauth
    try:
        os.remove("prop-auth.json")
    except OSError:
        pass
    v = hmacauth.Verifier(key, dev_id, "prop-auth.json")
    v.ctr = last_ctr
    param, why = v.check(cmd, payload, now, boot)
    return [param, why, v.ctr]


def safe_lamp_on(now, lat, lon):
    from lamppost import safe
    return safe.lamp_on(now, lat, lon)


def ed25519_verify(pub_hex, msg_hex, sig_hex):
    """lamppost.ed25519.verify on hex arguments (tests/test_ota_ed25519.py)."""
    import binascii
    from lamppost import ed25519
    return ed25519.verify(binascii.unhexlify(pub_hex), binascii.unhexlify(msg_hex),
                          binascii.unhexlify(sig_hex))


def sha512_hex(msg_hex):
    import binascii
    from lamppost import ed25519
    return binascii.hexlify(ed25519.sha512(binascii.unhexlify(msg_hex))).decode()
