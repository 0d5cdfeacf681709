"""Power cut at every flash write of the real firmware, on LittleFS (vfs.VfsLfs2) in RAM.

Usage: micropython -X heapsize=4m powercut_app.py [every]. Runs the real App (config,
state and its backup, energy records, event log, auth counter, outbox) on a fake board
through a workload: a console Login and Config set, the lamp switching on at dusk, a
lamp failure raised and cleared, a signed remote command, energy saves every minute.
The workload is run once to count the block writes, then again for each write k with
the power gone at write k (half the block written, nothing after). After each cut the
flash is mounted again and the firmware booted: it must boot without an error report,
keep everything it had acknowledged (saved energy, the Config set, active alarms and
counts, flushed log entries, the accepted counter, queued outbox messages) and never
hand out a sequence number again. Prints one JSON line with the counts; exit 1 on a failure.
"""
import gc
import json
import os
import struct
import sys
import vfs
from hal.contract import Hal as Contract
from hal.ramflash import Cut, RamBlocks, remount

MNT = "/flash"
T0 = 821807640  # 2026-01-15T15:54:00Z in seconds since 2000 (sunset at the post 15:55)
STEP = 10  # seconds a tick
KEY = "k3y"
CFG = {"id": "NL-0099", "lat": 52.03, "lon": 5.56, "rated_w": 60, "pin": "4711",
       "mqtt_host": "127.0.0.1", "mqtt_port": 9, "cmd_key": KEY, "outbox_max": 50}


class Done(BaseException):
    """The workload is over."""


class Hal(Contract):
    """The board as the App sees it: a tick every STEP s, an ideal meter, a UART in lists;
    every other member of the HAL contract as its documented no-op (hal/contract.py)."""
    name = "host"

    def __init__(self, hook, t0):
        self.hook = hook
        self.now = t0
        self.i = 0
        self.buf = bytearray(20)
        self.raw = memoryview(self.buf)
        self.relay = False
        self.dim = 100
        self.wifi = 0
        self.out = []
        self.rx = []
        self.dead = False  # lamp_dead fault

    def wait_tick(self, r):
        self.hook(self, self.i)
        self.i += 1
        self.now += STEP
        p = 60.0 * self.dim / 100 if self.relay and not self.dead else 0.0
        struct.pack_into("<fffff", self.buf, 0, 230.0, p / 230.0, p, 1.0 if p else 0.0, 50.0)
        r.mains = True
        r.dark = False
        r.temp = 20.0
        return self.now

    def set_lamp(self, on, dim):
        self.relay = on
        self.dim = dim

    def uart_write(self, data):
        self.out.append(bytes(data))

    def uart_read(self):
        return self.rx.pop(0) if self.rx else None

    def reset_cause(self):
        return "power-on"

    def reset(self, code=1):
        raise Done()


APP = [None]
DEV = [None]


def boot(hook, t0):
    from lamppost.app import App
    hal = Hal(hook, t0)
    a = App(hal)
    APP[0] = a
    return a, hal


def signed(ctr):
    from lamppost import signedcmd as hmacauth
    mac = hmacauth.mac_hex(KEY, CFG["id"], "teleperiod", "120", ctr)
    return json.dumps({"param": "120", "ctr": ctr, "mac": mac})


class Workload:
    """What the firmware acknowledged, snapshot at the start of each tick (the previous one done)."""

    def __init__(self):
        self.ack = {"energy": None, "cfg": False, "active": [], "counts": {}, "boots": 0,
                    "log": 0, "ctr": None, "box": [], "box_next": 0}
        self.saves = []
        self.payload = None

    def hook(self, hal, i):
        if DEV[0].dead():  # MicroPython's block-device layer turns the Cut into an OSError the
            raise Cut()  # firmware may survive; the real CPU stopped there: nothing after counts
        a = APP[0]
        ack = self.ack
        if self.saves:
            ack["energy"] = self.saves[-1]
        for line in b"".join(hal.out).split(b"\n"):
            if b'"cmd": "config"' in line and b'"saved": true' in line:
                ack["cfg"] = True
        ack["active"] = a.engine.active()
        ack["counts"] = a.engine.counts()
        ack["boots"] = a.state["boots"]
        ack["log"] = a.cmds.log.seq - len(a.cmds.log.pending)
        ack["ctr"] = a.net.auth.ctr
        ack["box"] = [s for s, _ in a.net.box.items]
        ack["box_next"] = a.net.box.next
        if i == 0:
            a.energy.save_s = 60  # many saves in a short run (the same code path as hourly)
            orig = a.energy.save

            def save(now, orig=orig, e=a.energy, saves=self.saves):
                ok = orig(now)
                if ok:
                    saves.append((e.seq, e.wh, e.frac, e.on_s, e.starts))
                return ok
            a.energy.save = save
        if i == 2:
            hal.rx.append(b"Login 4711\n")
        elif i == 3:
            hal.rx.append(b"Config dim_level 50\n")
        elif i == 14:
            hal.dead = True
        elif i == 20:
            self.payload = signed(a.now + 946684800)
            d = a.net.command("teleperiod", self.payload)
            assert "error" not in d, d
        elif i == 26:
            hal.dead = False
        elif i == 44:
            raise Done()


def provision(data):
    bdev = RamBlocks(data)
    vfs.VfsLfs2.mkfs(bdev)
    mount(bdev)
    with open("config.json", "w") as f:
        f.write(json.dumps(CFG))


def mount(bdev):
    DEV[0] = bdev
    remount(bdev)


def run_workload(w, t0=T0):
    a = None
    try:
        a, hal = boot(w.hook, t0)
        a.run()
    except (Cut, Done):
        pass
    except Exception:  # an error only after the power was gone is no error of the firmware's
        if not DEV[0].dead():
            raise
    return APP[0] if a is None else a


def check(w, k, cut_app):
    """Boot again on the intact flash and compare with what was acknowledged before the cut."""
    ack = w.ack
    seen = []

    def hook(hal, i):
        if i == 2:
            raise Done()

    a, hal = boot(hook, T0 + 10000)
    try:
        a.run()
    except Done:
        pass
    errs = [l for l in b"".join(hal.out).split(b"\n") if b'"ev": "error"' in l]
    assert not errs, (k, errs)
    assert getattr(a, "locked", None) is None and a.cfg["id"] == CFG["id"] and a.cfg["pin"] == "4711", k  # not wiped
    if ack["cfg"]:
        assert a.cfg["dim_level"] == 50, (k, "Config set lost")
    e = a.energy
    if ack["energy"]:
        seq, wh, frac, on_s, starts = ack["energy"]
        assert e.seq >= seq and e.wh + e.frac >= wh + frac and e.on_s >= on_s and e.starts >= starts, (
            k, "energy", ack["energy"], (e.seq, e.wh, e.on_s, e.starts))
    counts = a.engine.counts()
    for n, c in ack["counts"].items():
        assert counts.get(n, 0) >= c, (k, "alarm count went back", n, c, counts)
    act = sorted(a.engine.active())
    assert act == sorted(ack["active"]) or (cut_app and act == sorted(cut_app.engine.active())), (
        k, "active alarms", act, ack["active"])
    assert a.state["boots"] >= ack["boots"] + 1, (k, "boots")
    log = a.cmds.log
    assert log.seq + len(log.pending) >= ack["log"], (k, "log seq reused", log.seq, ack["log"])
    if ack["log"]:
        tail = log.tail(64)
        assert ack["log"] - 1 in [x[0] for x in tail], (k, "flushed log entry lost", ack["log"])
    if ack["ctr"] is not None:
        assert a.net.auth.ctr is not None and a.net.auth.ctr >= ack["ctr"], (k, "counter went back")
        assert a.net.command("teleperiod", w.payload).get("error"), (k, "replay accepted")
    box = a.net.box
    have = [s for s, _ in box.items]
    for s in ack["box"]:
        assert s in have, (k, "outbox message lost", s, have)
    assert box.next >= ack["box_next"], (k, "outbox seq reused", box.next, ack["box_next"])
    seen.append(k)


def main():
    every = int(sys.argv[1]) if len(sys.argv) > 1 else 1
    pristine = bytearray(512 * 160)
    provision(pristine)
    data = bytearray(pristine)
    probe = RamBlocks(data)
    mount(probe)
    w = Workload()
    a = run_workload(w)
    total = probe.writes
    # the uncut run itself did everything the workload promises
    assert w.ack["cfg"] and w.ack["ctr"] and w.ack["energy"] and w.ack["counts"].get("lampFailure") == 1, w.ack
    assert w.ack["box"] and w.ack["log"] > 5, w.ack
    check(w, 0, a)
    cuts = 0
    for k in range(1, total + 1, every):
        data[:] = pristine
        APP[0] = None
        gc.collect()
        mount(RamBlocks(data, cut_at=k))
        w = Workload()
        try:
            a = run_workload(w)
        except Exception as e:
            print("cut", k, "workload raised", repr(e))
            raise
        mount(RamBlocks(data))  # power back: the filesystem must mount
        check(w, k, a)
        cuts += 1
    os.chdir("/")
    vfs.umount(MNT)
    print(json.dumps({"writes": total, "cuts": cuts}))


main()
