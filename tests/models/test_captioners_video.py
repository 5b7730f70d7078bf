"""Video captioning: Qwen2-VL / Qwen2.5-VL read a segment as one video (semcom_models.vlm_video).

The preprocessing is checked by hand (sampling, grid, token counts, patch layout) and, where
transformers can do it without torchvision, against transformers itself: its ``smart_resize``
and its Qwen2-VL image processor (PIL backend), whose output for one image equals the video
path's for a video of that frame twice. Where torchvision is installed, the last test compares
with transformers' own ``Qwen2VLVideoProcessor``. The tiny random models make gibberish; only
shapes, counts, determinism and the plumbing are meaningful.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from semcom_models import vlm_video as vv
from semcom_models.captioners import VLMCaptioner, recaption

SMALL = vv.VideoOptions(min_pixels=56 * 56, max_pixels=28 * 28 * 16, max_video_tokens=None, max_frames=16)


def _video(t, h, w, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (t, h, w, 3), dtype=np.uint8)


def test_frame_sampling():
    s = vv.sample_frame_indices
    assert s(9, num_frames=5).tolist() == [0, 1, 3, 5, 7]                  # floor(k * 9 / 5)
    assert s(3, num_frames=8).tolist() == [0, 1, 2]                        # at most every frame
    assert s(50, 25.0, sample_fps=2.0).tolist() == [0, 12, 25, 37]         # 2 s x 2 fps
    assert len(s(250, 25.0, sample_fps=2.0)) == 20 and len(s(250, 25.0, sample_fps=2.0, max_frames=16)) == 16
    assert len(s(8, 30.0, sample_fps=2.0)) == 4                            # raised to min_frames
    assert s(3, 30.0).tolist() == [0, 1] and s(1, 30.0).tolist() == [0]    # even where it can be, >= 1
    assert len(s(240, None)) == 20                                         # unknown fps: 24 assumed
    with pytest.raises(ValueError, match="not both"):
        s(10, 25.0, sample_fps=2.0, num_frames=4)
    with pytest.raises(ValueError, match="not both"):
        vv.Video(_video(2, 8, 8), 25.0, sample_fps=2.0, num_frames=2)
    with pytest.raises(ValueError, match="uint8"):
        vv.Video(np.zeros((2, 8, 8, 3), np.float32))


def test_smart_resize_matches_transformers():
    pil = pytest.importorskip("transformers.models.qwen2_vl.image_processing_pil_qwen2_vl")
    for h in range(3, 400, 13):
        for w in range(5, 400, 17):
            for lo, hi in ((56 * 56, 28 * 28 * 16), (128 * 28 * 28, 768 * 28 * 28)):
                assert vv.smart_resize(h, w, 28, lo, hi) == pil.smart_resize(h, w, 28, lo, hi), (h, w, lo, hi)
    assert vv.smart_resize(50, 70, 28, 56 * 56, 28 * 28 * 16) == (56, 56)      # 70 / 28 = 2.5 rounds to 2
    assert vv.smart_resize(33, 90, 28, 56 * 56, 28 * 28 * 16) == (56, 112)     # 28 x 84 too small: scaled up


@pytest.mark.parametrize("t, h, w, size", [(5, 50, 70, (56, 56)), (3, 33, 90, (56, 112)), (1, 61, 47, (56, 56)),
                                           (4, 56, 84, (56, 84))])
def test_video_grid_and_layout_by_hand(t, h, w, size):
    """Sizes not multiples of 14 and odd frame counts: grid (ceil(t / 2), H' / 14, W' / 14),
    tokens t h w / 4, and the patches are the resized, normalised frames (last one repeated)."""
    clip = vv.preprocess_video(vv.Video(_video(t, h, w), 25.0, num_frames=t), SMALL)
    gt, gh, gw = (t + 1) // 2, size[0] // 14, size[1] // 14
    assert clip.size == size and clip.grid == (gt, gh, gw) == vv.video_grid(t, h, w, SMALL)
    assert clip.pixel_values.shape == (gt * gh * gw, 3 * 2 * 14 * 14) and clip.pixel_values.dtype == np.float32
    assert clip.n_tokens == gt * gh * gw // 4 == vv.video_token_count(clip.grid)
    assert clip.indices.tolist() == list(range(t)) and clip.sampled_fps == 25.0 and clip.seconds_per_grid == 0.08
    # invert the patch order by hand: rows (t, h/2, w/2, 2, 2), columns (C, frame of the pair, 14, 14)
    x = clip.pixel_values.reshape(gt, gh // 2, gw // 2, 2, 2, 3, 2, 14, 14)
    frames = x.transpose(0, 6, 5, 1, 3, 7, 2, 4, 8).reshape(gt * 2, 3, gh * 14, gw * 14)
    want = vv.resize_normalize(_video(t, h, w), size, SMALL)
    np.testing.assert_array_equal(frames[:t], want)
    np.testing.assert_array_equal(frames[t:], np.repeat(want[-1:], 2 * gt - t, axis=0))
    mean = np.asarray(vv.OPENAI_CLIP_MEAN, np.float32)[:, None, None]
    std = np.asarray(vv.OPENAI_CLIP_STD, np.float32)[:, None, None]
    if (h, w) == size:                                                     # no resize: plain normalisation
        np.testing.assert_allclose(want[0], (_video(t, h, w)[0].transpose(2, 0, 1) / 255 - mean) / std, atol=1e-6)


def test_total_pixel_cap():
    opts = vv.VideoOptions(min_pixels=56 * 56, max_pixels=28 * 28 * 64, max_video_tokens=20)
    # budget 20 x 784 x 0.9 = 14112 pixels per video, x 2 / 8 frames = 3528 per frame (>= 1.05 min)
    assert vv.frame_size(224, 224, 8, opts) == (56, 56) and vv.frame_size(224, 224, 8, SMALL) == (112, 112)


def test_two_equal_frames_are_the_image_processors_image(tmp_path):
    """transformers' image processor (no torchvision) repeats an image over the temporal patch:
    the video path must give the same pixels for that frame shown twice, and the same grid."""
    pytest.importorskip("transformers")
    from transformers import AutoImageProcessor

    from helpers import tiny_models as tm

    ip = AutoImageProcessor.from_pretrained(tm.save_qwen_vl(tmp_path / "q", "2"), local_files_only=True)
    assert (ip.size["shortest_edge"], ip.size["longest_edge"]) == (56 * 56, 28 * 28 * 64)   # the tiny checkpoint's
    opts = replace(vv.VideoOptions.from_checkpoint(None, ip), min_pixels=56 * 56, max_pixels=28 * 28 * 64,
                   max_video_tokens=None)
    for h, w in ((56, 84), (50, 70), (90, 61)):
        frame = _video(1, h, w, seed=h)[0]
        ref = ip(images=[frame], return_tensors="np")
        clip = vv.preprocess_video(vv.Video(np.stack([frame, frame]), 25.0, num_frames=2), opts)
        assert clip.grid == tuple(ref["image_grid_thw"][0]), (h, w)
        np.testing.assert_allclose(clip.pixel_values, ref["pixel_values"], atol=1e-5)


@pytest.fixture(scope="module", params=["2", "2.5"])
def vlm(request, tmp_path_factory):
    pytest.importorskip("transformers")
    from helpers import tiny_models as tm
    from semcom_models.vlm import VLM

    with tm.torch_threads(1):
        yield VLM.load(f"qwen{request.param}-vl", tm.save_qwen_vl_video(
            tmp_path_factory.mktemp("vlm") / "q", request.param))


def test_video_inputs(vlm):
    """A batch of two videos: their tensors, grids, placeholder counts and token types."""
    from semcom_models.vlm import Turn, Video

    a, b = _video(9, 50, 70, 1), _video(5, 33, 90, 2)
    convs = [[Turn("user", "Describe this video.", videos=[Video(a, 25.0, num_frames=9)])],
             [Turn("user", "Describe this video.", videos=[Video(b, 10.0)])]]
    ad = vlm.adapter
    assert vlm.supports_video and ad.video_options.max_pixels == 28 * 28 * 16 and ad.video_options.sample_fps == 2.0
    out = ad.prepare(convs)
    # a: 9 frames padded to 10 -> t = 5, 56 x 56 -> 4 x 4; b: 5 frames at 10 fps, 2 fps -> 1 -> min 4, 56 x 112
    assert out["video_grid_thw"].tolist() == [[5, 4, 4], [2, 4, 8]]
    assert tuple(out["pixel_values_videos"].shape) == (5 * 16 + 2 * 32, 1176)
    video_pad = ad.video_token_id
    assert (out["input_ids"] == video_pad).sum(1).tolist() == [5 * 16 // 4, 2 * 32 // 4]
    assert ((out["mm_token_type_ids"] == 2) == (out["input_ids"] == video_pad)).all()
    assert not (out["mm_token_type_ids"] == 1).any() and "pixel_values" not in out
    # the row of b is Qwen's chat text with the <|video_pad|> placeholder expanded, left-padded
    tok = vlm.tokenizer
    text = ("<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n<|vision_start|>"
            + "<|video_pad|>" * 16 + "<|vision_end|>Describe this video.<|im_end|>\n<|im_start|>assistant\n")
    ids = tok.encode(text, add_special_tokens=False)
    assert out["input_ids"][1, -len(ids):].tolist() == ids and out["attention_mask"][1].sum() == len(ids)
    if vlm.adapter.seconds_per_grid:                                        # Qwen2.5-VL: seconds per temporal patch
        np.testing.assert_allclose(out["second_per_grid_ts"].numpy(), [2 / 25.0, 2 / (4 / 5 * 10.0)], rtol=1e-6)
    else:
        assert "second_per_grid_ts" not in out


def test_caption_video_end_to_end(vlm):
    from helpers import tiny_models as tm

    video = _video(14, 50, 70, 3)
    with tm.torch_threads(1):
        cap = VLMCaptioner(vlm, max_new_tokens=5, video_fps=25.0)
        assert cap.mode == "video" and "video" in cap.prompt
        a = cap.caption(video[:7])
        assert isinstance(a, str) and a == cap.caption(video[:7])            # greedy: deterministic
        segs = [(0, 7), (7, 14)]
        assert cap.caption_segments(video, segs) == [cap.caption(video[s:e]) for s, e in segs]   # one per segment
        few = VLMCaptioner(vlm, max_new_tokens=5, num_frames=3)             # a frame count: 3, padded to 4
        assert isinstance(few.caption(video), str)
        assert few.conversation(video)[0].videos[0].num_frames == 3
        assert VLMCaptioner(vlm, mode="images", num_frames=3).conversation(video)[0].images[2] is not None


def test_recaption_is_deterministic_given_a_seed(vlm):
    import torch

    from helpers import tiny_models as tm

    video = _video(8, 56, 56, 4)
    with tm.torch_threads(1):
        cap = VLMCaptioner(vlm, max_new_tokens=5, video_fps=25.0)
        state = torch.get_rng_state()
        three = recaption(cap, video, seed=11)
        assert torch.equal(state, torch.get_rng_state())                    # the global RNG is left alone
        assert len(three) == 3 and all(isinstance(c, str) for c in three)
        assert recaption(cap, video, seed=11) == three
        assert recaption(cap, video, samples=2, seed=11) == three[:2]       # caption k: seed + k
        assert recaption(cap, video, samples=1, seed=12) == three[1:2]
        assert len(set(three)) > 1                                           # sampled, not greedy
        with pytest.raises(ValueError, match="samples"):
            recaption(cap, video, samples=0)


class _ImageOnlyVLM:
    name, supports_video = "llava-onevision", False


def test_modes_of_an_image_only_vlm():
    cap = VLMCaptioner(_ImageOnlyVLM())
    assert cap.mode == "images" and len(cap.conversation(_video(10, 8, 8))[0].images) == 4
    one = VLMCaptioner(_ImageOnlyVLM(), num_frames=1)
    assert one.mode == "frame" and "image" in one.prompt
    with pytest.raises(ValueError, match="takes no videos"):
        VLMCaptioner(_ImageOnlyVLM(), mode="video")
    with pytest.raises(ValueError, match="mode"):
        VLMCaptioner(_ImageOnlyVLM(), mode="clip")


def test_matches_transformers_video_processor():
    """Where torchvision is installed: transformers' own Qwen2-VL video processor gives the same
    grid, and pixels within 2 uint8 steps (its bicubic is torchvision's, ours PIL's)."""
    pytest.importorskip("torchvision")
    from transformers.models.qwen2_vl.video_processing_qwen2_vl import Qwen2VLVideoProcessor

    proc = Qwen2VLVideoProcessor(min_pixels=56 * 56, max_pixels=28 * 28 * 16)
    for t, h, w in ((5, 50, 70), (3, 33, 90), (4, 56, 84)):
        v = _video(t, h, w)
        ref = proc(videos=[v], return_tensors="np", cap_pixels_per_frame=False)
        clip = vv.preprocess_video(vv.Video(v, 25.0, num_frames=t), SMALL)
        assert tuple(ref["video_grid_thw"][0]) == clip.grid
        assert np.abs(ref["pixel_values_videos"] - clip.pixel_values).max() < 2.5 / 255 / 0.26
