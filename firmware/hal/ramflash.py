"""A small LittleFS flash in RAM for the host HAL, to play a board whose flash fills up.

Loaded only when LAMPPOST_FLASH_KB is set (tests): a vfs.VfsLfs2 of that many KB is
made in RAM, the files of the flash directory (one level of subdirectories) are
copied in, and the firmware runs in it. LAMPPOST_FLASH_FULL_AT=<t2000 seconds>
fills it at that tick, as a board's flash that another writer filled. Never bundled
for a board: the ESP32 has its real LittleFS.
"""
import os
import vfs

MNT = "/flash"


class Cut(BaseException):
    """The power is gone at a torn flash write (a BaseException: firmware code catching
    Exception cannot swallow it, as it could not on a board)."""


class RamBlocks:
    """A flash chip in RAM: the block device protocol (readblocks/writeblocks/ioctl) over
    `data` (a bytearray the caller keeps, so a test can reset an image in place), in
    `bs`-byte blocks. Power-cut tests set `cut_at`: that write (counted in `writes`) is torn,
    half the block written and then Cut raised; with `dies` every later read and write does
    nothing (the CPU stopped there), without it later writes land again.
    The one RAM flash of the host HAL and the LittleFS tests (tests/firmware/test_outbox.py,
    tests/mp/powercut_app.py)."""

    def __init__(self, data, cut_at=0, dies=True, bs=512):
        self.data = data
        self.bs = bs
        self.writes = 0
        self.cut_at = cut_at
        self.dies = dies

    def dead(self):
        return self.dies and self.cut_at and self.writes >= self.cut_at

    def readblocks(self, n, buf, off=0):
        if self.dead():
            return  # a file left open by the cut, closed by the GC later (no allocation)
        a = n * self.bs + off
        buf[:] = self.data[a:a + len(buf)]

    def writeblocks(self, n, buf, off=None):
        self.writes += 1
        a = n * self.bs + (off or 0)
        if self.cut_at and self.writes >= self.cut_at:
            if self.writes == self.cut_at:  # torn: half the block, then the power is gone
                half = len(buf) // 2
                self.data[a:a + half] = buf[:half]
                raise Cut()
            if self.dies:
                return
        self.data[a:a + len(buf)] = buf

    def ioctl(self, op, arg):
        if op == 4:
            return len(self.data) // self.bs
        if op == 5:
            return self.bs
        if op == 6:
            return 0
        return None


def remount(bdev):
    """Mount bdev at MNT (unmounting what was there) and work in it: a board's boot after a
    power cut, for the power-cut harnesses (tests/mp/powercut_*.py)."""
    os.chdir("/")
    try:
        vfs.umount(MNT)
    except OSError:
        pass
    vfs.mount(vfs.VfsLfs2(bdev), MNT)  # pyright: ignore[reportArgumentType]
    os.chdir(MNT)


def _copy(src, dst):
    with open(src, "rb") as f, open(dst, "wb") as g:
        while True:
            b = f.read(512)
            if not b:
                return
            g.write(b)


def mount(src, kb):
    """Make the RAM flash, copy src's files into it, and chdir there."""
    bdev = RamBlocks(bytearray(kb * 1024))
    vfs.VfsLfs2.mkfs(bdev)  # pyright: ignore[reportArgumentType] (the block protocol, duck-typed)
    vfs.mount(vfs.VfsLfs2(bdev), MNT)  # pyright: ignore[reportArgumentType]
    for name, typ, *_ in os.ilistdir(src):
        if typ == 0x4000:
            os.mkdir(MNT + "/" + name)
            for sub, styp, *_ in os.ilistdir(src + "/" + name):
                if styp != 0x4000:
                    _copy("%s/%s/%s" % (src, name, sub), "%s/%s/%s" % (MNT, name, sub))
        else:
            _copy(src + "/" + name, MNT + "/" + name)
    os.chdir(MNT)


def fill():
    """Write a filler file until the flash is full, then small ones until not even those fit
    (LittleFS keeps small files inline in directory metadata, which has room of its own)."""
    blk = bytes(512)
    try:
        with open(MNT + "/filler", "wb") as f:
            while True:
                f.write(blk)
                f.flush()
    except OSError:
        pass
    for i in range(400):
        try:
            with open("%s/fill%d" % (MNT, i), "wb") as f:
                f.write(blk[:300])
        except OSError:
            return


def install(hal, src):
    """Mount LAMPPOST_FLASH_KB of RAM flash with src's files; fill it at the tick
    LAMPPOST_FLASH_FULL_AT (by wrapping this HAL's wait_tick)."""
    mount(src, int(os.getenv("LAMPPOST_FLASH_KB") or 0))
    at = int(os.getenv("LAMPPOST_FLASH_FULL_AT") or 0)
    if not at:
        return
    tick = hal.wait_tick

    def wait_tick(r):
        t = tick(r)
        if t >= at and not hal.ramflash_full:
            hal.ramflash_full = True
            fill()
        return t
    hal.ramflash_full = False
    hal.wait_tick = wait_tick
