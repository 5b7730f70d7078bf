"""Analog units over a fading channel: the receiver's equalisers against the MMSE bound.

Each burst (one analog unit of complex Gaussian symbols, unit average power) goes through the
channel model (``ChannelSim``, block fading: one realisation per burst) and the burst receiver
with zero-forcing or MMSE equalisation. Measured: the analog SNR, 10 log10(sum |x|^2 /
sum |x_hat - x|^2) over every symbol received, for ZF, MMSE, and ZF shrunk by the per-symbol
noise variance the receiver hands on (x_hat / (1 + N0_k / |H_k|^2): what the schemes' decoders
use with ``mmse``, the default; it equals MMSE equalisation). The bound: the MMSE estimate from the true
channel H_k of each data subcarrier k and the true noise variance N0 (Es/N0 per data symbol)
has the error N0 / (|H_k|^2 + N0) per unit-power symbol; averaged over the data subcarriers and
the bursts, its inverse is the best analog SNR any linear per-symbol receiver reaches.

    python -m semcom_host.experiments.analog_fading --profile epa --snr 15 --bursts 200 --json
"""
from __future__ import annotations

import argparse
import json
import math

import numpy as np

__all__ = ["measure_analog_fading"]


def measure_analog_fading(profile: str = "epa", snr_db: float = 15.0, bursts: int = 200, symbols: int = 1024,
                          sample_rate: float = 20e6, seed: int = 1, equalizers=("zf", "mmse")) -> dict:
    """Analog SNR (dB) of each equaliser and the MMSE bound over ``bursts`` fading realisations."""
    from semcom_blocks.phy.channel import ChannelSim
    from semcom_blocks.phy.fec import PayloadCoder
    from semcom_blocks.phy.frame import FrameFormat
    from semcom_blocks.phy.receiver import BurstReceiver
    from semcom_blocks.test_source import random_transmission

    if bursts < 1 or symbols < 1:
        raise ValueError("bursts and symbols must be >= 1")
    fmt = FrameFormat()
    p = fmt.params
    n0 = 10 ** (-snr_db / 10)
    coder = PayloadCoder("ldpc", 648, "1/2", "qpsk", "crc32")
    names = list(equalizers) + (["zf_shrunk"] if "zf" in equalizers else [])
    sig = {e: 0.0 for e in names}
    err = {e: 0.0 for e in names}
    got = {e: 0 for e in names}
    bound_mse = []
    gap = np.zeros(400, np.complex64)
    for b in range(bursts):
        tx = random_transmission(b, seed, 0, symbols, coder)
        sent = tx.units[0].data
        chan = ChannelSim(snr_db, fft_len=p.fft_len, profile=profile, sample_rate=sample_rate, seed=seed * 100003 + b)
        rx_in = chan(np.concatenate([gap, fmt.build(tx).astype(np.complex64), gap]))
        h = np.fft.fft(chan.impulse_response(), p.fft_len)[p.bins(p.data)]
        bound_mse.append(float(np.mean(n0 / (np.abs(h) ** 2 + n0))))
        for e in equalizers:
            frames = BurstReceiver(p, equalizer=e).push(rx_in.astype(np.complex64))
            units = [u for f in frames for u in f.units if u.kind == "analog" and len(u.data) == symbols]
            if not units:
                continue
            estimates = {e: units[0].data}
            if e == "zf":  # what the schemes' decoders use: shrunk by the per-symbol noise variance
                estimates["zf_shrunk"] = units[0].data / (1.0 + units[0].noise_var)
            for name, x_hat in estimates.items():
                got[name] += 1
                sig[name] += float(np.sum(np.abs(sent) ** 2))
                err[name] += float(np.sum(np.abs(x_hat - sent) ** 2))
    out = {"profile": profile, "snr_db": snr_db, "bursts": bursts, "symbols_per_burst": symbols,
           "sample_rate": sample_rate, "mmse_bound_db": -10 * math.log10(float(np.mean(bound_mse)))}
    for e in names:
        out[f"{e}_db"] = 10 * math.log10(sig[e] / err[e]) if err[e] > 0 else None
        out[f"{e}_bursts_received"] = got[e]
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m semcom_host.experiments.analog_fading", description=__doc__)
    ap.add_argument("--profile", default="epa")
    ap.add_argument("--snr", type=float, default=15.0, help="Es/N0 per data symbol, dB (default 15)")
    ap.add_argument("--bursts", type=int, default=200)
    ap.add_argument("--symbols", type=int, default=1024, help="analog symbols per burst (default 1024)")
    ap.add_argument("--sample-rate", type=float, default=20e6, help="Hz (default 20e6)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args(argv)
    r = measure_analog_fading(a.profile, a.snr, a.bursts, a.symbols, a.sample_rate, a.seed)
    if a.json:
        print(json.dumps(r))
    else:
        for k, v in r.items():
            print(f"{k}: {v:.2f}" if isinstance(v, float) else f"{k}: {v}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
