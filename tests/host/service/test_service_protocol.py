"""The semantic service's protocol: every malformed, oversized, wrong-version or unknown request is
answered with an error reply (under its own id when readable), counted and logged, and the
service keeps serving; busy, duplicate and cached requests; scheme failures; shutdown."""
from __future__ import annotations

import logging
import threading
import time

import msgpack
import numpy as np
import pytest

from helpers.raw_service import Raw, frames_desc, pack, req
from semcom_client.protocol import PROTOCOL_VERSION, plain
from semcom_host.schemes.raw_analog import DEFAULTS as RAW_DEFAULTS
from semcom_host.schemes.raw_analog import decode as raw_decode
from semcom_host.schemes.raw_analog import encode as raw_encode
from semcom_host.service import (
    Limits,
    RemoteError,
    Server,
    ServiceClient,
    ServiceTimeout,
    register_scheme,
    unregister_scheme,
)

LIMITS = Limits(max_message_bytes=1 << 20, max_header_bytes=64 << 10, max_frames=16, max_frame_side=256,
                max_video_bytes=1 << 20, max_buffers=64)


@pytest.fixture
def server():
    s = Server("tcp://127.0.0.1:*", limits=LIMITS, workers=1, max_pending=1)
    s.start()
    yield s
    s.stop()


CLIP = np.zeros((2, 16, 16, 3), np.uint8)

BAD = [
    ("not msgpack", [b"\xc1\xc1garbage"], "malformed", None),
    ("not a map", [msgpack.packb([1, 2])], "malformed", None),
    ("no version", [pack(id="r1", op="ping")], "malformed", "r1"),
    ("wrong version", [pack(v=99, id="r1", op="ping")], "version", "r1"),
    ("bad id", [pack(v=1, id="bad id!", op="ping")], "malformed", None),
    ("id not a string", [pack(v=1, id=7, op="ping")], "malformed", None),
    ("unknown op", [req("explode")], "unknown_op", "r1"),
    ("op not a string", [pack(v=1, id="r1", op=3)], "malformed", "r1"),
    ("unknown field", [req("ping", extra=1)], "malformed", "r1"),
    ("ping with a bad ref", [req("ping", ref="no spaces please")], "malformed", "r1"),
    ("encode without scheme", [req("encode", buffers=[frames_desc(CLIP.shape)]), CLIP.tobytes()], "malformed", "r1"),
    ("params not a map", [req("encode", scheme="raw-analog", params=[1], buffers=[frames_desc(CLIP.shape)]),
                          CLIP.tobytes()], "malformed", "r1"),
    ("buffer count mismatch", [req("encode", scheme="raw-analog", buffers=[frames_desc(CLIP.shape)])], "malformed",
     "r1"),
    ("frames bytes mismatch", [req("encode", scheme="raw-analog", buffers=[frames_desc(CLIP.shape)]), b"\x00" * 10],
     "bad_input", "r1"),
    ("frames not uint8", [req("encode", scheme="raw-analog", buffers=[frames_desc(CLIP.shape, "float32")]),
                          np.zeros(CLIP.shape, np.float32).tobytes()], "bad_input", "r1"),
    ("frames not RGB", [req("encode", scheme="raw-analog", buffers=[frames_desc((2, 16, 16, 4))]),
                        np.zeros((2, 16, 16, 4), np.uint8).tobytes()], "bad_input", "r1"),
    ("too many frames", [req("encode", scheme="raw-analog", buffers=[frames_desc((17, 4, 4, 3))]),
                         np.zeros((17, 4, 4, 3), np.uint8).tobytes()], "too_large", "r1"),
    ("frame too large", [req("encode", scheme="raw-analog", buffers=[frames_desc((1, 300, 4, 3))]),
                         np.zeros((1, 300, 4, 3), np.uint8).tobytes()], "too_large", "r1"),
    ("message too large", [req("decode", scheme="raw-analog", buffers=[{"kind": "received"}] * 2),
                           b"\x00" * (600 << 10), b"\x00" * (600 << 10)], "too_large", "r1"),
    ("header too large", [req("decode", scheme="raw-analog", context={"x": "y" * (70 << 10)})], "too_large", None),
    ("encode with frames and video", [req("encode", scheme="raw-analog", video={"path": "/x.mp4"},
                                          buffers=[frames_desc(CLIP.shape)]), CLIP.tobytes()], "malformed", "r1"),
    ("video without path", [req("encode", scheme="raw-analog", video={"max_frames": 3})], "malformed", "r1"),
    ("video bad stride", [req("encode", scheme="raw-analog", video={"path": "/x.mp4", "stride": 0})], "bad_input",
     "r1"),
    ("fps not positive", [req("encode", scheme="raw-analog", fps=-1.0, buffers=[frames_desc(CLIP.shape)]),
                          CLIP.tobytes()], "bad_input", "r1"),
    ("decode with frames", [req("decode", scheme="raw-analog", buffers=[frames_desc(CLIP.shape)]), CLIP.tobytes()],
     "malformed", "r1"),
    ("context not a map", [req("decode", scheme="raw-analog", context=[1])], "malformed", "r1"),
    ("hello with buffers", [req("hello", buffers=[{"kind": "received"}]), b"x"], "malformed", "r1"),
    ("unknown buffer kind", [req("decode", scheme="raw-analog", buffers=[{"kind": "pickle"}]), b"x"], "malformed",
     "r1"),
    ("unknown scheme", [req("encode", scheme="nope", buffers=[frames_desc(CLIP.shape)]), CLIP.tobytes()],
     "unknown_scheme", "r1"),
    ("unknown param", [req("encode", scheme="raw-analog", params={"colour": 1}, buffers=[frames_desc(CLIP.shape)]),
                       CLIP.tobytes()], "bad_params", "r1"),
    ("mistyped param", [req("encode", scheme="raw-analog", params={"height": "32"}, buffers=[frames_desc(CLIP.shape)]),
                        CLIP.tobytes()], "bad_params", "r1"),
    ("reserved param", [req("encode", scheme="raw-analog", params={"fps": 3.0}, buffers=[frames_desc(CLIP.shape)]),
                        CLIP.tobytes()], "bad_params", "r1"),
    ("scheme rejects params", [req("encode", scheme="raw-analog", params={"height": 8, "width": 0},
                                   buffers=[frames_desc(CLIP.shape)]), CLIP.tobytes()], "bad_input", "r1"),
]


def test_malformed_requests_are_answered_counted_logged_and_survived(server, caplog):
    raw = Raw(server.endpoint)
    caplog.set_level(logging.WARNING, logger="semcom.service")
    expected = {}
    try:
        for name, parts, code, rid in BAD:
            got = raw.ask(parts)
            assert got is not None, f"{name}: no reply"
            header, buffers = got
            assert header["status"] == "error" and header["error"]["code"] == code, (name, header)
            assert header["id"] == rid and header["v"] == PROTOCOL_VERSION and not buffers, (name, header)
            assert header["error"]["retry"] is False and header["error"]["message"]
            expected[code] = expected.get(code, 0) + 1
        header, _ = raw.ask([req("hello", rid="after")])
        assert header["status"] == "ok" and header["result"]["protocol"] == PROTOCOL_VERSION
    finally:
        raw.close()
    assert server.stats()["errors"] == expected
    assert sum("rejected request" in r.getMessage() or "failed" in r.getMessage() for r in caplog.records) \
        >= len(BAD) - 2


def test_part_beyond_the_hard_limit_drops_the_sender_not_the_service(server):
    raw = Raw(server.endpoint)
    try:
        assert raw.ask([req("ping"), b"\x00" * (2 << 20)], timeout_s=0.5) is None  # libzmq disconnects it
    finally:
        raw.close()
    with ServiceClient(server.endpoint, heartbeat_s=0.2) as client:
        assert client.hello()["limits"]["max_message_bytes"] == LIMITS.max_message_bytes


def test_empty_message_and_empty_header_are_survived(server):
    raw = Raw(server.endpoint)
    try:
        header, _ = raw.ask([b""])
        assert header["error"]["code"] == "malformed"
        header, _ = raw.ask([req("ping", rid="ok")])
        assert header["status"] == "ok" and header["id"] == "ok"
    finally:
        raw.close()


@pytest.fixture
def slow_scheme():
    calls = []
    gate = threading.Event()

    def enc(frames, params):
        calls.append(params["fps"])
        gate.wait(params.pop("wait_s"))
        return raw_encode(frames, params)

    register_scheme("test-slow", enc, raw_decode, defaults={**RAW_DEFAULTS, "wait_s": 0.5})
    yield calls, gate
    unregister_scheme("test-slow")


def encode_parts(rid, scheme="test-slow", params=None):
    return [req("encode", rid=rid, scheme=scheme, params=params or {}, buffers=[frames_desc(CLIP.shape)]),
            CLIP.tobytes()]


def test_duplicate_ids_run_once_and_retries_get_the_cached_reply(server, slow_scheme):
    calls, gate = slow_scheme
    raw = Raw(server.endpoint)
    try:
        raw.send(encode_parts("dup"))
        raw.send(encode_parts("dup"))           # a retry while the first still runs
        t0 = time.monotonic()
        header, _ = raw.ask([req("ping", rid="p", ref="dup")])
        assert time.monotonic() - t0 < 0.2      # heartbeats are answered while a worker is busy
        assert header["result"]["known"] is True
        header, _ = raw.ask([req("ping", rid="p2", ref="never-sent")])
        assert header["result"]["known"] is False
        gate.set()
        header, buffers = raw.recv()
        assert header["status"] == "ok" and header["id"] == "dup" and len(buffers) == 2
        assert raw.recv(timeout_s=0.3) is None  # one reply for the two sends
        header, buffers = raw.ask(encode_parts("dup"))  # after completion: from the cache
        assert header["status"] == "ok" and len(buffers) == 2
    finally:
        raw.close()
    assert len(calls) == 1
    stats = server.stats()
    assert stats["duplicates"] == 1 and stats["replies_from_cache"] == 1


def test_busy_is_refused_and_the_client_retries(server, slow_scheme):
    calls, gate = slow_scheme
    raw = Raw(server.endpoint)
    try:
        raw.send(encode_parts("first", params={"wait_s": 0.4}))  # max_pending=1: occupies the server
        time.sleep(0.05)
        header, _ = raw.ask(encode_parts("second"))
        assert header["error"]["code"] == "busy" and header["error"]["retry"] is True
        with ServiceClient(server.endpoint, heartbeat_s=0.1) as client:
            out = client.encode("raw-analog", CLIP, fps=5.0)  # busy at first, retried with back-off
            assert len(out.transmissions) == 2 and client.stats()["retries"] >= 1
        assert raw.recv()[0]["id"] == "first"
    finally:
        raw.close()
    assert server.stats()["errors"]["busy"] >= 2


def test_slow_answer_is_a_timeout_not_a_gap(server, slow_scheme):
    with ServiceClient(server.endpoint, heartbeat_s=0.05, dead_after_s=0.3) as client:
        with pytest.raises(ServiceTimeout):
            client.encode("test-slow", CLIP, params={"wait_s": 0.6}, timeout_s=0.4)
        stats = client.stats()
        assert stats["timeouts"] == 1 and stats["gaps"] == 0 and stats["heartbeats"] >= 4


def test_scheme_failures_are_reported_not_fatal(server, caplog):
    def boom(frames, params):
        raise RuntimeError("kaput")

    def wrong(frames, params):
        return "not a list", {}

    def bad_ctx(frames, params):
        return [], {"x": object()}

    register_scheme("test-boom", boom, raw_decode)
    register_scheme("test-wrong", wrong, raw_decode)
    register_scheme("test-ctx", bad_ctx, raw_decode)
    try:
        with ServiceClient(server.endpoint, heartbeat_s=0.2) as client:
            for scheme, text in (("test-boom", "kaput"), ("test-wrong", "must return"), ("test-ctx", "context")):
                with pytest.raises(RemoteError) as err:
                    client.encode(scheme, CLIP)
                assert err.value.code == "scheme_failed" and text in str(err.value)
            assert client.ping() < 1.0
    finally:
        for name in ("test-boom", "test-wrong", "test-ctx"):
            unregister_scheme(name)
    assert server.stats()["errors"]["scheme_failed"] == 3


def test_shutdown_from_loopback_stops_the_server():
    s = Server("tcp://127.0.0.1:*")
    endpoint = s.start()
    with ServiceClient(endpoint) as client:
        assert "stats" in client.shutdown()
    s._thread.join(5)
    assert not s._thread.is_alive() and not s.running


def test_register_scheme_checks_its_arguments():
    from semcom_host.service.registry import load_builtin_schemes

    load_builtin_schemes()
    with pytest.raises(ValueError, match="name"):
        register_scheme("Bad Name", raw_encode, raw_decode)
    with pytest.raises(ValueError, match="already registered"):
        register_scheme("raw-analog", raw_encode, raw_decode)
    with pytest.raises(ValueError, match="reserved"):
        register_scheme("test-x", raw_encode, raw_decode, defaults={"fps": 1.0})
    with pytest.raises(ValueError, match="callable"):
        register_scheme("test-x", None, raw_decode)


def test_plain_refuses_what_msgpack_cannot_carry():
    assert plain({"a": np.float32(1.5), "b": (1, np.int64(2)), "c": np.arange(3)}) == {"a": 1.5, "b": [1, 2],
                                                                                      "c": [0, 1, 2]}
    with pytest.raises(TypeError, match="key"):
        plain({1: 2})
    with pytest.raises(TypeError, match="set"):
        plain({"s": {1, 2}})
