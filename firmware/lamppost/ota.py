"""Over-the-air update, the post's side: offer, chunked resumable download, verify, switch, trial.

An operator's tool offers a bundle on cmnd/<id>/OtaOffer ({"v", "size", "sig"}: version,
bytes of its MANIFEST, Ed25519 signature of the manifest's SHA-256, hex). The post then
asks for one chunk at a time on stat/<id>/OTA ({"v", "f", "o", "n"}: file index, -1 for
the manifest, offset, bytes) and gets it on cmnd/<id>/OtaData (QoS 1; f as i16, o as u32
big-endian, then the bytes). Every chunk is appended to its file in the slot not running
(ota/a or ota/b): the file sizes on flash are the progress, so a power cut or a lost
session resumes where it stopped and each chunk costs one flash write. Asking waits while
the outbox holds a report (alarms first) and the send queue is busy, one chunk a tick at most.

The manifest is checked first (signature by the operator's public key ota_key, chip,
version newer unless signed as a rollback), each file's SHA-256 when it is complete; any
failure refuses the bundle (`ev: ota`, `state: refused`, why) and wipes the slot. With all
files verified, ota.json names the new slot for trial (otaboot.py) and the post restarts.
A trial confirms itself after _TRIAL_S s with the MQTT session up and a report
acknowledged; one that cannot within _TRIAL_MAX s rolls back by itself. Loaded by
lamppost/uplink.py only when an offer arrives or ota.json exists; it sees the post only
through that Net's public members (tests/test_uplink_interface.py). Format: docs/ota.md.
"""
import binascii
import gc
import hashlib
import json
import os
import struct
import sys
from micropython import const
import otaboot

otaboot.restore()

TYPE_CHECKING = False
if TYPE_CHECKING:  # the type checker only: MicroPython has no typing module
    from typing import Any

_CHUNK = const(512)  # bytes per chunk: an MQTT packet of ~550 B, small beside a fragmented heap
_WAIT = const(10)  # s before an unanswered chunk request is sent again
_TRIAL_S = const(600)  # a trial confirms after this many ticks of healthy running
_TRIAL_MAX = const(1800)  # ... or rolls back when it could not confirm by then
_MAN_MAX = const(16384)  # bytes a manifest may have
MAN = "MANIFEST"
LOADER = ("boot.py", "main.py", "otaboot.mpy", "otaboot.py")  # never replaced over the air


def version(s) -> "Any":
    """(major, minor, patch) of "1.2.3", or None."""
    try:
        v = tuple(int(x) for x in s.split("."))
        return v if len(v) == 3 and min(v) >= 0 else None
    except (ValueError, AttributeError):
        return None


def _size(path):
    try:
        return os.stat(path)[6]
    except OSError:
        return -1


def rmtree(path):
    try:
        for e in os.ilistdir(path):
            p = path + "/" + e[0]
            if e[1] == 0x4000:
                rmtree(p)
            else:
                os.remove(p)
        os.rmdir(path)
    except OSError:
        pass


def _mkdirs(path):
    parts = path.split("/")
    for i in range(1, len(parts)):
        d = "/".join(parts[:i])
        if d:
            try:
                os.mkdir(d)
            except OSError:
                pass


def _digest(path, buf):
    """SHA-256 of a file, read through buf (no allocation per block)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            n = f.readinto(buf)
            if not n:
                break
            h.update(memoryview(buf)[:n])
    return h.digest()


def sha256_file(path, buf):
    return binascii.hexlify(_digest(path, buf)).decode()


def safe_path(p):
    """A bundle path the post may write: relative, no .., no loader file."""
    if not p or p[0] == "/" or p in LOADER or len(p) > 64:
        return False
    for part in p.split("/"):
        if part in ("", ".", ".."):
            return False
    return True


def entry(man, i):
    """(path, bytes, sha256 hex) of the i-th file line of the manifest file, or None."""
    k = 0
    with open(man) as f:
        for line in f:
            w = line.split()
            if len(w) == 4 and w[0] == "file":
                if k == i:
                    return w[1], int(w[2]), w[3]
                k += 1
    return None


def header(man):
    """{"version", "chip", "rollback", "format"} from the manifest's header lines."""
    h = {}
    with open(man) as f:
        for line in f:
            w = line.split()
            if len(w) == 2 and w[0] in ("lamppost-ota", "version", "chip", "rollback"):
                h[w[0]] = w[1]
    return h


def signed(man, key_hex, sig_hex):
    """True when the manifest file man carries the signature sig_hex (hex) of the SHA-256
    of its bytes by the operator's public key key_hex; lamppost/ed25519.py is loaded for it
    and dropped again."""
    digest = _digest(man, bytearray(512))
    try:
        key = binascii.unhexlify(key_hex)
        sig = binascii.unhexlify(sig_hex)
    except ValueError:
        return False
    gc.collect()
    from lamppost import ed25519
    try:
        return ed25519.verify(key, digest, sig)
    finally:
        sys.modules.pop("lamppost.ed25519", None)
        try:
            delattr(sys.modules["lamppost"], "ed25519")
        except (AttributeError, KeyError):
            pass
        ed25519 = None
        gc.collect()


def verify_at_boot(key_hex):
    """Check a manifest the running firmware had no heap for (ota.json dl.vb == 1), before the
    App takes the heap (lamppost/app.py main); the result goes to dl.vb: 2 good, 3 bad.
    Returns whether it could be saved."""
    st = otaboot.load()
    dl = st.get("dl")
    if not isinstance(dl, dict) or dl.get("vb") != 1:
        return False
    try:
        ok = signed(otaboot.slot_dir(dl["slot"]) + "/" + MAN, key_hex, dl["sig"])
    except Exception:
        ok = False
    dl["vb"] = 2 if ok else 3
    return otaboot.save(st)


class Ota:
    def __init__(self, net):
        self.net = net
        self.st: "Any" = otaboot.load()
        self.dl: "Any" = self.st.get("dl")
        if not isinstance(self.dl, dict):
            self.dl = None
        self.ask = None  # (file index, offset) of the chunk asked for
        self.asked = 0
        self.ent: "Any" = None  # (index, path, bytes, sha) of the file being fetched
        self.i = 0  # the file being fetched; those before it are verified in this boot
        self.polls = 0
        self.fails = 0  # MemoryErrors in a row
        self.writes = 0  # chunk writes in this boot
        self.buf = None
        self.topic = "stat/%s/OTA" % net.id

    def running(self):
        return self.net.fw

    def emit(self, state, **kw):
        kw["state"] = state
        net = self.net
        net.rep.emit(net.now, "ota", kw)

    def _save(self):
        if self.dl is None:
            self.st.pop("dl", None)
        else:
            self.st["dl"] = self.dl
        return otaboot.save(self.st)

    def _abort(self, why, state="refused"):
        v = self.dl["v"] if self.dl else None
        if self.dl:
            rmtree(otaboot.slot_dir(self.dl["slot"]))
        self.dl = None
        self.ask = None
        self.ent = None
        self.i = 0
        self._save()
        self.emit(state, v=v, why=why)

    # ---- messages from the broker (lamppost/uplink.py routes cmnd/<id>/OtaOffer and OtaData) ----
    def message(self, name, payload):
        if name == "otaoffer":
            self.offer(payload)
        elif name == "otadata":
            self.data(payload)

    def offer(self, payload):
        try:
            d = json.loads(payload)
            v, size, sig = d["v"], d["size"], d["sig"]
            rb = d.get("rollback", False)
            if not (isinstance(v, str) and type(size) is int and isinstance(sig, str)):
                raise ValueError
        except Exception:
            self.emit("refused", why="offer is not {\"v\", \"size\", \"sig\"}")
            return
        if self.dl and self.dl["v"] == v and self.dl["sig"] == sig:
            return  # the same bundle again: the download goes on where it is
        why = None
        run = self.running()
        if version(v) is not None and version(v) == version(run):  # offered again (the post
            # came back online before the server heard it switched): say where it stands
            self.emit("trial" if otaboot.TRIAL else "confirmed", v=v)
            return
        if not self.net.cfg.get("ota_key"):
            why = "no ota_key provisioned: updates over the air are off"
        elif otaboot.TRIAL:
            why = "a trial is running; offer again once it confirmed or rolled back"
        elif version(v) is None or len(sig) != 128 or not 0 < size <= _MAN_MAX:
            why = "offer has a bad version, signature or manifest size"
        elif version(v) < version(run) and rb is not True:
            why = "version %s is older than %s and not offered as a rollback" % (v, run)
        if why:
            self.emit("refused", v=v, why=why)
            return
        if self.dl:
            rmtree(otaboot.slot_dir(self.dl["slot"]))
        slot = "b" if otaboot.ACTIVE == "a" else "a"
        rmtree(otaboot.slot_dir(slot))
        self.dl = {"v": v, "size": size, "sig": sig, "slot": slot, "ok": 0}
        self.ask = self.ent = None
        self.i = 0
        if not self._save():
            self.dl = None
            self.emit("refused", v=v, why="ota.json cannot be written (flash full?)")
            return
        self.emit("downloading", v=v, frm=run)

    def data(self, payload):
        """A chunk; one that finds no heap is asked for again after _WAIT (the client
        swallows errors of a message handler, so none may escape silently from here)."""
        try:
            self._data(payload)
        except MemoryError:
            self.ask = None
            self.fails += 1
            gc.collect()

    def _data(self, payload):
        ask = self.ask
        if ask is None or self.dl is None or len(payload) < 6:
            return
        f, o = struct.unpack_from(">hI", payload, 0)
        if f != ask[0] or o != ask[1]:
            return  # a late answer to an earlier request: already written or asked again
        d = otaboot.slot_dir(self.dl["slot"])
        if f < 0:
            path, size = d + "/" + MAN, self.dl["size"]
        else:
            path, size = d + "/" + self.ent[1], self.ent[2]
        n = len(payload) - 6
        if n == 0 or o + n > size:
            self._abort("chunk %d@%d of %d bytes runs past the file's %d" % (f, o, n, size))
            return
        try:
            if o == 0:
                _mkdirs(path)
            with open(path, "ab") as fh:
                fh.write(memoryview(payload)[6:])
        except OSError as e:
            self._abort("flash write failed: %s" % e, "failed")
            return
        self.writes += 1
        self.ask = None
        gc.collect()  # what the write left goes now, while the heap has room to spare

    # ---- every tick ----
    def poll(self, now):
        """One tick; an error here (a MemoryError while verifying) costs a retry, never the lamp."""
        try:
            self._poll(now)
        except MemoryError:
            self.buf = None
            gc.collect()
            self.ask = None
            self.asked = now  # try again after _WAIT
            self.fails += 1
            if self.fails >= 5 and self.dl is not None:
                self._abort("no heap to verify the bundle", "failed")
        except Exception as e:
            self.ask = None
            if self.dl is not None:
                self._abort("internal: %s %s" % (type(e).__name__, e), "failed")

    def _poll(self, now):
        self.polls += 1
        if self.polls == 1:
            self._boot_news()
        if otaboot.TRIAL:
            self._trial()
        if self.dl is not None:
            self._fetch(now)

    def _boot_news(self):
        rb = self.st.get("rb")
        if rb is not None:
            self.st.pop("rb")
            otaboot.save(self.st)
            if isinstance(rb, dict):
                self.emit("rolledBack", v=rb.get("v"), why=rb.get("why"), running=self.running())
        if otaboot.TRIAL:
            self.emit("trial", v=self.running(), boots=self.st.get("n", 0))

    def _trial(self):
        """Confirm after _TRIAL_S ticks with the session up and the outbox empty (the trial
        report, queued at the first poll, acknowledged by the broker); else roll back."""
        net = self.net
        if self.polls >= _TRIAL_S and not len(net.box) and net.cli.up():
            self.st = {"slot": otaboot.ACTIVE}
            if otaboot.save(self.st):
                otaboot.TRIAL = False
                import lamppost
                lamppost.SLOT = (otaboot.ROOT, otaboot.ACTIVE, False)
                self.emit("confirmed", v=self.running())
        elif self.polls >= _TRIAL_MAX:
            self.st = {"slot": self.st.get("slot", ""), "rb": {"v": self.running(), "why": (
                "trial not confirmed in %d s (MQTT session %s, %d reports unacknowledged)" % (
                    _TRIAL_MAX, "up" if net.cli.up() else "down", len(net.box)))}}
            otaboot.save(self.st)
            net.hal.reset(0)

    def _fetch(self, now):
        net = self.net
        cli = net.cli
        if self.ask is not None and now - self.asked < _WAIT:
            return
        if not cli.up() or len(net.box) or len(cli.tx) >= 256 or net.disc >= 0:
            return  # reports and HA discovery first; a session down asks again when it is back
        nxt = self._next()
        if nxt is None:
            return
        f, o, size = nxt
        if cli.publish(self.topic, '{"v": "%s", "f": %d, "o": %d, "n": %d}' % (
                self.dl["v"], f, o, min(_CHUNK, size - o))):
            self.ask = (f, o)
            self.asked = now

    def _next(self):
        """(file index, offset, file bytes) to ask for next; verifies what is complete, and
        switches slots once all is; None when nothing is to be asked now."""
        dl = self.dl
        d = otaboot.slot_dir(dl["slot"])
        man = d + "/" + MAN
        if not dl["ok"]:
            n = _size(man)
            if n < 0:
                _mkdirs(man)
                n = 0
            if n < dl["size"]:
                return -1, n, dl["size"]
            if not self._check_manifest(man):
                return None
        while True:
            i = self.i
            if self.ent is None or self.ent[0] != i:
                e = entry(man, i)
                if e is None:
                    self._switch()
                    return None
                if not safe_path(e[0]):
                    self._abort("manifest names a file the post may not write: %s" % e[0])
                    return None
                self.ent = (i, e[0], e[1], e[2])
            path = d + "/" + self.ent[1]
            n = _size(path)
            size = self.ent[2]
            if n > size:
                os.remove(path)
                n = -1
            if n < size:
                return i, max(n, 0), size
            if self.buf is None:
                self.buf = bytearray(512)
            if sha256_file(path, self.buf) != self.ent[3]:  # each file once a boot, when complete
                self._abort("%s: SHA-256 differs from the signed manifest" % self.ent[1])
                return None
            self.i = i + 1

    def _check_manifest(self, man):
        dl = self.dl
        net = self.net
        vb = dl.get("vb")  # the signature checked at boot (verify_at_boot): 2 good, 3 bad
        if vb is None:
            self.buf = None
            try:
                ok = signed(man, net.cfg.get("ota_key", ""), dl["sig"])
            except MemoryError:  # no room beside the running firmware: check it at boot
                gc.collect()
                dl["vb"] = 1
                if self._save():
                    net.energy.flush(net.now)
                    net.hal.reset(0)
                raise
        else:
            ok = vb == 2
        if not ok:
            self._abort("bad signature: not signed by the operator's key")
            return False
        hd = header(man)
        run = self.running()
        why = None
        if hd.get("lamppost-ota") != "1":
            why = "unknown manifest format"
        elif hd.get("chip") != net.hal.chip:
            why = "bundle is for chip %s, this post is %s" % (hd.get("chip"), net.hal.chip)
        elif hd.get("version") != dl["v"]:
            why = "manifest version %s differs from the offer's %s" % (hd.get("version"), dl["v"])
        elif version(dl["v"]) == version(run):
            why = "version %s is running already" % dl["v"]
        elif version(dl["v"]) < version(run) and hd.get("rollback") != "1":
            why = "version %s is older than %s and not signed as a rollback" % (dl["v"], run)
        if why:
            self._abort(why)
            return False
        dl["ok"] = 1
        self._save()
        return True

    def _switch(self):
        """Every file is verified: the new slot boots next, on trial (otaboot.py)."""
        dl = self.dl
        st = {"slot": otaboot.ACTIVE, "try": dl["slot"], "tv": dl["v"], "n": 0}
        if not otaboot.save(st):
            self._abort("ota.json cannot be written (flash full?)", "failed")
            return
        self.st = st
        self.dl = None
        net = self.net
        net.energy.flush(net.now)  # as a Reboot: no energy lost to the restart
        net.hal.reset(0)
