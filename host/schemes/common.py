"""What the schemes share: the manifest unit, unit lookup, analog chunking, and CBR counting.

Conventions (every scheme module follows them):

* Units are found by name. A scheme names its units ``<what>`` or ``<what>.<chunk>``, e.g.
  ``text``, ``kf12.0`` (keyframe 12, first chunk of its analog symbols); the unit table that
  carries the names is CRC-protected by the PHY, so a name that arrives is right.
* Every transmission of a clip carries the ``manifest`` unit (digital, QPSK LDPC 648 R1/2 +
  CRC-32, a few dozen bytes of msgpack): scheme name, format version, the clip's geometry
  (frames, height, width, fps) and the scheme's own small fields. The receiver needs nothing
  else from the transmitter: any one manifest that arrives describes the clip; without one, the
  encoder's context (which carries the same map) is used when the receiver has it.
* Source dimension of a clip: 3 x H x W x T real values of the video as given to the encoder.
  CBR (channel bandwidth ratio) = complex channel symbols / source dimension:

  - ``cbr_net``: every payload symbol of every unit sent (coded digital symbols + analog
    symbols), manifests included;
  - ``cbr_gross``: every sample on air: preamble, SIG, unit table and payload OFDM symbols with
    their cyclic prefixes (the gaps between bursts are not counted);
  - ``cbr_paper``: the paper's own formula for the same transmission, computed by the scheme.
"""
from __future__ import annotations

import threading
from typing import Callable

import msgpack
import numpy as np

from semcom_blocks.phy.fec import PayloadCoder
from semcom_blocks.phy.frame import FrameFormat, Transmission, Unit, encode_table
from semcom_blocks.phy.snr import mean_db

__all__ = ["MANIFEST", "MANIFEST_VERSION", "manifest_coder", "manifest_body", "manifest_unit",
           "find_manifest", "units_by_name", "text_coder", "text_unit", "read_text", "analog_chunks",
           "join_chunks", "pack_transmissions", "source_dim", "symbols_sent", "burst_samples", "cbr_figures",
           "snr_estimate", "ideal_received", "djscc_model", "msvq_model", "warm_up", "freeze_missing",
           "cached", "resize_frames", "captions_for", "vlm_captioner", "Stopwatch", "COMMON_DEFAULTS", "FIGURES",
           "segment_report", "copy_figures"]

#: parameters every scheme of this package takes (a scheme adds its own)
COMMON_DEFAULTS = {
    "snr_db": 10.0,                      # SNR (dB, Es/N0) the transmitter designs for: DJSCC's conditioning
    "image_size": 256,                   # frames are coded at image_size x image_size pixels
    "max_symbols_per_transmission": 8192,  # payload complex symbols per burst, at most (manifest included)
    "seq0": 0,                           # sequence number of the first transmission
    "mmse": True,                        # receiver: LMMSE shrinkage of analog symbols by their noise variance
    # receiver's video decoder: auto, a generative decoder name, interpolating, repetition
    "decoder": "auto",
    "decoder_path": "",                  # local folder of the generative decoder ("" = model_paths resolves it)
    # generative decoder constructor options: num_inference_steps, guidance_scale, negative_prompt,
    # dtype, device, cpu_offload, gen_size, max_frames, ... (reconstruct.py; unknown ones refused)
    "decoder_options": {},
    "decoder_preferences": [],           # decoders tried first by "auto", before the scheme's own list
    "seed": 7777,                        # generative decoders' seed (GVSC's)
}

MANIFEST = "manifest"
MANIFEST_VERSION = 1
_FORMAT = FrameFormat()


def manifest_coder() -> PayloadCoder:
    return PayloadCoder("ldpc", 648, "1/2", "qpsk", "crc32")


def manifest_body(scheme: str, num_frames: int, height: int, width: int, fps: float, **fields) -> dict:
    """The manifest map (see the module docstring); ``fields`` must be msgpack types. A scheme
    puts it in its context as well, so that a receiver without any manifest can still decode."""
    return {"v": MANIFEST_VERSION, "scheme": scheme, "T": int(num_frames), "H": int(height), "W": int(width),
            "fps": float(fps), **fields}


def manifest_unit(body: dict) -> Unit:
    """The manifest unit carrying ``body`` (:func:`manifest_body`)."""
    return Unit(MANIFEST, "digital", msgpack.packb(body, use_bin_type=True), manifest_coder())


def _parse_manifest(data: bytes, scheme: str) -> dict | None:
    try:
        body = msgpack.unpackb(data, raw=False, strict_map_key=True)
    except Exception:  # noqa: BLE001 - a corrupt manifest is skipped (its CRC passed, the sender erred)
        return None
    if not (isinstance(body, dict) and body.get("v") == MANIFEST_VERSION and body.get("scheme") == scheme):
        return None
    return body if manifest_size_ok(body) else None


#: the largest clip a manifest may announce, T * H * W * 3 bytes: what a decoder allocates for it
#: (the service's default max_video_bytes)
MAX_DECODED_BYTES = 1 << 30


def manifest_size_ok(body: dict) -> bool:
    """Whether a manifest's T, H, W, fps are numbers a decoder can allocate and play."""
    try:
        t, h, w, fps = int(body["T"]), int(body["H"]), int(body["W"]), float(body["fps"])
    except (KeyError, TypeError, ValueError, OverflowError):
        return False
    return (0 < t <= 100_000 and 0 < h <= 8192 and 0 < w <= 8192 and 0 < fps < 1000
            and t * h * w * 3 <= MAX_DECODED_BYTES)


def find_manifest(received: list, context: dict, scheme: str) -> tuple[dict, str]:
    """(manifest, where it came from: "received" or "context"). ValueError when no manifest
    arrived intact and the context has none either: the clip's size is unknown."""
    for rx in received:
        for u in rx.get("units", []):
            if u.get("name") == MANIFEST and u.get("kind") == "digital" and u.get("crc_ok"):
                body = _parse_manifest(u["data"], scheme)
                if body is not None:
                    return body, "received"
    body = context.get(MANIFEST) if isinstance(context, dict) else None
    if isinstance(body, dict) and body.get("scheme") == scheme:
        if not manifest_size_ok(body):
            raise ValueError(f"{scheme}: the context's manifest announces a clip this decoder will not allocate "
                             f"(T, H, W, fps must be positive and T*H*W*3 <= {MAX_DECODED_BYTES} bytes)")
        return body, "context"
    raise ValueError(f"{scheme}: no manifest arrived intact and the receiver has no context: the clip's size "
                     "is unknown")


def units_by_name(received: list) -> dict[str, dict]:
    """Name -> the first intact copy of each unit: digital units with a passing CRC, analog
    units whose symbols are all finite."""
    out: dict[str, dict] = {}
    for rx in received:
        for u in rx.get("units", []):
            name = u.get("name")
            if not isinstance(name, str) or name in out:
                continue
            if u.get("kind") == "digital" and u.get("crc_ok"):
                out[name] = u
            elif u.get("kind") == "analog" and np.all(np.isfinite(np.asarray(u.get("data", []), np.complex64))):
                out[name] = u
    return out


def text_coder() -> PayloadCoder:
    """GVSC's text protection: LTE turbo code R = 1/3 + 4-QAM (QPSK), CRC-32 over the bytes."""
    return PayloadCoder("turbo", modulation="qpsk", crc="crc32")


def text_unit(name: str, text: str, max_bytes: int = 4096) -> Unit:
    """A caption as a digital unit (UTF-8, :func:`text_coder`); ValueError beyond ``max_bytes``."""
    data = text.encode("utf-8")
    if len(data) > max_bytes:
        raise ValueError(f"caption {name!r} is {len(data)} bytes; at most {max_bytes}")
    return Unit(name, "digital", data, text_coder())


def read_text(units: dict[str, dict], name: str) -> str | None:
    """The caption ``name`` if it arrived intact (CRC passed), else None."""
    u = units.get(name)
    if u is None or u.get("kind") != "digital":
        return None
    return bytes(u["data"]).decode("utf-8", errors="replace")


def analog_chunks(name: str, symbols: np.ndarray, max_symbols: int) -> list[Unit]:
    """Analog units ``name.0``, ``name.1``, ... of at most ``max_symbols`` symbols each."""
    symbols = np.asarray(symbols, np.complex64).reshape(-1)
    if max_symbols < 1:
        raise ValueError("max_symbols must be >= 1")
    return [Unit(f"{name}.{i}", "analog", symbols[off:off + max_symbols])
            for i, off in enumerate(range(0, symbols.size, max_symbols))]


def join_chunks(units: dict[str, dict], name: str, n_symbols: int, max_symbols: int,
                mmse: bool = True) -> tuple[np.ndarray, float]:
    """Reassemble ``name``'s analog chunks into ``n_symbols`` symbols; returns (symbols, the
    fraction that arrived). Missing chunks are zeros (the prior mean of unit-power symbols).
    With ``mmse`` every symbol is shrunk by 1 / (1 + N0_k), N0_k its noise variance after
    equalisation (the LMMSE estimate of a unit-power symbol)."""
    out = np.zeros(n_symbols, np.complex64)
    got = 0
    for i, off in enumerate(range(0, n_symbols, max_symbols)):
        u = units.get(f"{name}.{i}")
        want = min(max_symbols, n_symbols - off)
        if u is None or u.get("kind") != "analog":
            continue
        data = np.asarray(u["data"], np.complex64)
        if data.size != want:
            continue
        nv = u.get("noise_var")
        if mmse and nv is not None and len(nv) == want:
            data = data / (1.0 + np.asarray(nv, np.float32))
        out[off:off + want] = data
        got += want
    return out, got / n_symbols if n_symbols else 1.0


def pack_transmissions(units: list[Unit], manifest: Unit, max_symbols: int, frame_type: int,
                       seq0: int = 0, scheme: str = "") -> list[Transmission]:
    """Fill transmissions in order with ``units``, each starting with ``manifest``, so that the
    payload of each stays within ``max_symbols`` complex symbols where the units allow it (a unit
    larger than the room left goes alone with the manifest; split analog symbols with
    :func:`analog_chunks` first). Sequence numbers seq0, seq0 + 1, ... (mod 2^16)."""
    if max_symbols < 1:
        raise ValueError("max_symbols must be >= 1")
    groups: list[list[Unit]] = []
    room = 0
    for u in units:
        need = u.n_symbols
        if not groups or need > room or len(groups[-1]) >= 254:
            groups.append([])
            room = max_symbols - manifest.n_symbols
        groups[-1].append(u)
        room -= need
    if not groups:
        groups = [[]]
    return [Transmission([manifest, *g], seq=(seq0 + i) % 65536, frame_type=frame_type,
                         meta={"scheme": scheme, "index": i}) for i, g in enumerate(groups)]


def source_dim(num_frames: int, height: int, width: int) -> int:
    """Real values of a clip of ``num_frames`` RGB frames of height x width pixels."""
    return 3 * int(num_frames) * int(height) * int(width)


def symbols_sent(transmissions: list[Transmission]) -> int:
    """Payload complex symbols of every unit of every transmission."""
    return sum(u.n_symbols for tx in transmissions for u in tx.units)


def burst_samples(tx: Transmission, fmt: FrameFormat = _FORMAT) -> int:
    """Samples of ``tx``'s burst on air (what ``FrameFormat.build`` makes), without building it."""
    p = fmt.params
    n_ofdm = (fmt.n_sig + fmt.n_table_symbols(len(encode_table(tx.units)))
              + fmt.n_payload_symbols(sum(u.n_symbols for u in tx.units)))
    return p.preamble.size + n_ofdm * p.symbol_len


def cbr_figures(transmissions: list[Transmission], num_frames: int, height: int, width: int) -> dict:
    """symbols_sent, samples_on_air, cbr_net and cbr_gross of a clip's transmissions."""
    dim = source_dim(num_frames, height, width)
    net = symbols_sent(transmissions)
    gross = sum(burst_samples(tx) for tx in transmissions)
    return {"symbols_sent": net, "samples_on_air": gross, "cbr_net": net / dim, "cbr_gross": gross / dim}


#: what the encoder's context holds about the transmission that a decoder's report repeats
FIGURES = ("cbr_net", "cbr_gross", "cbr_paper", "bcr_paper", "symbols_sent", "samples_on_air", "keyframe_ratio",
           "indices_sent")


def copy_figures(report: dict, context: dict) -> dict:
    """``report`` with the transmitter's figures (:data:`FIGURES`) copied from ``context`` when
    the receiver has it (the loopback flowgraph's ctx port); returns ``report``."""
    if isinstance(context, dict):
        report.update({k: context[k] for k in FIGURES if k in context})
    return report


def ideal_received(transmissions: list) -> list[dict]:
    """The ideal channel: received dicts (as :func:`semcom_host.service.registry.received_to_dict`
    makes them) of ``transmissions`` arriving intact without the PHY; noise variance 0,
    snr_est_db None."""
    rx = []
    for tx in transmissions:
        units = [{"name": u.name, "kind": u.kind, "crc_ok": True if u.kind == "digital" else None,
                  "data": bytes(u.data) if u.kind == "digital" else np.asarray(u.data, np.complex64),
                  "noise_var": None if u.kind == "digital" else np.zeros(u.length, np.float32)} for u in tx.units]
        rx.append({"seq": int(tx.seq), "frame_type": int(tx.frame_type), "snr_est_db": None, "cfo": 0.0,
                   "noise_var": 0.0, "start": 0, "end": 0, "units": units})
    return rx


def snr_estimate(received: list) -> float | None:
    """The receiver's Es/N0 estimates (dB) of a clip's bursts, averaged in linear scale."""
    return mean_db([rx.get("snr_est_db") for rx in received])


_MODELS: dict[tuple, object] = {}
_MODELS_LOCK = threading.Lock()


def cached(key: tuple, load: Callable[[], object]):
    """What ``load()`` returns, loaded once per process under ``key`` (codecs, vision-language
    models, video decoders: a service loads each once, whatever thread asks first)."""
    with _MODELS_LOCK:
        if key not in _MODELS:
            _MODELS[key] = load()
        return _MODELS[key]


def djscc_model(name: str):
    """A shipped DJSCC model (semcom_models.djscc), loaded once per process."""
    from semcom_models.djscc import load_djscc

    return cached(("djscc", name), lambda: load_djscc(name))


def msvq_model(name: str = "msvq_g8_l16"):
    """A shipped MSVQ model (semcom_models.msvq), loaded once per process."""
    from semcom_models.msvq import load_msvq

    return cached(("msvq", name), lambda: load_msvq(name))


def freeze_missing(out: np.ndarray, decoded) -> None:
    """Conceal lost frames in place: frames of ``out`` (T x ...) not in ``decoded`` (frame indices)
    repeat the last decoded frame before them, leading ones the first decoded frame; every frame
    mid-grey (128) when nothing was decoded."""
    decoded = sorted(int(i) for i in decoded)
    if not decoded:
        out[:] = 128
        return
    good = np.zeros(out.shape[0], bool)
    good[decoded] = True
    src = np.maximum.accumulate(np.where(good, np.arange(out.shape[0]), -1))
    src[src < 0] = decoded[0]
    out[:] = out[src]


def warm_up() -> None:
    """Import the extraction/reconstruction modules and load the shipped codecs once, so that a
    service's first request does not pay for them (``semcom run`` times this as ``load_models``)."""
    import semcom_models.decoders.interpolating  # noqa: F401  (optical flow, OpenCV)
    import semcom_models.keyframes  # noqa: F401
    import semcom_models.motion  # noqa: F401
    import semcom_models.sketch  # noqa: F401

    for name in ("djscc_first_frame", "djscc_sketch", "djscc_rgb"):
        djscc_model(name)
    msvq_model()


def resize_frames(frames: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """uint8 N x H x W (x C) frames resized to size = (height, width) (area down, bilinear up)."""
    from semcom_models.video_io import resize_frame

    if frames.shape[1:3] == tuple(size):
        return frames
    return np.stack([resize_frame(f, size) for f in frames])


def captions_for(params: dict, segments: list[tuple[int, int]], frames: np.ndarray) -> list[str]:
    """One caption per segment [start, stop): from ``params["caption"]`` (one text for every
    segment), else ``params["captions_file"]`` (a sidecar, semcom_models.captioners), else the
    vision-language model ``params["captioner"]`` (a model_paths name, loaded from local weights).
    ValueError when none is given: these schemes send a description and need one."""
    from semcom_models.captioners import SidecarCaptioner

    if params.get("caption"):
        return [str(params["caption"])] * len(segments)
    if params.get("captions_file"):
        cap = SidecarCaptioner.from_file(params["captions_file"])
        return [cap.caption(frames[a:b], (a, b)) for a, b in segments]
    if params.get("captioner"):
        return vlm_captioner(params).caption_segments(frames, segments, fps=float(params.get("fps") or 25.0))
    raise ValueError("this scheme sends a text description: give params caption (text), captions_file (a "
                     "sidecar file, see docs/semantics.md) or captioner (a local vision-language model name)")


def vlm_captioner(params: dict):
    """The scheme's local VLM captioner (``captioner``, ``captioner_path``), reading each segment
    as a video where the model can (Qwen2-VL / Qwen2.5-VL) with ``captioner_frames`` frames (0:
    by rate) sampled at ``captioner_fps`` frames per second (0: the model's default, 2); cached
    per process."""
    from semcom_models.captioners import VLMCaptioner

    name, path = str(params["captioner"]), params.get("captioner_path") or None
    frames, rate = int(params.get("captioner_frames") or 0) or None, float(params.get("captioner_fps") or 0) or None
    return cached(("captioner", name, path, frames, rate),
                  lambda: VLMCaptioner.load(name, path, num_frames=frames, sample_fps=rate))


class Stopwatch:
    """Seconds per named stage: ``with watch("extract"): ...``; ``watch.seconds`` is the dict."""

    def __init__(self):
        self.seconds: dict[str, float] = {}

    def __call__(self, stage: str):
        import contextlib
        import time

        @contextlib.contextmanager
        def timed():
            t0 = time.perf_counter()
            try:
                yield
            finally:
                self.seconds[stage] = round(self.seconds.get(stage, 0.0) + time.perf_counter() - t0, 6)

        return timed()


def segment_report(segments, notes: dict) -> list[dict]:
    """One entry per semantic segment for a report: ``start``, ``stop``, ``caption``, and for a
    generative decoder the ``generated`` segments that start inside it, each with the ``prompt``
    and ``gen_frames`` the model was given (from the decoder's ``notes["segments"]``)."""
    calls = notes.get("segments") or []
    out = []
    for seg in segments:
        entry = {"start": seg.start, "stop": seg.stop, "caption": seg.caption}
        inside = [c for c in calls if seg.start <= c["start"] < seg.stop]
        if inside:
            entry["prompt"] = inside[0]["prompt"]
            entry["gen_frames"] = [c["gen_frames"] for c in inside]
        out.append(entry)
    return out
