"""`semcom link`: random transmissions through the OFDM loopback flowgraph, measured.

The flowgraph is the one of flowgraphs/loopback_sim.grc, built here so that its parameters can
be swept: random transmission source (one digital unit, one analog unit per transmission) ->
OFDM Burst TX (random gaps: random arrival times) -> SemCom Channel -> OFDM Burst RX.

Channels (``semcom_blocks.phy.channel.scenario_settings``): ``awgn`` (noise only), ``cfo``
(noise + carrier offset ``cfo`` subcarrier spacings), ``multipath`` (noise + EPA Rayleigh fading
at 20 MS/s, 5 Hz Doppler), ``all`` (the three), ``radio`` (a USRP-like front end: carrier offset,
DC, IQ imbalance, phase noise, PA clipping, 12-bit ADC, 20 ppm SRO) and one per fading profile
(flat, epa, eva, etu, tdl-a, tdl-b, tdl-c). ``impairments``: single radio impairments (``sro_ppm``
and ``impairments.IMPAIRMENT_KEYS``) added to or replacing the scenario's. A simulated second
of 5 Hz fading lasts far longer than a run, so one flowgraph would see one channel: fading
channels run ``frames_per_channel`` transmissions per flowgraph (default 1), each flowgraph
with its own seed, i.e. its own channel realisation.

Figures (one JSON object): the channel's settings (``settings``: what the channel block got
besides SNR and seed); frames_sent; frames_detected (bursts whose SIG and table decoded);
detection_rate; per: digital units not delivered with a passing CRC / sent; analog_snr_db:
10 log10(sum |x|^2 / sum |x_hat - x|^2) over the analog units received; snr_est_db: the
receiver's own Es/N0 estimates, averaged in linear scale; the receiver's loss counters
(false detections, SIG and table failures, truncated bursts, bursts dropped for their level,
non-finite samples).
"""
from __future__ import annotations

import math
import threading
import time

import numpy as np

from semcom_blocks.phy.channel import scenario_settings
from semcom_blocks.phy.snr import mean_db


def run_link(channel: str = "awgn", snr_db: float = 10.0, frames: int = 100, digital_bytes: int = 100,
             analog_symbols: int = 256, cfo: float = 1.2, modulation: str = "qpsk", rate: str = "1/2",
             seed: int = 1, frames_per_channel: int | None = None, timeout_s: float = 600.0,
             impairments: dict | None = None) -> dict:
    """Run the loopback; return the JSON-ready measurement (see the module docstring)."""
    from semcom_blocks.phy.fec import PayloadCoder
    from semcom_blocks.phy.wire import unpack_received
    from semcom_blocks.test_source import random_transmission

    if frames < 1:
        raise ValueError("frames must be >= 1")
    if not math.isfinite(snr_db):
        raise ValueError("snr_db must be finite")
    settings = scenario_settings(channel, cfo, **(impairments or {}))
    group = frames_per_channel or (1 if settings["profile"] != "none" else frames)
    coder = PayloadCoder("ldpc", 648, rate, modulation, "crc32")
    received, stats, seconds = [], {}, 0.0
    for first in range(0, frames, group):
        count = min(group, frames - first)
        vectors, rx_stats, secs = _run_flowgraph(settings, snr_db, first, count, digital_bytes, analog_symbols,
                                                 modulation, rate, seed, timeout_s)
        received += [unpack_received(v) for v in vectors]
        for key, value in rx_stats.items():
            stats[key] = stats.get(key, 0) + value
        seconds += secs

    seen, digital_ok, sig_power, err_power, snr_est = set(), 0, 0.0, 0.0, []
    for got in received:
        if got.seq in seen or got.seq >= frames:
            continue  # a duplicate or a false detection that decoded to a foreign number
        seen.add(got.seq)
        sent = random_transmission(got.seq, seed, digital_bytes, analog_symbols, coder)
        snr_est.append(got.snr_est_db)
        for unit, ref in zip(got.units, sent.units):
            if unit.kind == "digital":
                digital_ok += bool(unit.crc_ok and unit.data == ref.data)
            else:
                sig_power += float(np.sum(np.abs(ref.data) ** 2))
                err_power += float(np.sum(np.abs(unit.data - ref.data) ** 2))
    digital_sent = frames if digital_bytes > 0 else 0
    return {
        "channel": channel, "snr_db": snr_db, "cfo": settings["cfo_subcarriers"], "profile": settings["profile"],
        "modulation": modulation, "rate": rate, "frames_sent": frames, "frames_detected": len(seen),
        "detection_rate": len(seen) / frames,
        "per": (1 - digital_ok / digital_sent) if digital_sent else None,
        "analog_snr_db": 10 * math.log10(sig_power / err_power) if err_power > 0 else None,
        "snr_est_db": mean_db(snr_est), "settings": settings,
        "false_detections": stats["false_detections"],
        "sig_failures": stats["sig_failures"], "table_failures": stats["table_failures"],
        "frames_truncated": stats["frames_truncated"],
        "level_drops": stats.get("level_too_low", 0) + stats.get("level_too_high", 0),
        "samples_nonfinite": stats["samples_nonfinite"], "samples": stats["samples_in"],
        "channel_realisations": -(-frames // group), "seconds": round(seconds, 3), "seed": seed,
    }


def _run_flowgraph(settings: dict, snr_db: float, first: int, count: int, digital_bytes: int, analog_symbols: int,
                   modulation: str, rate: str, seed: int, timeout_s: float):
    """One loopback run of transmissions first..first+count-1: (received msgpack messages, RX
    counters, seconds)."""
    from gnuradio import blocks, gr

    from semcom_blocks.channel_hier import semcom_channel
    from semcom_blocks.ofdm_rx import ofdm_burst_rx
    from semcom_blocks.ofdm_tx import ofdm_burst_tx
    from semcom_blocks.pdu_util import pdu_to_python
    from semcom_blocks.test_source import random_transmission_source

    tb = gr.top_block("semcom_link")
    src = random_transmission_source(n_frames=count, digital_bytes=digital_bytes, analog_symbols=analog_symbols,
                                     seed=seed, modulation=modulation, rate=rate, first_seq=first)
    tx = ofdm_burst_tx(gap_samples=200, gap_jitter=400, seed=seed * 7919 + first, max_queue=count + 1)
    chan = semcom_channel(snr_db=snr_db, seed=(seed * 104729 + first) % (1 << 24) or 1, **settings)
    rx = ofdm_burst_rx()
    sink = blocks.message_debug()
    tb.msg_connect(src, "out", tx, "in")
    tb.connect(tx, chan, rx)
    tb.msg_connect(rx, "out", sink, "store")
    watchdog = threading.Timer(timeout_s, tb.stop)  # the flowgraph ends by itself; this is a backstop
    t0 = time.perf_counter()
    tb.start()
    watchdog.start()
    tb.wait()
    watchdog.cancel()
    seconds = time.perf_counter() - t0
    vectors = [pdu_to_python(sink.get_message(i))[1].tobytes() for i in range(sink.num_messages())]
    stats = {k: v for k, v in rx.stats().items() if isinstance(v, int)}
    return vectors, stats, seconds
