"""CURVE keys for the service, and the rule for when they are required.

Layout of a keys directory (made by :func:`generate_keys`, ``semcom keys --dir DIR``)::

    DIR/server.key          the server's public key: give it to every client
    DIR/server.key_secret   the server's secret key: stays on the server (mode 0600)
    DIR/<name>.key          a client's public key
    DIR/<name>.key_secret   that client's secret key: stays with the client (mode 0600)
    DIR/authorized/*.key    the public keys of the clients the server accepts

The server reads ``server.key_secret`` and ``authorized/``; a client reads its own
``<name>.key_secret`` and ``server.key``. A client is accepted when its public key is one of
``authorized/*.key`` (checked by ZAP, ``zmq.auth.thread.ThreadAuthenticator``); to admit another
client, copy its ``.key`` file (public, never the secret) into ``authorized/`` and restart the
server. Files are the ZeroMQ certificate format (``zmq.auth.create_certificates``).

Without keys the service only binds to loopback addresses: any other address needs CURVE.
"""
from __future__ import annotations

import ipaddress
import os
import re
import shutil
from pathlib import Path

import zmq
import zmq.auth

__all__ = ["generate_keys", "load_server_keys", "load_client_keys", "is_local_address", "KeysError",
           "AUTHORIZED_DIR", "SERVER_NAME", "handshake_failures"]

AUTHORIZED_DIR = "authorized"
SERVER_NAME = "server"
_CLIENT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")


class KeysError(ValueError):
    """Keys missing, unreadable, or required and not given."""


def is_local_address(address: str) -> bool:
    """True for endpoints only this machine can reach: tcp on a loopback host (127.0.0.0/8,
    ::1, localhost) and ipc. Wildcards (``*``, 0.0.0.0), other hosts and interface names are
    not local. ValueError for an endpoint that is not tcp:// or ipc://."""
    if not isinstance(address, str):
        raise ValueError(f"service address must be a string, got {type(address).__name__}")
    if address.startswith("ipc://"):
        return True
    if not address.startswith("tcp://"):
        raise ValueError(f"service address must be tcp://HOST:PORT or ipc://PATH, got {address!r}")
    rest = address[len("tcp://"):]
    host = rest.rsplit(":", 1)[0] if ":" in rest else rest
    host = host.strip("[]")
    if ";" in host:  # "source;destination" syntax of connect(): judge the destination
        host = host.split(";")[-1]
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _write_private(src: Path) -> None:
    os.chmod(src, 0o600)


def generate_keys(keys_dir: str | os.PathLike, clients=("client",), force: bool = False) -> dict:
    """Create a server key pair and one key pair per client name in ``keys_dir`` and authorise
    every client (copy its public key into ``authorized/``).

    Existing key files are kept unless ``force`` (then they are replaced: clients holding the
    old server key must get the new one). Returns {"server": path of server.key, "clients":
    {name: path of name.key_secret}, "authorized": path}.
    """
    if not zmq.has("curve"):
        raise KeysError("this libzmq was built without CURVE support")
    root = Path(keys_dir)
    root.mkdir(parents=True, exist_ok=True)
    os.chmod(root, 0o700)
    auth = root / AUTHORIZED_DIR
    auth.mkdir(exist_ok=True)
    names = list(clients)
    for name in names:
        if not _CLIENT_NAME.match(name) or name == SERVER_NAME:
            raise KeysError(f"client name must match {_CLIENT_NAME.pattern} and not be {SERVER_NAME!r}: {name!r}")
    out = {"clients": {}, "authorized": str(auth)}
    for name in [SERVER_NAME, *names]:
        public, secret = root / f"{name}.key", root / f"{name}.key_secret"
        if force or not (public.is_file() and secret.is_file()):
            for f in (public, secret):
                f.unlink(missing_ok=True)
            zmq.auth.create_certificates(str(root), name)
        _write_private(secret)
        if name == SERVER_NAME:
            out["server"] = str(public)
        else:
            shutil.copyfile(public, auth / f"{name}.key")
            out["clients"][name] = str(secret)
    return out


def _load(path: Path, need_secret: bool) -> tuple[bytes, bytes | None]:
    if not path.is_file():
        raise KeysError(f"key file not found: {path} (make keys with `semcom keys --dir {path.parent}`)")
    try:
        public, secret = zmq.auth.load_certificate(str(path))
    except (OSError, ValueError) as exc:
        raise KeysError(f"cannot read key file {path}: {exc}") from None
    if need_secret and not secret:
        raise KeysError(f"{path} holds no secret key")
    return public, secret


def load_server_keys(keys_dir: str | os.PathLike) -> tuple[bytes, bytes, Path]:
    """(public, secret, authorized directory) of a keys directory; KeysError if incomplete."""
    root = Path(keys_dir)
    public, secret = _load(root / f"{SERVER_NAME}.key_secret", True)
    auth = root / AUTHORIZED_DIR
    if not auth.is_dir() or not any(auth.glob("*.key")):
        raise KeysError(f"no authorised client keys in {auth}: copy clients' .key files there")
    return public, secret, auth


def load_client_keys(keys_dir: str | os.PathLike, name: str = "client") -> tuple[bytes, bytes, bytes]:
    """(client public, client secret, server public) of a keys directory; KeysError if missing."""
    root = Path(keys_dir)
    public, secret = _load(root / f"{name}.key_secret", True)
    server_public, _ = _load(root / f"{SERVER_NAME}.key", False)
    return public, secret, server_public


#: socket-monitor events of a refused CURVE peer -> the counter they go to, and why
_HANDSHAKE_EVENTS = {zmq.EVENT_HANDSHAKE_FAILED_AUTH: ("auth_failures", "client key not authorised"),
                     zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL: ("handshake_failures",
                                                           "security handshake failed (no or wrong CURVE keys?)"),
                     zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL: ("handshake_failures",
                                                            "security handshake failed (no or wrong CURVE keys?)")}


def handshake_failures(monitor):
    """The refused peers a socket monitor (``socket.get_monitor_socket()``) has queued, without
    waiting: (counter name, reason, the monitor event dict) for each handshake that failed."""
    from zmq.utils.monitor import recv_monitor_message

    while True:
        try:
            event = recv_monitor_message(monitor, zmq.NOBLOCK)
        except zmq.Again:
            return
        found = _HANDSHAKE_EVENTS.get(event["event"])
        if found is not None:
            yield (*found, event)
