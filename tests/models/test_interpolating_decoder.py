"""Optical flow, motion side information, and the weight-free decoders."""
import cv2
import numpy as np
import pytest

from semcom_models.decoders.base import Capability, Conditioning
from semcom_models.decoders.interpolating import (
    FrameRepetitionDecoder,
    InterpolatingDecoder,
    default_decoder,
    translate,
)
from semcom_models.metrics import psnr
from semcom_models.motion import MOTION_KEYS, motion_info, segment_motion, velocity
from semcom_models.optical_flow import compute_flow, interpolate_frames, predict_middle, warp

M = 12  # border (pixels) left out of comparisons: content entering the view is unknown


def _panning(t, h=128, w=192, dx=3, dy=-2, seed=0):
    """T crops of a smooth random texture; the content moves (dx, dy) px per frame."""
    rng = np.random.default_rng(seed)
    big = cv2.GaussianBlur(rng.uniform(0, 255, (h + abs(dy) * t + 1, w + abs(dx) * t + 1, 3)).astype(np.float32),
                           (0, 0), 3.0)
    big = cv2.normalize(big, None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)
    # content moving by +dx means the window moves by -dx
    y0, x0 = (abs(dy) * t if dy > 0 else 0), (abs(dx) * t if dx > 0 else 0)
    return np.stack([big[y0 - i * dy:y0 - i * dy + h, x0 - i * dx:x0 - i * dx + w] for i in range(t)])


def _inner(x):
    return x[..., M:-M, M:-M, :]


@pytest.mark.parametrize("method", ["dis", "farneback"])
def test_flow_measures_translation_and_warp_inverts_it(method):
    a, b = _panning(2)
    flow = compute_flow(a, b, method)
    assert flow.shape == (128, 192, 2) and flow.dtype == np.float32
    med = np.median(flow[M:-M, M:-M].reshape(-1, 2), axis=0)
    np.testing.assert_allclose(med, [3, -2], atol=0.3)
    assert psnr(_inner(warp(b, flow)), _inner(a)) > 35


def test_flow_errors():
    a = _panning(1)[0]
    with pytest.raises(ValueError, match="unknown flow method"):
        compute_flow(a, a, "lucas")
    with pytest.raises(ValueError, match="one size"):
        compute_flow(a, a[:-2])
    with pytest.raises(ValueError, match="H x W x 2"):
        warp(a, np.zeros((4, 4, 2), np.float32))


def test_interpolation_beats_repetition_on_translation():
    clip = _panning(5)
    mid = predict_middle(clip[1], clip[3])
    assert psnr(_inner(mid), _inner(clip[2])) > 35
    out = interpolate_frames(clip[0], clip[4], [0.25, 0.5, 0.75])
    assert out.shape == (3, 128, 192, 3) and out.dtype == np.uint8
    interp = psnr(_inner(out), _inner(clip[1:4]))
    rep = psnr(_inner(np.repeat(clip[:1], 3, 0)), _inner(clip[1:4]))
    assert np.all(interp > rep + 10)
    occl = interpolate_frames(clip[0], clip[4], [0.5], occlusion=True)[0]
    assert psnr(_inner(occl), _inner(clip[2])) > 30
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        interpolate_frames(clip[0], clip[1], [1.5])


def test_motion_info_of_a_pan():
    clip = _panning(5)
    info = motion_info(clip)
    assert set(info) == set(MOTION_KEYS) and all(isinstance(v, float) for v in info.values())
    assert info["mean_dx"] == pytest.approx(3, abs=0.4) and info["mean_dy"] == pytest.approx(-2, abs=0.4)
    assert info["mean_px_per_frame"] == pytest.approx(np.hypot(3, 2), abs=0.5)
    assert info["p90_px_per_frame"] >= info["mean_px_per_frame"]
    assert info["direction_deg"] == pytest.approx(np.degrees(np.arctan2(-2, 3)), abs=8)
    assert info["coherence"] > 0.9
    assert (info["width"], info["height"], info["num_frames"]) == (192.0, 128.0, 5.0)
    still = motion_info(clip[:1])
    assert still["mean_px_per_frame"] == 0.0 and still["num_frames"] == 1.0
    segs = segment_motion(clip, [(0, 3), (3, 5)])
    assert len(segs) == 2 and segs[1]["num_frames"] == 2.0
    with pytest.raises(ValueError, match="outside"):
        segment_motion(clip, [(3, 9)])
    assert velocity(info, 64, 96) == pytest.approx((info["mean_dx"] / 2, info["mean_dy"] / 2))
    with pytest.raises(ValueError, match="mean_dx"):
        velocity({"mean_dy": 1.0}, 10, 10)


def _cond(clip, keys, **kw):
    t, h, w, _ = clip.shape
    return Conditioning(num_frames=t, height=h, width=w, keyframes={k: clip[k] for k in keys}, **kw)


def test_interpolating_decoder_beats_repetition():
    clip = _panning(9)
    cond = _cond(clip, [0, 4, 8])
    dec = default_decoder()
    assert isinstance(dec, InterpolatingDecoder)
    assert dec.capabilities == (Capability.KEYFRAMES | Capability.FIRST_LAST | Capability.FIRST_FRAME
                                | Capability.MOTION)
    out = dec.decode(cond)
    rep = FrameRepetitionDecoder().decode(cond)
    assert out.frames.shape == clip.shape and out.decoder == "interpolating" and out.seconds > 0
    for k in (0, 4, 8):
        assert np.array_equal(out.frames[k], clip[k])
    nonkey = [1, 2, 3, 5, 6, 7]
    gain = psnr(_inner(out.frames[nonkey]), _inner(clip[nonkey])) - psnr(_inner(rep.frames[nonkey]),
                                                                          _inner(clip[nonkey]))
    assert np.all(gain > 10)


def test_repetition_copies_previous_keyframe():
    clip = _panning(6)
    out = FrameRepetitionDecoder().decode(_cond(clip, [2, 4])).frames
    for i, src in enumerate([2, 2, 2, 3, 4, 4]):
        assert np.array_equal(out[i], clip[src if src != 3 else 2])
    assert Capability.MOTION not in FrameRepetitionDecoder.capabilities


def test_hold_and_motion_extrapolation():
    clip = _panning(6)
    held = InterpolatingDecoder().decode(_cond(clip, [0])).frames
    assert all(np.array_equal(f, clip[0]) for f in held)
    magnitude_only = InterpolatingDecoder().decode(_cond(clip, [3], motion={"mean_px_per_frame": 4.0})).frames
    assert all(np.array_equal(f, clip[3]) for f in magnitude_only)
    # motion measured at twice the size: the decoder rescales it to 3 px/frame right, 2 up.
    motion = {"mean_dx": 6.0, "mean_dy": -4.0, "width": 384.0, "height": 256.0}
    out = InterpolatingDecoder().decode(_cond(clip, [0], motion=motion)).frames
    inner = (slice(None), slice(M, -M), slice(M + 6, -M))  # the first 15 px on the left enter the view
    assert psnr(out[5][inner[1:]], clip[5][inner[1:]]) > 35
    np.testing.assert_array_equal(translate(clip[0], 0, 0), clip[0])


def test_decoder_errors():
    clip = _panning(3)
    with pytest.raises(ValueError, match="at least one keyframe"):
        InterpolatingDecoder().decode(_cond(clip, []))
    with pytest.raises(ValueError, match="at least one keyframe"):
        FrameRepetitionDecoder().decode(_cond(clip, []))
    bad = _cond(clip, [0])
    bad.keyframes[1] = clip[1][:, :-2]
    with pytest.raises(ValueError, match="keyframe 1"):
        InterpolatingDecoder().decode(bad)
