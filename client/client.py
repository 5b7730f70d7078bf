"""The client of the semantic service (a ZeroMQ DEALER), as the GNU Radio blocks and the host use it.

One request at a time per client (calls are serialised by a lock). While a request is
outstanding the client sends a heartbeat (``ping``, carrying the request id as ``ref``) every
``heartbeat_s`` seconds; the server answers pings on its socket thread even while a worker is
busy, and says whether it knows the request. So the client can tell:

* the server is alive and working: replies to heartbeats keep coming; wait up to ``timeout_s``;
* the server is gone: nothing heard for ``dead_after_s`` -> a *gap*: the socket is closed and
  a new one connects (lazy-pirate reconnect), heartbeats probe until the server answers again,
  then the request is sent again under the same id;
* the server restarted and lost the request: a heartbeat reply says "unknown" -> sent again.

Only idempotent ops (hello, ping, encode, decode: pure functions of their input) are ever sent
twice; the server also runs one id once and caches recent results. ``shutdown`` is never
repeated. ``busy`` replies are retried with exponential back-off. Every gap, reconnect, retry
and timeout is counted (``stats()``), logged, and passed to ``on_event(kind, info)``:
kinds "gap", "reconnect", "recovered" (info["gap_s"]: seconds without the service), "retry",
"timeout".

Frames in and out are uint8 T x H x W x 3 RGB; transmissions and received frames are the wire
bytes of ``semcom_blocks.phy.wire``. No pickle: msgpack headers and raw buffers only.
"""
from __future__ import annotations

import logging
import secrets
import threading
import time
import uuid
from dataclasses import dataclass

import numpy as np
import zmq
from zmq.utils.monitor import recv_monitor_message

from .keys import KeysError, is_local_address, load_client_keys
from .protocol import (
    IDEMPOTENT_OPS,
    PROTOCOL_VERSION,
    RETRYABLE_CODES,
    ProtocolError,
    frames_descriptor,
    pack_header,
    parse_reply,
    plain,
)

__all__ = ["ServiceClient", "ServiceError", "ServiceUnavailable", "ServiceTimeout", "AuthenticationFailed",
           "RemoteError", "EncodeResult", "DecodeResult", "DEFAULT_ADDRESS"]

DEFAULT_ADDRESS = "tcp://127.0.0.1:5560"
_EVENTS = zmq.EVENT_HANDSHAKE_FAILED_AUTH | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL


class ServiceError(RuntimeError):
    """Base of the client's errors; ``code`` names the kind (an ERROR_CODES value for RemoteError)."""

    code = "service"

    def __init__(self, message: str, code: str | None = None):
        super().__init__(message)
        if code is not None:
            self.code = code


class ServiceUnavailable(ServiceError):
    code = "unavailable"


class ServiceTimeout(ServiceError):
    code = "timeout"


class AuthenticationFailed(ServiceError):
    code = "auth"


class RemoteError(ServiceError):
    """The server answered with an error reply (``code``: see protocol.ERROR_CODES)."""


@dataclass
class EncodeResult:
    """transmissions: wire bytes, in sending order; context: the scheme's context map; info: the
    rest of the server's result (num_frames, height, width, fps, n_transmissions, seconds)."""

    transmissions: list
    context: dict
    info: dict


@dataclass
class DecodeResult:
    """frames: uint8 T x H x W x 3 (read-only view of the reply); fps: frames per second;
    report: the scheme's report; info: the rest of the server's result (seconds, counts)."""

    frames: np.ndarray
    fps: float
    report: dict
    info: dict


class ServiceClient:
    """See the module docstring.

    address: the server's endpoint. keys_dir: CURVE keys directory (keys.py layout), needed for
    any non-loopback address; client_name: whose ``<name>.key_secret`` to use.
    heartbeat_s: heartbeat period (s); dead_after_s: silence that declares the server gone (s,
    default 5 heartbeats); timeout_s: default time limit of one call, retries included (s);
    retries: resends at most per call; max_reply_bytes: largest reply part accepted.
    """

    def __init__(self, address: str = DEFAULT_ADDRESS, keys_dir: str | None = None, client_name: str = "client", *,
                 heartbeat_s: float = 1.0, dead_after_s: float | None = None, timeout_s: float = 120.0,
                 retries: int = 5, max_reply_bytes: int = 1 << 30, on_event=None,
                 logger: logging.Logger | None = None):
        if heartbeat_s <= 0 or timeout_s <= 0 or retries < 0:
            raise ValueError("heartbeat_s and timeout_s must be > 0, retries >= 0")
        self.address = address
        if keys_dir is None and not is_local_address(address):
            raise KeysError(f"{address} is not a loopback address: CURVE keys are required (keys_dir)")
        self._keys = load_client_keys(keys_dir, client_name) if keys_dir else None
        self.heartbeat_s = float(heartbeat_s)
        self.dead_after_s = float(dead_after_s if dead_after_s is not None else 5 * heartbeat_s)
        self.timeout_s, self.retries, self.max_reply_bytes = float(timeout_s), int(retries), int(max_reply_bytes)
        self.on_event = on_event
        self.log = logger or logging.getLogger("semcom.client")
        self._ctx = zmq.Context()
        self._sock = self._monitor = None
        self._lock = threading.Lock()
        self._counters = dict.fromkeys(("requests", "replies", "retries", "gaps", "reconnects", "timeouts",
                                        "stale_replies", "malformed_replies", "heartbeats", "send_blocked",
                                        "remote_errors", "auth_failures"), 0)
        self.server_instance: str | None = None
        self._cancel = threading.Event()
        self._routing_id = b"c" + secrets.token_bytes(15)  # a leading zero byte is reserved by ZeroMQ
        self._connect()

    # -- socket management -------------------------------------------------------------------
    def _connect(self) -> None:
        sock = self._ctx.socket(zmq.DEALER)
        sock.linger = 0
        sock.setsockopt(zmq.MAXMSGSIZE, self.max_reply_bytes)
        # one routing identity for the life of this client, kept across reconnects: the server
        # keys requests by it, so a retry finds its request and nobody else's
        sock.setsockopt(zmq.ROUTING_ID, self._routing_id)
        sock.setsockopt(zmq.RECONNECT_IVL, 100)
        sock.setsockopt(zmq.RECONNECT_IVL_MAX, 1000)
        if self._keys is not None:
            public, secret, server_public = self._keys
            sock.curve_publickey, sock.curve_secretkey, sock.curve_serverkey = public, secret, server_public
        self._monitor = sock.get_monitor_socket(_EVENTS)
        sock.connect(self.address)
        self._sock = sock

    def _disconnect(self) -> None:
        if self._sock is not None:
            self._sock.disable_monitor()
            self._monitor.close(linger=0)
            self._sock.close(linger=0)
            self._sock = self._monitor = None

    def close(self) -> None:
        with self._lock:
            self._disconnect()
            self._ctx.term()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def stats(self) -> dict:
        return dict(self._counters)

    def cancel(self) -> None:
        """Make the call in progress (and later ones) raise ServiceError("cancelled") within one
        heartbeat period; safe from any thread."""
        self._cancel.set()

    def _event(self, kind: str, **info) -> None:
        if self.on_event is not None:
            try:
                self.on_event(kind, info)
            except Exception:  # a faulty callback must not break the request
                self.log.exception("on_event callback failed")

    # -- the request loop ------------------------------------------------------------------
    def request(self, op: str, fields: dict | None = None, buffers=(), timeout_s: float | None = None):
        """Send one request and return the validated ok :class:`~.protocol.Reply`.

        Raises RemoteError (error reply), ServiceTimeout (no answer in time while the server is
        alive), ServiceUnavailable (the server stayed unreachable, or a non-idempotent op lost
        it), AuthenticationFailed (the server refused our keys or we lack them).
        """
        with self._lock:
            if self._sock is None:
                raise ServiceError("client is closed")
            return self._exchange(op, dict(fields or {}), list(buffers),
                                  self.timeout_s if timeout_s is None else float(timeout_s))

    def _send(self, parts: list) -> bool:
        try:
            self._sock.send_multipart(parts, flags=zmq.NOBLOCK, copy=False)
            return True
        except zmq.Again:
            self._counters["send_blocked"] += 1
            return False

    def _ping(self, ref: str | None) -> str:
        pid = "hb-" + uuid.uuid4().hex[:16]
        header = {"v": PROTOCOL_VERSION, "id": pid, "op": "ping"}
        if ref is not None:
            header["ref"] = ref
        self._counters["heartbeats"] += 1
        self._send([pack_header(header)])
        return pid

    def _check_monitor(self) -> None:
        while True:
            try:
                event = recv_monitor_message(self._monitor, zmq.NOBLOCK)
            except zmq.Again:
                return
            self._counters["auth_failures"] += 1
            if event["event"] == zmq.EVENT_HANDSHAKE_FAILED_AUTH:
                raise AuthenticationFailed(f"{self.address} refused this client's key (not authorised)")
            raise AuthenticationFailed(f"security handshake with {self.address} failed: the server requires CURVE "
                                       f"keys, or this client's keys do not match the server's")

    def _exchange(self, op: str, fields: dict, buffers: list, timeout: float):
        rid = uuid.uuid4().hex
        parts = [pack_header({"v": PROTOCOL_VERSION, "id": rid, "op": op, **fields}), *buffers]
        idempotent = op in IDEMPOTENT_OPS
        now = time.monotonic()
        deadline = now + timeout
        self._counters["requests"] += 1
        attempts, backoff = 0, 0.1
        resend, probing = True, False
        gap_since = None
        fresh_pings: set[str] = set()  # heartbeats sent after the last send of the request
        last_heard = next_ping = now
        poller = zmq.Poller()
        while True:
            if self._cancel.is_set():
                raise ServiceError(f"{op}: cancelled", "cancelled")
            now = time.monotonic()
            if resend and not probing:
                if attempts > 0:
                    if attempts > self.retries:
                        raise ServiceUnavailable(f"{op}: gave up after {attempts} attempts ({self.address})")
                    self._counters["retries"] += 1
                    self._event("retry", op=op, attempt=attempts)
                self._send(parts)
                attempts += 1
                resend = False
                fresh_pings.clear()
                last_heard, next_ping = now, now + self.heartbeat_s
            if now >= deadline:
                self._counters["timeouts"] += 1
                self._event("timeout", op=op, seconds=timeout)
                if gap_since is not None:
                    raise ServiceUnavailable(f"{op}: no service at {self.address} for {now - gap_since:.1f} s")
                raise ServiceTimeout(f"{op}: no reply from {self.address} within {timeout:.1f} s")
            if now - last_heard >= self.dead_after_s:
                if gap_since is None:
                    gap_since = last_heard
                    self._counters["gaps"] += 1
                    self.log.warning("service gap: nothing from %s for %.1f s during %s; reconnecting",
                                     self.address, now - last_heard, op)
                    self._event("gap", op=op, reason=f"no heartbeat reply for {now - last_heard:.1f} s")
                self._disconnect()
                self._connect()
                self._counters["reconnects"] += 1
                self._event("reconnect", op=op)
                poller = zmq.Poller()
                if not idempotent:
                    raise ServiceUnavailable(f"{op}: the service at {self.address} went away (not retried)")
                probing, resend = True, True
                last_heard, next_ping = now, now
            if now >= next_ping:
                pid = self._ping(None if probing else rid)
                if not probing:
                    fresh_pings.add(pid)
                next_ping = now + self.heartbeat_s
            if not poller.sockets:
                poller.register(self._sock, zmq.POLLIN)
                poller.register(self._monitor, zmq.POLLIN)
            wait = max(0.0, min(next_ping, deadline, last_heard + self.dead_after_s) - time.monotonic())
            events = dict(poller.poll(int(wait * 1000) + 1))
            if self._monitor in events:
                self._check_monitor()
            if self._sock not in events:
                continue
            while True:
                try:
                    raw = self._sock.recv_multipart(zmq.NOBLOCK, copy=False)
                except zmq.Again:
                    break
                try:
                    reply = parse_reply([raw[0].bytes] + [f.buffer for f in raw[1:]])
                except ProtocolError as err:
                    self._counters["malformed_replies"] += 1
                    self.log.warning("ignoring a malformed reply from %s: %s", self.address, err)
                    continue
                last_heard = time.monotonic()
                if reply.instance and reply.instance != self.server_instance:
                    if self.server_instance is not None:
                        self.log.info("service at %s is a new instance (%s, was %s)", self.address, reply.instance,
                                      self.server_instance)
                    self.server_instance = reply.instance
                if gap_since is not None:
                    gap_s = last_heard - gap_since
                    gap_since = None
                    self.log.warning("service at %s is back after a %.1f s gap", self.address, gap_s)
                    self._event("recovered", op=op, gap_s=gap_s)
                if probing:
                    probing = False  # heard the server again: send the request (resend is set)
                if reply.id == rid:
                    if reply.status == "ok":
                        self._counters["replies"] += 1
                        return reply
                    code, message = reply.error["code"], reply.error["message"]
                    if code in RETRYABLE_CODES and idempotent and time.monotonic() + backoff < deadline:
                        time.sleep(backoff)
                        backoff = min(2 * backoff, 2.0)
                        resend = True
                        break
                    self._counters["remote_errors"] += 1
                    raise RemoteError(f"{op}: {code}: {message}", code)
                if reply.op == "ping":
                    if reply.id in fresh_pings and reply.result.get("known") is False and not resend:
                        self._counters["gaps"] += 1
                        self.log.warning("service at %s no longer knows request %s (restarted?); sending it again",
                                         self.address, rid)
                        self._event("gap", op=op, reason="the service restarted and lost the request")
                        self._event("recovered", op=op, gap_s=0.0)
                        resend = True
                    fresh_pings.discard(reply.id)
                else:
                    self._counters["stale_replies"] += 1

    # -- operations ------------------------------------------------------------------------
    def hello(self, timeout_s: float | None = None) -> dict:
        """The server's description: protocol and wire versions, schemes, limits, CURVE on/off."""
        return self.request("hello", timeout_s=timeout_s).result

    def ping(self, timeout_s: float | None = None) -> float:
        """Round-trip time in seconds."""
        t0 = time.perf_counter()
        self.request("ping", timeout_s=timeout_s)
        return time.perf_counter() - t0

    def wait_ready(self, timeout_s: float = 10.0) -> dict:
        """hello, retried until the server answers or ``timeout_s`` passes."""
        return self.hello(timeout_s=timeout_s)

    def shutdown(self, timeout_s: float = 5.0) -> dict:
        """Ask the server to stop (accepted from loopback peers only). Never retried."""
        return self.request("shutdown", timeout_s=timeout_s).result

    def encode(self, scheme: str, frames: np.ndarray | None = None, *, fps: float | None = None,
               video_path: str | None = None, max_frames: int | None = None, start: int = 0, stride: int = 1,
               size: tuple[int, int] | None = None, params: dict | None = None, timeout_s: float | None = None,
               validate: bool = True) -> EncodeResult:
        """Encode ``frames`` (uint8 T x H x W x 3, at ``fps`` frames per second) or the video file
        ``video_path`` *as the server sees it* (``max_frames``, ``start``, ``stride``, ``size`` =
        (height, width) select and resize frames) with ``scheme``; ``validate`` checks every
        transmission with the wire format's parser."""
        if (frames is None) == (video_path is None):
            raise ValueError("give either frames or video_path")
        fields: dict = {"scheme": scheme, "params": plain(params or {}, "params")}
        buffers = []
        if frames is not None:
            a = np.ascontiguousarray(frames)
            if a.dtype != np.uint8 or a.ndim != 4 or a.shape[-1] != 3 or 0 in a.shape:
                raise ValueError(f"frames must be uint8 T x H x W x 3, got {a.dtype} {a.shape}")
            fields["buffers"] = [frames_descriptor(a)]
            fields["fps"] = float(fps) if fps else 25.0
            buffers.append(memoryview(a).cast("B"))
        else:
            fields["video"] = {"path": str(video_path), "max_frames": max_frames, "start": int(start),
                               "stride": int(stride), "size": [int(s) for s in size] if size else None}
        reply = self.request("encode", fields, buffers, timeout_s)
        if any(d["kind"] != "transmission" for d in reply.descriptors):
            raise ServiceError("encode reply carries buffers that are not transmissions")
        txs = [bytes(b) for b in reply.buffers]
        if validate:
            from semcom_blocks.phy.wire import unpack_transmission

            for i, raw in enumerate(txs):
                try:
                    unpack_transmission(raw)
                except ValueError as exc:
                    raise ServiceError(f"encode reply: transmission {i} is malformed: {exc}") from None
        info = {k: v for k, v in reply.result.items() if k != "context"}
        context = reply.result.get("context") or {}
        return EncodeResult(txs, context if isinstance(context, dict) else {}, info)

    def decode(self, scheme: str, received: list, context: dict | None = None, params: dict | None = None,
               timeout_s: float | None = None) -> DecodeResult:
        """Decode received-frame wire messages (bytes, as the OFDM RX block emits them) with ``scheme``."""
        buffers = [bytes(r) if not isinstance(r, (bytes, memoryview)) else r for r in received]
        fields = {"scheme": scheme, "params": plain(params or {}, "params"),
                  "context": plain(context or {}, "context"), "buffers": [{"kind": "received"}] * len(buffers)}
        reply = self.request("decode", fields, buffers, timeout_s)
        if len(reply.descriptors) != 1 or reply.descriptors[0]["kind"] != "frames":
            raise ServiceError("decode reply must carry exactly one frames buffer")
        frames = np.frombuffer(reply.buffers[0], np.uint8).reshape(reply.descriptors[0]["shape"])
        report = reply.result.get("report")
        info = {k: v for k, v in reply.result.items() if k != "report"}
        return DecodeResult(frames, float(reply.result.get("fps") or 25.0), report if isinstance(report, dict) else {},
                            info)
