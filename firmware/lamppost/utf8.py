"""Strict UTF-8 (RFC 3629) for console lines, loaded only for a line that is not ASCII.

MicroPython's bytes.decode() accepts overlong forms (C0 AF), surrogates (ED A0 80)
and code points above U+10FFFF; text that passes here is what CPython would decode.
"""


def ok(b):
    """True if b is UTF-8 as RFC 3629 has it (MicroPython's decode() lets overlong forms,
    surrogates and code points above U+10FFFF through)."""
    i = 0
    n = len(b)
    while i < n:
        c = b[i]
        i += 1
        if c < 0x80:
            continue
        if c < 0xC2 or c > 0xF4:  # a continuation byte, an overlong 2-byte lead, or beyond
            return False
        k = 1 if c < 0xE0 else 2 if c < 0xF0 else 3
        lo = 0xA0 if c == 0xE0 else 0x90 if c == 0xF0 else 0x80  # below: overlong
        hi = 0x9F if c == 0xED else 0x8F if c == 0xF4 else 0xBF  # above: surrogate, > U+10FFFF
        if i + k > n:
            return False
        for j in range(i, i + k):
            if not lo <= b[j] <= hi:
                return False
            lo = 0x80
            hi = 0xBF
        i += k
    return True
