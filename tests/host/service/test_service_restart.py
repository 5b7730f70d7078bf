"""The service killed mid-request (a child process, SIGKILL) and restarted on the same address: the
client reports the gap, reconnects, sends the request again and gets its answer; a service
that never comes back is a clear error; shutdown is never resent."""
from __future__ import annotations

import os
import textwrap
import threading
import time

import numpy as np
import pytest

from semcom_host.service import ServiceClient, ServiceUnavailable
from semcom_host.service.process import ServiceProcess, free_tcp_address

SLOW_SCHEME = textwrap.dedent('''
    """raw-analog with a delay before encoding: a long request to kill the service in."""
    import time

    from semcom_host.service import register_scheme
    from semcom_host.schemes.raw_analog import DEFAULTS, decode, encode


    def _slow(frames, params):
        time.sleep(params.pop("delay_s"))
        return encode(frames, params)


    register_scheme("slow-raw", _slow, decode, defaults={**DEFAULTS, "delay_s": 1.0})
''')
CLIP = np.full((2, 16, 16, 3), 90, np.uint8)


def slow_service(tmp_path) -> ServiceProcess:
    """A service child process that also registers the "slow-raw" scheme."""
    (tmp_path / "semcom_test_slow.py").write_text(SLOW_SCHEME)
    path = os.pathsep.join(filter(None, [str(tmp_path), os.environ.get("PYTHONPATH")]))
    return ServiceProcess(free_tcp_address(), args=["--scheme-module", "semcom_test_slow"],
                          env={"PYTHONPATH": path}, log_path=tmp_path / "service.log")


class Recorder:
    def __init__(self):
        self.events = []

    def __call__(self, kind, info):
        self.events.append((kind, info))

    def kinds(self):
        return [k for k, _ in self.events]

    def wait_for(self, kind, timeout_s):
        deadline = time.monotonic() + timeout_s
        while kind not in self.kinds() and time.monotonic() < deadline:
            time.sleep(0.02)
        return kind in self.kinds()


def encode_in_thread(client, **kw):
    out = {}

    def run():
        try:
            out["result"] = client.encode("slow-raw", CLIP, fps=5.0, **kw)
        except Exception as exc:  # noqa: BLE001 - handed to the test
            out["error"] = exc

    t = threading.Thread(target=run)
    t.start()
    return t, out


def test_killed_service_is_a_gap_and_the_request_completes_after_restart(tmp_path):
    svc = slow_service(tmp_path)
    svc.start()
    rec = Recorder()
    try:
        with ServiceClient(svc.endpoint, heartbeat_s=0.1, dead_after_s=0.5, timeout_s=30, on_event=rec) as client:
            client.hello()
            first = client.server_instance
            t, out = encode_in_thread(client, params={"delay_s": 0.6})
            time.sleep(0.3)                     # the encode is running in the service
            assert svc.kill() is not None
            assert rec.wait_for("gap", 5), rec.events
            svc.start()                         # the same address, a new process
            t.join(30)
            assert "result" in out, out.get("error")
            assert len(out["result"].transmissions) == 2
            stats = client.stats()
            assert stats["gaps"] == 1 and stats["reconnects"] >= 1 and stats["retries"] >= 1
            assert {"gap", "reconnect", "recovered", "retry"} <= set(rec.kinds())
            gap_s = next(i["gap_s"] for k, i in rec.events if k == "recovered")
            assert 0.3 < gap_s < 20
            assert client.server_instance != first
    finally:
        svc.stop()


def test_quick_restart_that_loses_the_request_is_detected(tmp_path):
    svc = slow_service(tmp_path)
    svc.start()
    rec = Recorder()
    try:
        # dead_after is long: only the heartbeat's "unknown request" answer can reveal the loss
        with ServiceClient(svc.endpoint, heartbeat_s=0.1, dead_after_s=20, timeout_s=30, on_event=rec) as client:
            client.hello()
            t, out = encode_in_thread(client, params={"delay_s": 0.6})
            time.sleep(0.3)
            svc.kill()
            svc.start()
            t.join(30)
            assert "result" in out, out.get("error")
            reasons = [i["reason"] for k, i in rec.events if k == "gap"]
            assert reasons and "restarted" in reasons[0]
            assert client.stats()["retries"] >= 1
    finally:
        svc.stop()


def test_service_that_stays_away_is_a_clear_error():
    rec = Recorder()
    with ServiceClient(free_tcp_address(), heartbeat_s=0.1, dead_after_s=0.3, on_event=rec) as client:
        t0 = time.monotonic()
        with pytest.raises(ServiceUnavailable, match="no service"):
            client.hello(timeout_s=1.0)
        assert time.monotonic() - t0 < 3
        assert client.stats()["gaps"] == 1 and "gap" in rec.kinds()


def test_shutdown_is_never_resent(tmp_path):
    svc = slow_service(tmp_path)
    svc.start()
    try:
        with ServiceClient(svc.endpoint, heartbeat_s=0.1, dead_after_s=0.3) as client:
            client.hello()
            before = client.stats()["retries"]
            svc.kill()
            with pytest.raises(ServiceUnavailable, match="not retried"):
                client.shutdown(timeout_s=5)
            assert client.stats()["retries"] == before
    finally:
        svc.stop()


def test_clean_stop_by_signal(tmp_path):
    svc = slow_service(tmp_path)
    svc.start()
    with ServiceClient(svc.endpoint) as client:
        assert "slow-raw" in [s["name"] for s in client.hello()["schemes"]]
    assert svc.stop() == 0
    assert "stopped" in (tmp_path / "service.log").read_text()
