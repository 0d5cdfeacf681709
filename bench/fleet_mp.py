"""Batch harness, run ON MICROPYTHON: the firmware's own meter and detection engine, fed in bulk.

Usage: micropython fleet_mp.py '<config json>' < records > alarms
Each record is 32 bytes: <I t2000> <B cmd_on> <B dim> <B mains> <x> <f temp_c> and the
20 front-end bytes of the "ideal" metering IC (what the lockstep link carries).
No per-tick round trip: the world model writes whole nights into the pipe and
this loop runs lamppost.meter + lamppost.detect on them exactly as app.py does.
Prints one line per alarm change ("t name raised|cleared") and "ticks N" at the end.
"""
import json
import struct
import sys

from lamppost import detect
from lamppost.meter import Meter
from lamppost.reading import Reading

REC = 32


def main():
    cfg = json.loads(sys.argv[1])
    eng = detect.Engine(cfg)
    meter = Meter("ideal")
    r = Reading()
    src = sys.stdin.buffer
    buf = bytearray(REC * 128)  # 4 KB: a 64 KB heap, like a board
    mv = memoryview(buf)
    n = 0
    now = 0

    def out(a, ch):
        print(now, a.name, "raised" if ch == detect.RAISED else "cleared")

    while True:
        got = src.readinto(buf)
        if not got:
            break
        while got % REC:  # a pipe may hand over part of a record
            k = src.readinto(mv[got:])
            if not k:
                break
            got += k
        for off in range(0, got - REC + 1, REC):
            now, cmd, dim, mains, temp = struct.unpack_from("<IBBBxf", buf, off)
            meter.decode(mv[off + 12:off + 32], r)
            r.mains = mains == 1
            r.temp = temp
            eng.step(now, cmd == 1, dim, r, out)
            n += 1
    print("ticks", n)


main()
