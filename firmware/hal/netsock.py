"""TCP (and TLS) client sockets for the MQTT client, non-blocking from the start.

Shared by the host and ESP32 HALs: `socket` and `ssl` are the same modules on
both ports. The connect is started and returned at once; the MQTT client sees
it finish (or fail) on later polls, so a dead broker never stalls a tick.
TLS pins the CA in the file `ca` on flash, DER encoded (MicroPython's mbedtls
binding rejects PEM here); CERT_REQUIRED, the server name is checked.
"""
import socket

EINPROGRESS = 115
_cache = {}


def open_socket(host, port, tls=False, ca=None):
    addr = _cache.get((host, port))
    if addr is None:
        addr = socket.getaddrinfo(host, port)[0][-1]  # numeric hosts resolve without DNS
        _cache[(host, port)] = addr
    s = socket.socket()
    try:  # no Nagle: a small alarm goes out now, not after the last segment's delayed ACK
        s.setsockopt(6, 1, 1)  # IPPROTO_TCP, TCP_NODELAY
    except (OSError, TypeError):
        pass
    s.setblocking(False)
    try:
        s.connect(addr)
    except OSError as e:
        if e.args[0] not in (EINPROGRESS, 11):
            s.close()
            raise
    if tls:
        # the C module `tls` (MicroPython >= 1.23): `ssl` is a frozen wrapper over it that a
        # custom MICROPYPATH (the simulator's) hides
        import tls as t
        ctx = t.SSLContext(t.PROTOCOL_TLS_CLIENT)
        ctx.verify_mode = t.CERT_REQUIRED  # pyright: ignore[reportAttributeAccessIssue] (missing in the 1.29 stubs)
        if not ca:
            raise OSError("TLS needs the broker's CA certificate file on flash")
        with open(ca, "rb") as f:
            ctx.load_verify_locations(f.read())
        s = ctx.wrap_socket(s, server_hostname=host, do_handshake_on_connect=False)
    return s
