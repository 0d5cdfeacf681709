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


class RamBlocks:
    """Block device protocol (readblocks/writeblocks/ioctl) over a bytearray."""

    def __init__(self, n, bs=512):
        self.data = bytearray(n * bs)
        self.bs = bs

    def readblocks(self, n, buf, off=0):
        a = n * self.bs + off
        buf[:] = self.data[a:a + len(buf)]

    def writeblocks(self, n, buf, off=None):
        a = n * self.bs + (off or 0)
        self.data[a:a + len(buf)] = buf

    def ioctl(self, op, arg):
        if op == 4:
            return len(self.data) // self.bs
        if op == 5:
            return self.bs
        if op == 6:
            return 0
        return None


def _copy(src, dst):
    with open(src, "rb") as f, open(dst, "wb") as g:
        while True:
            b = f.read(512)
            if not b:
                return
            g.write(b)


def mount(src, kb):
    """Make the RAM flash, copy src's files into it, and chdir there."""
    bdev = RamBlocks(kb * 2)
    # RamBlocks follows the block device protocol by duck typing (MicroPython has no
    # AbstractBlockDev class to subclass); the ESP32 stubs declare a nominal one
    vfs.VfsLfs2.mkfs(bdev)  # pyright: ignore[reportArgumentType]
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
