"""LTX-Video through diffusers: text-to-video, image-to-video and multi-keyframe conditioning.

One set of weights serves three pipelines that share their components:

* no frame given: ``LTXPipeline`` (text to video);
* only the segment's first frame: ``LTXImageToVideoPipeline``;
* frames at other indices: ``LTXConditionPipeline`` with one ``LTXVideoCondition`` per frame at
  its frame index (LTX-Video 0.9.5 and later checkpoints).

LTX generates 8k+1 frames (k >= 1, up to 257) at sizes that are multiples of 32; the frame rate
is passed to the model (it scales its temporal positions).
"""
from __future__ import annotations

import os
from typing import Any

import numpy as np

from semcom_models import model_paths
from semcom_models.decoders.base import Capability
from semcom_models.decoders.diffusers_video import DiffusersVideoDecoder, SegmentJob
from semcom_models.segments import LengthRule

LTX_MAX_FRAMES = 257


class LTXVideoDecoder(DiffusersVideoDecoder):
    """LTX-Video (``ltx-video``): text, first frame, first+last frame, keyframes anywhere."""

    name = "ltx-video"
    model_name = "ltx-video"
    capabilities = Capability.TEXT | Capability.FIRST_FRAME | Capability.FIRST_LAST | Capability.KEYFRAMES
    frame_slots = "any"
    size_multiple = 32

    def _load_pipeline(self, path: os.PathLike) -> Any:
        from diffusers import LTXConditionPipeline, LTXImageToVideoPipeline, LTXPipeline

        pipe = model_paths.from_pretrained(LTXPipeline, path, **model_paths.diffusers_dtype(self.dtype))
        self.i2v = LTXImageToVideoPipeline(**pipe.components)
        self.conditioned = LTXConditionPipeline(**pipe.components)
        for p in (self.i2v, self.conditioned):
            p.set_progress_bar_config(disable=True)
        return pipe

    def length_rule(self) -> LengthRule:
        t = int(self.pipe.vae_temporal_compression_ratio)
        return LengthRule(step=t, offset=1, minimum=t + 1, maximum=LTX_MAX_FRAMES)

    def _generate(self, job: SegmentJob) -> np.ndarray:
        kw = self._common_kwargs(job)
        kw.update(self._text_kwargs(job))
        kw["frame_rate"] = max(1, int(round(job.fps)))
        if not job.images:
            out = self.pipe(**kw)
        elif set(job.images) == {0}:
            out = self.i2v(image=job.images[0], **kw)
        else:
            from diffusers.pipelines.ltx.pipeline_ltx_condition import LTXVideoCondition

            conditions = [LTXVideoCondition(image=img, frame_index=int(i)) for i, img in sorted(job.images.items())]
            out = self.conditioned(conditions=conditions, **kw)
        return out.frames[0]
