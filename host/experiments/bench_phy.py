"""`semcom bench phy`: receive throughput on one core, ours against GNU Radio's ofdm_rx.

Both receivers get equivalent signals in the same run: bursts of the same length in samples
(64-point FFT, CP 16, 48 data + 4 pilot subcarriers), separated by the same gaps of silence,
at unit average burst power with complex white noise at the same Es/N0 (``snr_db``, default
20 dB, where both decode every burst). Ours carries one transmission per burst (a digital unit
of ``digital_bytes`` bytes, QPSK LDPC 648 R1/2 + CRC-32, and an analog unit of
``analog_symbols`` symbols: by default 96 bytes
of caption and 4,096 analog symbols, about half of GVSC's first-frame DJSCC output: GNU Radio's
ofdm_tx fails on packets much above 2 kB); GNU Radio's carries an uncoded QPSK packet with as many
payload OFDM symbols as make its bursts (two sync symbols, one header symbol, the payload) as
long as ours. Ours also decodes LDPC; gr-digital's has no channel code.

Each receiver runs as a GNU Radio flowgraph, vector source -> receiver -> sink, pinned to one
CPU core (``sched_setaffinity``: the flowgraph's threads inherit it). Throughput = samples in /
wall seconds of ``top_block.run()``, best of ``repeats`` runs taken alternately (the machine
is shared: the best run is the least disturbed one). Our receiver's engine alone
(``BurstReceiver.push`` in 32k-sample chunks, no GNU Radio) is reported too.
Fields: rx_msps, grdigital_rx_msps, ratio, engine_msps, burst_samples, and what each decoded.

Two more measurements come with it (``low_snr`` and ``first_burst``, both on by default):

* ``low_snr``: the same fields for the low-SNR digital-heavy case ``LOW_SNR_CASE`` (QPSK LDPC
  648 R1/2 units of 3,000 bytes, 75 codewords each, no analog unit, at 3 dB, where the LDPC
  decoder runs on nearly every codeword), ours only: gr-digital's ofdm_tx cannot make bursts
  that long. Skipped when the main case is that case.
* ``first_burst_s`` (and ``first_burst_import_s``): a fresh interpreter, pinned to the same
  core, imports the receiver and decodes one burst of that case (``python -m
  semcom_blocks.phy.warm --first-burst``): the cost of a cold start once numba's cache is warm
  (``make setup`` warms it; without it the numba kernels compile for ~20 s on this first burst).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import numpy as np

__all__ = ["bench_phy", "our_stream", "grdigital_stream", "first_burst", "LOW_SNR_CASE"]

FFT_LEN, CP_LEN = 64, 16
SYMBOL_LEN = FFT_LEN + CP_LEN
#: gr-digital's default carrier layout has 48 data carriers; QPSK: 12 bytes per OFDM symbol
GRD_BYTES_PER_SYMBOL = 48 * 2 // 8
#: buffer (items) given to sources and to gr-digital's hier blocks: its cyclic prefixer and
#: receiver fail ("Buffer too small for min_noutput_items") on bursts longer than the default
BUFFER_ITEMS = 1 << 17
#: the low-SNR digital-heavy case measured beside the main one (module docstring)
LOW_SNR_CASE = {"digital_bytes": 3000, "analog_symbols": 0, "snr_db": 3.0}


def _add_noise(x: np.ndarray, snr_db: float, seed: int) -> np.ndarray:
    """x through the AWGN channel model at Es/N0 = snr_db on the data subcarriers."""
    from semcom_blocks.phy.channel import apply_channel

    return apply_channel(x.astype(np.complex64), snr_db, seed=seed, fft_len=FFT_LEN, n_used=52)


def our_stream(bursts: int, digital_bytes: int, analog_symbols: int, gap: int, snr_db: float, seed: int = 1):
    """(samples, burst length) of ``bursts`` of our transmissions with ``gap`` zeros after each."""
    from semcom_blocks.phy.fec import PayloadCoder
    from semcom_blocks.phy.frame import FrameFormat
    from semcom_blocks.test_source import random_transmission

    coder = PayloadCoder("ldpc", 648, "1/2", "qpsk", "crc32")
    fmt = FrameFormat()
    silence = np.zeros(gap, np.complex64)
    parts = []
    for seq in range(bursts):
        parts += [fmt.build(random_transmission(seq, seed, digital_bytes, analog_symbols, coder)), silence]
    return _add_noise(np.concatenate(parts), snr_db, seed), parts[0].size


def grdigital_stream(bursts: int, burst_samples: int, gap: int, snr_db: float, seed: int = 1):
    """(samples, burst length, payload bytes per packet, payloads) of gr-digital ofdm_tx bursts
    about ``burst_samples`` long (QPSK payload, BPSK header), ``gap`` zeros after each."""
    import pmt
    from gnuradio import blocks, digital, gr

    n_payload_symbols = max(1, round(burst_samples / SYMBOL_LEN) - 3)
    packet = n_payload_symbols * GRD_BYTES_PER_SYMBOL - 4  # ofdm_tx appends a CRC-32
    rng = np.random.default_rng(seed)
    payload = rng.integers(0, 256, bursts * packet, dtype=np.uint8)
    tb = gr.top_block("grdigital_tx")
    src = blocks.vector_source_b(payload.tolist(), False)
    tag = blocks.stream_to_tagged_stream(gr.sizeof_char, 1, packet, "packet_len")
    tx = digital.ofdm_tx(fft_len=FFT_LEN, cp_len=CP_LEN, packet_length_tag_key="packet_len", bps_header=1,
                         bps_payload=2, rolloff=0)
    tx.set_min_output_buffer(BUFFER_ITEMS)
    sink = blocks.vector_sink_c()
    tb.connect(src, tag, tx, sink)
    tb.run()
    y = np.asarray(sink.data(), np.complex64)
    starts = sorted((t.offset, pmt.to_long(t.value)) for t in sink.tags()
                    if pmt.symbol_to_string(t.key) == "packet_len")
    if len(starts) != bursts:
        raise RuntimeError(f"gr-digital ofdm_tx made {len(starts)} bursts of {bursts}")
    silence = np.zeros(gap, np.complex64)
    parts = []
    for offset, length in starts:
        burst = y[offset:offset + length]
        parts += [burst / np.sqrt(np.mean(np.abs(burst) ** 2)), silence]
    return _add_noise(np.concatenate(parts), snr_db, seed + 1), starts[0][1], packet, payload


def _time_ours(x: np.ndarray) -> tuple[float, dict]:
    from gnuradio import blocks, gr

    from semcom_blocks.ofdm_rx import ofdm_burst_rx

    tb = gr.top_block("bench_ours")
    src = blocks.vector_source_c(x, False)
    src.set_min_output_buffer(BUFFER_ITEMS)
    rx = ofdm_burst_rx()
    sink = blocks.message_debug()
    tb.connect(src, rx)
    tb.msg_connect(rx, "out", sink, "store")
    t0 = time.perf_counter()
    tb.run()
    seconds = time.perf_counter() - t0
    return seconds, {"frames_out": sink.num_messages(), **rx.stats()}


def _time_grdigital(x: np.ndarray) -> tuple[float, np.ndarray]:
    from gnuradio import blocks, digital, gr

    tb = gr.top_block("bench_grdigital")
    src = blocks.vector_source_c(x, False)
    src.set_min_output_buffer(BUFFER_ITEMS)
    rx = digital.ofdm_rx(fft_len=FFT_LEN, cp_len=CP_LEN, frame_length_tag_key="frame_len",
                         packet_length_tag_key="length", bps_header=1, bps_payload=2)
    rx.set_min_output_buffer(BUFFER_ITEMS)
    sink = blocks.vector_sink_b()
    tb.connect(src, rx, sink)
    t0 = time.perf_counter()
    tb.run()
    seconds = time.perf_counter() - t0
    return seconds, np.asarray(sink.data(), np.uint8)


def _time_engine(x: np.ndarray, chunk: int = 1 << 15) -> tuple[float, int]:
    from semcom_blocks.phy.receiver import BurstReceiver

    rx = BurstReceiver()
    t0 = time.perf_counter()
    n = 0
    for i in range(0, x.size, chunk):
        n += len(rx.push(x[i:i + chunk]))
    n += len(rx.flush())
    return time.perf_counter() - t0, n


def first_burst(cpu: int | None = None, timeout: float = 300.0) -> dict:
    """Seconds a fresh interpreter takes to import the receiver and to decode its first burst
    (semcom_blocks.phy.warm.first_burst: LOW_SNR_CASE plus 512 analog symbols), pinned to
    ``cpu`` when given."""
    pin = (lambda: os.sched_setaffinity(0, {cpu})) if cpu is not None else None
    out = subprocess.run([sys.executable, "-m", "semcom_blocks.phy.warm", "--first-burst"], capture_output=True,
                         text=True, timeout=timeout, check=True, preexec_fn=pin)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _measure(bursts: int, digital_bytes: int, analog_symbols: int, gap: int, snr_db: float, repeats: int,
             core: int, with_grdigital: bool, seed: int) -> dict:
    """One case of ``bench_phy`` (the module docstring), on core ``core``."""
    ours, burst_len = our_stream(bursts, digital_bytes, analog_symbols, gap, snr_db, seed)
    if with_grdigital:
        grd, grd_len, packet, payload = grdigital_stream(bursts, burst_len, gap, snr_db, seed)
    saved = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {core})
    try:
        _time_engine(ours[: 4 * (burst_len + gap)])  # compile the numba kernels first
        best = {"ours": np.inf, "grd": np.inf, "engine": np.inf}
        for _ in range(repeats):
            secs, ours_stats = _time_ours(ours)
            best["ours"] = min(best["ours"], secs)
            secs, engine_frames = _time_engine(ours)
            best["engine"] = min(best["engine"], secs)
            if with_grdigital:
                secs, grd_out = _time_grdigital(grd)
                best["grd"] = min(best["grd"], secs)
    finally:
        os.sched_setaffinity(0, saved)
    result = {
        "rx_msps": round(ours.size / best["ours"] / 1e6, 3),
        "grdigital_rx_msps": round(grd.size / best["grd"] / 1e6, 3) if with_grdigital else None,
        "ratio": round((ours.size / best["ours"]) / (grd.size / best["grd"]), 2) if with_grdigital else None,
        "engine_msps": round(ours.size / best["engine"] / 1e6, 3),
        "cpu": core, "repeats": repeats, "bursts": bursts, "snr_db": snr_db, "gap_samples": gap,
        "burst_samples": burst_len, "digital_bytes": digital_bytes, "analog_symbols": analog_symbols,
        "frames_decoded": ours_stats["frames_out"], "digital_units_ok": ours_stats["units_digital_ok"],
        "engine_frames_decoded": engine_frames,
    }
    if with_grdigital:
        result.update({"grdigital_burst_samples": grd_len, "grdigital_packet_bytes": packet,
                       "grdigital_packets_decoded": grd_out.size // packet,
                       "grdigital_bytes_correct": bool(np.array_equal(grd_out, payload))})
    return result


def bench_phy(bursts: int = 100, digital_bytes: int = 96, analog_symbols: int = 4096, gap: int = 400,
              snr_db: float = 20.0, repeats: int = 3, cpu: int | None = None, with_grdigital: bool = True,
              seed: int = 1, low_snr: bool = True, with_first_burst: bool = True) -> dict:
    """Measure both receivers, the low-SNR digital-heavy case and the first burst of a fresh
    process (see the module docstring); returns the JSON-ready result."""
    if bursts < 1 or repeats < 1 or gap < 0:
        raise ValueError("bursts and repeats must be >= 1 and gap >= 0")
    cpus = sorted(os.sched_getaffinity(0))
    core = cpus[-1] if cpu is None else int(cpu)
    result = _measure(bursts, digital_bytes, analog_symbols, gap, snr_db, repeats, core, with_grdigital, seed)
    main_case = {"digital_bytes": digital_bytes, "analog_symbols": analog_symbols, "snr_db": snr_db}
    if low_snr and main_case != LOW_SNR_CASE:
        result["low_snr"] = _measure(bursts, gap=gap, repeats=repeats, core=core, with_grdigital=False, seed=seed,
                                     **LOW_SNR_CASE)
    if with_first_burst:
        fb = first_burst(core)
        result.update({"first_burst_s": fb["first_burst_s"], "first_burst_import_s": fb["import_s"],
                       "first_burst_samples": fb["burst_samples"]})
    return result
