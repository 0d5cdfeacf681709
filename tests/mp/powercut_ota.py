"""Power cut at every flash write of an over-the-air update, on LittleFS (vfs.VfsLfs2) in RAM.

Usage: micropython -X heapsize=2m powercut_ota.py BUNDLE_DIR PUBLIC_KEY_HEX [count]. Runs the real
lamppost/ota.py and otaboot.py through an update on a RAM flash chip: the offer, every
chunk (fed from BUNDLE_DIR as the chunk server would), the checks, the slot switch, the
trial boot and the confirmation. The update is run once to count the block writes, then
again for each write k with the power gone at write k (half the block written, nothing
after). After a cut the post boots again (power-on) on what the flash kept and the
operator's server offers the bundle again, as it does when the post comes back online;
the update must end with the new slot confirmed and every file intact, never refused or
failed. Prints one JSON line with the counts; exit 1 on a failure. With `count` only the
uncut update runs: its block writes and chunks (bench/bench_ota.py).
"""
import binascii
import hashlib
import json
import os
import struct
import sys
import vfs
from hal.ramflash import Cut, RamBlocks, remount  # the one RAM flash chip of the LittleFS tests

MNT = "/flash"
BUNDLE = sys.argv[1]
PUB = sys.argv[2]


class Reset(BaseException):
    """The firmware asked for a restart (hal.reset)."""


class Hal:
    chip = "host"

    def reset(self, code=1):
        raise Reset()


class Rep:
    def __init__(self):
        self.events = []

    def emit(self, now, ev, d):
        if DEV[0].dead():  # LittleFS turns the chip's failure into an OSError the firmware
            raise Cut()  # handles; but with the power gone nothing it does happens any more
        self.events.append(d)


class Energy:
    def flush(self, now):
        pass


class Cli:
    tx = b""

    def __init__(self):
        self.req = None

    def up(self):  # the MQTT session is up
        return True

    def publish(self, topic, payload, retain=False):
        self.req = json.loads(payload)
        return True


class Net:
    """The members of lamppost/uplink.py's Net that lamppost/ota.py uses."""
    id = "NL-P"
    disc = -1
    box = ()  # the outbox: empty, every report acknowledged
    fw = "0.1.0"  # the running version

    def __init__(self):
        self.cfg = {"ota_key": PUB}
        self.rep = Rep()
        self.hal = Hal()
        self.energy = Energy()
        self.now = 1000
        self.cli = Cli()


def read_bundle():
    with open(BUNDLE + "/MANIFEST", "rb") as f:
        man = f.read()
    with open(BUNDLE + "/MANIFEST.sig") as f:
        sig = f.read().strip()
    files = []
    for line in man.decode().split("\n"):
        w = line.split()
        if len(w) == 4 and w[0] == "file":
            files.append((w[1], int(w[2]), w[3]))
    return man, sig, files


MAN, SIG, FILES = read_bundle()
OFFER = json.dumps({"v": "0.2.0", "size": len(MAN), "sig": SIG})


def chunk(f, o, n):
    if f < 0:
        data = MAN
    else:
        with open(BUNDLE + "/files/" + FILES[f][0], "rb") as fh:
            data = fh.read()
    return struct.pack(">hI", f, o) + data[o:o + n]


DEV = [None]


def mount(bdev):
    DEV[0] = bdev
    remount(bdev)


def boot(cause):
    """A boot as far as OTA goes: otaboot's slot choice, then the firmware's Ota object."""
    import otaboot
    otaboot.DONE = otaboot.TRIAL = otaboot.ROLLED = False
    otaboot.ACTIVE = ""
    otaboot.select(MNT, cause)
    if sys.path[0].startswith(MNT):
        sys.path.pop(0)  # the slot's modules are not run here: only the choice is checked
    for m in ("lamppost.ota",):
        sys.modules.pop(m, None)
    from lamppost.ota import Ota
    return otaboot, Ota(Net())


def update(events):
    """Run the post until the new slot is confirmed; the caller sees Cut propagate."""
    cause = "power-on"
    while True:
        ob, ota = boot(cause)
        if DEV[0].dead():
            raise Cut()
        st = ob.load()
        if st.get("slot") == "a" and not st.get("try"):
            return
        if not ob.TRIAL and ota.dl is None:
            ota.message("otaoffer", OFFER)  # the server offers again when the post is online
        now = 1001
        try:
            for _ in range(100000):  # the first poll reports the boot's news
                ota.net.now = now
                ota.poll(now)
                if DEV[0].dead():
                    raise Cut()
                if ota.st.get("slot") == "a" and "try" not in ota.st:
                    return  # confirmed (the events go on in finally)
                req = ota.net.cli.req
                if req is not None and ota.ask is not None:
                    ota.net.cli.req = None
                    ota.message("otadata", chunk(req["f"], req["o"], req["n"]))
                now += 1
            raise RuntimeError("the update never ended: ota.json %s, events %s, ask %s, i %s" % (
                ob.load(), ota.net.rep.events[-3:], ota.ask, ota.i))
        except Reset:
            cause = "reset"
        finally:
            events.extend(ota.net.rep.events)


def verify_slot():
    for path, n, h in FILES:
        with open(MNT + "/ota/a/" + path, "rb") as f:
            data = f.read()
        if len(data) != n or binascii.hexlify(hashlib.sha256(data).digest()).decode() != h:
            return "ota/a/%s differs from the manifest" % path
    return None


def run(data, cut_at):
    """The update on data with the power cut at write cut_at (0: never); None or what failed."""
    events = []
    mount(RamBlocks(data, cut_at))
    try:
        update(events)
    except Cut:
        import gc
        gc.collect()  # files the cut left open are closed against the dead chip, not the new mount
        mount(RamBlocks(data))  # power back: the filesystem must mount, the update go on
        update(events)
    bad = [e for e in events if e.get("state") in ("refused", "failed", "rolledBack")]
    if bad:
        return "cut at write %d: %s" % (cut_at, bad[0])
    import otaboot
    st = otaboot.load()
    if st.get("slot") != "a" or "try" in st or "dl" in st:
        return "cut at write %d: ends with ota.json %s" % (cut_at, st)
    return verify_slot()


def main():
    size = 512 * (1024 if sys.argv[3:] == ["count"] else 256)  # count: room for a whole bundle
    base = bytearray(size)
    probe = RamBlocks(base)
    vfs.VfsLfs2.mkfs(probe)
    mount(probe)  # a provisioned post: its config on flash before the update
    with open("config.json", "w") as f:
        f.write(json.dumps({"id": "NL-P", "ota_key": PUB}))
    os.chdir("/")
    vfs.umount(MNT)
    image = bytes(base)
    data = bytearray(image)
    counter = RamBlocks(data)
    mount(counter)
    events = []
    update(events)
    total = counter.writes
    why = verify_slot()
    if why:
        print(json.dumps({"error": why}))
        sys.exit(1)
    if sys.argv[3:] == ["count"]:
        chunks = sum((n + 511) // 512 for _, n, _ in FILES) + (len(MAN) + 511) // 512
        print(json.dumps({"writes": total, "chunks": chunks, "files": len(FILES)}))
        return
    cuts = 0
    for k in range(1, total + 1):
        data = bytearray(image)
        why = run(data, k)
        if why:
            print(json.dumps({"error": why, "writes": total}))
            sys.exit(1)
        cuts += 1
    os.chdir("/")
    vfs.umount(MNT)
    print(json.dumps({"writes": total, "cuts": cuts}))


main()
