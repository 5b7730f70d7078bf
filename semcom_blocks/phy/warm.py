"""Warm start: every numba kernel of ``semcom_blocks.phy`` compiled once, into numba's cache.

All kernels are ``numba.njit(cache=True)``: numba compiles each on its first call with a new
argument signature (about 17 s for what the first received burst needs, on one core) and writes
the machine code to its cache (``__pycache__`` beside the sources, or ``$NUMBA_CACHE_DIR``),
from which a later process loads it in milliseconds. ``warm()`` makes those first calls, with the
signatures the transmitter, the burst receiver (both equalisers), the LDPC and turbo decoders
(numba fallbacks and references included) and the msgpack scanner use, so that the first burst
of a fresh process decodes in about 0.1 s instead. ``scripts/setup.sh`` runs it after building
the native kernels; it takes a second or two when the cache is already warm. The cache is tied
to the source files (an edited module is compiled again on its next use) and to this CPU.

    python -m semcom_blocks.phy.warm                 warm the cache (prints the seconds it took)
    python -m semcom_blocks.phy.warm --first-burst   in this fresh process, time the imports and
                                                     the first burst, without warming (JSON)

Heavy imports happen inside the functions, so that ``--first-burst`` times them.
"""
from __future__ import annotations

import argparse
import json
import sys
import time

__all__ = ["warm", "first_burst", "main"]


def _noisy_burst(units, snr_db: float, seed: int, lead: int = 200, tail: int = 400):
    """Burst samples of ``units`` (frame.Unit) with silence around them, complex AWGN at Es/N0
    = snr_db per data subcarrier (64-point FFT, 52 used subcarriers: the default numerology)."""
    import numpy as np

    from .frame import FrameFormat, Transmission
    from .ofdm import OfdmParams

    p = OfdmParams()
    x = FrameFormat(p).build(Transmission(units, seq=seed % 65536))
    x = np.concatenate([np.zeros(lead, np.complex64), x, np.zeros(tail, np.complex64)])
    rng = np.random.default_rng(seed)
    sigma2 = p.fft_len / (p.n_used * 10 ** (snr_db / 10))
    noise = np.sqrt(sigma2 / 2) * (rng.standard_normal(x.size) + 1j * rng.standard_normal(x.size))
    return (x + noise).astype(np.complex64)


def _bench_units(digital_bytes: int, analog_symbols: int, seed: int):
    """A digital unit (QPSK LDPC 648 R1/2 + CRC-32) and an analog unit, as `semcom bench phy` sends."""
    import numpy as np

    from .fec import PayloadCoder
    from .frame import Unit

    rng = np.random.default_rng(seed)
    units = [Unit("digital", "digital", rng.integers(0, 256, digital_bytes, dtype=np.uint8).tobytes(),
                  PayloadCoder("ldpc", 648, "1/2", "qpsk", "crc32"))]
    if analog_symbols:
        z = (rng.standard_normal(analog_symbols) + 1j * rng.standard_normal(analog_symbols)) / np.sqrt(2)
        units.append(Unit("analog", "analog", z.astype(np.complex64)))
    return units


def warm(verbose: bool = False) -> float:
    """Compile (or load from numba's cache) every phy kernel with the signatures in use; returns
    the seconds it took."""
    t0 = time.perf_counter()
    import msgpack
    import numpy as np

    from . import msgpack_safe
    from .fec import PayloadCoder
    from .frame import Unit
    from .ldpc import LdpcLayout, get_ldpc
    from .receiver import BurstReceiver
    from .turbo import TurboCode, turbo_decode_payload, turbo_encode_payload

    def step(what):
        if verbose:
            print(f"warm: {what} ({time.perf_counter() - t0:.1f} s)", file=sys.stderr, flush=True)

    # transmit and receive: LDPC (linear and non-linear demappers), turbo, uncoded and analog units
    rng = np.random.default_rng(0)
    units = _bench_units(400, 300, 0) + [
        Unit("vq", "digital", bytes(range(120)), PayloadCoder("ldpc", 1296, "3/4", "16qam", "crc24a")),
        Unit("turbo", "digital", bytes(range(60)), PayloadCoder("turbo", modulation="qpsk", crc="crc24a")),
        Unit("raw", "digital", bytes(range(20)), PayloadCoder("none", modulation="bpsk", crc="crc16"))]
    for snr_db in (3.0, 25.0):
        y = _noisy_burst(units, snr_db, seed=1)
        for kwargs in ({}, {"equalizer": "mmse", "dc_block": False, "full_scale": 1e6}):
            rx = BurstReceiver(**kwargs)
            for i in range(0, y.size, 1 << 13):
                rx.push(y[i:i + (1 << 13)])
            rx.flush()
    step("transmitter and burst receiver")

    # the decoders' numba kernels, also where the native libraries run them by default
    code = get_ldpc(648, "1/2")
    info = rng.integers(0, 2, (3, code.k), dtype=np.uint8)
    llr = (2.0 * (1 - 2.0 * code.encode(info)) + 1.5 * rng.standard_normal((3, code.n))).astype(np.float32)
    for decoder in ("minsum-numba", "spa"):
        for early_stop in (True, False):
            code.decode(llr, decoder=decoder, max_iter=3, early_stop=early_stop)
    code.syndrome_ok(code.encode(info))
    layout = LdpcLayout(code, 500)
    layout.decode(2.0 * (1 - 2.0 * layout.encode(rng.integers(0, 2, 500, dtype=np.uint8))))
    turbo = TurboCode(40)
    tllr = 2.0 * (1 - 2.0 * turbo.encode(rng.integers(0, 2, (2, 40), dtype=np.uint8))).astype(np.float32)
    for algorithm in ("maxlog-numba", "logmap"):
        turbo.decode(tllr, iterations=2, algorithm=algorithm)
        turbo.decode(tllr, iterations=2, algorithm=algorithm, crc="crc24b")
    payload = rng.integers(0, 2, 100, dtype=np.uint8)
    turbo_decode_payload(2.0 * (1 - 2.0 * turbo_encode_payload(payload)), 100, algorithm="maxlog-numba")
    step("LDPC and turbo decoders")

    msgpack_safe.unpackb(msgpack.packb({"a": [1, 2, {"b": b"x"}]}))
    step("msgpack scanner")
    return time.perf_counter() - t0


def first_burst(snr_db: float = 3.0, digital_bytes: int = 3000, analog_symbols: int = 512, seed: int = 1) -> dict:
    """In this process, without warming: seconds to import the receiver, to build one burst
    (transmitter kernels), to receive it (the first burst) and to receive a second one; meant for
    a fresh interpreter (``--first-burst``), where it measures what a cold start costs."""
    t0 = time.perf_counter()
    from .receiver import BurstReceiver

    t1 = time.perf_counter()
    y = _noisy_burst(_bench_units(digital_bytes, analog_symbols, seed), snr_db, seed)
    t2 = time.perf_counter()
    rx = BurstReceiver()
    frames = rx.push(y) + rx.flush()
    t3 = time.perf_counter()
    again = BurstReceiver()
    again.push(y)
    again.flush()
    t4 = time.perf_counter()
    return {"import_s": round(t1 - t0, 4), "build_s": round(t2 - t1, 4), "first_burst_s": round(t3 - t2, 4),
            "second_burst_s": round(t4 - t3, 4), "burst_samples": int(y.size), "snr_db": snr_db,
            "digital_bytes": digital_bytes, "analog_symbols": analog_symbols, "frames": len(frames),
            "digital_units_ok": rx.stats["units_digital_ok"]}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m semcom_blocks.phy.warm", description=__doc__.split("\n\n")[0])
    ap.add_argument("--first-burst", action="store_true",
                    help="time the imports and the first burst in this process (no warming), print JSON")
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args(argv)
    if args.first_burst:
        print(json.dumps(first_burst()))
        return 0
    seconds = warm(verbose=not args.quiet)
    if not args.quiet:
        print(f"warm: numba kernels ready in {seconds:.1f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
