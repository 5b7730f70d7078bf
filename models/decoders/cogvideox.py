"""CogVideoX through diffusers: text-to-video and image-to-video.

* :class:`CogVideoXDecoder` (``cogvideox``, e.g. CogVideoX-2b/5b): ``CogVideoXPipeline``.
* :class:`CogVideoXImageToVideoDecoder` (``cogvideox-i2v``, e.g. CogVideoX-5b-I2V):
  ``CogVideoXImageToVideoPipeline`` from the first frame of each segment.

Frame counts follow the checkpoint: CogVideoX 1.0 generates 8k+1 frames up to 49 (exactly 49
when it has learned position embeddings, as the I2V model does, which also fixes its size to
480 x 720); CogVideoX 1.5 (temporal patches of 2) generates 16k+1 frames up to 161. Sizes are
multiples of 16. The text encoder's sequence length is the transformer's ``max_text_seq_length``.
"""
from __future__ import annotations

import os
from typing import Any

import numpy as np

from semcom_models import model_paths
from semcom_models.decoders.base import Capability, Conditioning
from semcom_models.decoders.diffusers_video import DiffusersVideoDecoder, SegmentJob, first_frame_required
from semcom_models.segments import LengthRule

COGVIDEOX15_MAX_FRAMES = 161


class CogVideoXDecoder(DiffusersVideoDecoder):
    """CogVideoX text-to-video: a caption per clip, no frame conditioning."""

    name = "cogvideox"
    model_name = "cogvideox"
    capabilities = Capability.TEXT
    frame_slots = "none"

    def _pipeline_class(self) -> Any:
        from diffusers import CogVideoXPipeline

        return CogVideoXPipeline

    def _load_pipeline(self, path: os.PathLike) -> Any:
        pipe = model_paths.from_pretrained(self._pipeline_class(), path, **model_paths.diffusers_dtype(self.dtype))
        cfg = pipe.transformer.config
        self.size_multiple = int(pipe.vae_scale_factor_spatial) * int(cfg.patch_size)
        return pipe

    def length_rule(self) -> LengthRule:
        cfg = self.pipe.transformer.config
        t = int(self.pipe.vae_scale_factor_temporal)
        if cfg.use_learned_positional_embeddings:
            return LengthRule(fixed=(int(cfg.sample_frames),))
        if cfg.patch_size_t is None:                   # CogVideoX 1.0: 8k+1 up to sample_frames
            return LengthRule(step=2 * t, offset=1, minimum=2 * t + 1, maximum=int(cfg.sample_frames))
        step = 4 * t                                   # CogVideoX 1.5: 16k+1, k <= 10
        return LengthRule(step=step, offset=1, minimum=step + 1, maximum=COGVIDEOX15_MAX_FRAMES)

    def native_size(self) -> tuple[int, int] | None:
        cfg = self.pipe.transformer.config
        if not cfg.use_learned_positional_embeddings:
            return None
        s = int(self.pipe.vae_scale_factor_spatial)
        return int(cfg.sample_height) * s, int(cfg.sample_width) * s

    def check(self, cond: Conditioning) -> None:
        if not cond.has_text:
            raise ValueError(f"{self.name} generates from text: the conditioning has no caption")

    def _kwargs(self, job: SegmentJob) -> dict[str, Any]:
        kw = self._common_kwargs(job)
        kw.update(self._text_kwargs(job))
        kw.setdefault("max_sequence_length", int(self.pipe.transformer.config.max_text_seq_length))
        return kw

    def _generate(self, job: SegmentJob) -> np.ndarray:
        return self.pipe(**self._kwargs(job)).frames[0]


class CogVideoXImageToVideoDecoder(CogVideoXDecoder):
    """CogVideoX image-to-video: each segment starts from a frame."""

    name = "cogvideox-i2v"
    model_name = "cogvideox-i2v"
    capabilities = Capability.TEXT | Capability.FIRST_FRAME
    frame_slots = "first"

    def _pipeline_class(self) -> Any:
        from diffusers import CogVideoXImageToVideoPipeline

        return CogVideoXImageToVideoPipeline

    def check(self, cond: Conditioning) -> None:
        first_frame_required(self.name, cond)

    def _generate(self, job: SegmentJob) -> np.ndarray:
        return self.pipe(image=job.images[0], **self._kwargs(job)).frames[0]
