"""Stable Video Diffusion through diffusers: image-to-video, no text.

``StableVideoDiffusionPipeline`` animates the first frame of each segment. It generates exactly
the number of frames its UNet was trained on (14 for img2vid, 25 for img2vid-xt), at sizes that
are multiples of the VAE's and UNet's downsampling (64 pixels for the released models). The
micro-conditioning frame rate is the conditioning's fps; ``motion_bucket_id`` (127) and
``noise_aug_strength`` (0.02) are options; ``guidance_scale`` sets the pipeline's
``max_guidance_scale``.
"""
from __future__ import annotations

import os
from typing import Any

import numpy as np

from semcom_models import model_paths
from semcom_models.decoders.base import Capability, Conditioning
from semcom_models.decoders.diffusers_video import DiffusersVideoDecoder, SegmentJob, first_frame_required
from semcom_models.segments import LengthRule


class SVDDecoder(DiffusersVideoDecoder):
    """Stable Video Diffusion (``svd``): animates a first frame; ignores captions."""

    name = "svd"
    model_name = "svd"
    capabilities = Capability.FIRST_FRAME
    frame_slots = "first"

    def __init__(self, path: str | os.PathLike | None = None, *, motion_bucket_id: int = 127,
                 noise_aug_strength: float = 0.02, decode_chunk_size: int | None = None, **opts: Any):
        self.motion_bucket_id = motion_bucket_id
        self.noise_aug_strength = noise_aug_strength
        self.decode_chunk_size = decode_chunk_size
        super().__init__(path, **opts)

    def _load_pipeline(self, path: os.PathLike) -> Any:
        from diffusers import StableVideoDiffusionPipeline

        pipe = model_paths.from_pretrained(StableVideoDiffusionPipeline, path,
                                           **model_paths.diffusers_dtype(self.dtype))
        levels = len(pipe.unet.config.block_out_channels) - 1
        self.size_multiple = int(pipe.vae_scale_factor) * 2 ** levels
        return pipe

    def length_rule(self) -> LengthRule:
        return LengthRule(fixed=(int(self.pipe.unet.config.num_frames),))

    def check(self, cond: Conditioning) -> None:
        first_frame_required(self.name, cond)

    def _generate(self, job: SegmentJob) -> np.ndarray:
        kw: dict[str, Any] = dict(
            image=job.images[0], height=job.height, width=job.width, num_frames=job.num_frames,
            num_inference_steps=self.num_inference_steps, fps=max(2, int(round(job.fps))),
            motion_bucket_id=self.motion_bucket_id, noise_aug_strength=self.noise_aug_strength,
            decode_chunk_size=self.decode_chunk_size, generator=job.generator, output_type="np")
        if self.guidance_scale is not None:
            kw["max_guidance_scale"] = self.guidance_scale
        kw.update(self.pipeline_kwargs)
        return self.pipe(**kw).frames[0]
