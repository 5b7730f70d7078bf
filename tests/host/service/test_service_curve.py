"""Security of the service: loopback by default, CURVE keys required anywhere else, clients with
unknown or no keys rejected (ZAP) and counted, shutdown only from loopback peers."""
from __future__ import annotations

import logging
import os
import shutil
import socket
import stat
import subprocess
import sys
import time

import numpy as np
import pytest
import zmq

from semcom_host.service import (
    AuthenticationFailed,
    KeysError,
    RemoteError,
    Server,
    ServiceClient,
    generate_keys,
    is_local_address,
    serve,
)


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    root = tmp_path_factory.mktemp("keys")
    out = generate_keys(root, clients=["client", "second"])
    assert set(out["clients"]) == {"client", "second"}
    return root


def test_addresses_that_count_as_local():
    assert is_local_address("tcp://127.0.0.1:5560") and is_local_address("tcp://localhost:1")
    assert is_local_address("tcp://[::1]:5560") and is_local_address("ipc:///tmp/semcom.sock")
    for addr in ("tcp://0.0.0.0:5560", "tcp://*:5560", "tcp://192.168.1.2:5560", "tcp://eth0:5560"):
        assert not is_local_address(addr), addr
    with pytest.raises(ValueError):
        is_local_address("udp://127.0.0.1:1")


def test_non_loopback_bind_without_keys_refuses_to_start():
    for addr in ("tcp://0.0.0.0:0", "tcp://*:0"):
        with pytest.raises(KeysError, match="without CURVE keys"):
            Server(addr)
        with pytest.raises(KeysError):
            serve(addr)
    with pytest.raises(KeysError, match="require_curve"):
        Server("tcp://127.0.0.1:*", require_curve=True)
    proc = subprocess.run([sys.executable, "-m", "semcom_host.service", "serve", "--address", "tcp://0.0.0.0:0"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "without CURVE keys" in proc.stderr


def test_client_refuses_non_loopback_without_keys():
    with pytest.raises(KeysError, match="CURVE"):
        ServiceClient("tcp://192.0.2.1:5560")


def test_generated_keys_layout_and_permissions(keys, tmp_path):
    for name in ("server", "client", "second"):
        assert (keys / f"{name}.key").is_file()
        assert stat.S_IMODE(os.stat(keys / f"{name}.key_secret").st_mode) == 0o600
    assert sorted(p.name for p in (keys / "authorized").iterdir()) == ["client.key", "second.key"]
    with pytest.raises(KeysError, match="not found"):
        Server("tcp://127.0.0.1:*", keys_dir=str(tmp_path / "nothing")).bind()


@pytest.fixture(scope="module")
def curve_server(keys):
    s = Server("tcp://127.0.0.1:*", keys_dir=str(keys), require_curve=True)
    s.start()
    yield s
    s.stop()


def test_authorised_client_works(curve_server, keys):
    for name in ("client", "second"):
        with ServiceClient(curve_server.endpoint, keys_dir=str(keys), client_name=name, heartbeat_s=0.2) as client:
            assert client.hello()["curve"] is True
            out = client.encode("raw-analog", np.zeros((1, 8, 8, 3), np.uint8))
            assert len(out.transmissions) == 1


def test_unauthorised_key_is_rejected_and_counted(curve_server, keys, tmp_path, caplog):
    intruder = tmp_path / "intruder"
    generate_keys(intruder, clients=["client"])
    shutil.copyfile(keys / "server.key", intruder / "server.key")  # knows the server, is not authorised
    caplog.set_level(logging.WARNING, logger="semcom.service")
    before = curve_server.stats().get("auth_failures", 0)
    with ServiceClient(curve_server.endpoint, keys_dir=str(intruder), heartbeat_s=0.2) as client:
        with pytest.raises(AuthenticationFailed, match="not authorised"):
            client.hello(timeout_s=5)
    # counted and logged by the server's socket thread when it drains its monitor socket (see below)
    assert _eventually(lambda: curve_server.stats()["auth_failures"] > before)
    assert _eventually(lambda: any("not authorised" in r.getMessage() for r in caplog.records))


def test_client_without_keys_gets_no_service(curve_server):
    before = curve_server.stats().get("handshake_failures", 0)
    with ServiceClient(curve_server.endpoint, heartbeat_s=0.2, retries=0) as client:
        with pytest.raises(AuthenticationFailed, match="handshake"):
            client.hello(timeout_s=2)
        assert client.stats()["auth_failures"] == 1
    # The server learns of the failed handshake from its own monitor socket, which its socket thread
    # drains on its next poll: under load that can come after the client has already given up.
    assert _eventually(lambda: curve_server.stats().get("handshake_failures", 0) > before)


def _eventually(predicate, timeout_s: float = 10.0) -> bool:
    """True as soon as ``predicate()`` holds, False if it still does not after ``timeout_s`` seconds."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def _outside_ip() -> str | None:
    """An address of this machine that is not loopback, if it has one."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("192.0.2.1", 9))  # no packet is sent: this only picks a source address
            ip = s.getsockname()[0]
    except OSError:
        return None
    return None if ip.startswith("127.") or ip == "0.0.0.0" else ip


def test_wildcard_bind_with_keys_serves_and_refuses_remote_shutdown(keys):
    try:
        s = Server("tcp://0.0.0.0:*", keys_dir=str(keys))
        endpoint = s.start()
    except zmq.ZMQError as exc:
        pytest.skip(f"cannot bind 0.0.0.0 here: {exc}")
    try:
        port = endpoint.rsplit(":", 1)[1]
        with ServiceClient(f"tcp://127.0.0.1:{port}", keys_dir=str(keys), heartbeat_s=0.2) as client:
            assert client.hello()["video_files"] == "none"  # not loopback: no file paths without a root
        ip = _outside_ip()
        if ip is None:
            pytest.skip("no non-loopback address on this machine")
        with ServiceClient(f"tcp://{ip}:{port}", keys_dir=str(keys), heartbeat_s=0.2) as client:
            with pytest.raises(RemoteError) as err:
                client.shutdown()
            assert err.value.code == "forbidden"
        assert s.running
    finally:
        s.stop()


def test_keys_command(tmp_path, capsys):
    import json

    from semcom_host.service.cli import main

    assert main(["keys", "--dir", str(tmp_path / "k"), "--client", "gnuradio", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["clients"]["gnuradio"].endswith("gnuradio.key_secret")
    assert (tmp_path / "k" / "authorized" / "gnuradio.key").is_file()
    assert main(["keys", "--dir", str(tmp_path / "k"), "--client", "server"]) == 2  # reserved name
