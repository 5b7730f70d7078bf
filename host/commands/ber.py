"""`semcom ber`: Monte-Carlo BER/FER of a channel code over AWGN."""
from __future__ import annotations

import csv

from .common import print_json


def register(sub) -> None:
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
    p.set_defaults(func=run)


def run(args) -> int:
    from semcom_host.experiments.ber import CodeSpec, parse_snr_list, plot_curves, simulate_curve, snr_at_fer
    from semcom_host.references import reference_points

    spec = CodeSpec(args.code, n=args.n, rate=args.rate, k=args.k, decoder=args.decoder,
                    max_iter=args.iterations, alpha=args.alpha, offset=args.offset, scaling=args.scaling)
    kind, text = ("ebn0", args.ebn0) if args.ebn0 is not None else ("esn0", args.esn0)
    snrs = parse_snr_list(text)

    def on_point(rec):
        if args.json:
            print_json(rec)
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
