"""1,000 small requests (pings, hellos, encodes, decodes, malformed ones) against a service child
process: every one answered, the right ones refused, and no memory growth on either side."""
from __future__ import annotations

import tracemalloc

import msgpack
import numpy as np
import zmq

from semcom_host.service import ServiceClient
from semcom_host.service.process import ServiceProcess

N = 1000
WARMUP = 200


def rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


def test_thousand_requests_without_memory_growth(tmp_path):
    frames = np.random.default_rng(0).integers(0, 256, (2, 16, 16, 3), dtype=np.uint8)
    svc = ServiceProcess(log_path=tmp_path / "service.log")
    svc.start()
    raw = zmq.Context.instance().socket(zmq.DEALER)
    raw.linger = 0
    raw.connect(svc.endpoint)
    try:
        with ServiceClient(svc.endpoint, heartbeat_s=0.5) as client:
            ctx = client.encode("raw-analog", frames, params={"height": 8, "width": 8}).context
            counts = {"malformed": 0, "ok": 0}

            def one(i: int) -> None:
                k = i % 10
                if k < 4:
                    client.ping()
                elif k < 7:
                    out = client.encode("raw-analog", frames, params={"height": 8, "width": 8, "seq0": i % 60000},
                                        validate=False)
                    assert len(out.transmissions) == 2
                elif k == 7:
                    out = client.decode("raw-analog", [], context=ctx)
                    assert out.frames.shape == frames.shape
                elif k == 8:
                    client.hello()
                else:
                    raw.send_multipart([msgpack.packb({"v": 1, "id": f"bad{i}", "op": "nope"})])
                    assert raw.poll(5000)
                    reply = msgpack.unpackb(raw.recv_multipart()[0])
                    assert reply["error"]["code"] == "unknown_op"
                    counts["malformed"] += 1
                    return
                counts["ok"] += 1

            for i in range(WARMUP):
                one(i)
            rss0 = rss_bytes(svc.pid)
            tracemalloc.start()
            snap0 = tracemalloc.get_traced_memory()[0]
            for i in range(WARMUP, WARMUP + N):
                one(i)
            grown = tracemalloc.get_traced_memory()[0] - snap0
            tracemalloc.stop()
            rss1 = rss_bytes(svc.pid)
            stats = client.stats()
        assert counts["ok"] + counts["malformed"] == N + WARMUP
        assert stats["gaps"] == 0 and stats["retries"] == 0 and stats["timeouts"] == 0
        assert grown < 512 << 10, f"client grew by {grown} bytes"
        assert rss1 - rss0 < 6 << 20, f"service RSS grew from {rss0} to {rss1} bytes"
    finally:
        raw.close()
        svc.stop()
