"""Tiny randomly initialised models for the tests: the builders live in :mod:`semcom_models.tiny`
(also behind `semcom models tiny DIR`); this module re-exports them under the names the tests use.

Each ``save_*`` function builds a model from a config offline, seeded, and saves it into the
folder it is given in the real checkpoint's layout; tests load it back through gr-semcom's own
local-path loading code. See :mod:`semcom_models.tiny` for the configs and conventions.
"""
from __future__ import annotations

from semcom_models.tiny import (  # noqa: F401 - re-exported for the tests
    BUILDERS,
    NOT_BUILT,
    QWEN_SPECIAL,
    clip_tokenizer,
    qwen_tokenizer,
    save_annotators,
    save_bert,
    save_clip,
    save_cogvideox,
    save_dists,
    save_hed,
    save_lpips,
    save_ltx,
    save_pidinet,
    save_qwen_vl,
    save_sd3,
    save_sd3_controlnet,
    save_sd3_controlnet_model,
    save_svd,
    save_wan_i2v,
    save_wan_vace,
    t5_encoder,
    torch_threads,
    word_tokenizer,
    write_tiny_models,
)

#: the name the tests used before the builders moved into the package
_clip_tokenizer = clip_tokenizer


def save_qwen_vl_video(path, version: str = "2.5", min_pixels: int = 56 * 56, max_pixels: int = 28 * 28 * 16,
                       fps: float = 2.0, min_frames: int = 4, max_frames: int = 16):
    """:func:`save_qwen_vl` plus a ``video_preprocessor_config.json`` laid out as transformers'
    ``Qwen2VLVideoProcessor`` saves one, with small frames (``min_pixels`` .. ``max_pixels``
    pixels per frame: 2 x 2 to 4 x 4 tokens) so that a video costs a few dozen tokens; ``fps``
    frames per second sampled by default, ``min_frames`` .. ``max_frames`` of them."""
    import json
    from pathlib import Path

    path = Path(save_qwen_vl(path, version))
    (path / "video_preprocessor_config.json").write_text(json.dumps({
        "video_processor_type": "Qwen2VLVideoProcessor", "patch_size": 14, "merge_size": 2, "temporal_patch_size": 2,
        "size": {"shortest_edge": min_pixels, "longest_edge": max_pixels}, "fps": fps, "min_frames": min_frames,
        "max_frames": max_frames, "image_mean": [0.48145466, 0.4578275, 0.40821073],
        "image_std": [0.26862954, 0.26130258, 0.27577711]}))
    return path
