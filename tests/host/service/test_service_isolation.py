"""Crash isolation: with ``isolate=True`` (what `semcom serve` does) schemes run in worker
processes; a scheme that segfaults costs its request an ``internal`` reply naming the signal,
the worker restarts, and the next request succeeds. Schemes registered at run time stay on the
service's threads."""
from __future__ import annotations

import os

import numpy as np
import pytest

from helpers import REPO
from semcom_host.service import RemoteError, Server, ServiceClient, register_scheme, unregister_scheme
from semcom_host.service.isolation import read_message, write_message

CLIP = np.random.default_rng(0).integers(0, 256, (2, 16, 16, 3), dtype=np.uint8)


@pytest.fixture
def isolated_server(monkeypatch):
    # the worker processes import the crashing test scheme by name, as the service does
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(REPO / "tests"), os.environ.get("PYTHONPATH", "")]))
    s = Server("tcp://127.0.0.1:*", workers=1, isolate=True, scheme_modules=["helpers.crashing_scheme"])
    s.start()
    yield s
    s.stop()
    unregister_scheme("test-segv")


def test_a_segfaulting_scheme_costs_one_reply_and_the_service_stays_up(isolated_server):
    with ServiceClient(isolated_server.endpoint, heartbeat_s=0.5, timeout_s=240) as client:
        hello = client.hello()
        assert "test-segv" in hello["isolated"] and "raw-analog" in hello["isolated"]
        before = client.encode("raw-analog", CLIP)  # starts the worker process
        with pytest.raises(RemoteError) as err:
            client.encode("test-segv", CLIP)
        assert err.value.code == "internal" and "SIGSEGV" in str(err.value)
        after = client.encode("raw-analog", CLIP)  # a fresh worker process
        assert after.transmissions == before.transmissions
        assert client.hello()["curve"] is False
    assert isolated_server.stats()["worker_crashes"] == 1


def test_schemes_registered_at_run_time_run_on_the_service_threads(isolated_server):
    pid = []

    def enc(frames, params):
        pid.append(os.getpid())
        from semcom_host.schemes.raw_analog import encode
        return encode(frames, {k: v for k, v in params.items() if k != "marker"})

    from semcom_host.schemes.raw_analog import DEFAULTS, decode
    register_scheme("test-local", enc, decode, defaults={**DEFAULTS, "marker": 1})
    try:
        with ServiceClient(isolated_server.endpoint, heartbeat_s=0.5) as client:
            assert "test-local" not in client.hello()["isolated"]
            client.encode("test-local", CLIP)
        assert pid == [os.getpid()]
    finally:
        unregister_scheme("test-local")


def test_pipe_framing_round_trips_and_bounds_what_it_reads(tmp_path):
    path = tmp_path / "frames"
    with open(path, "wb") as f:
        write_message(f, [b"head", memoryview(b"x" * 100_000), b""])
        write_message(f, [b"a"] * 5)
    with open(path, "rb", buffering=0) as f:
        assert read_message(f, 8, 1 << 20) == [b"head", b"x" * 100_000, b""]
        with pytest.raises(ValueError, match="parts"):
            read_message(f, 4, 1 << 20)
    with open(path, "rb") as f:
        with pytest.raises(ValueError, match="bytes"):
            read_message(f, 8, 1000)
    with open(path, "wb") as f:
        write_message(f, [b"truncated"])
    path.write_bytes(path.read_bytes()[:-3])
    with open(path, "rb") as f:
        assert read_message(f, 8, 1 << 20) is None
