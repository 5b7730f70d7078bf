"""Sketch to image with Stable Diffusion 3.5 + a ControlNet, and "sketch then animate".

GVSC's Sketch+Desc path: an edge map (the sketch, from the transmitter's edge detector) and the
caption give a first frame through a ControlNet; an image-to-video model animates it.

* :class:`SD35ControlNetImageGenerator`: ``StableDiffusion3ControlNetPipeline`` with an
  ``SD3ControlNetModel`` (e.g. stable-diffusion-3.5-large + stable-diffusion-3.5-large-controlnet-
  canny), both from local folders (model names ``sd3.5`` and ``sd3.5-controlnet-canny``). The
  sketch (uint8 H x W, 255 = edge) is the control image, white edges on black.
* :class:`SketchThenAnimateDecoder`: a :class:`VideoDecoder` that turns every sketch without a
  keyframe at its index into a keyframe with the image generator (seed ``cond.seed + index``)
  and hands the keyframes to any decoder that takes a first frame.
"""
from __future__ import annotations

import dataclasses
import math
import os
from typing import Any

import numpy as np

from semcom_models import model_paths
from semcom_models.decoders.base import Capability, Conditioning, VideoDecoder
from semcom_models.decoders.diffusers_video import float_to_uint8, resize_frames, round_up, to_pil


class SD35ControlNetImageGenerator:
    """SD3.5 + ControlNet: ``generate(sketch, caption, seed)`` -> uint8 H x W x 3 image.

    Options: base_path / controlnet_path (explicit folders), config (model config file),
    num_inference_steps (28), guidance_scale (None: the pipeline's), controlnet_conditioning_scale
    (1.0), negative_prompt, device, dtype, cpu_offload.
    """

    base_name = "sd3.5"
    controlnet_name = "sd3.5-controlnet-canny"

    def __init__(self, base_path: str | os.PathLike | None = None, controlnet_path: str | os.PathLike | None = None,
                 *, config: str | os.PathLike | None = None, num_inference_steps: int = 28,
                 guidance_scale: float | None = None, controlnet_conditioning_scale: float = 1.0,
                 negative_prompt: str | None = None, device: str | None = None, dtype: Any = None,
                 cpu_offload: bool = False):
        from diffusers import SD3ControlNetModel, StableDiffusion3ControlNetPipeline

        self.base_path = model_paths.resolve_model_path(self.base_name, base_path, config=config)
        self.controlnet_path = model_paths.resolve_model_path(self.controlnet_name, controlnet_path, config=config)
        self.device, self.dtype = model_paths.torch_device_dtype(device, dtype)
        dt = model_paths.diffusers_dtype(self.dtype)
        controlnet = model_paths.from_pretrained(SD3ControlNetModel, self.controlnet_path, **dt)
        self.pipe = model_paths.from_pretrained(StableDiffusion3ControlNetPipeline, self.base_path,
                                                controlnet=controlnet, **dt)
        if cpu_offload:
            self.pipe.enable_model_cpu_offload()
        else:
            self.pipe.to(self.device)
        self.pipe.set_progress_bar_config(disable=True)
        # The pipeline wants multiples of 8; the transformer, of its latent patch in pixels.
        patch = int(self.pipe.transformer.config.patch_size)
        self.size_multiple = math.lcm(8, int(self.pipe.vae_scale_factor) * patch)
        self.num_inference_steps = num_inference_steps
        self.guidance_scale = guidance_scale
        self.controlnet_conditioning_scale = controlnet_conditioning_scale
        self.negative_prompt = negative_prompt

    def generate(self, sketch: np.ndarray, caption: str, seed: int) -> np.ndarray:
        """An image (uint8, the sketch's H x W x 3) drawn along the edges of ``sketch`` (uint8 H x W,
        255 = edge), described by ``caption``; generated at sizes rounded up to the model's
        multiple and resized back."""
        import torch

        sketch = np.asarray(sketch)
        if sketch.dtype != np.uint8 or sketch.ndim != 2:
            raise ValueError(f"sketch must be uint8 H x W, got {sketch.dtype} {sketch.shape}")
        h, w = sketch.shape
        m = self.size_multiple
        gh, gw = max(m, round_up(h, m)), max(m, round_up(w, m))
        control = to_pil(np.repeat(sketch[..., None], 3, axis=2), gh, gw)
        kw: dict[str, Any] = dict(prompt=caption, control_image=control, height=gh, width=gw,
                                  num_inference_steps=self.num_inference_steps,
                                  controlnet_conditioning_scale=self.controlnet_conditioning_scale,
                                  generator=torch.Generator("cpu").manual_seed(int(seed)), output_type="np")
        if self.guidance_scale is not None:
            kw["guidance_scale"] = self.guidance_scale
        if self.negative_prompt is not None:
            kw["negative_prompt"] = self.negative_prompt
        with torch.inference_mode():
            image = float_to_uint8(self.pipe(**kw).images[0])
        return resize_frames(image, h, w)


class SketchThenAnimateDecoder(VideoDecoder):
    """Sketches -> keyframes (image generator) -> video (a decoder that takes a first frame)."""

    def __init__(self, image_generator: Any, video_decoder: VideoDecoder):
        if Capability.FIRST_FRAME not in video_decoder.capabilities:
            raise ValueError(f"{video_decoder.name} cannot start from a frame: it cannot animate sketches")
        self.image_generator = image_generator
        self.video_decoder = video_decoder
        self.name = f"sketch+{video_decoder.name}"
        self.capabilities = video_decoder.capabilities | Capability.SKETCHES

    def keyframes(self, cond: Conditioning) -> dict[int, np.ndarray]:
        """The given keyframes plus one generated image per sketch without a keyframe."""
        keyframes = dict(cond.keyframes)
        for i, sketch in sorted(cond.sketches.items()):
            if i not in keyframes:
                keyframes[i] = self.image_generator.generate(sketch, cond.prompt_for(i, i + 1), int(cond.seed) + int(i))
        return keyframes

    def _decode(self, cond: Conditioning) -> tuple[np.ndarray, dict]:
        keyframes = self.keyframes(cond)
        inner = dataclasses.replace(cond, keyframes=keyframes, sketches={})
        out = self.video_decoder.decode(inner)
        generated = sorted(set(keyframes) - set(cond.keyframes))
        return out.frames, {**out.notes, "images_generated_at": generated,
                            "image_prompts": [cond.prompt_for(i, i + 1) for i in generated]}
