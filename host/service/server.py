"""The semantic service: a ZeroMQ ROUTER that encodes and decodes for registered schemes.

Threads: one socket thread owns the ROUTER socket (and the monitor socket): it validates every
request, answers hello, ping and shutdown at once, and hands encode/decode to a pool of
``workers`` threads; a worker's reply goes back through a queue and a wake-up pipe, so the
socket thread keeps answering heartbeats while a long encode runs. Nothing blocks it but
parsing headers.

Robustness:

* every header field is validated (:func:`~.protocol.parse_request`); a bad request gets an
  error reply under its own id when that id is readable, and is counted (``stats()["errors"]``)
  and logged (at most ``LOG_BURST`` lines per error code per minute);
* a request is known by its sender's key (CURVE), connection identity and id: one already being
  worked on is not started twice (a client retrying after a reconnect keeps its identity and
  gets the one result), and another client using the same id never receives it; the last
  ``reply_cache`` results (at most ``reply_cache_bytes`` in all, for ``REPLY_TTL_S`` seconds)
  are kept to answer a retry whose first reply was lost;
* at most ``max_pending`` encode/decode requests wait or run; more are refused with "busy";
* a message is read part by part: one with more than ``max_buffers`` buffers or more than
  ``max_message_bytes`` in all is refused (``too_large``) without its parts being held together;
  a single part larger than max_message_bytes + max_header_bytes makes libzmq drop the
  connection (the sender gets no reply);
* every message with a readable identity gets a reply, whatever its header holds; a failure of
  the service itself is answered ``internal`` and logged (rate-limited);
* security: loopback (or ipc) binds only, unless CURVE keys are given; with keys every
  client must present an authorised key (ZAP); failed handshakes are counted and logged;
  shutdown is honoured only from a loopback peer.
"""
from __future__ import annotations

import ipaddress
import logging
import os
import queue
import secrets
import signal
import threading
import time
from collections import Counter, OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import zmq

from semcom_client.keys import KeysError, handshake_failures, is_local_address, load_server_keys
from semcom_client.protocol import (
    PROTOCOL_VERSION,
    Limits,
    ProtocolError,
    Request,
    pack_header,
    parse_request,
    plain,
    request_id_of,
)

from .handlers import PathPolicy, answer, error_parts, reply_header
from .isolation import Isolation
from .registry import load_builtin_schemes, scheme_names, schemes

__all__ = ["Server", "serve", "DEFAULT_ADDRESS"]

DEFAULT_ADDRESS = "tcp://127.0.0.1:5560"
#: the ZAP domain of the service socket (the authenticator's client keys are filed under it)
ZAP_DOMAIN = "semcom"
LOG_BURST = 20
REPLY_TTL_S = 120.0
@dataclass
class _Job:
    identity: bytes
    op: str
    started: float


class _RateLimitedLog:
    """At most ``burst`` log lines per key per ``window_s``; the rest are counted and summarised."""

    def __init__(self, log: logging.Logger, burst: int = LOG_BURST, window_s: float = 60.0):
        self.log, self.burst, self.window = log, burst, window_s
        self._seen: dict[str, list] = {}

    def warning(self, key: str, msg: str, *args, **kwargs) -> None:
        now = time.monotonic()
        start, count, dropped = self._seen.get(key, (now, 0, 0))
        if now - start > self.window:
            if dropped:
                self.log.warning("%d more '%s' messages were not logged", dropped, key)
            start, count, dropped = now, 0, 0
        if count < self.burst:
            self.log.warning(msg, *args, **kwargs)
            count += 1
        else:
            dropped += 1
        self._seen[key] = (start, count, dropped)


class Server:
    """The service (see the module docstring). ``start()`` binds and runs the socket thread in the
    background; ``run()`` binds (if needed) and runs it in the calling thread.

    address: tcp://HOST:PORT (port ``*`` picks a free one: see ``endpoint``) or ipc://PATH.
    keys_dir: CURVE keys directory (see keys.py); required unless the address is loopback/ipc.
    require_curve: refuse to start without keys even on loopback.
    workers: worker threads for encode/decode.
    video_root: directory that encode-by-path requests must stay inside; without it, paths are
        allowed only on loopback/ipc binds.
    scheme_modules: modules to import before serving (each registers its schemes on import).
    isolate: run the schemes known at start (built-in and from ``scheme_modules``) in one worker
        process per worker thread, so that a native crash costs one ``internal`` reply and the
        service stays up (:mod:`.isolation`); ``semcom serve`` does this unless ``--no-isolate``.
    """

    def __init__(self, address: str = DEFAULT_ADDRESS, keys_dir: str | None = None, workers: int = 1, *,
                 require_curve: bool = False, limits: Limits | None = None, video_root: str | None = None,
                 scheme_modules=(), max_pending: int | None = None, reply_cache: int = 16,
                 reply_cache_bytes: int = 64 << 20, isolate: bool = False, logger: logging.Logger | None = None):
        if workers < 1:
            raise ValueError("workers must be >= 1")
        self.address = address
        self.local = is_local_address(address)
        if keys_dir is None and not self.local:
            raise KeysError(f"refusing to bind {address} without CURVE keys: only loopback and ipc addresses may "
                            f"run unauthenticated (make keys with `semcom keys --dir DIR`, pass --keys DIR)")
        if keys_dir is None and require_curve:
            raise KeysError("require_curve is set but no keys directory was given")
        self.keys_dir = keys_dir
        self.workers = int(workers)
        self.limits = limits or Limits()
        self.policy = PathPolicy(video_root, allow_any=self.local)
        self.max_pending = int(max_pending or 4 * self.workers)
        self.reply_cache, self.reply_cache_bytes = int(reply_cache), int(reply_cache_bytes)
        self.log = logger or logging.getLogger("semcom.service")
        self._rlog = _RateLimitedLog(self.log)
        self.instance = secrets.token_hex(8)
        # the PHY's wire format and the video I/O load now, not on the socket thread at the
        # first request (half a second without heartbeat replies)
        from semcom_blocks.phy.wire import WIRE_VERSION
        from semcom_models import video_io  # noqa: F401

        self.wire_version = WIRE_VERSION
        load_builtin_schemes()
        import importlib

        for mod in scheme_modules:
            importlib.import_module(mod)
        # what a worker process will have too (it imports the same); later registrations stay here
        self._isolation = Isolation(scheme_names(), self.limits, self.policy, self.instance, scheme_modules,
                                    self.log) if isolate else None
        self._counters: Counter = Counter()
        self._errors: Counter = Counter()
        self._stats_lock = threading.Lock()
        self._inflight: dict[tuple, _Job] = {}
        self._cache: OrderedDict[tuple, tuple[list, int, float]] = OrderedDict()
        self._cache_bytes = 0
        self._results: queue.SimpleQueue = queue.SimpleQueue()
        self._stopping = threading.Event()
        self._ctx = self._sock = self._monitor = self._auth = self._pool = None
        self._thread: threading.Thread | None = None
        self._closed = False
        self.endpoint: str | None = None
        self._wake_r = self._wake_w = None

    # -- lifecycle --------------------------------------------------------------------------
    def bind(self) -> str:
        """Create the sockets and bind; returns the bound endpoint (port resolved)."""
        if self._sock is not None:
            return self.endpoint
        ctx = zmq.Context()
        try:
            sock = ctx.socket(zmq.ROUTER)
            sock.linger = 0
            sock.setsockopt(zmq.ROUTER_MANDATORY, 1)
            sock.setsockopt(zmq.ROUTER_HANDOVER, 1)  # a client reconnecting under its identity takes it over
            sock.setsockopt(zmq.MAXMSGSIZE, self.limits.max_message_bytes + self.limits.max_header_bytes)
            if self.keys_dir is not None:
                public, secret, authorized = load_server_keys(self.keys_dir)
                from zmq.auth.thread import ThreadAuthenticator

                self._auth = ThreadAuthenticator(ctx, log=self.log.getChild("zap"))
                self._auth.start()
                self._auth.configure_curve(domain=ZAP_DOMAIN, location=str(authorized))
                sock.curve_secretkey, sock.curve_publickey, sock.curve_server = secret, public, True
                sock.zap_domain = ZAP_DOMAIN.encode()
            self._monitor = sock.get_monitor_socket(
                zmq.EVENT_HANDSHAKE_FAILED_AUTH | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL
                | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL)
            sock.bind(self.address)
        except Exception:
            if self._auth is not None:
                self._auth.stop()
            ctx.destroy(linger=0)
            raise
        self._ctx, self._sock = ctx, sock
        self.endpoint = sock.getsockopt_string(zmq.LAST_ENDPOINT)
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_w, False)
        self._pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="semcom-worker")
        self.log.info("semcom service %s listening on %s (CURVE %s, %d worker%s, schemes: %s, video files: %s)",
                      self.instance, self.endpoint, "on" if self.keys_dir else "off", self.workers,
                      "s" if self.workers > 1 else "", ", ".join(s.name for s in schemes()), self.policy.describe())
        return self.endpoint

    def start(self) -> str:
        """Bind and serve on a background thread; returns the endpoint."""
        endpoint = self.bind()
        self._thread = threading.Thread(target=self.run, name="semcom-service", daemon=True)
        self._thread.start()
        return endpoint

    def stop(self, timeout: float = 5.0) -> None:
        """Stop serving (the socket thread closes everything); closes a bound, never-run server."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)
        elif self._sock is not None and not self._closed:
            self._close()

    @property
    def running(self) -> bool:
        return self._sock is not None and not self._stopping.is_set()

    def stats(self) -> dict:
        with self._stats_lock:
            out = dict(self._counters)
            out["errors"] = dict(self._errors)
        out["inflight"] = len(self._inflight)
        if self._isolation is not None:
            out["worker_crashes"] = self._isolation.crashes
        out["cached_replies"] = len(self._cache)
        return out

    def _count(self, key: str, n: int = 1) -> None:
        with self._stats_lock:
            self._counters[key] += n

    # -- the socket thread ------------------------------------------------------------------
    def run(self) -> None:
        self.bind()
        poller = zmq.Poller()
        poller.register(self._sock, zmq.POLLIN)
        poller.register(self._monitor, zmq.POLLIN)
        poller.register(self._wake_r, zmq.POLLIN)
        try:
            while not self._stopping.is_set():
                for item, _ in poller.poll(100):
                    if item is self._sock:
                        self._drain_socket()
                    elif item is self._monitor:
                        self._drain_monitor()
                    else:
                        os.read(self._wake_r, 4096)
                self._send_results()
                self._expire_cache()
        finally:
            self._close()

    def _close(self) -> None:
        self._closed = True
        self._pool.shutdown(wait=False, cancel_futures=True)
        if self._isolation is not None:
            self._isolation.stop()
        self._sock.disable_monitor()
        self._monitor.close(linger=0)
        self._sock.close(linger=500)  # long enough to flush the last replies (a shutdown's)
        if self._auth is not None:
            self._auth.stop()
        self._ctx.term()
        for fd in (self._wake_r, self._wake_w):
            try:
                os.close(fd)
            except OSError:
                pass
        self.log.info("semcom service %s stopped: %s", self.instance, self.stats())

    def _drain_monitor(self) -> None:
        for key, why, event in handshake_failures(self._monitor):
            self._count(key)
            self._rlog.warning(key, "rejected a connection on %s: %s (event value %s)",
                               event.get("endpoint", b"?").decode(errors="replace"), why, event["value"])

    def _drain_socket(self) -> None:
        for _ in range(256):
            try:
                frames, refusal = self._recv_bounded()
            except zmq.Again:
                return
            try:
                self._on_message(frames, refusal)
            except Exception:  # never let one message take the service down, never leave it unanswered
                self._count("internal_errors")
                self._rlog.warning("internal", "internal error while handling a message", exc_info=True)
                if len(frames) >= 2:
                    rid = request_id_of(frames[1].buffer)
                    self._send(frames[0].bytes, self._error_parts(rid, None, ProtocolError(
                        "internal", "the service failed on this message (logged on the server)")))

    def _recv_bounded(self) -> tuple[list, ProtocolError | None]:
        """One message, part by part: (frames kept, why it is refused or None). Raises zmq.Again.

        The first frame is the sender's identity. Parts beyond ``max_buffers + 1`` or beyond
        ``max_message_bytes`` in all are read and released at once, never held together: the
        message is refused (``too_large``) under the id of its header, which is always kept.
        """
        first = self._sock.recv(zmq.NOBLOCK, copy=False)
        frames, refusal, total, more = [first], None, 0, first.more
        max_parts = self.limits.max_buffers + 2  # identity + header + buffers
        while more:
            part = self._sock.recv(copy=False)  # the rest of the message is already here (atomic delivery)
            more = part.more
            if refusal is not None:
                continue
            total += len(part)
            if len(frames) >= max_parts:
                refusal = ProtocolError("too_large", f"message has more than {max_parts - 2} buffers")
            elif total > self.limits.max_message_bytes:
                refusal = ProtocolError("too_large", f"message exceeds {self.limits.max_message_bytes} bytes")
            else:
                frames.append(part)
        if refusal is not None:
            self._count("refused_while_receiving")
        return frames, refusal

    def _on_message(self, frames: list, refusal: ProtocolError | None = None) -> None:
        self._count("messages")
        if len(frames) < 2:
            self._count("dropped_empty")
            return
        identity = frames[0].bytes
        parts = [frames[1].bytes] + [f.buffer for f in frames[2:]]
        try:
            if refusal is not None:
                raise refusal
            req = parse_request(parts, self.limits)
        except Exception as exc:  # ProtocolError, or anything else a hostile header provokes
            err = exc if isinstance(exc, ProtocolError) else ProtocolError(
                "malformed", f"request could not be read ({type(exc).__name__})")
            rid = request_id_of(parts[0]) if len(parts[0]) <= self.limits.max_header_bytes else None
            self._reject(identity, rid, None, err)
            return
        self._count(f"op_{req.op}")
        user = self._user_id(frames[1])
        if req.op == "hello":
            self._reply(identity, self._header(req.id, "hello", "ok", result=self._hello()))
        elif req.op == "ping":
            ref = req.header.get("ref")
            key = (user, identity, ref)
            known = None if ref is None else (key in self._inflight or key in self._cache)
            self._reply(identity, self._header(req.id, "ping", "ok", result={
                "time": time.time(), "known": known, "pending": len(self._inflight)}))
        elif req.op == "shutdown":
            if not self._peer_is_local(frames[1]):
                self._reject(identity, req.id, "shutdown", ProtocolError("forbidden", "shutdown is accepted only "
                                                                                      "from loopback peers"))
                return
            self.log.info("shutdown requested")
            self._reply(identity, self._header(req.id, "shutdown", "ok", result={"stats": self.stats()}))
            self._stopping.set()
        else:
            self._submit(identity, user, req, parts)

    def _user_id(self, frame) -> str:
        if self.keys_dir is None:
            return ""
        try:
            return frame.get("User-Id") or ""
        except zmq.ZMQError:
            return ""

    def _peer_is_local(self, frame) -> bool:
        if self.endpoint.startswith("ipc://"):
            return True
        try:
            return ipaddress.ip_address(frame.get("Peer-Address")).is_loopback
        except (zmq.ZMQError, ValueError):
            return False

    def _hello(self) -> dict:
        return plain({"server": "gr-semcom", "protocol": PROTOCOL_VERSION, "wire": self.wire_version,
                      "schemes": [s.info() for s in schemes()], "limits": self.limits.as_dict(),
                      "curve": self.keys_dir is not None, "workers": self.workers,
                      "video_files": self.policy.describe(), "max_pending": self.max_pending,
                      "isolated": sorted(self._isolation.names) if self._isolation else []})

    def _header(self, rid, op, status, result=None, descriptors=None, error=None) -> dict:
        return reply_header(self.instance, rid, op, status, result, descriptors, error)

    def _error_parts(self, rid, op, err: ProtocolError) -> list:
        return error_parts(self.instance, rid, op, err)

    def _reject(self, identity: bytes, rid, op, err: ProtocolError) -> None:
        with self._stats_lock:
            self._errors[err.code] += 1
        self._rlog.warning(err.code, "rejected request %s (op %s): %s: %s", rid, op, err.code, err.message)
        self._send(identity, self._error_parts(rid, op, err))

    def _reply(self, identity: bytes, header: dict, buffers=()) -> None:
        self._send(identity, [pack_header(header), *buffers])

    def _send(self, identity: bytes, parts: list) -> None:
        try:
            self._sock.send_multipart([identity, *parts], flags=zmq.NOBLOCK, copy=False)
            self._count("replies")
        except zmq.ZMQError as exc:  # the client is gone (EHOSTUNREACH) or not reading (EAGAIN)
            self._count("replies_undeliverable")
            self._rlog.warning("undeliverable", "could not deliver a reply: %s", exc)

    # -- encode / decode on the worker pool -------------------------------------------------
    def _submit(self, identity: bytes, user: str, req: Request, raw: list) -> None:
        # A request is known by who sent it, over which connection, and its id: a second client
        # that sends a running request's id starts its own request and never receives the first
        # one's reply. The client keeps its routing identity across reconnects (ROUTER_HANDOVER),
        # so its own retry still finds the running job or the cached reply.
        key = (user, identity, req.id)
        if key in self._inflight:  # a retry of a request still running: its reply will come
            self._count("duplicates")
            return
        cached = self._cache.get(key)
        if cached is not None:
            self._count("replies_from_cache")
            self._send(identity, cached[0])
            return
        if self._stopping.is_set():
            self._reject(identity, req.id, req.op, ProtocolError("shutting_down", "the service is stopping"))
            return
        if len(self._inflight) >= self.max_pending:
            self._reject(identity, req.id, req.op, ProtocolError("busy", f"{self.max_pending} requests already "
                                                                          f"pending; retry later"))
            return
        self._inflight[key] = _Job(identity, req.op, time.monotonic())
        self._pool.submit(self._work, key, req, raw)

    def _work(self, key: tuple, req: Request, raw: list) -> None:
        """Worker thread: run the request (in a worker process when the scheme is isolated), queue
        the reply parts for the socket thread."""
        if self._isolation is not None and self._isolation.serves(req.scheme):
            parts, code, msg = self._isolation.run(req, raw)
        else:
            parts, code, msg = answer(req, self.limits, self.policy, self.instance, self.log)
        self._results.put((key, parts, code, msg))
        try:
            os.write(self._wake_w, b"!")
        except (BlockingIOError, OSError):
            pass  # the pipe is full (the socket thread will look anyway) or closed (stopping)

    def _send_results(self) -> None:
        while True:
            try:
                key, parts, code, msg = self._results.get_nowait()
            except queue.Empty:
                return
            job = self._inflight.pop(key, None)
            if job is None:
                continue
            self._count(f"done_{job.op}")
            self.log.debug("request %s (%s) answered after %.3f s: %s", key[1], job.op,
                           time.monotonic() - job.started, code or "ok")
            if code is not None:
                with self._stats_lock:
                    self._errors[code] += 1
                self._rlog.warning(code, "request %s (op %s) failed: %s: %s", key[1], job.op, code, msg)
            else:
                self._remember(key, parts)
            self._send(job.identity, parts)

    def _remember(self, key: tuple, parts: list) -> None:
        size = sum(len(p) for p in parts)
        if self.reply_cache < 1 or size > self.reply_cache_bytes:
            return
        self._cache[key] = (parts, size, time.monotonic())
        self._cache_bytes += size
        while len(self._cache) > self.reply_cache or self._cache_bytes > self.reply_cache_bytes:
            _, (_, old, _) = self._cache.popitem(last=False)
            self._cache_bytes -= old

    def _expire_cache(self) -> None:
        now = time.monotonic()
        while self._cache:
            key, (_, size, t) = next(iter(self._cache.items()))
            if now - t < REPLY_TTL_S:
                return
            del self._cache[key]
            self._cache_bytes -= size


def serve(address: str = DEFAULT_ADDRESS, keys_dir: str | None = None, workers: int = 1, *,
          require_curve: bool = False, limits: Limits | None = None, video_root: str | None = None,
          scheme_modules=(), max_pending: int | None = None, isolate: bool = False, on_ready=None) -> dict:
    """Run the service in the calling thread until a shutdown request, SIGINT or SIGTERM.

    See :class:`Server` for the arguments. ``on_ready(endpoint)`` is called once bound.
    Returns the final counters. Raises KeysError (a ValueError) when keys are needed and missing
    and zmq.ZMQError when the address cannot be bound.
    """
    server = Server(address, keys_dir, workers, require_curve=require_curve, limits=limits, video_root=video_root,
                    scheme_modules=scheme_modules, max_pending=max_pending, isolate=isolate)
    endpoint = server.bind()
    previous = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, lambda *_: server._stopping.set())
        # a parent that started us from a thread with these signals blocked (GNU Radio's block
        # threads block them) passes its mask on through exec: take them back
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM})
    try:
        if on_ready is not None:
            on_ready(endpoint)
        server.run()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return server.stats()
