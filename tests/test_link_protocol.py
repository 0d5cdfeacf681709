"""Both ends of the link speak one protocol: the numbers of firmware/hal/host.py
(MicroPython `const` copies) equal simulator/link.py's definition, a T frame packed by
the simulator reads back at the firmware's offsets, and the host HAL itself, run on
MicroPython, runs exactly the T frames that name its outputs and its next tick, drops the
rest unanswered, and answers each tick run with an A frame the simulator reads back."""
from __future__ import annotations

import ast
import os
import struct
import subprocess
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from simulator import link as lk
from simulator.firmware_proc import FIRMWARE_DIR, micropython_path

HOST = Path(__file__).resolve().parent.parent / "firmware" / "hal" / "host.py"


def firmware_end(src: str) -> dict:
    """host.py's consts (name -> int), the formats it unpacks and the frame kinds it writes."""
    tree = ast.parse(src)
    consts, formats, kinds, act = {}, [], [], None
    for n in ast.walk(tree):
        if isinstance(n, ast.Assign) and isinstance(n.value, ast.Call) \
                and ast.unparse(n.value.func) == "const" and isinstance(n.targets[0], ast.Name):
            consts[n.targets[0].id] = ast.literal_eval(n.value.args[0])
        if isinstance(n, ast.Call) and ast.unparse(n.func) == "struct.unpack_from":
            formats.append(ast.literal_eval(n.args[0]))
        if isinstance(n, ast.Call) and ast.unparse(n.func) == "self._send":
            kinds.append(ast.literal_eval(n.args[0]))
        if isinstance(n, ast.Assign) and ast.unparse(n.targets[0]) == "self._act":
            act = ast.literal_eval(n.value.args[0])  # the A frame, preallocated
            kinds.append(act[:1])
    return {"consts": consts, "formats": formats, "kinds": kinds, "act": act}


def offsets(fields: str) -> list[int]:
    """Where each field of a struct format starts."""
    out, fmt = [], fields[0]
    for code in fields[1:]:
        out.append(struct.calcsize(fmt))
        fmt += code
    return out


def disagreements(src: str) -> list[str]:
    end = firmware_end(src)
    c = end["consts"]
    _, flags, temp, relay, dim = offsets(lk.TICK_FIELDS)
    want = {"_VERSION": lk.VERSION, "_HDR": lk.HDR, "_F_MAINS": lk.F_MAINS, "_F_DARK": lk.F_DARK,
            "_F_WIFI": lk.F_WIFI, "_TICK_LEN": struct.calcsize(lk.TICK_FIELDS),
            "_T_FLAGS": flags, "_T_TEMP": temp, "_T_RELAY": relay, "_T_DIM": dim,
            "_A_LEN": struct.calcsize(lk.OUTPUT_FIELDS)}
    bad = [f"{k} = {c.get(k)}, simulator/link.py says {v}" for k, v in want.items() if c.get(k) != v]
    if end["formats"] != ["<" + lk.TICK_FIELDS[temp_field(lk.TICK_FIELDS)]]:
        bad.append(f"T's temperature read as {end['formats']}, simulator/link.py says {lk.TICK_FIELDS!r}")
    if sorted(end["kinds"]) != sorted([lk.HELLO, lk.OUTPUTS, lk.RESET]):
        bad.append(f"frames sent {end['kinds']}")
    if end["act"] is None or end["act"][1] != struct.calcsize(lk.OUTPUT_FIELDS) \
            or len(end["act"]) != lk.HDR + struct.calcsize(lk.OUTPUT_FIELDS):
        bad.append(f"A frame preallocated as {end['act']!r}, simulator/link.py says {lk.OUTPUT_FIELDS!r}")
    return bad


def temp_field(fields: str) -> int:
    """The index of the temperature (the one float) in a T format."""
    return fields.index("f")


FW_CONSTS = firmware_end(HOST.read_text())["consts"]


def test_both_ends_have_the_same_numbers():
    assert disagreements(HOST.read_text()) == []


def test_a_changed_flag_bit_or_format_is_caught():
    src = HOST.read_text()
    assert any("_F_WIFI" in d for d in disagreements(src.replace("_F_WIFI = const(4)", "_F_WIFI = const(8)")))
    assert any("temperature" in d for d in disagreements(src.replace('"<f", f, _T_TEMP', '"<d", f, _T_TEMP')))
    assert any("_T_DIM" in d for d in disagreements(src.replace("_T_DIM = const(10)", "_T_DIM = const(9)")))
    assert any("A frame" in d for d in disagreements(src.replace('b"A\\x06', 'b"A\\x05')))


@settings(deadline=None)  # a busy machine: no timing in a test
@given(t=st.integers(lk.EPOCH2000, lk.EPOCH2000 + 2**32 - 1),
       mains=st.booleans(), dark=st.booleans(), wifi=st.booleans(),
       temp=st.floats(-40, 85, width=32), fe=st.binary(max_size=200),
       relay=st.booleans(), dim=st.integers(0, 100))
def test_a_tick_frame_reads_back_at_the_firmware_offsets(t, mains, dark, wifi, temp, fe, relay, dim):
    r, w = os.pipe()
    try:
        lk.Link(-1, w).send_tick(t, lk.tick_flags(mains, dark, wifi), temp, fe, relay, dim)
        frame = os.read(r, 65536)
    finally:
        os.close(r)
        os.close(w)
    fw = FW_CONSTS
    assert frame[:1] == lk.TICK and frame[1] | frame[2] << 8 == len(frame) - fw["_HDR"]
    body = frame[fw["_HDR"]:]
    t2000 = body[0] | body[1] << 8 | body[2] << 16 | body[3] << 24  # as host.py reads it
    got_temp, = struct.unpack_from("<f", body, fw["_T_TEMP"])
    assert t2000 == t - lk.EPOCH2000 and got_temp == temp and body[fw["_TICK_LEN"]:] == fe
    flags = body[fw["_T_FLAGS"]]
    assert (bool(flags & fw["_F_MAINS"]), bool(flags & fw["_F_DARK"]), bool(flags & fw["_F_WIFI"])) \
        == (mains, dark, wifi)
    assert (body[fw["_T_RELAY"]], body[fw["_T_DIM"]]) == (int(relay), dim)


@given(t=st.one_of(st.none(), st.integers(lk.EPOCH2000 + 1, lk.EPOCH2000 + 2**32 - 1)),
       relay=st.booleans(), dim=st.integers(0, 100))
def test_an_outputs_payload_reads_back(t, relay, dim):
    assert lk.read_outputs(lk.outputs_payload(t, relay, dim)) == (t, relay, dim)


# Runs the host HAL's wait_tick on MicroPython; each tick run prints what the firmware got
# and sets the outputs its front-end bytes ask for (byte 0: relay, byte 1: dim)
DRIVER = """
import struct
from hal.host import Hal
class R: pass
r = R()
h = Hal()
while True:
    t = h.wait_tick(r)
    raw = bytes(h.raw)
    print(t, int(r.mains), int(r.dark), h.wifi, struct.pack("<f", r.temp).hex(), "x" + raw.hex())
    if len(raw) >= 2:
        h.set_lamp(bool(raw[0] & 1), raw[1] % 101)
"""


@settings(deadline=None, max_examples=40)
@given(data=st.data())
def test_the_host_hal_runs_the_frames_that_name_its_outputs_and_next_tick(tmp_path_factory, data):
    """A sequence of T frames, some for the next tick on the firmware's outputs, some for
    another tick or on other outputs (as a pipelined simulator leaves after a change): the
    real hal/host.py on MicroPython runs exactly those a model of the rule says, answers
    each with its tick and outputs, and reads time, flags, temperature and bytes right."""
    now, outputs = 0, (False, 100)  # the model of the firmware: no tick yet, relay off, dim 100
    frames, ran, answers = [], [], [(None, False, 100)]
    for _ in range(data.draw(st.integers(1, 24))):  # at most 24 ticks: t + 24 stays a u32
        nxt = now + 1 if now else lk.EPOCH2000 + 1_000_000
        t = data.draw(st.one_of(st.just(nxt), st.integers(lk.EPOCH2000 + 1, lk.EPOCH2000 + 2**32 - 100)))
        assumed = data.draw(st.one_of(st.just(outputs), st.tuples(st.booleans(), st.integers(0, 100))))
        flags, temp = data.draw(st.integers(0, 7)), data.draw(st.floats(-40, 85, width=32))
        fe = data.draw(st.binary(max_size=40))
        frames.append(lk.tick_frame(t, flags, temp, fe, *assumed))
        if assumed == outputs and (t == now + 1 or not now):
            now = t
            ran.append(f"{t - lk.EPOCH2000} {flags & 1} {flags >> 1 & 1} {flags & 4} "
                       f"{struct.pack('<f', temp).hex()} x{fe.hex()}")
            if len(fe) >= 2:
                outputs = (bool(fe[0] & 1), fe[1] % 101)
            answers.append((t, *outputs))
    drv = tmp_path_factory.mktemp("hal") / "driver.py"
    drv.write_text(DRIVER)
    to_r, to_w = os.pipe()
    from_r, from_w = os.pipe()
    env = {**os.environ, "MICROPYPATH": str(FIRMWARE_DIR), "LAMPPOST_LINK": f"{to_r},{from_w}"}
    for k in ("LAMPPOST_UART", "LAMPPOST_FLASH", "LAMPPOST_FLASH_KB"):
        env.pop(k, None)
    proc = subprocess.Popen([micropython_path(), str(drv)], env=env, pass_fds=(to_r, from_w),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    os.close(to_r)
    os.close(from_w)
    try:
        os.write(to_w, b"".join(frames))  # a few KB: within the pipe, the firmware reads at will
    finally:
        os.close(to_w)  # then the link closes: the firmware powers off in its next wait
    out, _ = proc.communicate(timeout=60)
    link = lk.Link(from_r, -1)
    got = []
    try:
        kind, payload = link.recv()
        assert (kind, payload) == (lk.HELLO, bytes((lk.VERSION,)))
        while True:
            kind, payload = link.recv()
            assert kind == lk.OUTPUTS
            got.append(lk.read_outputs(payload))
    except lk.LinkClosed:
        pass
    finally:
        os.close(from_r)
    assert proc.returncode == 0, out
    assert out.decode().splitlines() == ran
    assert got == answers
