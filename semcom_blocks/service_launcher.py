"""Start the semantic service for a flowgraph when none is running on its loopback address.

A user who presses Run in GNU Radio Companion on a video flowgraph should not first have to
start ``semcom serve`` in a terminal. When a Semantic Source or Sink (``start_service``, on by
default) finds nothing listening on its loopback address, :func:`ensure_service` starts
``semcom serve --address ADDRESS`` (the venv's command: see :func:`semcom_command`) as a child
of the flowgraph's process, waits until it listens, and stops it when the process exits. It
never starts one for a non-loopback address: a remote service is someone else's to run.
"""
from __future__ import annotations

import atexit
import os
import secrets
import shutil
import subprocess
import threading
import time
from pathlib import Path

import zmq

from semcom_client.keys import is_local_address
from semcom_client.protocol import PROTOCOL_VERSION, pack_header

from . import exit_status

__all__ = ["ensure_service", "semcom_command", "service_listening", "stop_services"]

_READY = "semcom service listening on "
#: how long a fresh service may take to import its models and bind (s)
START_TIMEOUT_S = 120.0
_lock = threading.Lock()
_started: dict[str, subprocess.Popen] = {}


def semcom_command() -> str | None:
    """The ``semcom`` command to run: $SEMCOM_COMMAND, else ``semcom`` on PATH (``cmake --install``
    puts a launcher in the prefix's bin/), else the checkout's ``.venv/bin/semcom`` beside this
    package; None when there is none."""
    env = os.environ.get("SEMCOM_COMMAND")
    if env:
        return env
    found = shutil.which("semcom")
    if found:
        return found
    local = Path(__file__).resolve().parents[1] / ".venv" / "bin" / "semcom"
    return str(local) if local.is_file() else None


def service_listening(address: str, timeout_s: float = 1.0) -> bool:
    """Whether a semantic service without CURVE answers ``hello`` at ``address`` within ``timeout_s``
    seconds (a protocol-level probe: the service sees one ordinary request)."""
    sock = zmq.Context.instance().socket(zmq.DEALER)
    sock.linger = 0
    try:
        sock.connect(address)
        sock.send(pack_header({"v": PROTOCOL_VERSION, "id": "probe-" + secrets.token_hex(6), "op": "hello"}))
        return bool(sock.poll(int(timeout_s * 1000)))
    except zmq.ZMQError:
        return False
    finally:
        sock.close()


def ensure_service(address: str, keys_dir: str | None, logger) -> bool:
    """Start a service on ``address`` if it is a loopback address with nothing listening and no
    CURVE keys are given (a service with keys is a deliberate set-up: start it yourself); True if
    one was started by this call. RuntimeError (naming what to do) when it cannot be started."""
    if keys_dir or not is_local_address(address):
        return False
    with _lock:
        if service_listening(address):
            return False
        proc = _started.get(address)
        if proc is not None and proc.poll() is None:
            return False  # ours, still starting
        cmd = semcom_command()
        if cmd is None:
            raise RuntimeError(f"no semantic service on {address}, and no `semcom` command to start one: run "
                               f"`make setup` (or `cmake --install`), or start `semcom serve --address {address}`")
        argv = [cmd, "serve", "--address", address]
        logger.info(f"no semantic service on {address}: starting one ({' '.join(argv)})")
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
        if not _started:
            atexit.register(stop_services)
            exit_status.register_cleanup(stop_services)
        _started[address] = proc
    deadline = time.monotonic() + START_TIMEOUT_S
    line = ""
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break  # it exited
        if line.startswith(_READY):
            threading.Thread(target=_drain, args=(proc,), daemon=True).start()
            logger.info(f"semantic service started (pid {proc.pid}): {line.strip()}")
            return True
    try:  # it closed its stdout (exited) or stayed silent: its status, once it has one
        rc = proc.wait(timeout=5) if not line else proc.poll()
    except subprocess.TimeoutExpired:
        rc = None
    stop_services()
    raise RuntimeError(f"the semantic service did not start on {address} "
                       f"({'exit status ' + str(rc) if rc is not None else 'no answer in time'}; its log is above)")


def _drain(proc: subprocess.Popen) -> None:
    for _ in proc.stdout:  # keep reading its stdout so that it never blocks on a full pipe
        pass


def stop_services() -> None:
    """Stop the services this process started (SIGTERM, then SIGKILL after 10 s)."""
    with _lock:
        procs = list(_started.values())
        _started.clear()
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
