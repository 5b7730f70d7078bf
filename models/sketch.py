"""Sketches (edge maps) of frames, GVSC's Sketch+Desc semantic: uint8 H x W, 255 = edge, 0 = none.

Weight-free extractors (OpenCV):

- XDoG (default; Winnemoeller, Kyprianidis and Olsen 2012, thresholded difference of Gaussians):
  D = G_sigma * L - tau G_(k sigma) * L on luma L in [0, 1]. Flat regions give D = (1 - tau) L >= 0;
  the dark side of an intensity step gives D < 0. Edge strength is tanh(phi (eps - D)) where
  D < eps, 0 elsewhere, scaled to 0..255: soft, pencil-like lines.
- Canny (Gaussian pre-blur, hysteresis thresholds on 0..255 gradients): thin binary edges.

Learned extractors (PiDiNet, HED) run through ``controlnet_aux`` with weights from a local folder
only (:class:`ControlNetAuxSketcher`); that package is optional and not installed by default.
"""
from __future__ import annotations

import os
from collections.abc import Iterable

import cv2
import numpy as np

from .model_paths import ModelNotFoundError, env_var, offline, resolve_model_path
from .video_io import check_frames, check_image

SKETCH_METHODS = ("xdog", "canny")
# Model name (for model_paths) of the folder with the controlnet_aux annotator weights
# (table5_pidinet.pth, ControlNetHED.pth): a local copy of lllyasviel/Annotators.
ANNOTATORS_MODEL = "annotators"


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


def extract_sketch(image: np.ndarray, method: str = "xdog", **params) -> np.ndarray:
    """Sketch of one frame with ``method`` ("xdog" or "canny"); ``params`` go to the extractor."""
    if method == "xdog":
        return xdog(image, **params)
    if method == "canny":
        return canny(image, **params)
    raise ValueError(f"unknown sketch method {method!r}; choose from {SKETCH_METHODS} "
                     "or use ControlNetAuxSketcher for PiDiNet/HED")


def sketch_frames(frames: np.ndarray, indices: Iterable[int] | None = None, method: str = "xdog",
                  **params) -> dict[int, np.ndarray]:
    """Sketches of the frames at ``indices`` (all when None) of a uint8 T x H x W x 3 video, as
    {index: uint8 H x W}, the form of ``Conditioning.sketches``."""
    frames = check_frames(frames)
    idx = range(frames.shape[0]) if indices is None else indices
    out = {}
    for i in idx:
        if not 0 <= i < frames.shape[0]:
            raise ValueError(f"frame index {i} outside 0..{frames.shape[0] - 1}")
        out[int(i)] = extract_sketch(frames[i], method, **params)
    return out


class ControlNetAuxSketcher:
    """PiDiNet or HED soft edges through ``controlnet_aux``, weights from a local folder only.

    kind: "pidinet" (file table5_pidinet.pth) or "hed" (ControlNetHED.pth), as in the Hugging
    Face repository lllyasviel/Annotators. path: the folder holding that file; when None, the
    folder of the model named ``"annotators"`` found by
    :func:`semcom_models.model_paths.resolve_model_path` ($SEMCOM_ANNOTATORS_PATH,
    $SEMCOM_MODEL_DIR/annotators, or the models YAML file). Nothing is downloaded.
    Raises FileNotFoundError (ModelNotFoundError) for a missing folder or file, ImportError when
    controlnet_aux (pip install controlnet-aux, which pulls in torchvision) is absent. Calling
    the object on a uint8 H x W x 3 frame returns a uint8 H x W sketch (255 = edge).
    """

    KINDS = {"pidinet": ("PidiNetDetector", "table5_pidinet.pth"), "hed": ("HEDdetector", "ControlNetHED.pth")}

    def __init__(self, kind: str = "pidinet", path: str | os.PathLike | None = None,
                 device: str = "cpu", detect_resolution: int = 512):
        if kind not in self.KINDS:
            raise ValueError(f"unknown learned sketch model {kind!r}; choose from {sorted(self.KINDS)}")
        cls_name, filename = self.KINDS[kind]
        folder = resolve_model_path(ANNOTATORS_MODEL, path)
        if not (folder / filename).is_file():
            raise ModelNotFoundError(f"{kind} weights not found: {folder / filename} (the folder of model "
                                     f"{ANNOTATORS_MODEL!r}, set by path= or ${env_var(ANNOTATORS_MODEL)}, "
                                     f"must hold {filename})")
        try:
            import controlnet_aux
        except ImportError as exc:
            raise ImportError(f"the {kind} sketch extractor needs the controlnet_aux package "
                              f"(pip install controlnet-aux; it also installs torchvision): {exc}") from exc
        offline()
        detector = getattr(controlnet_aux, cls_name).from_pretrained(str(folder), filename=filename)
        self.detector = detector.to(device)
        self.kind, self.detect_resolution = kind, detect_resolution

    def __call__(self, image: np.ndarray) -> np.ndarray:
        img = check_image(image)
        h, w = img.shape[:2]
        edge = np.asarray(self.detector(img, detect_resolution=self.detect_resolution,
                                        image_resolution=min(h, w), output_type="np"))
        if edge.ndim == 3:
            edge = edge[..., 0]
        return cv2.resize(edge.astype(np.uint8), (w, h), interpolation=cv2.INTER_LINEAR)
