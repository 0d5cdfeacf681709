"""Property tests for issue 10 findings 2 and 9 on the real MicroPython (mp fixture): the
MQTT parser fed oversize and arbitrary packets, outbox files corrupted every way, and one
post id rule on the host and in the firmware."""
from __future__ import annotations

import json
import struct
import uuid

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from host_tools.collector.store import Register
from lamppost_common.ids import check_post_id
from simulator.scenario import ScenarioError, loads


def _len(n: int) -> bytes:
    out = bytearray()
    while True:
        b, n = n & 0x7F, n >> 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _publish(topic: bytes, payload: bytes, qos: int, pid: int) -> bytes:
    body = struct.pack("!H", len(topic)) + topic + (struct.pack("!H", pid) if qos else b"") + payload
    return bytes([0x30 | qos << 1]) + _len(len(body)) + body


_topic = st.text(st.characters(min_codepoint=33, max_codepoint=0x2FF), min_size=1,
                 max_size=30).map(str.encode)
_small = st.tuples(_topic, st.binary(max_size=200), st.integers(0, 1), st.integers(1, 65535))
_big = st.tuples(_topic, st.integers(2050, 5000), st.integers(0, 1), st.integers(1, 65535))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(_small.map(lambda m: ("s", m)), _big.map(lambda m: ("b", m))),
                max_size=4),
       st.integers(1, 700))
def test_oversize_packets_are_read_past_however_they_arrive(mp, msgs, cut):
    """Any mix of normal and oversize (> 2 KB) publishes, split anywhere: the session stays
    up, every normal one arrives, every oversize one is counted, every QoS 1 one is acked."""
    stream = b""
    want_topics, acks = [], []
    for kind, (t, p, q, pid) in msgs:
        payload = p if kind == "s" else b"z" * p
        stream += _publish(t, payload, q, pid)
        want_topics.append([t.decode(), kind == "s"])
        if q:
            acks.append(pid)
    cut = max(cut, len(stream) // 100 + 1)  # at most 100 chunks: one RPC line fits the heap
    chunks = [stream[i:i + cut] for i in range(0, len(stream), cut)]
    r = mp.call("mqtt_fuzz", "feed", [c.hex() for c in chunks])
    assert r["up"] and not r["closed"], r["error"]
    assert r["big"] == sum(k == "b" for k, _ in msgs)
    assert [t for t in r["topics"]] == [t for t, _ in want_topics]  # oversize ones: topic only
    assert r["acks"] == acks


_json = st.recursive(st.none() | st.integers() | st.text(max_size=5),
                     lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=3), c,
                                                                          max_size=3),
                     max_leaves=8).map(lambda v: json.dumps(v).encode())
_content = st.one_of(  # (head, pad, n): the file is head + n x pad (n rounded down to 256s)
    st.binary(max_size=300).map(lambda b: (b, b" ", 0)),  # garbage, non-UTF-8
    st.tuples(st.sampled_from([b"", b"+", b"#", b"stat/+/ALARM", b"stat/X/#", b"\xff\xfe",
                               b"stat/X/ALARM", b"a\x00b"]), _json)
    .map(lambda tp: (tp[0] + b"\n" + tp[1], b" ", 0)),  # any topic, any JSON type
    st.integers(1, 40).map(lambda k: (b"stat/X/ALARM\n", b"[", 256 * k)),  # deeply nested
    st.integers(10, 160).map(lambda k: (b"stat/X/ALARM\n{", b" ", 256 * k)),  # huge
    st.just((b"stat/X/ALA", b" ", 0)),  # truncated
)
_name = st.one_of(st.integers(0, 120).map(lambda s: "%08d" % s).flatmap(
    lambda n: st.sampled_from([n + ".a", n + ".e"])),
    st.sampled_from(["hi", "new.tmp", "hi.tmp", "junk", "0000001.a", "+0000001.a"]))
_files = st.lists(st.tuples(_name, st.sampled_from(["f", "f", "f", "d"]), _content)
                  .map(lambda f: [f[0], f[1], f[2][0].hex(), f[2][1].hex(), f[2][2]]),
                  max_size=10)


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(_files, st.integers(1, 4), st.booleans())
def test_any_outbox_files_boot_and_never_block_the_queue(mp, tmp_path, files, good, as_file):
    """(Each example gets its own directory under tmp_path.) Outbox files that are corrupt,
    truncated, any JSON type, non-UTF-8, directories, huge
    or deeply nested (or an outbox that is a file): boot works, every new alarm goes out,
    nothing unsendable is ever handed to the broker, and the queue ends empty."""
    if as_file:
        files = [["", "f", b"not a directory".hex(), "20", 0]]
    r = mp.call("outbox_fuzz", "boot", str(tmp_path / uuid.uuid4().hex), files, good)
    sent = {s for s, _, _ in r["sent"]}
    assert all(s in sent for s in r["put"]), r  # every new alarm went out
    for _, topic, payload in r["sent"]:
        p = bytes.fromhex(payload)
        assert topic and "+" not in topic and "#" not in topic and "\x00" not in topic
        assert p[:1] == b"{" and p[-1:] == b"}" and len(p) < 2400
    assert r["left"] == 0, r  # nothing stays to block the next boot
    assert len(r["news"]) == r["bad"], r  # every quarantined file reported


_ids = st.one_of(st.text(st.characters(blacklist_categories=("Cs",)), max_size=40),
                 st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_+#/ -]{0,34}", fullmatch=True))


@settings(max_examples=300, deadline=None)
@given(_ids)
def test_host_and_firmware_agree_on_every_post_id(mp, s):
    try:
        check_post_id(s)
        host = True
    except ValueError:
        host = False
    try:
        mp.call("lamppost.config", "check", "id", s)
        fw = True
    except RuntimeError as e:
        assert "ValueError" in str(e), e
        fw = False
    assert host == fw, (s, host, fw)


@pytest.mark.parametrize("bad", ["NL/1", "NL+1", "NL#1", "-NL", "", "x" * 33, "NL 1", "NLé"])
def test_scenario_and_collector_refuse_ids_with_topic_characters(bad):
    with pytest.raises(ScenarioError, match=r":2: post.id: .*not valid|must be text"):
        loads(f'[post]\nid = "{bad}"\n[run]\nstart = "2026-01-15T12:00:00Z"\nduration = "1h"\n')
    reg = Register()
    reg.handle(f"tele/{bad}/LWT", b"Online")
    assert reg.posts() == []
