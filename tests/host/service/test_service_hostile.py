"""The service and the wire format against hostile input: fuzzed headers and PDUs raise only the
documented error class, deeply nested requests neither leak nor go unanswered, oversized
multipart messages are refused part by part, and one client cannot take another's reply."""
from __future__ import annotations

import random
import threading

import msgpack
import numpy as np
import pytest

from helpers.raw_service import Raw, frames_desc, pack, req
from semcom_blocks.phy.fec import PayloadCoder
from semcom_blocks.phy.frame import Transmission, Unit
from semcom_blocks.phy.msgpack_safe import MsgpackRejected, scan
from semcom_blocks.phy.receiver import ReceivedFrame, ReceivedUnit
from semcom_blocks.phy.wire import pack_received, pack_transmission, unpack_received, unpack_transmission
from semcom_client.protocol import Limits, ProtocolError, parse_request
from semcom_host.schemes.raw_analog import DEFAULTS as RAW_DEFAULTS
from semcom_host.schemes.raw_analog import decode as raw_decode
from semcom_host.schemes.raw_analog import encode as raw_encode
from semcom_host.service import Server, register_scheme, unregister_scheme

LIMITS = Limits(max_message_bytes=1 << 20, max_header_bytes=64 << 10, max_frames=16, max_frame_side=256,
                max_video_bytes=1 << 20, max_buffers=64)
CLIP = np.zeros((2, 16, 16, 3), np.uint8)


def nested(depth: int, leaf=1):
    """``[[[...leaf...]]]`` as msgpack bytes, built without recursion."""
    return b"\x91" * depth + msgpack.packb(leaf)


# -- the structure check --------------------------------------------------------------------
def test_scan_measures_depth_and_rejects_what_msgpack_would_choke_on():
    assert scan(msgpack.packb(1)) == 0
    assert scan(msgpack.packb({"a": [1, {"b": []}]})) == 4
    assert scan(nested(32)) == 32
    for bad, reason in [(nested(33), "nested too deep"), (msgpack.packb([1, 2])[:-1], "truncated"),
                        (msgpack.packb(1) + b"\x00", "trailing"), (b"\xc1", "reserved"), (b"", "truncated"),
                        (b"\xdd\xff\xff\xff\xff", "truncated")]:  # an array announcing 4 billion items
        with pytest.raises(MsgpackRejected, match=reason):
            scan(bad)


def test_the_msgpack_in_use_does_not_leak_on_malformed_nested_input():
    """Debian 12's msgpack 1.0.3 (and 1.1.2) keep ~70 KB per message like this one: make setup must
    install the pinned release over it."""
    bad = b"\x91" * 900 + b"\xc1"  # nested 900 deep, then the reserved byte
    for _ in range(50):  # warm up the allocator
        with pytest.raises(Exception):
            msgpack.unpackb(bad, raw=False)
    before = _rss_bytes()
    for _ in range(2000):
        with pytest.raises(Exception):
            msgpack.unpackb(bad, raw=False)
    grown = _rss_bytes() - before
    assert grown < 5 << 20, f"msgpack {msgpack.version} leaks: {grown / 2**20:.0f} MB over 2,000 messages"


# -- fuzzing -----------------------------------------------------------------------------------
def _seeds() -> tuple[list[bytes], list[bytes]]:
    """Valid protocol headers and valid wire messages to mutate."""
    headers = [req("hello"), req("ping", ref="abc"), req("shutdown"),
               req("encode", scheme="raw-analog", params={"snr_db": 10.0}, buffers=[frames_desc(CLIP.shape)]),
               req("encode", scheme="raw-analog", video={"path": "/x.mp4", "max_frames": 4, "size": [8, 8]}),
               req("decode", scheme="raw-analog", context={"T": 2, "nested": {"a": [1, 2.5, "x"]}},
                   buffers=[{"kind": "received"}])]
    coder = PayloadCoder("ldpc", 648, "1/2", "qpsk", "crc32")
    tx = Transmission([Unit("d", "digital", b"hello world", coder),
                       Unit("a", "analog", np.ones(8, np.complex64))], seq=3, frame_type=2, meta={"k": [1, 2]})
    rx = ReceivedFrame(2, 3, [ReceivedUnit("d", "digital", b"hello", True, np.zeros(0, np.float32)),
                              ReceivedUnit("a", "analog", np.ones(4, np.complex64), None, np.ones(4, np.float32))],
                       10, 200, 0.1, 12.0, 0.05)
    return headers, [pack_transmission(tx), pack_received(rx)]


def _random_object(rng: random.Random, depth: int = 0):
    r = rng.random()
    if r < 0.06 and depth < 40:
        return [_random_object(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    if r < 0.10 and depth < 40:
        keys = [rng.choice(["v", "id", "op", "units", "kind", "data", "x"]), rng.randbytes(2), rng.randint(-5, 5)]
        return {k: _random_object(rng, depth + 1) for k in rng.sample(keys, rng.randint(1, 3))}
    return rng.choice([None, True, False, 0, -1, 2**63, -(2**63), 2**64 - 1, 1.5, float("nan"), float("inf"),
                       "", "x" * rng.randint(0, 80), rng.randbytes(rng.randint(0, 24)), msgpack.ExtType(5, b"ab"),
                       "1/2", "ldpc", "qpsk", "digital", "analog", "transmission", "received", 1, 648])


def _mutate_tree(obj, rng: random.Random):
    """A copy of ``obj`` with one value somewhere replaced by a random object (or a deep nest)."""
    if isinstance(obj, dict) and obj and rng.random() < 0.8:
        k = rng.choice(list(obj))
        out = dict(obj)
        out[k] = _mutate_tree(obj[k], rng)
        if rng.random() < 0.1:
            out[rng.randbytes(3)] = 1  # a bin key among str keys
        return out
    if isinstance(obj, list) and obj and rng.random() < 0.8:
        i = rng.randrange(len(obj))
        return obj[:i] + [_mutate_tree(obj[i], rng)] + obj[i + 1:]
    if rng.random() < 0.05:
        deep = 1
        for _ in range(rng.randint(20, 200)):
            deep = [deep]
        return deep
    return _random_object(rng)


def _mutate_bytes(raw: bytes, rng: random.Random) -> bytes:
    b = bytearray(raw)
    for _ in range(rng.randint(1, 4)):
        op = rng.random()
        if op < 0.4 and b:
            b[rng.randrange(len(b))] = rng.randrange(256)
        elif op < 0.6:
            b.insert(rng.randrange(len(b) + 1), rng.randrange(256))
        elif op < 0.8 and b:
            del b[rng.randrange(len(b))]
        else:
            b = b[:rng.randrange(len(b) + 1)]
    return bytes(b)


def _fuzzed(seeds: list[bytes], rng: random.Random) -> bytes:
    raw = rng.choice(seeds)
    if rng.random() < 0.5:
        return _mutate_bytes(raw, rng)
    tree = msgpack.unpackb(raw, raw=False)
    try:
        return msgpack.packb(_mutate_tree(tree, rng), use_bin_type=True)
    except (ValueError, OverflowError):  # msgpack's own packer refuses some trees: mutate the bytes instead
        return _mutate_bytes(raw, rng)


def test_100000_fuzzed_messages_raise_only_the_documented_errors():
    """Protocol headers: only ProtocolError; wire messages: only ValueError (the blocks count those)."""
    rng = random.Random(20261202)
    headers, wire = _seeds()
    outcomes = {"protocol_ok": 0, "protocol_refused": 0, "wire_ok": 0, "wire_refused": 0}
    for i in range(50_000):
        raw = _fuzzed(headers, rng)
        parts = [raw] if i % 2 else [raw, CLIP.tobytes()]
        try:
            parse_request(parts, LIMITS)
            outcomes["protocol_ok"] += 1
        except ProtocolError:
            outcomes["protocol_refused"] += 1
    for _ in range(50_000):
        raw = _fuzzed(wire, rng)
        for unpack in (unpack_transmission, unpack_received):
            try:
                unpack(raw)
                outcomes["wire_ok"] += 1
            except ValueError:
                outcomes["wire_refused"] += 1
    # the fuzzer reaches both sides of every check
    assert all(n > 1000 for n in outcomes.values()), outcomes


# -- a live server --------------------------------------------------------------------------
@pytest.fixture
def server():
    s = Server("tcp://127.0.0.1:*", limits=LIMITS, workers=1, max_pending=4)
    s.start()
    yield s
    s.stop()


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096


def test_deeply_nested_requests_all_get_a_reply_and_do_not_grow_the_service(server):
    attacks = [
        [pack(v=1, id="deep", op="ping", ref=None) + b""],                  # warm-up: a valid one
        [b"\x83\xa1v" + nested(900) + b"\xa2id\xa1x\xa2op\xa4ping"],        # the version nested 900 deep
        [b"\x81" + nested(500, "x")[:-2] + b"\xa1v"],                       # truncated deep nest
        [pack(v=1, id="mixed", op="ping") [:-1] + b"\xc4\x01k"],            # broken tail
        [b"\x84\xa1v\x01\xa2id\xa5mixed\xa2op\xa4ping\xc4\x01k\x01"],       # mixed bin/str keys
        [req("decode", rid="ctx", scheme="raw-analog", context={"a": 1})[:-1] + nested(40)[1:]],
    ]
    raw = Raw(server.endpoint)
    try:
        for parts in attacks:  # each kind answered at least once, and the id read where it can be
            header, _ = raw.ask(parts)
            assert header["status"] in ("ok", "error")
        before = _rss_bytes()
        replies = 0
        for i in range(2000):
            raw.send(attacks[1 + i % (len(attacks) - 1)])
            replies += raw.recv(5.0) is not None
        grown = _rss_bytes() - before
        header, _ = raw.ask([req("hello")])  # still serving
        assert header["status"] == "ok"
    finally:
        raw.close()
    assert replies == 2000
    assert grown < 20 << 20, f"RSS grew by {grown / 2**20:.1f} MB over 2,000 nested requests"
    assert server.stats()["errors"]["malformed"] >= 1000


def test_too_many_parts_or_bytes_are_refused_while_receiving(server):
    raw = Raw(server.endpoint)
    try:
        header, _ = raw.ask([req("decode", rid="parts", scheme="raw-analog", buffers=[{"kind": "received"}] * 200),
                             *([b"x"] * 200)])
        assert header["id"] == "parts" and header["error"]["code"] == "too_large"
        assert "buffers" in header["error"]["message"]
        header, _ = raw.ask([req("decode", rid="bytes", scheme="raw-analog", buffers=[{"kind": "received"}] * 3),
                             *([b"\x00" * (400 << 10)] * 3)])
        assert header["id"] == "bytes" and header["error"]["code"] == "too_large"
    finally:
        raw.close()
    assert server.stats()["refused_while_receiving"] == 2


@pytest.fixture
def tagging_scheme():
    """A scheme whose encoder waits on a gate and writes its request's ``tag`` into the context."""
    gate = threading.Event()

    def enc(frames, params):
        gate.wait(5)
        tag = params.pop("tag")
        txs, ctx = raw_encode(frames, params)
        return txs, {**ctx, "tag": tag}

    register_scheme("test-tag", enc, raw_decode, defaults={**RAW_DEFAULTS, "tag": ""})
    yield gate
    unregister_scheme("test-tag")


def test_a_second_client_cannot_receive_another_clients_reply(server, tagging_scheme):
    def encode(rid, tag):
        return [req("encode", rid=rid, scheme="test-tag", params={"tag": tag}, buffers=[frames_desc(CLIP.shape)]),
                CLIP.tobytes()]

    owner, intruder = Raw(server.endpoint), Raw(server.endpoint)
    try:
        owner.send(encode("shared-id", "owner"))
        assert owner.recv(0.2) is None  # running, gated
        intruder.send(encode("shared-id", "intruder"))  # the same id from another connection
        tagging_scheme.set()
        got_owner, got_intruder = owner.recv(), intruder.recv()
        assert got_owner[0]["result"]["context"]["tag"] == "owner"
        assert got_intruder[0]["result"]["context"]["tag"] == "intruder"
        assert owner.recv(0.3) is None and intruder.recv(0.3) is None  # one reply each
        # the cached reply is the owner's only: the intruder asking again gets its own
        again = intruder.ask(encode("shared-id", "intruder"))
        assert again[0]["result"]["context"]["tag"] == "intruder"
    finally:
        owner.close()
        intruder.close()


def test_an_encode_that_would_need_too_much_memory_is_refused_before_it_starts():
    from semcom_host.service.handlers import encode_work_bytes

    # the probe: 2,048 frames of 8 x 8 for djscc-rgb (coded at 256 x 256) fits the default
    assert encode_work_bytes((2048, 8, 8, 3), {"image_size": 256}) < Limits().max_work_bytes
    tight = Limits(max_work_bytes=300 << 20)
    s = Server("tcp://127.0.0.1:*", limits=tight, workers=1)
    s.start()
    raw = Raw(s.endpoint)
    try:
        header, _ = raw.ask([req("encode", rid="big", scheme="djscc-rgb", params={"image_size": 2048},
                                 buffers=[frames_desc(CLIP.shape)]), CLIP.tobytes()])
        assert header["id"] == "big" and header["error"]["code"] == "too_large"
        assert "MiB" in header["error"]["message"]
    finally:
        raw.close()
        s.stop()


def test_a_context_announcing_a_huge_clip_is_refused_not_allocated():
    from semcom_host.schemes.common import MANIFEST, find_manifest, manifest_body

    huge = manifest_body("raw-analog", 100_000, 8192, 8192, 25.0)
    with pytest.raises(ValueError, match="will not allocate"):
        find_manifest([], {MANIFEST: huge}, "raw-analog")
    ok, where = find_manifest([], {MANIFEST: manifest_body("raw-analog", 4, 16, 16, 25.0)}, "raw-analog")
    assert where == "context" and ok["T"] == 4
