"""The semantic service's wire protocol: multipart ZeroMQ messages, a msgpack header + raw buffers.

A message is ``[header, buffer_0, ..., buffer_{n-1}]`` (the server's ROUTER socket sees the
client's identity frame in front). The header is a msgpack map; every buffer is described, in
order, by an entry of the header's ``"buffers"`` list:

* ``{"kind": "frames", "dtype": "uint8", "shape": [T, H, W, 3]}``: video frames, uint8 RGB,
  C order, frame 0 first (docs/architecture.md, "Conventions"); the buffer holds exactly T*H*W*3 bytes.
* ``{"kind": "transmission"}``: one transmission in the wire format of
  ``semcom_blocks.phy.wire`` (msgpack, ``"type": "transmission"``).
* ``{"kind": "received"}``: one received frame in that wire format (``"type": "received"``).

Request header fields (anything else is refused)::

    v        int    PROTOCOL_VERSION (required)
    id       str    request id, 1..64 of [A-Za-z0-9_.:-] (required; a retry reuses it)
    op       str    one of OPS (required)
    scheme   str    encode/decode: the registered scheme's name
    params   map    encode/decode: the scheme's parameters (str keys), default {}
    buffers  list   buffer descriptors as above, default []
    video    map    encode from a file on the server: {"path": str, "max_frames": int | None,
                    "start": int, "stride": int, "size": [height, width] | None}
    fps      float  encode from frames: their frame rate (frames per second), default 25
    context  map    decode: what the encoder returned as context (msgpack types only)
    ref      str    ping: id of a request the client is waiting for (the reply says whether the
                    server knows it)

Reply header fields::

    v, id, op          as in the request (id is None when the request had no readable id)
    status             "ok" or "error"
    instance           random token of this server process (changes when it restarts)
    result             map, op-specific (ok replies)
    buffers            descriptors of the buffers that follow (ok replies)
    error              {"code": one of ERROR_CODES, "message": str, "retry": bool} (error replies)

Nothing is pickled: headers are msgpack with string map keys; bulk data is raw bytes.
"""
from __future__ import annotations

import math
import re
import reprlib
from dataclasses import asdict, dataclass

import msgpack
import numpy as np

from semcom_blocks.phy import msgpack_safe

__all__ = ["PROTOCOL_VERSION", "OPS", "IDEMPOTENT_OPS", "ERROR_CODES", "Limits", "ProtocolError", "Request",
           "parse_request", "pack_header", "unpack_header", "frames_descriptor", "frames_from_buffer",
           "parse_reply", "Reply", "plain", "check_id", "short_repr", "DEFAULT_FPS", "MAX_HEADER_DEPTH"]

PROTOCOL_VERSION = 1
#: operations; every one but shutdown may be repeated with the same id without harm
OPS = ("hello", "ping", "encode", "decode", "shutdown")
IDEMPOTENT_OPS = frozenset({"hello", "ping", "encode", "decode"})
#: error codes of error replies; "busy" is the only one worth retrying unchanged
ERROR_CODES = ("malformed", "version", "too_large", "unknown_op", "unknown_scheme", "bad_params", "bad_input",
               "forbidden", "busy", "scheme_failed", "internal", "shutting_down")
RETRYABLE_CODES = frozenset({"busy"})
BUFFER_KINDS = ("frames", "transmission", "received")
DEFAULT_FPS = 25.0

#: nesting allowed in a header: a decode's context (the encoder's own plain data) is the deepest part
MAX_HEADER_DEPTH = 32
_REPR = reprlib.Repr()
_REPR.maxlevel, _REPR.maxstring, _REPR.maxother = 3, 40, 40
_ID = re.compile(r"^[A-Za-z0-9_.:\-]{1,64}$")
_FIELDS = {
    "hello": {"v", "id", "op"},
    "ping": {"v", "id", "op", "ref"},
    "shutdown": {"v", "id", "op"},
    "encode": {"v", "id", "op", "scheme", "params", "buffers", "video", "fps"},
    "decode": {"v", "id", "op", "scheme", "params", "buffers", "context"},
}
_VIDEO_FIELDS = {"path", "max_frames", "start", "stride", "size"}


@dataclass(frozen=True)
class Limits:
    """Size limits, checked before any work is done.

    max_message_bytes: all parts of one request together (bytes); libzmq drops a single part
    larger than this plus max_header_bytes and disconnects its sender without a reply.
    max_header_bytes: the msgpack header (bytes; a decode's context travels in it).
    max_frames: frames (T) in one request or read from one video file.
    max_frame_side: height and width of a frame (pixels).
    max_video_bytes: T*H*W*3 of the frames one request may make the server hold (bytes).
    max_buffers: buffers (transmissions, received frames) in one message.
    max_params: keys of ``params``; params are part of the header's byte limit too.
    max_work_bytes: what an encode may make the server allocate, estimated before it starts:
        the frames, the frames resized to the scheme's ``image_size``, the model's workspace
        (bytes; see ``semcom_host.service.handlers.encode_work_bytes``).
    """

    max_message_bytes: int = 256 << 20
    max_header_bytes: int = 1 << 20
    max_frames: int = 2048
    max_frame_side: int = 4096
    max_video_bytes: int = 1 << 30
    max_buffers: int = 16384
    max_params: int = 256
    max_work_bytes: int = 2 << 30

    def __post_init__(self):
        for name, value in asdict(self).items():
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"limit {name} must be a positive integer, got {value!r}")

    def as_dict(self) -> dict:
        return asdict(self)


class ProtocolError(ValueError):
    """A request or reply that breaks the protocol; ``code`` is one of ERROR_CODES."""

    def __init__(self, code: str, message: str):
        if code not in ERROR_CODES:
            raise ValueError(f"unknown error code {code!r}")
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class Request:
    """A validated request: header fields plus its buffers (zero-copy memoryviews)."""

    id: str
    op: str
    header: dict
    buffers: list  # memoryview / bytes, one per descriptor
    descriptors: list

    @property
    def scheme(self) -> str | None:
        return self.header.get("scheme")

    @property
    def params(self) -> dict:
        return self.header.get("params") or {}


def check_id(value) -> str:
    if not isinstance(value, str) or not _ID.match(value):
        raise ProtocolError("malformed", "field 'id' must be a string of 1..64 characters [A-Za-z0-9_.:-]")
    return value


def pack_header(header: dict) -> bytes:
    """msgpack bytes of a header (str keys, bin for bytes)."""
    return msgpack.packb(header, use_bin_type=True)


def unpack_header(raw, max_bytes: int) -> dict:
    """The header map of ``raw``, or ProtocolError("malformed"/"too_large").

    The bytes are checked before anything is built (:mod:`semcom_blocks.phy.msgpack_safe`):
    one object, no trailing bytes, at most ``MAX_HEADER_DEPTH`` levels of nesting; map keys
    must be strings at every level."""
    size = len(raw)
    if size > max_bytes:
        raise ProtocolError("too_large", f"header of {size} bytes exceeds {max_bytes}")
    try:
        header = msgpack_safe.unpackb(raw, MAX_HEADER_DEPTH)
    except msgpack_safe.MsgpackRejected as exc:
        raise ProtocolError("malformed", f"header is not acceptable msgpack ({exc.reason})") from None
    if not isinstance(header, dict):
        raise ProtocolError("malformed", "header must be a msgpack map")
    if not _str_keys(header):
        raise ProtocolError("malformed", "header map keys must be strings at every level")
    return header


def _str_keys(obj) -> bool:
    """Whether every map in ``obj`` (depth already bounded) has only str keys."""
    stack = [obj]
    while stack:
        o = stack.pop()
        if isinstance(o, dict):
            if not all(isinstance(k, str) for k in o):
                return False
            stack.extend(v for v in o.values() if isinstance(v, (dict, list)))
        elif isinstance(o, list):
            stack.extend(v for v in o if isinstance(v, (dict, list)))
    return True


def short_repr(value, limit: int = 60) -> str:
    """A repr of an untrusted value for an error message: bounded depth and length, never raising."""
    try:
        text = _REPR.repr(value)
    except Exception:  # noqa: BLE001 - a value that cannot be shown is shown by its type
        text = f"<{type(value).__name__}>"
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _is_int(x) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def frames_descriptor(frames: np.ndarray) -> dict:
    return {"kind": "frames", "dtype": "uint8", "shape": [int(s) for s in frames.shape]}


def _check_descriptor(d, i: int, limits: Limits) -> int:
    """Validate descriptor ``i``; return the exact byte size it announces (-1: any size)."""
    what = f"buffers[{i}]"
    if not isinstance(d, dict) or d.get("kind") not in BUFFER_KINDS:
        raise ProtocolError("malformed", f"{what}: expected a map with kind in {BUFFER_KINDS}")
    if d["kind"] != "frames":
        if set(d) != {"kind"}:
            raise ProtocolError("malformed", f"{what}: unexpected fields {sorted(set(d) - {'kind'})}")
        return -1
    if set(d) != {"kind", "dtype", "shape"}:
        raise ProtocolError("malformed", f"{what}: frames need exactly kind, dtype, shape")
    if d["dtype"] != "uint8":
        raise ProtocolError("bad_input", f"{what}: frames must be uint8, got {short_repr(d['dtype'])}")
    shape = d["shape"]
    if not (isinstance(shape, list) and len(shape) == 4 and all(_is_int(s) for s in shape) and shape[3] == 3):
        raise ProtocolError("bad_input", f"{what}: shape must be [T, H, W, 3], got {short_repr(shape)}")
    t, h, w, _ = shape
    if not 1 <= t <= limits.max_frames:
        raise ProtocolError("too_large" if t > 0 else "bad_input",
                            f"{what}: {t} frames, allowed 1..{limits.max_frames}")
    if not (1 <= h <= limits.max_frame_side and 1 <= w <= limits.max_frame_side):
        raise ProtocolError("too_large" if h > 0 and w > 0 else "bad_input",
                            f"{what}: frame size {h}x{w}, allowed 1..{limits.max_frame_side} per side")
    if t * h * w * 3 > limits.max_video_bytes:
        raise ProtocolError("too_large", f"{what}: {t * h * w * 3} bytes of frames exceed {limits.max_video_bytes}")
    return t * h * w * 3


def _check_video(video, limits: Limits) -> dict:
    if not isinstance(video, dict) or not set(video) <= _VIDEO_FIELDS or "path" not in video:
        raise ProtocolError("malformed", f"field 'video' must be a map with 'path' and optionally "
                                         f"{sorted(_VIDEO_FIELDS - {'path'})}")
    out = {"path": video["path"], "max_frames": video.get("max_frames"), "start": video.get("start", 0),
           "stride": video.get("stride", 1), "size": video.get("size")}
    if not isinstance(out["path"], str) or not 0 < len(out["path"]) <= 4096 or "\x00" in out["path"]:
        raise ProtocolError("malformed", "video.path must be a non-empty string of at most 4096 characters")
    mf = out["max_frames"]
    if mf is not None and not (_is_int(mf) and 1 <= mf <= limits.max_frames):
        raise ProtocolError("bad_input", f"video.max_frames must be 1..{limits.max_frames} or None")
    if not (_is_int(out["start"]) and out["start"] >= 0 and _is_int(out["stride"]) and out["stride"] >= 1):
        raise ProtocolError("bad_input", "video.start must be an integer >= 0 and video.stride >= 1")
    size = out["size"]
    if size is not None and not (isinstance(size, list) and len(size) == 2 and all(_is_int(s) for s in size)
                                 and all(1 <= s <= limits.max_frame_side for s in size)):
        raise ProtocolError("bad_input", f"video.size must be [height, width] in 1..{limits.max_frame_side} or None")
    return out


def parse_request(parts: list, limits: Limits) -> Request:
    """Validate ``[header, *buffers]`` (identity frame already removed); ProtocolError if wrong.

    The error's code says what was wrong. The request id is read first so that even a
    rejected request can be answered under its own id (see :func:`request_id_of`).
    """
    if not parts:
        raise ProtocolError("malformed", "empty message")
    total = sum(len(p) for p in parts)
    if total > limits.max_message_bytes:
        raise ProtocolError("too_large", f"message of {total} bytes exceeds {limits.max_message_bytes}")
    header = unpack_header(parts[0], limits.max_header_bytes)
    if "v" not in header:
        raise ProtocolError("malformed", "field 'v' (protocol version) missing")
    if header["v"] != PROTOCOL_VERSION:
        raise ProtocolError("version", f"protocol version {short_repr(header['v'])} not supported (this server speaks "
                                       f"{PROTOCOL_VERSION})")
    rid = check_id(header.get("id"))
    op = header.get("op")
    if not isinstance(op, str):
        raise ProtocolError("malformed", "field 'op' missing or not a string")
    if op not in OPS:
        raise ProtocolError("unknown_op", f"unknown op {op[:40]!r}; known: {', '.join(OPS)}")
    extra = set(header) - _FIELDS[op]
    if extra:
        raise ProtocolError("malformed", f"op {op!r} does not take fields {short_repr(sorted(extra))}")
    if op in ("encode", "decode"):
        scheme = header.get("scheme")
        if not isinstance(scheme, str) or not 0 < len(scheme) <= 64:
            raise ProtocolError("malformed", f"op {op!r} needs field 'scheme' (a name of 1..64 characters)")
        params = header.setdefault("params", {})
        if not isinstance(params, dict):
            raise ProtocolError("malformed", "field 'params' must be a map")
        if len(params) > limits.max_params:
            raise ProtocolError("too_large", f"{len(params)} params exceed {limits.max_params}")
    if op == "ping" and "ref" in header and header["ref"] is not None:
        check_id(header["ref"])
    descriptors = header.setdefault("buffers", [])
    if not isinstance(descriptors, list):
        raise ProtocolError("malformed", "field 'buffers' must be a list")
    if len(descriptors) > limits.max_buffers:
        raise ProtocolError("too_large", f"{len(descriptors)} buffers exceed {limits.max_buffers}")
    buffers = parts[1:]
    if len(descriptors) != len(buffers):
        raise ProtocolError("malformed", f"header describes {len(descriptors)} buffers, message has {len(buffers)}")
    for i, (d, buf) in enumerate(zip(descriptors, buffers)):
        size = _check_descriptor(d, i, limits)
        if size >= 0 and len(buf) != size:
            raise ProtocolError("bad_input", f"buffers[{i}]: {len(buf)} bytes, shape says {size}")
    kinds = [d["kind"] for d in descriptors]
    if op == "encode":
        if "video" in header:
            header["video"] = _check_video(header["video"], limits)
            if kinds:
                raise ProtocolError("malformed", "encode takes either 'video' or one frames buffer, not both")
        elif kinds != ["frames"]:
            raise ProtocolError("malformed", "encode needs 'video' or exactly one frames buffer")
        fps = header.setdefault("fps", DEFAULT_FPS)
        if not (isinstance(fps, (int, float)) and not isinstance(fps, bool) and math.isfinite(fps)
                and 0 < fps <= 1000):
            raise ProtocolError("bad_input", "field 'fps' must be a number in (0, 1000]")
    elif op == "decode":
        if any(k != "received" for k in kinds):
            raise ProtocolError("malformed", "decode takes only 'received' buffers")
        ctx = header.setdefault("context", {})
        if not isinstance(ctx, dict):
            raise ProtocolError("malformed", "field 'context' must be a map")
    elif kinds:
        raise ProtocolError("malformed", f"op {op!r} takes no buffers")
    return Request(rid, op, header, list(buffers), descriptors)


def request_id_of(raw_header) -> str | None:
    """Best-effort id of a request that failed validation (None when unreadable)."""
    if len(raw_header) > 1 << 20:
        return None
    try:
        header = msgpack_safe.unpackb(raw_header, MAX_HEADER_DEPTH)
        return check_id(header.get("id")) if isinstance(header, dict) else None
    except Exception:  # noqa: BLE001 - any garbage means "no id"
        return None


def frames_from_buffer(buf, descriptor: dict) -> np.ndarray:
    """Read-only uint8 T x H x W x 3 view of a (validated) frames buffer; no copy."""
    return np.frombuffer(buf, np.uint8).reshape(descriptor["shape"])


@dataclass
class Reply:
    """A validated reply: header, buffers (bytes or memoryview)."""

    id: str | None
    op: str | None
    status: str
    instance: str | None
    result: dict
    error: dict | None
    descriptors: list
    buffers: list


def parse_reply(parts: list, max_header_bytes: int = 64 << 20) -> Reply:
    """Validate a reply from the server (the client trusts nothing either); ProtocolError if wrong."""
    if not parts:
        raise ProtocolError("malformed", "empty reply")
    h = unpack_header(parts[0], max_header_bytes)
    if h.get("v") != PROTOCOL_VERSION:
        raise ProtocolError("version", f"reply speaks protocol {short_repr(h.get('v'))}, "
                                       f"this client {PROTOCOL_VERSION}")
    status = h.get("status")
    if status not in ("ok", "error"):
        raise ProtocolError("malformed", "reply field 'status' must be 'ok' or 'error'")
    rid, op, inst = h.get("id"), h.get("op"), h.get("instance")
    if not (rid is None or isinstance(rid, str)) or not (op is None or isinstance(op, str)) \
            or not (inst is None or isinstance(inst, str)):
        raise ProtocolError("malformed", "reply fields id, op, instance must be strings")
    result = h.get("result") or {}
    descriptors = h.get("buffers") or []
    if not isinstance(result, dict) or not isinstance(descriptors, list) or len(descriptors) != len(parts) - 1:
        raise ProtocolError("malformed", "reply result/buffers do not match the message")
    error = h.get("error")
    if status == "error":
        if not (isinstance(error, dict) and isinstance(error.get("code"), str)
                and isinstance(error.get("message"), str)):
            raise ProtocolError("malformed", "error reply without {code, message}")
    for i, d in enumerate(descriptors):
        if not isinstance(d, dict) or d.get("kind") not in BUFFER_KINDS:
            raise ProtocolError("malformed", f"reply buffers[{i}] has no valid kind")
        if d["kind"] == "frames":
            shape = d.get("shape")
            if d.get("dtype") != "uint8" or not (isinstance(shape, list) and len(shape) == 4
                                                 and all(_is_int(s) and s > 0 for s in shape) and shape[3] == 3) \
                    or int(np.prod(shape)) != len(parts[i + 1]):
                raise ProtocolError("malformed", f"reply buffers[{i}]: frames shape does not match its bytes")
    return Reply(rid, op, status, inst, result, error, descriptors, list(parts[1:]))


def plain(obj, what: str = "value", _depth: int = 0):
    """``obj`` as msgpack-ready plain data: numpy scalars to Python numbers, tuples and small
    arrays (<= 65536 elements) to lists, str map keys only; TypeError naming the offending
    path for anything else (no pickle fallback)."""
    if _depth > 32:
        raise TypeError(f"{what}: nested deeper than 32 levels")
    if obj is None or isinstance(obj, (bool, int, float, str, bytes)):
        return obj
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        if obj.size > 65536:
            raise TypeError(f"{what}: array of {obj.size} elements is too large for a header")
        return obj.tolist()
    if isinstance(obj, dict):
        out = {}
        for k, v in obj.items():
            if not isinstance(k, str):
                raise TypeError(f"{what}: map key {k!r} is not a string")
            out[k] = plain(v, f"{what}.{k}", _depth + 1)
        return out
    if isinstance(obj, (list, tuple)):
        return [plain(v, f"{what}[{i}]", _depth + 1) for i, v in enumerate(obj)]
    raise TypeError(f"{what}: {type(obj).__name__} cannot be sent (msgpack types only)")
