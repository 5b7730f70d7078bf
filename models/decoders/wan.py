"""Wan 2.1 through diffusers: image-to-video, first-last-frame-to-video and VACE.

* :class:`WanImageToVideoDecoder` (``wan2.1-i2v``): ``WanImageToVideoPipeline`` from the first
  frame of each segment.
* :class:`WanFirstLastDecoder` (``wan2.1-flf2v``): the same pipeline with ``last_image``: each
  segment runs from keyframe to keyframe, so keyframes anywhere are honoured.
* :class:`WanVACEDecoder` (``wan2.1-vace``): ``WanVACEPipeline``. The control video holds the
  keyframes at their indices (mask 0: keep) and the sketches, drawn white on black, at theirs
  (mask 1: generate, guided by the drawing); every other frame is mid-grey with mask 1.

Wan generates 4k+1 frames (up to 81, 5 s at 16 fps) at sizes that are multiples of 16. As in
Wan's own examples, the VAE (and CLIP image encoder) run in float32 whatever the model dtype.
"""
from __future__ import annotations

import os
from typing import Any

import numpy as np

from semcom_models import model_paths
from semcom_models.decoders.base import Capability, Conditioning
from semcom_models.decoders.diffusers_video import DiffusersVideoDecoder, SegmentJob, first_frame_required
from semcom_models.segments import LengthRule

WAN_MAX_FRAMES = 81
GREY = 128   # VACE's "unknown" frame value (0 after scaling to [-1, 1])


def _load_wan(pipeline_cls: Any, path: os.PathLike, dtype: Any) -> Any:
    """A Wan pipeline with its VAE (and image encoder, when there is one) in float32."""
    import torch
    from diffusers import AutoencoderKLWan

    fp32 = model_paths.diffusers_dtype(torch.float32)
    extra: dict[str, Any] = {"vae": model_paths.from_pretrained(AutoencoderKLWan, path, subfolder="vae", **fp32)}
    if pipeline_cls.__name__ == "WanImageToVideoPipeline" and os.path.isdir(os.path.join(path, "image_encoder")):
        from transformers import CLIPVisionModel

        extra["image_encoder"] = model_paths.from_pretrained(CLIPVisionModel, path, subfolder="image_encoder",
                                                             dtype=torch.float32)
    return model_paths.from_pretrained(pipeline_cls, path, **model_paths.diffusers_dtype(dtype), **extra)


class _WanBase(DiffusersVideoDecoder):
    size_multiple = 16

    def length_rule(self) -> LengthRule:
        t = int(self.pipe.vae_scale_factor_temporal)
        return LengthRule(step=t, offset=1, minimum=t + 1, maximum=WAN_MAX_FRAMES)


class WanImageToVideoDecoder(_WanBase):
    """Wan 2.1 image-to-video: each segment starts from a frame (keyframe or previous segment)."""

    name = "wan2.1-i2v"
    model_name = "wan2.1-i2v"
    capabilities = Capability.TEXT | Capability.FIRST_FRAME
    frame_slots = "first"

    def _load_pipeline(self, path: os.PathLike) -> Any:
        from diffusers import WanImageToVideoPipeline

        return _load_wan(WanImageToVideoPipeline, path, self.dtype)

    def check(self, cond: Conditioning) -> None:
        first_frame_required(self.name, cond)

    def _generate(self, job: SegmentJob) -> np.ndarray:
        kw = self._common_kwargs(job)
        kw.update(self._text_kwargs(job))
        last = job.images.get(job.num_frames - 1)
        if last is not None and job.num_frames > 1:
            kw["last_image"] = last
        return self.pipe(image=job.images[0], **kw).frames[0]


class WanFirstLastDecoder(WanImageToVideoDecoder):
    """Wan 2.1 FLF2V: segments from keyframe to keyframe, conditioned on both ends."""

    name = "wan2.1-flf2v"
    model_name = "wan2.1-flf2v"
    capabilities = Capability.TEXT | Capability.FIRST_FRAME | Capability.FIRST_LAST | Capability.KEYFRAMES
    frame_slots = "first_last"


class WanVACEDecoder(_WanBase):
    """Wan 2.1 VACE: text, keyframes anywhere and sketches in one control video.

    Option ``conditioning_scale`` (1.0): strength of the control video.
    """

    name = "wan2.1-vace"
    model_name = "wan2.1-vace"
    capabilities = (Capability.TEXT | Capability.FIRST_FRAME | Capability.FIRST_LAST | Capability.KEYFRAMES
                    | Capability.SKETCHES)
    frame_slots = "any"

    def __init__(self, path: str | os.PathLike | None = None, *, conditioning_scale: float = 1.0, **opts: Any):
        self.conditioning_scale = conditioning_scale
        super().__init__(path, **opts)

    def _load_pipeline(self, path: os.PathLike) -> Any:
        from diffusers import WanVACEPipeline

        return _load_wan(WanVACEPipeline, path, self.dtype)

    def control_video(self, job: SegmentJob) -> tuple[list[Any], list[Any]] | tuple[None, None]:
        """(video, mask) PIL frames for the job, or (None, None) with nothing to condition on."""
        from PIL import Image

        if not job.images and not job.sketches:
            return None, None
        size = (job.width, job.height)
        grey = Image.new("RGB", size, (GREY, GREY, GREY))
        keep, generate = Image.new("L", size, 0), Image.new("L", size, 255)
        video, mask = [], []
        for i in range(job.num_frames):
            if i in job.images:
                video.append(job.images[i].convert("RGB"))
                mask.append(keep)
            elif i in job.sketches:
                video.append(Image.fromarray(np.repeat(np.asarray(job.sketches[i], np.uint8)[..., None], 3, axis=2)))
                mask.append(generate)
            else:
                video.append(grey)
                mask.append(generate)
        return video, mask

    def _generate(self, job: SegmentJob) -> np.ndarray:
        kw = self._common_kwargs(job)
        kw.update(self._text_kwargs(job))
        video, mask = self.control_video(job)
        return self.pipe(video=video, mask=mask, conditioning_scale=self.conditioning_scale, **kw).frames[0]
