"""Called from CPython hypothesis tests (mp fixture): broker bytes into a connected client."""
import binascii
from lamppost import mqtt
from test_mqtt_codec import FakeSock


def feed(hex_chunks):
    """Connect, then deliver each chunk on its own tick; report the client's state."""
    s = FakeSock(b"\x20\x02\x00\x00")
    c = mqtt.Client("fz", lambda: s, keepalive=60)
    got = []
    c.on_message = lambda t, p: got.append(t)
    c.pending = lambda: (9, mqtt.publish_packet("t", b"x", 1, False, 9))
    c.poll(0)
    c.poll(1)
    t = 2
    for h in hex_chunks:
        s.rx += binascii.unhexlify(h)
        c.poll(t)
        t += 1
    while s.rx and not s.closed and t < 1000:  # what a tick's read budget left in the socket
        c.poll(t)
        t += 1
    acks = []
    out = bytes(s.out)
    i = out.find(b"\x40\x02")
    while i >= 0:
        acks.append((out[i + 2] << 8) | out[i + 3])
        i = out.find(b"\x40\x02", i + 4)
    return {"up": c.up(), "closed": s.closed, "messages": len(got), "error": c.last_error,
            "big": c.big, "topics": got, "acks": acks}
