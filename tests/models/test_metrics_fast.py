"""The vectorised PSNR / SSIM / MS-SSIM of semcom_models.metrics against torchmetrics, the reference,
on real clips from ../shared and on synthetic pairs.

torchmetrics is called as the module used to call it (float32 frames in [0, 1]). Where a frame
has large flat areas float32 torchmetrics is itself off the exact value of its definition, by up
to ~3e-4 per frame and biased low: its float32 rounding makes small local variances negative,
and they are clamped at 0 (seen on H.264 reconstructions at 256 x 256 and on bbb_48f's sky at
1280 x 720; torchmetrics on float64 frames agrees with the float64 reference below, but takes
minutes). So ours must be within 1e-4 per frame (SSIM, MS-SSIM; 1e-4 dB for PSNR) of an
independent float64 numpy computation of the same definitions everywhere, and of float32
torchmetrics wherever that one is within 5e-5 of float64 (every synthetic pair here; most real
frames, but not letterboxed ones such as sintel_48f's). Chunking and threads change nothing."""
import cv2
import numpy as np
import pytest
import torch

from semcom_models import metrics as M

TOL = 1e-4

tm = pytest.importorskip("torchmetrics.functional.image")


def _reference(pred, target, betas=M.MS_SSIM_BETAS):
    """torchmetrics' per-frame PSNR (capped), SSIM and MS-SSIM (None when the frames are too small)."""
    a, b = M.to_tensor(pred), M.to_tensor(target)
    with torch.no_grad():
        p = tm.peak_signal_noise_ratio(a, b, data_range=1.0, reduction="none", dim=(1, 2, 3))
        p = torch.nan_to_num(p, posinf=M.PSNR_CAP_DB).clamp(max=M.PSNR_CAP_DB)
        s = tm.structural_similarity_index_measure(a, b, sigma=1.5, kernel_size=11, data_range=1.0, reduction="none")
        ms = None
        if min(pred.shape[-3:-1]) >= M.ms_ssim_min_side(len(betas)):
            ms = tm.multiscale_structural_similarity_index_measure(
                a, b, sigma=1.5, kernel_size=11, data_range=1.0, betas=tuple(betas), normalize="relu",
                reduction="none").double().numpy()
    return p.double().numpy(), s.double().numpy(), ms


_G = np.exp(-0.5 * (np.arange(-5, 6) / 1.5) ** 2)
_G /= _G.sum()


def _ssim_cs64(x, y):
    """float64 SSIM mean and border-less cs mean per frame of T x H x W x 3 frames in [0, 1]."""
    def blur(a):  # reflect-pad by 5 (edge not repeated), 'valid' 11-tap Gaussian along H then W
        a = np.pad(a, ((0, 0), (5, 5), (5, 5), (0, 0)), mode="reflect")
        a = sum(_G[k] * a[:, k:k + a.shape[1] - 10] for k in range(11))
        return sum(_G[k] * a[:, :, k:k + a.shape[2] - 10] for k in range(11))

    mx, my = blur(x), blur(y)
    vx, vy = np.maximum(blur(x * x) - mx ** 2, 0), np.maximum(blur(y * y) - my ** 2, 0)
    cs = (2 * (blur(x * y) - mx * my) + 9e-4) / (vx + vy + 9e-4)
    ssim = (2 * mx * my + 1e-4) / (mx ** 2 + my ** 2 + 1e-4) * cs
    return ssim.mean(axis=(1, 2, 3)), cs[:, 5:-5, 5:-5].mean(axis=(1, 2, 3)) if min(x.shape[1:3]) > 10 else None


def _reference64(pred, target, betas=M.MS_SSIM_BETAS):
    """The same definitions, written out in float64 numpy."""
    x, y = pred.astype(np.float64) / 255, target.astype(np.float64) / 255
    if x.ndim == 3:
        x, y = x[None], y[None]
    mse = ((x - y) ** 2).mean(axis=(1, 2, 3))
    with np.errstate(divide="ignore"):
        p = np.minimum(10 * np.log10(1 / mse), M.PSNR_CAP_DB)
    s = _ssim_cs64(x, y)[0]
    ms = None
    if min(x.shape[1:3]) >= M.ms_ssim_min_side(len(betas)):
        ms = np.ones(len(x))
        for i, beta in enumerate(betas):
            sim, cs = _ssim_cs64(x, y)
            ms *= np.maximum(sim if i == len(betas) - 1 else cs, 0) ** beta
            h, w = x.shape[1] // 2 * 2, x.shape[2] // 2 * 2
            x = x[:, :h, :w].reshape(len(x), h // 2, 2, w // 2, 2, 3).mean(axis=(2, 4))
            y = y[:, :h, :w].reshape(len(y), h // 2, 2, w // 2, 2, 3).mean(axis=(2, 4))
    return p, s, ms


def _agree(pred, target, betas=M.MS_SSIM_BETAS):
    """Assert agreement of every metric with torchmetrics (see the module note); return the largest
    SSIM / MS-SSIM difference from float32 torchmetrics."""
    ours = (M.psnr(pred, target), M.ssim(pred, target),
            M.ms_ssim(pred, target, betas=betas) if min(pred.shape[-3:-1]) >= M.ms_ssim_min_side(len(betas))
            else None)
    ref32, ref64 = _reference(pred, target, betas), _reference64(pred, target, betas)
    gap = 0.0
    for k, (v, r32, r64) in enumerate(zip(ours, ref32, ref64)):
        if r64 is None:
            assert v is None
            continue
        np.testing.assert_allclose(v, r64, rtol=0, atol=TOL)
        trusted = np.abs(np.atleast_1d(r32) - r64) < TOL / 2
        np.testing.assert_allclose(np.atleast_1d(v)[trusted], np.atleast_1d(r32)[trusted], rtol=0, atol=TOL)
        if k:
            gap = max(gap, float(np.max(np.abs(v - r32))))
    return gap


def _degrade(frames, kind, seed=0):
    rng = np.random.default_rng(seed)
    if kind == "blur":
        return np.stack([cv2.GaussianBlur(f, (0, 0), 1.3) for f in frames])
    if kind == "jpeg":
        out = []
        for f in frames:
            ok, buf = cv2.imencode(".jpg", f, [cv2.IMWRITE_JPEG_QUALITY, 20])
            out.append(cv2.imdecode(buf, cv2.IMREAD_UNCHANGED))
        return np.stack(out)
    if kind == "noise":
        return np.clip(frames + rng.normal(0, 12, frames.shape), 0, 255).astype(np.uint8)
    raise ValueError(kind)


@pytest.mark.parametrize("clip,frames,kinds", [("chaplin.mp4", 2, ("blur", "noise")),
                                               ("sintel_48f.mp4", 1, ("jpeg",)), ("bbb_48f.mp4", 1, ("jpeg",))])
def test_real_clips_agree_with_torchmetrics(shared_dir, tmp_path, clip, frames, kinds):
    from semcom_models.video_io import read_video, write_video

    path = shared_dir / "data" / "videos" / clip
    ref, _ = read_video(path, max_frames=frames)              # native size
    if ref.shape[1] > 400:
        ref = ref[:, :ref.shape[1] // 2].copy()              # bbb, sintel: the top half (bbb's sky)
    for kind in kinds:
        _agree(_degrade(ref, kind), ref)
    small, _ = read_video(path, max_frames=4, size=(256, 256))   # as `semcom run` reads clips
    _agree(_degrade(small, "jpeg"), small)
    _agree(small[::-1].copy(), small)                         # different frames
    write_video(tmp_path / "h264.mp4", small, 25, crf=40)
    h264, _ = read_video(tmp_path / "h264.mp4")
    _agree(h264, small)                                       # flat blocks: float32 torchmetrics drifts


@pytest.mark.parametrize("h,w", [(6, 9), (31, 17), (44, 45), (99, 101), (176, 176), (177, 203), (257, 255)])
def test_synthetic_sizes_agree_with_torchmetrics(h, w):
    rng = np.random.default_rng(h * 1000 + w)
    base = cv2.GaussianBlur(rng.uniform(0, 255, (2, h, w, 3)).astype(np.float32).reshape(2 * h, w, 3), (0, 0), 1.5)
    a = base.reshape(2, h, w, 3).astype(np.uint8)
    b = np.clip(a + rng.normal(0, 10, a.shape), 0, 255).astype(np.uint8)
    assert _agree(b, a) < TOL
    for scales in (1, 3, 4):
        if min(h, w) >= max(M.ms_ssim_min_side(scales), 11):
            _agree(b, a, betas=M.MS_SSIM_BETAS[:scales])
    assert _agree(b[0], a[0]) < TOL                          # a single frame H x W x 3
    assert isinstance(M.psnr(b[0], a[0]), float) and isinstance(M.ssim(b[0], a[0]), float)


def test_extreme_content_and_the_relu_clamp():
    rng = np.random.default_rng(7)
    x = rng.integers(0, 256, (2, 192, 200, 3), dtype=np.uint8)
    inverted = 255 - x                                        # negative contrast terms: clamped at 0
    black, white = np.zeros_like(x), np.full_like(x, 255)
    flat = np.full_like(x, 128)
    for pred, target in ((inverted, x), (black, white), (flat, x), (x, flat), (black, black)):
        _agree(pred, target)
    assert np.all(M.ms_ssim(inverted, x) == 0.0)


def test_identical_frames_give_the_cap_and_one():
    rng = np.random.default_rng(3)
    a = rng.integers(0, 256, (3, 256, 256, 3), dtype=np.uint8)
    assert np.all(M.psnr(a, a) == M.PSNR_CAP_DB)
    np.testing.assert_allclose(M.ssim(a, a), 1.0, atol=1e-6)
    np.testing.assert_allclose(M.ms_ssim(a, a), 1.0, atol=1e-6)
    vq = M.video_quality(a, a)
    assert vq.summary()["psnr_db"] == M.PSNR_CAP_DB and vq.summary()["ms_ssim"] == pytest.approx(1.0, abs=1e-6)
    b = a.copy()
    b[1, 0, 0, 0] ^= 1                                        # one LSB: 101.1 dB, above the cap
    assert M.psnr(b, a)[1] == M.PSNR_CAP_DB


def test_video_quality_is_the_three_functions():
    rng = np.random.default_rng(5)
    a = rng.integers(0, 256, (3, 200, 210, 3), dtype=np.uint8)
    b = _degrade(a, "blur")
    vq = M.video_quality(b, a)
    np.testing.assert_array_equal(vq.psnr, M.psnr(b, a))
    np.testing.assert_allclose(vq.ssim, M.ssim(b, a), rtol=0, atol=1e-12)
    np.testing.assert_allclose(vq.ms_ssim, M.ms_ssim(b, a), rtol=0, atol=1e-12)
    assert M.video_quality(b, a, with_ms_ssim=False).ms_ssim is None
    assert M.video_quality(b[:, :100], a[:, :100]).ms_ssim is None           # 100 < 176 rows


def test_chunks_bands_and_threads_change_nothing(monkeypatch):
    rng = np.random.default_rng(11)
    a = rng.integers(0, 256, (5, 181, 187, 3), dtype=np.uint8)
    b = _degrade(a, "noise")
    want = M.video_quality(b, a)
    per_frame = [M.video_quality(b[i], a[i]) for i in range(len(a))]
    np.testing.assert_allclose(want.ssim, [q.ssim[0] for q in per_frame], rtol=0, atol=1e-12)
    np.testing.assert_allclose(want.ms_ssim, [q.ms_ssim[0] for q in per_frame], rtol=0, atol=1e-12)
    # one frame per chunk, one plane per group and row bands of a few rows, PSNR one frame at a time
    monkeypatch.setattr(M, "_CHUNK_VALUES", 1)
    monkeypatch.setattr(M, "_BAND_VALUES", 3000)
    monkeypatch.setattr(M, "_PSNR_FRAMES", 1)
    got = M.video_quality(b, a)
    np.testing.assert_array_equal(got.psnr, want.psnr)
    np.testing.assert_allclose(got.ssim, want.ssim, rtol=0, atol=1e-12)
    np.testing.assert_allclose(got.ms_ssim, want.ms_ssim, rtol=0, atol=1e-12)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        monkeypatch.undo()
        got = M.video_quality(b, a)
    finally:
        torch.set_num_threads(threads)
    np.testing.assert_allclose(got.ssim, want.ssim, rtol=0, atol=1e-12)
    np.testing.assert_allclose(got.ms_ssim, want.ms_ssim, rtol=0, atol=1e-12)


def test_errors_as_before():
    a = np.zeros((2, 40, 48, 3), np.uint8)
    for fn in (M.psnr, M.ssim, M.ms_ssim, M.video_quality):
        with pytest.raises(ValueError, match="shape"):
            fn(a, a[:1])
        with pytest.raises(ValueError, match="uint8"):
            fn(a.astype(np.float32), a.astype(np.float32))
        with pytest.raises(ValueError, match="RGB"):
            fn(a[..., 0], a[..., 0])                          # grayscale is not accepted
    with pytest.raises(ValueError, match="at least 176"):
        M.ms_ssim(a, a)
    with pytest.raises(ValueError, match="at least 6 x 6"):
        M.ssim(a[:, :5], a[:, :5])


def test_torchmetrics_is_not_imported_on_the_fast_path():
    import subprocess
    import sys

    code = ("import sys, numpy as np; from semcom_models import metrics as M; a = np.zeros((1, 32, 32, 3), np.uint8); "
            "M.video_quality(a, a); print('torchmetrics' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert out.stdout.strip() == "False"


def test_bench_metrics_command(tmp_path, capsys):
    import json

    from helpers.clips import clip_frames
    from semcom_host.cli import main
    from semcom_models.video_io import write_video

    clip = tmp_path / "clip.mp4"
    write_video(clip, clip_frames(2, 64), 25)
    assert main(["bench", "metrics", "--clip", str(clip), "--clip-frames", "2", "--size", "180", "--repeats", "1",
                 "--threads", str(torch.get_num_threads()), "--no-cold", "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["metric"] for r in rows] == ["psnr", "ssim", "ms_ssim", "all"]
    for r in rows:
        assert r["frames"] == 2 and r["height"] == r["width"] == 180
        assert r["new_s_per_frame"] > 0 and r["old_s_per_frame"] > 0 and r["ratio"] > 0
        assert r["max_abs_diff"] < TOL
