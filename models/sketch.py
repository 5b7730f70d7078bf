"""Sketches (edge maps) of frames, GVSC's Sketch+Desc semantic: uint8 H x W, 255 = edge, 0 = none.

Weight-free extractors (OpenCV):

- XDoG (default; Winnemoeller, Kyprianidis and Olsen 2012, thresholded difference of Gaussians):
  D = G_sigma * L - tau G_(k sigma) * L on luma L in [0, 1]. Flat regions give D = (1 - tau) L >= 0;
  the dark side of an intensity step gives D < 0. Edge strength is tanh(phi (eps - D)) where
  D < eps, 0 elsewhere, scaled to 0..255: soft, pencil-like lines.
- Canny (Gaussian pre-blur, hysteresis thresholds on 0..255 gradients): thin binary edges.

Learned extractors, plain torch, weights from a local folder only (never downloaded):

- "pidinet": PiDiNet, ``table5_pidinet.pth`` (:mod:`semcom_models.pidinet`);
- "hed": ControlNet's Apache-2.0 HED, ``ControlNetHED.pth`` (:mod:`semcom_models.hed`).

Both files come from the Hugging Face repository lllyasviel/Annotators; the folder holding them
is the model named ``"annotators"`` (:data:`ANNOTATORS_MODEL`), found by
:func:`semcom_models.model_paths.resolve_model_path`: ``path=``, ``$SEMCOM_ANNOTATORS_PATH``,
``$SEMCOM_MODEL_DIR/Annotators`` or the models YAML file. A ``.safetensors`` file of the same
stem is accepted instead of the ``.pth``; ``.pth`` files are read with ``weights_only=True``.
Processing follows ControlNet's soft-edge annotators (:func:`learned_sketches`).
"""
from __future__ import annotations

import functools
import os
import pickle
from collections.abc import Iterable
from pathlib import Path

import cv2
import numpy as np

from .model_paths import ModelNotFoundError, env_var, resolve_model_path
from .video_io import check_frames, check_image

SKETCH_METHODS = ("xdog", "canny", "pidinet", "hed")
# Model name (for model_paths) of the folder with the annotator weights: a local copy of
# lllyasviel/Annotators holding the files of LEARNED_FILES.
ANNOTATORS_MODEL = "annotators"
#: learned method -> weight file name in the annotators folder
LEARNED_FILES = {"pidinet": "table5_pidinet.pth", "hed": "ControlNetHED.pth"}
#: short side (pixels) the learned extractors run at by default, as ControlNet's annotators
DETECT_RESOLUTION = 512


def _luma(image: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(check_image(image), cv2.COLOR_RGB2GRAY)


def xdog(image: np.ndarray, sigma: float = 1.0, k: float = 1.6, tau: float = 0.98,
         eps: float = -0.005, phi: float = 200.0) -> np.ndarray:
    """XDoG sketch of a uint8 H x W x 3 RGB image -> uint8 H x W (255 = edge).

    sigma: inner Gaussian standard deviation (pixels); k: ratio of the outer one; tau: weight
    of the outer Gaussian; eps: threshold on D (luma units, [0, 1] scale); phi: steepness.
    """
    if not (sigma > 0 and k > 1 and phi > 0):
        raise ValueError(f"need sigma > 0, k > 1, phi > 0; got sigma={sigma} k={k} phi={phi}")
    lum = _luma(image).astype(np.float32) / 255.0
    d = cv2.GaussianBlur(lum, (0, 0), sigma) - tau * cv2.GaussianBlur(lum, (0, 0), k * sigma)
    strength = np.where(d < eps, np.tanh(phi * (eps - d)), 0.0)
    return np.clip(strength * 255.0 + 0.5, 0, 255).astype(np.uint8)


def canny(image: np.ndarray, low: float = 50.0, high: float = 150.0, blur_sigma: float = 1.0) -> np.ndarray:
    """Canny edges of a uint8 H x W x 3 RGB image -> uint8 H x W (255 = edge, else 0).

    low, high: hysteresis thresholds on the Sobel gradient magnitude of 0..255 luma;
    blur_sigma: Gaussian pre-blur (pixels), 0 for none.
    """
    if not 0 <= low <= high:
        raise ValueError(f"need 0 <= low <= high, got low={low} high={high}")
    lum = _luma(image)
    if blur_sigma > 0:
        lum = cv2.GaussianBlur(lum, (0, 0), blur_sigma)
    return cv2.Canny(lum, low, high)


# -- learned extractors ------------------------------------------------------------------------
def weights_file(method: str, path: str | os.PathLike | None = None) -> Path:
    """The local weight file of learned ``method`` ("pidinet" or "hed").

    path: the annotators folder (or the file itself); when None, the folder of model
    ``"annotators"`` (see the module docstring). In that folder ``LEARNED_FILES[method]`` is used,
    else the ``.safetensors`` file of the same stem. Raises ModelNotFoundError naming
    ``$SEMCOM_ANNOTATORS_PATH`` and the file to place.
    """
    if method not in LEARNED_FILES:
        raise ValueError(f"unknown learned sketch method {method!r}; choose from {sorted(LEARNED_FILES)}")
    name = LEARNED_FILES[method]
    names = (name, Path(name).stem + ".safetensors")
    where = resolve_model_path(ANNOTATORS_MODEL, path)
    if where.is_file() and where.name in names:
        return where
    for candidate in (where / n for n in names):
        if candidate.is_file():
            return candidate
    raise ModelNotFoundError(f"{method} sketch weights not found: {where} must be a folder holding {name} "
                             f"(or {names[1]}) from lllyasviel/Annotators; set path= or "
                             f"${env_var(ANNOTATORS_MODEL)} to that folder. gr-semcom never downloads models.")


def _read_tensors(file: Path) -> dict:
    """The checkpoint object in ``file`` on the CPU: safetensors, or torch.load(weights_only=True)."""
    import torch

    if file.suffix == ".safetensors":
        from safetensors.torch import load_file

        try:
            return load_file(str(file), device="cpu")
        except Exception as exc:  # safetensors raises its own error types for corrupt headers
            raise ValueError(f"{file}: not a readable safetensors file ({exc})") from exc
    try:
        return torch.load(file, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise ValueError(f"{file}: not loadable with torch.load(weights_only=True) ({exc}); convert it to "
                         f"{file.stem}.safetensors beside it") from exc
    except (EOFError, RuntimeError) as exc:
        raise ValueError(f"{file}: not a readable torch checkpoint ({exc})") from exc


@functools.lru_cache(maxsize=4)
def _network(method: str, file: str, stamp: tuple[int, int], device: str):
    from .djscc import load_state_checked

    if method == "pidinet":
        from .pidinet import PiDiNet, checkpoint_state_dict

        net, tensors = PiDiNet(), checkpoint_state_dict(_read_tensors(Path(file)))
    else:
        from .hed import ControlNetHED

        net, tensors = ControlNetHED(), _read_tensors(Path(file))
        if not isinstance(tensors, dict):
            raise ValueError(f"{file}: expected a state dict, got {type(tensors).__name__}")
    load_state_checked(net, tensors, file)
    return net.to(device).eval().requires_grad_(False)


def load_sketch_network(method: str, path: str | os.PathLike | None = None, device: str = "cpu"):
    """The PiDiNet or HED network (eval mode, float32 on ``device``) with the weights of
    :func:`weights_file`, loaded strictly (every tensor name and shape must match; ValueError
    otherwise). Built once per process for each file (its size and modification time) and device."""
    file = weights_file(method, path).resolve()
    st = file.stat()
    return _network(method, str(file), (st.st_size, st.st_mtime_ns), str(device))


def detection_size(height: int, width: int, resolution: int | None) -> tuple[int, int]:
    """(height, width) the learned extractors run at: the frame scaled so that its short side is
    ``resolution``, each side rounded to a multiple of 64 (at least 64), as ControlNet's
    ``resize_image``; the frame's own size when ``resolution`` is None."""
    if resolution is None:
        return int(height), int(width)
    if resolution <= 0:
        raise ValueError(f"detect_resolution must be > 0 or None, got {resolution}")
    k = float(resolution) / min(height, width)
    return (max(64, int(np.round(height * k / 64.0)) * 64), max(64, int(np.round(width * k / 64.0)) * 64))


def safe_step(prob: np.ndarray, step: int = 2) -> np.ndarray:
    """ControlNet's "safe" quantisation of probabilities in [0, 1]: floor(p (step + 1)) / step, so
    that after scaling by 255 and clipping, step = 2 leaves three levels: p < 1/3 -> 0,
    1/3 <= p < 2/3 -> 127, p >= 2/3 -> 255."""
    return np.floor(prob.astype(np.float32) * float(step + 1)) / float(step)


def learned_sketches(frames: np.ndarray, method: str, *, path: str | os.PathLike | None = None,
                     device: str = "cpu", detect_resolution: int | None = DETECT_RESOLUTION, safe: bool = False,
                     threshold: float | None = None, batch_size: int = 4) -> np.ndarray:
    """PiDiNet or HED sketches of uint8 N x H x W x 3 RGB ``frames`` -> uint8 N x H x W (255 = edge).

    As ControlNet's soft-edge annotators: each frame is resized to :func:`detection_size`
    (Lanczos when enlarging, area when shrinking); PiDiNet gets BGR / 255 in [0, 1], HED the RGB
    values 0..255; the network's edge probability p in [0, 1] (PiDiNet: sigmoid of the fused map;
    HED: sigmoid of the mean of its five upsampled side outputs) becomes, in this order,
    ``p > threshold`` (0 or 1; when ``threshold`` is given, as controlnet_aux's
    ``apply_filter`` at 0.5), :func:`safe_step` (when ``safe``), then floor(255 p) clipped to
    0..255; the uint8 map is resized back to H x W (bilinear). ``detect_resolution`` None runs
    at the frame's own size (at least 8 x 8 for PiDiNet, 16 x 16 for HED).
    Frames go through the network ``batch_size`` at a time; weights: :func:`load_sketch_network`.
    """
    import torch

    frames = check_frames(frames)
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if threshold is not None and not 0.0 < threshold < 1.0:
        raise ValueError(f"threshold must be in (0, 1) or None, got {threshold}")
    net = load_sketch_network(method, path, device)
    n, h, w, _ = frames.shape
    dh, dw = detection_size(h, w, detect_resolution)
    enlarge = detect_resolution is not None and detect_resolution > min(h, w)
    interp = cv2.INTER_LANCZOS4 if enlarge else cv2.INTER_AREA
    out = np.empty((n, h, w), np.uint8)
    for start in range(0, n, batch_size):
        chunk = frames[start:start + batch_size]
        if (dh, dw) != (h, w):
            chunk = np.stack([cv2.resize(f, (dw, dh), interpolation=interp) for f in chunk])
        x = torch.from_numpy(np.ascontiguousarray(chunk)).to(device=device, dtype=torch.float32).permute(0, 3, 1, 2)
        if method == "pidinet":
            x = x.flip(1) / 255.0
        with torch.inference_mode():
            prob = net(x)[:, 0].float().cpu().numpy()
        if threshold is not None:
            prob = (prob > threshold).astype(np.float32)
        if safe:
            prob = safe_step(prob)
        edges = np.clip(np.floor(prob * 255.0), 0, 255).astype(np.uint8)
        for i, e in enumerate(edges):
            out[start + i] = e if (dh, dw) == (h, w) else cv2.resize(e, (w, h), interpolation=cv2.INTER_LINEAR)
    return out


# -- dispatch ----------------------------------------------------------------------------------
def extract_sketch(image: np.ndarray, method: str = "xdog", **params) -> np.ndarray:
    """Sketch of one uint8 H x W x 3 RGB frame -> uint8 H x W with ``method`` (one of
    :data:`SKETCH_METHODS`); ``params`` go to :func:`xdog`, :func:`canny` or :func:`learned_sketches`."""
    if method == "xdog":
        return xdog(image, **params)
    if method == "canny":
        return canny(image, **params)
    if method in LEARNED_FILES:
        return learned_sketches(check_image(image)[None], method, **params)[0]
    raise ValueError(f"unknown sketch method {method!r}; choose from {SKETCH_METHODS}")


def sketch_frames(frames: np.ndarray, indices: Iterable[int] | None = None, method: str = "xdog",
                  **params) -> dict[int, np.ndarray]:
    """Sketches of the frames at ``indices`` (all when None) of a uint8 T x H x W x 3 video, as
    {index: uint8 H x W}, the form of ``Conditioning.sketches``. Learned methods run batched."""
    frames = check_frames(frames)
    idx = [int(i) for i in (range(frames.shape[0]) if indices is None else indices)]
    for i in idx:
        if not 0 <= i < frames.shape[0]:
            raise ValueError(f"frame index {i} outside 0..{frames.shape[0] - 1}")
    if method in LEARNED_FILES:
        return dict(zip(idx, learned_sketches(frames[idx], method, **params))) if idx else {}
    if method not in SKETCH_METHODS:
        raise ValueError(f"unknown sketch method {method!r}; choose from {SKETCH_METHODS}")
    return {i: extract_sketch(frames[i], method, **params) for i in idx}
