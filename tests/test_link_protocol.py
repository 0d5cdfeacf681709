"""Both ends of the lockstep link speak one protocol: the numbers of firmware/hal/host.py
(MicroPython `const` copies) equal simulator/link.py's definition, and a T frame packed by
the simulator reads back with the firmware's own format."""
from __future__ import annotations

import ast
import os
import struct
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from simulator import link as lk

HOST = Path(__file__).resolve().parent.parent / "firmware" / "hal" / "host.py"


def firmware_end(src: str) -> dict:
    """host.py's consts (name -> int), the formats it unpacks and the frame kinds it writes."""
    tree = ast.parse(src)
    consts, formats, kinds = {}, [], []
    for n in ast.walk(tree):
        if isinstance(n, ast.Assign) and isinstance(n.value, ast.Call) \
                and ast.unparse(n.value.func) == "const" and isinstance(n.targets[0], ast.Name):
            consts[n.targets[0].id] = ast.literal_eval(n.value.args[0])
        if isinstance(n, ast.Call) and ast.unparse(n.func) == "struct.unpack_from":
            formats.append(ast.literal_eval(n.args[0]))
        if isinstance(n, ast.Call) and ast.unparse(n.func) == "self._send":
            kinds.append(ast.literal_eval(n.args[0]))
        if isinstance(n, ast.Assign) and ast.unparse(n.targets[0]) == "self._act":
            kinds.append(ast.literal_eval(n.value.args[0])[:1])  # the A frame, preallocated
    return {"consts": consts, "formats": formats, "kinds": kinds}


def disagreements(src: str) -> list[str]:
    end = firmware_end(src)
    c = end["consts"]
    want = {"_VERSION": lk.VERSION, "_HDR": lk.HDR, "_F_MAINS": lk.F_MAINS, "_F_DARK": lk.F_DARK,
            "_F_WIFI": lk.F_WIFI, "_TICK_LEN": struct.calcsize(lk.TICK_FIELDS)}
    bad = [f"{k} = {c.get(k)}, simulator/link.py says {v}" for k, v in want.items() if c.get(k) != v]
    if end["formats"] != [lk.TICK_FIELDS]:
        bad.append(f"T frame read as {end['formats']}, simulator/link.py says {lk.TICK_FIELDS!r}")
    if sorted(end["kinds"]) != sorted([lk.HELLO, lk.OUTPUTS, lk.RESET]):
        bad.append(f"frames sent {end['kinds']}")
    return bad


FW_CONSTS = firmware_end(HOST.read_text())["consts"]


def test_both_ends_have_the_same_numbers():
    assert disagreements(HOST.read_text()) == []


def test_a_changed_flag_bit_or_format_is_caught():
    src = HOST.read_text()
    assert any("_F_WIFI" in d for d in disagreements(src.replace("_F_WIFI = const(4)", "_F_WIFI = const(8)")))
    assert any("T frame" in d for d in disagreements(src.replace('"<IBf"', '"<IBd"')))


@settings(deadline=None)  # a busy machine: no timing in a test
@given(t=st.integers(lk.EPOCH2000, lk.EPOCH2000 + 2**32 - 1),
       mains=st.booleans(), dark=st.booleans(), wifi=st.booleans(),
       temp=st.floats(-40, 85, width=32), fe=st.binary(max_size=200))
def test_a_tick_frame_reads_back_with_the_firmware_format(t, mains, dark, wifi, temp, fe):
    r, w = os.pipe()
    try:
        lk.Link(-1, w).send_tick(t, lk.tick_flags(mains, dark, wifi), temp, fe)
        frame = os.read(r, 65536)
    finally:
        os.close(r)
        os.close(w)
    fw = FW_CONSTS
    assert frame[:1] == lk.TICK and frame[1] | frame[2] << 8 == len(frame) - fw["_HDR"]
    body = frame[fw["_HDR"]:]
    t2000, flags, got_temp = struct.unpack_from(lk.TICK_FIELDS, body, 0)
    assert t2000 == t - lk.EPOCH2000 and got_temp == temp and body[fw["_TICK_LEN"]:] == fe
    assert (bool(flags & fw["_F_MAINS"]), bool(flags & fw["_F_DARK"]), bool(flags & fw["_F_WIFI"])) \
        == (mains, dark, wifi)
