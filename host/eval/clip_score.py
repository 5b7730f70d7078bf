"""CLIP similarity of videos: frame-level image-image cosine, and text-video cosine.

A local CLIP checkpoint (transformers ``CLIPModel`` folder: ``config.json``, weights,
``preprocessor_config.json``, and for text scores a tokenizer) is loaded with
``local_files_only=True`` from the folder of model ``clip`` in :mod:`semcom_models.model_paths`
(or any path given).

Preprocessing is done here, without transformers' image processor classes (whose default backend
needs torchvision), from the values in ``preprocessor_config.json``, as CLIP's own processor does:
resize so the shortest side is ``size["shortest_edge"]`` (the long side scaled and truncated to an
integer), PIL resampling ``resample`` (3 = bicubic, CLIP's default), on the uint8 frame; center
crop ``crop_size`` (top/left offsets floor((H - h) / 2)); scale by ``rescale_factor`` (1/255); and
normalise with ``image_mean`` / ``image_std``. A ``size`` of height and width resizes to exactly
that size.

Scores (cosines in [-1, 1], 1 = same direction):

- :meth:`CLIPScorer.image_similarity`: per frame t, cos(E(reference_t), E(reconstruction_t)),
  where E is the projected image embedding; a video's score is the mean over frames.
- :meth:`CLIPScorer.text_similarity`: per frame t, cos(T(text), E(frame_t)), T the projected text
  embedding (text truncated to the model's context, 77 tokens for CLIP); the video's score is the
  mean over frames (the "CLIPSIM" of text-to-video papers, here without their factor 100).
  :func:`clip_s` gives Hessel et al.'s CLIP-S = 2.5 * max(cos, 0) when that scale is wanted.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import torch

from semcom_models import model_paths

from .perceptual import check_pair

CLIP_S_WEIGHT = 2.5
_BATCH = 16


def _frames(frames: np.ndarray) -> np.ndarray:
    a = np.asarray(frames)
    if a.ndim == 3:
        a = a[None]
    if a.dtype != np.uint8 or a.ndim != 4 or a.shape[-1] != 3 or 0 in a.shape:
        raise ValueError(f"expected uint8 H x W x 3 or T x H x W x 3 RGB frames, got {a.dtype} {a.shape}")
    return a


class ClipPreprocess:
    """CLIP image preprocessing from a ``preprocessor_config.json`` mapping (see module note)."""

    def __init__(self, cfg: Mapping[str, Any]):
        self.do_resize = bool(cfg.get("do_resize", True))
        size = cfg.get("size", {"shortest_edge": 224})
        if isinstance(size, int):
            size = {"shortest_edge": size}
        self.size = dict(size)
        self.resample = int(cfg.get("resample", 3))
        self.do_center_crop = bool(cfg.get("do_center_crop", True))
        crop = cfg.get("crop_size", {"height": 224, "width": 224})
        if isinstance(crop, int):
            crop = {"height": crop, "width": crop}
        self.crop = (int(crop["height"]), int(crop["width"]))
        self.do_rescale = bool(cfg.get("do_rescale", True))
        self.rescale_factor = float(cfg.get("rescale_factor", 1 / 255))
        self.do_normalize = bool(cfg.get("do_normalize", True))
        self.mean = np.asarray(cfg.get("image_mean", [0.48145466, 0.4578275, 0.40821073]), dtype=np.float32)
        self.std = np.asarray(cfg.get("image_std", [0.26862954, 0.26130258, 0.27577711]), dtype=np.float32)

    @classmethod
    def from_folder(cls, path: str | os.PathLike) -> "ClipPreprocess":
        f = Path(path) / "preprocessor_config.json"
        if not f.is_file():
            raise FileNotFoundError(f"CLIP preprocessing config {f} does not exist (a CLIP checkpoint folder "
                                    "holds it beside config.json)")
        return cls(json.loads(f.read_text(encoding="utf-8")))

    def output_size(self, h: int, w: int) -> tuple[int, int]:
        """(height, width) after the resize step."""
        if not self.do_resize:
            return h, w
        if "shortest_edge" in self.size:
            s = int(self.size["shortest_edge"])
            short, long = (w, h) if w <= h else (h, w)
            new_short, new_long = s, int(s * long / short)
            return (new_long, new_short) if w <= h else (new_short, new_long)
        return int(self.size["height"]), int(self.size["width"])

    def __call__(self, frames: np.ndarray) -> torch.Tensor:
        """uint8 T x H x W x 3 -> float32 T x 3 x h x w, ready for ``get_image_features``."""
        from PIL import Image

        out = []
        for frame in _frames(frames):
            img = frame
            nh, nw = self.output_size(*frame.shape[:2])
            if (nh, nw) != frame.shape[:2]:
                img = np.asarray(Image.fromarray(frame).resize((nw, nh), resample=self.resample))
            if self.do_center_crop:
                img = _center_crop(img, *self.crop)
            x = img.astype(np.float32)
            if self.do_rescale:
                x = x * np.float32(self.rescale_factor)
            if self.do_normalize:
                x = (x - self.mean) / self.std
            out.append(x.transpose(2, 0, 1))
        return torch.from_numpy(np.ascontiguousarray(np.stack(out)))


def _center_crop(img: np.ndarray, ch: int, cw: int) -> np.ndarray:
    """Center crop to ch x cw; a side smaller than the crop is zero-padded (centred) first."""
    h, w = img.shape[:2]
    if h < ch or w < cw:
        ph, pw = max(ch - h, 0), max(cw - w, 0)
        img = np.pad(img, ((ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2), (0, 0)))
        h, w = img.shape[:2]
    top, left = (h - ch) // 2, (w - cw) // 2
    return img[top:top + ch, left:left + cw]


def _features(out: Any) -> torch.Tensor:
    """Projected embeddings from get_image/text_features (a tensor, or an output whose
    ``pooler_output`` holds them in transformers 5)."""
    if isinstance(out, torch.Tensor):
        return out
    pooled = getattr(out, "pooler_output", None)
    if pooled is None:
        raise TypeError(f"unexpected CLIP feature output {type(out).__name__}")
    return pooled


class CLIPScorer:
    """A CLIP model with its preprocessing (and tokenizer, for text scores)."""

    def __init__(self, model: Any, preprocess: ClipPreprocess, tokenizer: Any = None, device: str = "cpu",
                 name: str = "clip"):
        self.model = model
        self.preprocess = preprocess
        self.tokenizer = tokenizer
        self.device = device
        self.name = name

    @classmethod
    def load(cls, name: str = "clip", path: str | os.PathLike | None = None, *,
             config: str | os.PathLike | None = None, device: str | None = None) -> "CLIPScorer":
        """Load a local CLIP folder (see :mod:`semcom_models.model_paths`); float32.

        The tokenizer is optional: without one, only image scores work.
        """
        from transformers import AutoTokenizer, CLIPModel

        p = model_paths.resolve_model_path(name, path, config=config)
        device = model_paths.torch_device_dtype(device, torch.float32)[0]
        pre = ClipPreprocess.from_folder(p)
        model = model_paths.from_pretrained(CLIPModel, p, dtype=torch.float32).to(device).eval()
        tok = None
        if any((p / f).is_file() for f in ("tokenizer.json", "vocab.json", "tokenizer_config.json")):
            tok = model_paths.from_pretrained(AutoTokenizer, p)
        return cls(model, pre, tok, device, name)

    @torch.no_grad()
    def image_embeddings(self, frames: np.ndarray) -> torch.Tensor:
        """Unit-norm projected image embeddings of uint8 RGB frames: float32 T x D (on the CPU)."""
        a = _frames(frames)
        outs = []
        for i in range(0, len(a), _BATCH):
            px = self.preprocess(a[i:i + _BATCH]).to(self.device)
            e = _features(self.model.get_image_features(pixel_values=px)).float()
            outs.append(torch.nn.functional.normalize(e, dim=-1).cpu())
        return torch.cat(outs)

    @torch.no_grad()
    def text_embeddings(self, texts: Sequence[str]) -> torch.Tensor:
        """Unit-norm projected text embeddings: float32 N x D (on the CPU)."""
        if self.tokenizer is None:
            raise FileNotFoundError(f"{self.name}: the CLIP folder has no tokenizer (tokenizer.json or "
                                    "vocab.json + merges.txt); text scores need one")
        max_len = int(getattr(self.model.config.text_config, "max_position_embeddings", 77))
        enc = self.tokenizer(list(texts), padding=True, truncation=True, max_length=max_len, return_tensors="pt")
        enc = {k: v.to(self.device) for k, v in enc.items() if k in ("input_ids", "attention_mask")}
        e = _features(self.model.get_text_features(**enc)).float()
        return torch.nn.functional.normalize(e, dim=-1).cpu()

    def image_similarity(self, reference: np.ndarray, reconstruction: np.ndarray):
        """Per-frame CLIP cosine between reference and reconstruction frames (float64 array of
        length T; float for one frame)."""
        a, b, single = check_pair(reference, reconstruction)
        cos = (self.image_embeddings(a) * self.image_embeddings(b)).sum(-1).double().numpy()
        return float(cos[0]) if single else cos

    def text_similarity(self, text: str, frames: np.ndarray) -> np.ndarray:
        """Per-frame CLIP cosine between ``text`` and each frame (float64 array of length T)."""
        t = self.text_embeddings([text])
        return (self.image_embeddings(frames) @ t[0]).double().numpy()


def clip_s(cosines: np.ndarray | float, weight: float = CLIP_S_WEIGHT):
    """Hessel et al.'s CLIP-S: ``weight * max(cos, 0)`` elementwise (default weight 2.5)."""
    return weight * np.maximum(np.asarray(cosines, dtype=np.float64), 0.0)


_CACHE: dict[tuple, CLIPScorer] = {}


def load_clip(name: str = "clip", path: str | os.PathLike | None = None, *, config: str | os.PathLike | None = None,
              device: str | None = None, cache: bool = True) -> CLIPScorer:
    """:meth:`CLIPScorer.load`, cached per (resolved path, device) unless ``cache=False``."""
    p = model_paths.resolve_model_path(name, path, config=config)
    dev = model_paths.torch_device_dtype(device, torch.float32)[0]
    key = (str(p.resolve()), dev)
    if cache and key in _CACHE:
        return _CACHE[key]
    scorer = CLIPScorer.load(name, p, device=dev)
    if cache:
        _CACHE[key] = scorer
    return scorer
