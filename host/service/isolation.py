"""Schemes in worker processes: a native crash inside a scheme costs one reply, not the service.

With isolation on, each of the service's worker threads owns one child process
(``python -m semcom_host.service.worker``) and hands it the raw parts of each encode or decode
request, exactly as they came off the socket; the child validates them again, runs the scheme
and sends back the reply parts. Nothing is pickled: the pipes carry the protocol's own msgpack
headers and raw buffers (:func:`write_message` / :func:`read_message`). When a child dies (a
segmentation fault in a codec, the kernel's OOM killer), the request gets an ``internal`` reply
naming the signal, the death is counted (``worker_crashes``) and logged, and the next request
starts a fresh child.

Only schemes the child can load itself run there: the built-in ones and those of the service's
``scheme_modules``. A scheme registered at run time in the service's own process (a test, a
notebook) runs on the worker thread as before; ``hello`` lists which are isolated.
"""
from __future__ import annotations

import json
import logging
import signal
import struct
import subprocess
import sys
import threading
import time

from semcom_client.protocol import Limits, ProtocolError, Request

from .handlers import PathPolicy, error_parts

__all__ = ["Isolation", "WorkerProcess", "WorkerDied", "read_message", "write_message"]

_COUNT = struct.Struct("<I")
_SIZE = struct.Struct("<Q")
#: how long a fresh child may take to import its schemes (torch included) and say it is ready (s)
START_TIMEOUT_S = 180.0


class WorkerDied(RuntimeError):
    """The worker process exited (or closed its pipes) before answering."""


def _write_all(f, data) -> None:
    view = memoryview(data).cast("B")
    while view.nbytes:
        n = f.write(view)
        view = view[n if n is not None else 0:]


def write_message(f, parts) -> None:
    """Write ``parts`` (bytes-like) to the binary file ``f``: a little-endian u32 part count, then
    each part as a u64 length and its bytes; flushed."""
    _write_all(f, _COUNT.pack(len(parts)))
    for p in parts:
        _write_all(f, _SIZE.pack(memoryview(p).nbytes))
        _write_all(f, p)
    f.flush()


def _read_exact(f, n: int) -> bytes | None:
    """Exactly ``n`` bytes from ``f`` (raw reads may return fewer), or None at end of file."""
    buf = bytearray(n)
    view, got = memoryview(buf), 0
    while got < n:
        k = f.readinto(view[got:])
        if not k:
            return None
        got += k
    return bytes(buf)


def read_message(f, max_parts: int, max_bytes: int) -> list[bytes] | None:
    """One message written by :func:`write_message`; None at end of file (or a truncated message).
    ValueError when it announces more than ``max_parts`` parts or ``max_bytes`` bytes in all."""
    head = _read_exact(f, _COUNT.size)
    if head is None:
        return None
    (count,) = _COUNT.unpack(head)
    if count > max_parts:
        raise ValueError(f"message of {count} parts exceeds {max_parts}")
    parts, total = [], 0
    for _ in range(count):
        size = _read_exact(f, _SIZE.size)
        if size is None:
            return None
        (n,) = _SIZE.unpack(size)
        total += n
        if total > max_bytes:
            raise ValueError(f"message exceeds {max_bytes} bytes")
        data = _read_exact(f, n)
        if data is None:
            return None
        parts.append(data)
    return parts


def _describe_exit(rc: int | None) -> str:
    if rc is None:
        return "closed its pipe"
    if rc < 0:
        try:
            return f"was killed by {signal.Signals(-rc).name}"
        except ValueError:
            return f"was killed by signal {-rc}"
    return f"exited with status {rc}"


class WorkerProcess:
    """One child process that runs schemes (see the module docstring). Not thread-safe: one
    worker thread owns it."""

    def __init__(self, config: dict, log: logging.Logger):
        self.config = config
        self.log = log
        self.proc: subprocess.Popen | None = None
        self.schemes: frozenset[str] = frozenset()
        limits = config["limits"]
        self._max_parts = limits["max_buffers"] + 2
        self._max_bytes = 2 * (limits["max_message_bytes"] + limits["max_header_bytes"]) + limits["max_video_bytes"]

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self) -> None:
        """Start the child and wait until it has loaded its schemes. RuntimeError if it fails."""
        self.stop()
        cmd = [sys.executable, "-m", "semcom_host.service.worker"]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0)
        try:
            write_message(self.proc.stdin, [json.dumps(self.config).encode()])
            ready = self._read()
        except (OSError, ValueError, WorkerDied) as exc:
            self.stop()
            raise RuntimeError(f"the scheme worker process did not start: {exc}") from None
        info = json.loads(ready[0])
        self.schemes = frozenset(info["schemes"])
        self.log.info("scheme worker process %d ready (%d schemes)", self.proc.pid, len(self.schemes))

    def _read(self) -> list[bytes]:
        msg = read_message(self.proc.stdout, self._max_parts, self._max_bytes)
        if msg is None:
            try:
                rc = self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                rc = self.proc.wait()
            raise WorkerDied(f"the scheme worker process {self.proc.pid} {_describe_exit(rc)}")
        return msg

    def call(self, raw: list) -> tuple[list, str | None, str | None]:
        """Send one request's raw parts; (reply parts, error code, message). WorkerDied if the
        child dies on it."""
        if not self.alive:
            self.start()
        try:
            write_message(self.proc.stdin, raw)
        except OSError:
            pass  # it died before reading all of it: _read reports how
        msg = self._read()
        meta = json.loads(msg[0])
        return msg[1:], meta.get("code"), meta.get("message")

    def stop(self) -> None:
        if self.proc is None:
            return
        for pipe in (self.proc.stdin, self.proc.stdout):
            try:
                pipe.close()
            except OSError:
                pass
        try:
            self.proc.wait(timeout=5)  # EOF on its stdin makes it exit
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None


class Isolation:
    """The service's worker processes, one per worker thread, started on first use."""

    def __init__(self, names, limits: Limits, policy: PathPolicy, instance: str, scheme_modules=(),
                 log: logging.Logger | None = None):
        #: the schemes a child has too: the built-in ones and those the scheme modules register on import
        self.names = frozenset(names)
        self.instance = instance
        self.log = log or logging.getLogger("semcom.service")
        self.config = {"limits": limits.as_dict(), "video_root": str(policy.root) if policy.root else None,
                       "allow_any": policy.allow_any, "instance": instance, "scheme_modules": list(scheme_modules)}
        self._local = threading.local()
        self._all: list[WorkerProcess] = []
        self._lock = threading.Lock()
        self.crashes = 0

    def serves(self, scheme: str | None) -> bool:
        return scheme in self.names

    def _worker(self) -> WorkerProcess:
        w = getattr(self._local, "worker", None)
        if w is None:
            w = self._local.worker = WorkerProcess(self.config, self.log)
            with self._lock:
                self._all.append(w)
        return w

    def run(self, req: Request, raw: list) -> tuple[list, str | None, str | None]:
        """Run ``req`` (whose socket parts are ``raw``) in this thread's worker process."""
        worker = self._worker()
        t0 = time.monotonic()
        try:
            return worker.call(raw)
        except (WorkerDied, RuntimeError) as exc:
            with self._lock:
                self.crashes += 1
            self.log.error("request %s (scheme %s): %s after %.1f s; a new one starts with the next request",
                           req.id, req.scheme, exc, time.monotonic() - t0)
            worker.stop()
            msg = f"{exc} while running scheme {req.scheme!r}; the service restarts it (request not completed)"
            return error_parts(self.instance, req.id, req.op, ProtocolError("internal", msg)), "internal", msg

    def stop(self) -> None:
        with self._lock:
            workers, self._all = self._all, []
        for w in workers:
            w.stop()

