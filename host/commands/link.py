"""`semcom link`: random transmissions through the OFDM loopback flowgraph."""
from __future__ import annotations

from .common import add_impairment_arguments, impairments_of, print_json


def register(sub) -> None:
    from semcom_blocks.phy.channel import SCENARIOS

    p = sub.add_parser("link", help="random transmissions through the OFDM loopback flowgraph",
                       description="Send random transmissions (one digital and one analog unit each) through "
                                   "the OFDM burst PHY in a running GNU Radio loopback (TX -> channel -> RX) "
                                   "and measure detection, packet errors and the analog SNR. SNR is Es/N0 per "
                                   "data symbol. Radio impairments (semcom_blocks/phy/impairments.py) add to "
                                   "or replace those of the scenario.")
    p.add_argument("--channel", choices=SCENARIOS, default="awgn",
                   help="awgn; cfo (+ carrier offset); multipath (+ EPA fading, 20 MS/s); all; radio (USRP-like "
                        "front end: CFO, DC -20 dBc, IQ 0.5 dB / 3 deg, 1 kHz phase noise, clipping at 1.5 x RMS, "
                        "12-bit ADC, 20 ppm SRO); or a fading profile")
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
    add_impairment_arguments(p)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)


def run(args) -> int:
    from semcom_host.link import run_link

    impairments = impairments_of(args)
    rec = run_link(args.channel, args.snr, args.frames, args.digital_bytes, args.analog_symbols, args.cfo,
                   args.modulation, args.rate, args.seed, args.frames_per_channel, impairments=impairments)
    if args.json:
        print_json(rec)
    else:
        for key, value in rec.items():
            print(f"{key:>16}: {value:.4g}" if isinstance(value, float) else f"{key:>16}: {value}")
    return 0
