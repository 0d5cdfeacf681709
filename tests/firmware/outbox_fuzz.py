"""Called from CPython hypothesis tests (mp fixture): an outbox directory with arbitrary files
in it, booted, filled and drained as the firmware's network task would."""
import binascii
import os
from lamppost.outbox import Outbox


def boot(path, files, good):
    """files: [name, "d" | "f", hex, pad hex, n]: a directory, or a file of hex's bytes then
    n times pad (big files are made here: the RPC line stays small). Made under path/outbox
    (path/outbox itself when name is ""); boot an Outbox, put `good` alarms, drain it, boot
    again."""
    os.mkdir(path)
    ob = path + "/outbox"
    for name, kind, h, pad, n in files:
        p = ob + ("/" + name if name else "")
        try:
            if name:
                os.mkdir(ob)
        except OSError:
            pass
        try:
            if kind == "d":
                os.mkdir(p)
            else:
                with open(p, "wb") as f:
                    f.write(binascii.unhexlify(h))
                    pad = binascii.unhexlify(pad) * 256
                    for _ in range(n // 256):
                        f.write(pad)
        except OSError:
            pass
    box = Outbox(ob, 50)
    news = []
    put = [box.put("stat/X/ALARM", lambda s: '{"dseq": %d}' % s, True) for _ in range(good)]
    sent = []
    for _ in range(500):
        news += box.news
        box.news = []
        h = box.head()
        if h is None:
            if box.news:  # it stops after a few quarantined files until they are reported
                continue
            break
        sent.append([h[0], h[1], binascii.hexlify(h[2]).decode()])
        box.ack(h[0])
    news += box.news
    left = len(Outbox(ob, 50))  # reboot
    return {"put": put, "sent": sent, "bad": box.bad, "news": news, "left": left}
