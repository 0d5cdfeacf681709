"""TCP (and TLS) client sockets for the MQTT client, non-blocking from the start.

Shared by the host and ESP32 HALs: `socket` and `ssl` are the same modules on
both ports. The connect is started and returned at once; the MQTT client sees
it finish (or fail) on later polls, so a dead broker never stalls a tick.
TLS pins the CA in the file `ca` on flash, DER encoded (MicroPython's mbedtls
binding rejects PEM here); CERT_REQUIRED, the server name is checked.

Name lookup is the one blocking step: MicroPython has no non-blocking resolver
(on ESP32 getaddrinfo waits for lwIP's DNS client: 4 tries, 1+1+2+3 s, per DNS
server). So a name is resolved only when a connect starts (once per backoff
attempt of the MQTT client, never per poll), the address is cached, and it is
looked up again only after an attempt failed (fresh=True). A failed lookup
raises OSError like a refused connect (the client schedules its next attempt),
unless an address is known from before, which is then tried again.
"""
import socket

EINPROGRESS = 115
_cache = {}


def resolve(host, port, fresh=False):
    """The address to connect to: cached, unless fresh asks for a new lookup (may block, see
    above). When that lookup fails, the last known address is still the best guess."""
    key = (host, port)
    old = _cache.get(key)
    if old is not None and not fresh:
        return old
    try:
        ai = socket.getaddrinfo(host, port)  # numeric hosts resolve without DNS
    except OSError as e:
        if old is not None:
            return old
        raise OSError("DNS lookup of %s failed (%s)" % (host, e))
    if not ai:
        raise OSError("DNS lookup of %s found nothing" % host)
    addr = _cache[key] = ai[0][-1]
    return addr


def open_socket(host, port, tls=False, ca=None, fresh=False):
    addr = resolve(host, port, fresh)
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
