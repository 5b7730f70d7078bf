"""GNU Radio block: received transmissions in, a reconstructed video out, decoded by the host service.

Message ports only; handlers only store what arrives, so the scheduler thread never waits.

In:

* ``in``: received-transmission PDUs as OFDM Burst RX emits them (u8vector: msgpack
  ``received`` message of ``semcom_blocks.phy.wire``); the symbol ``done`` means "no more";
* ``ctx`` (optional): the Semantic Source's context PDU; it gives the scheme's context, the
  sender's params and how many transmissions to expect.

A worker thread decides when the clip is complete, whichever comes first:

1. ``expected`` transmissions arrived (``expected`` = 0: the count from ``ctx``, if any);
2. ``done`` arrived on ``in``;
3. nothing arrived for ``idle_timeout_s`` seconds after at least one transmission or (without
   ``upstream_blocks``) after an upstream block finished (lost bursts make 1. impossible: this
   ends the clip anyway);
4. ``upstream_blocks`` > 0 upstream blocks have finished (in the loopback: the source and OFDM
   Burst RX; once the receiver has finished nothing more can arrive), whatever arrived;
5. ``timeout_s`` seconds since the flowgraph started;
6. the flowgraph stops: ``stop()`` waits for the decode at most ``STOP_GRACE_S`` (30 s, or
   ``timeout_s`` if shorter), then cancels it and reports an error.

It then asks the semantic service to decode (scheme, the received messages in arrival order,
the context; params: the sender's from ``ctx`` updated with this block's ``params``), writes

* the video to ``output_path``: H.264 MP4 through PyAV, or a .npy array of uint8
  T x H x W x 3 frames when the path ends in .npy or PyAV is missing (then next to the
  requested path, with the suffix .npy);
* a report JSON to ``report_path`` (default: the output path with suffix .json): the
  service's report plus what this block saw (received, malformed, dropped, service gaps,
  why it decoded, stage seconds),

publishes a PMT dict on ``status`` (``state`` "decoded" or "error", paths, counters) and, if
``finish``, lets the flowgraph end (posts ("done" . 1) to its own ``system`` port).

Upstream blocks that finish post ("done" . 1) to this block's ``system`` port; GNU Radio would
stop a message-only block at the first one (the source finishes long before the receiver), so
this block takes over its ``system`` port: an upstream "done" only starts the idle timer.

Service gaps are counted (``stats()["service_gaps"]``) and logged; the client reconnects and
resends the decode, so a service killed and restarted mid-run costs only time.
"""
from __future__ import annotations

import json
import os
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pmt
from gnuradio import gr

from .exit_status import record_failure
from .pdu_util import MalformedPdu, split_pdu
from .phy import msgpack_safe
from .semantic_source import CTX_VERSION, ServiceEvents, parse_params, status_pmt
from .service_launcher import ensure_service

__all__ = ["semantic_sink", "write_video_file"]

_IN, _CTX, _STATUS, _SYSTEM = pmt.intern("in"), pmt.intern("ctx"), pmt.intern("status"), pmt.intern("system")
_DONE = pmt.intern("done")


def write_video_file(path: str | os.PathLike, frames: np.ndarray, fps: float) -> Path:
    """Write uint8 T x H x W x 3 frames: .npy paths as a numpy array, others as H.264 MP4 (PyAV);
    falls back to ``path`` with suffix .npy when PyAV is unavailable. Returns the path written."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() != ".npy":
        try:
            from semcom_models.video_io import write_video
        except ImportError:
            path = path.with_suffix(".npy")
        else:
            return write_video(path, frames, fps)
    np.save(path, np.ascontiguousarray(frames))
    return path


def _write_json(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, default=str))
    os.replace(tmp, path)


class semantic_sink(gr.basic_block):
    """See the module docstring.

    address, keys_dir, heartbeat_s: the service, as for the Semantic Source. scheme: the
    registered scheme ('' = the one named in ``ctx``). output_path, report_path: outputs.
    params: scheme parameters (JSON object). expected: transmissions in the clip (0 = from
    ctx, or unknown). idle_timeout_s, timeout_s: completion rules (s). fps: output frame rate
    (0 = the service's). max_received, max_bytes: bounds on what is kept (more is dropped and
    counted). finish: end the flowgraph after writing the video. upstream_blocks: see rule 4
    (0 = not used). start_service: as for the Semantic Source. Relative output paths are taken
    from the working directory of the flowgraph's process and made absolute at construction.
    """

    #: after the last upstream "done", how long rule 4 waits for PDUs still queued on ``in`` (GNU
    #: Radio may hand a block its system message before earlier messages on another port) (s)
    UPSTREAM_GRACE_S = 0.25
    #: longest wait in stop() for a decode still running when the flowgraph is stopped (s)
    STOP_GRACE_S = 30.0
    COUNTERS = ("received", "malformed", "dropped", "late", "ctx_received", "ctx_malformed", "upstream_done",
                "service_gaps", "service_reconnects", "service_retries", "decodes", "errors")

    def __init__(self, address: str = "tcp://127.0.0.1:5560", scheme: str = "raw-analog",
                 output_path: str = "semantic_rx.mp4", params="", report_path: str = "", keys_dir: str = "",
                 expected: int = 0, idle_timeout_s: float = 2.0, timeout_s: float = 600.0, heartbeat_s: float = 1.0,
                 fps: float = 0.0, max_received: int = 65536, max_bytes: int = 256 << 20, finish: bool = True,
                 upstream_blocks: int = 0, start_service: bool = True):
        gr.basic_block.__init__(self, name="semantic_sink", in_sig=None, out_sig=None)
        if not output_path:
            raise ValueError("output_path is required")
        if upstream_blocks < 0:
            raise ValueError("upstream_blocks must be >= 0")
        self.upstream_blocks = int(upstream_blocks)
        if expected < 0 or idle_timeout_s <= 0 or timeout_s <= 0 or heartbeat_s <= 0 or fps < 0 \
                or max_received < 1 or max_bytes < 1:
            raise ValueError("need expected >= 0, idle_timeout_s, timeout_s, heartbeat_s > 0, fps >= 0, "
                             "max_received, max_bytes >= 1")
        self.address, self.scheme, self.keys_dir = address, scheme, keys_dir or None
        self.output_path = Path(output_path).expanduser().absolute()
        self.report_path = Path(report_path).expanduser().absolute() if report_path else \
            self.output_path.with_suffix(".json")
        self.params = parse_params(params)
        self.expected_param = int(expected)
        self.idle_timeout, self.timeout, self.heartbeat = float(idle_timeout_s), float(timeout_s), float(heartbeat_s)
        self.fps, self.max_received, self.max_bytes = float(fps), int(max_received), int(max_bytes)
        self.finish = bool(finish)
        self.start_service = bool(start_service)
        self._stats = dict.fromkeys(self.COUNTERS, 0)
        self._lock = threading.Lock()
        self._received: list[bytes] = []
        self._bytes = 0
        self._ctx: dict | None = None
        self._first_rx: float | None = None
        self._last_activity: float | None = None
        self._done_in = False
        self._started_decode = False
        self._finishing = False
        self._wake = threading.Event()
        self._decoded = threading.Event()
        self._thread: threading.Thread | None = None
        self._client = None
        self.outcome: dict | None = None  # the status dict once decoded (or failed)
        self.message_port_register_in(_IN)
        self.message_port_register_in(_CTX)
        self.message_port_register_out(_STATUS)
        self.set_msg_handler(_IN, self._on_pdu)
        self.set_msg_handler(_CTX, self._on_ctx)
        self.set_msg_handler(_SYSTEM, self._on_system)

    def stats(self) -> dict:
        return dict(self._stats)

    # -- message handlers (scheduler thread: store and return) -----------------------------
    def _on_pdu(self, msg) -> None:
        now = time.monotonic()
        if pmt.is_symbol(msg) and pmt.eq(msg, _DONE):
            with self._lock:
                self._done_in, self._last_activity = True, now
            self._wake.set()
            return
        try:
            _, vec = split_pdu(msg, pmt.is_u8vector, "u8vector")
        except MalformedPdu as err:
            self._stats["malformed"] += 1
            self.logger.warn(f"dropping a malformed received PDU: {err}")
            return
        raw = pmt.to_python(vec).tobytes()
        with self._lock:
            if self._started_decode:
                self._stats["late"] += 1
                return
            if len(self._received) >= self.max_received or self._bytes + len(raw) > self.max_bytes:
                self._stats["dropped"] += 1
                return
            self._received.append(raw)
            self._bytes += len(raw)
            self._stats["received"] += 1
            self._first_rx = self._first_rx or now
            self._last_activity = now
            full = 0 < self._expected() <= len(self._received)
        if full:
            self._wake.set()

    def _on_ctx(self, msg) -> None:
        try:
            _, vec = split_pdu(msg, pmt.is_u8vector, "u8vector")
            ctx = msgpack_safe.unpackb(pmt.to_python(vec).tobytes())
            if not (isinstance(ctx, dict) and ctx.get("v") == CTX_VERSION and isinstance(ctx.get("context"), dict)
                    and isinstance(ctx.get("params", {}), dict)):
                raise ValueError(f"not a version-{CTX_VERSION} context map")
            n = ctx.get("n_transmissions")
            if n is not None and not (isinstance(n, int) and n >= 0):
                raise ValueError("n_transmissions must be an integer >= 0")
        except Exception as err:  # noqa: BLE001 - msgpack raises many types on garbage
            self._stats["ctx_malformed"] += 1
            self.logger.warn(f"dropping a malformed context PDU: {type(err).__name__}: {str(err)[:200]}")
            return
        with self._lock:
            self._ctx = ctx
            self._stats["ctx_received"] += 1
            full = 0 < self._expected() <= len(self._received)
        if full:
            self._wake.set()

    def _on_system(self, msg) -> None:
        if self._finishing or not (pmt.is_pair(msg) and pmt.eq(pmt.car(msg), _DONE)):
            self.gateway.system_handler(msg)  # our own "done" (or anything else): GNU Radio's handling
            return
        with self._lock:
            self._stats["upstream_done"] += 1
            self._last_activity = time.monotonic()
        self._wake.set()

    def _expected(self) -> int:
        if self.expected_param:
            return self.expected_param
        return int((self._ctx or {}).get("n_transmissions") or 0)

    # -- completion and decoding (worker thread) -------------------------------------------
    def _why_complete(self, t_start: float) -> str | None:
        now = time.monotonic()
        with self._lock:
            n, expected = len(self._received), self._expected()
            if expected and n >= expected:
                return "complete"
            if self._done_in:
                return "done"
            if (self.upstream_blocks and self._stats["upstream_done"] >= self.upstream_blocks
                    and now - self._last_activity >= self.UPSTREAM_GRACE_S):
                return "upstream_done"
            # with upstream_blocks the upstream "done"s end the clip (rule 4): the idle timer then
            # waits for a first arrival, so that a slow start (model loading, JIT compiling) is not a loss
            active = n > 0 or (self._stats["upstream_done"] > 0 and not self.upstream_blocks)
            if active and self._last_activity is not None and now - self._last_activity >= self.idle_timeout:
                return "idle"
        if now - t_start >= self.timeout:
            return "timeout"
        return None

    def _run(self) -> None:
        t_start = time.monotonic()
        while True:
            reason = self._why_complete(t_start)
            if reason or self._stopping:
                break
            self._wake.wait(0.05)
            self._wake.clear()
        self._decode(reason or "stopped", t_start)

    def _decode(self, reason: str, t_start: float) -> None:
        with self._lock:
            if self._started_decode:
                return
            self._started_decode = True
            received, ctx = list(self._received), self._ctx or {}
            first = self._first_rx
        t_trigger = time.monotonic()
        status = {"state": "error", "trigger": reason, "received": len(received)}
        try:
            if not received and not ctx.get("context"):
                # with the sender's context the scheme still decodes (concealment: a lost clip is a data
                # point of a sweep, e.g. below a codec's cliff); without it the clip's size is unknown
                raise RuntimeError("no transmissions were received (and no ctx to decode the loss from)")
            scheme = self.scheme or ctx.get("scheme")
            if not scheme:
                raise RuntimeError("no scheme: set the block's scheme or connect the source's ctx port")
            if ctx.get("scheme") and ctx["scheme"] != scheme:
                self.logger.warn(f"decoding with scheme {scheme!r}, but the sender used {ctx['scheme']!r}")
            params = {**(ctx.get("params") or {}), **self.params}
            from semcom_client.client import ServiceClient

            if self.start_service:
                ensure_service(self.address, self.keys_dir, self.logger)
            self._client = ServiceClient(self.address, self.keys_dir, heartbeat_s=self.heartbeat,
                                         timeout_s=self.timeout, on_event=ServiceEvents(self._stats, self.logger,
                                                                                        self.address))
            with self._client as client:
                result = client.decode(scheme, received, context=ctx.get("context") or {}, params=params)
            t_decoded = time.monotonic()
            fps = self.fps or result.fps
            video = write_video_file(self.output_path, result.frames, fps)
            t_written = time.monotonic()
            if video.suffix != self.output_path.suffix:
                self.logger.warn(f"PyAV is not installed for this interpreter ({sys.executable}): wrote the frames "
                                 f"as a numpy array, {video} (make setup installs python3-av)")
            report = {
                "scheme": scheme, "video": str(video), "fps": fps, "num_frames": int(result.frames.shape[0]),
                "height": int(result.frames.shape[1]), "width": int(result.frames.shape[2]), "trigger": reason,
                "received": len(received), "expected": self._expected() or None,
                "sink": self.stats(), "report": result.report, "service": result.info,
                "stage_seconds": {"collect": t_trigger - (first or t_start), "decode_request": t_decoded - t_trigger,
                                  "write": t_written - t_decoded},
            }
            _write_json(self.report_path, report)
            self._stats["decodes"] += 1
            status.update(state="decoded", video=str(video), report=str(self.report_path),
                          frames=int(result.frames.shape[0]))
            self.logger.info(f"wrote the reconstruction ({result.frames.shape[0]} frames) to {video} and the report "
                             f"to {self.report_path}")
        except Exception as exc:  # service errors, I/O errors: report, never crash the flowgraph
            self._stats["errors"] += 1
            status["error"] = f"{type(exc).__name__}: {exc}"
            self.logger.error(f"semantic decode failed ({reason}): {status['error']}")
            record_failure(f"Semantic Sink: decoding failed ({reason}): {status['error']}")
        finally:
            status.update({k: self._stats[k] for k in ("service_gaps", "service_reconnects", "malformed", "dropped")})
            status["seconds"] = time.monotonic() - t_trigger
            self.outcome = status
            self.message_port_pub(_STATUS, status_pmt(status))
            self._decoded.set()
            if self.finish and not self._stopping:
                self._finishing = True
                self._post(_SYSTEM, pmt.cons(_DONE, pmt.from_long(1)))

    # -- lifecycle -------------------------------------------------------------------------
    _stopping = False

    def start(self) -> bool:
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="semantic_sink", daemon=True)
        self._thread.start()
        return True

    def stop(self) -> bool:
        """Flowgraph end: decode what arrived if that has not happened, waiting at most
        ``STOP_GRACE_S`` (or timeout_s if shorter) before cancelling the request."""
        self._stopping = True
        self._wake.set()
        if self._thread is not None:
            self._thread.join(min(self.timeout, self.STOP_GRACE_S))
            if self._thread.is_alive() and self._client is not None:
                self._client.cancel()  # the service is slow or away: give up, report the error
                self._thread.join(5)
        self.logger.info(f"stats: {self.stats()}")
        return True

    def wait_decoded(self, timeout: float | None = None) -> dict | None:
        """Block until the decode is done (or failed); the status dict, None on timeout."""
        return self.outcome if self._decoded.wait(timeout) else None
