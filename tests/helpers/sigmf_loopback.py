"""Test helpers (not tests): record an OFDM loopback run as SigMF and check what a receiver made of it.

``record_loopback`` sends ``N_FRAMES`` random transmissions (seeded: ``src.expected(seq)``
rebuilds each) through the OFDM burst TX and an AWGN channel into a ``sigmf_sink``;
``check_received`` asserts that a receiver got every one of them, once, intact.
"""
from __future__ import annotations

import re

import numpy as np
from gnuradio import blocks, gr

from semcom_blocks.channel_hier import semcom_channel
from semcom_blocks.ofdm_rx import ofdm_burst_rx
from semcom_blocks.ofdm_tx import ofdm_burst_tx
from semcom_blocks.pdu_util import pdu_to_python
from semcom_blocks.phy.wire import unpack_received
from semcom_blocks.sigmf_sink import sigmf_sink
from semcom_blocks.test_source import random_transmission_source

N_FRAMES, SEED, DIGITAL_BYTES, ANALOG_SYMBOLS = 6, 3, 80, 120
SAMP_RATE, CENTER_FREQ, SNR_DB = 2e6, 2.45e9, 15.0


def make_source() -> random_transmission_source:
    """The transmissions every recording here carries (also the reference to compare with)."""
    return random_transmission_source(n_frames=N_FRAMES, digital_bytes=DIGITAL_BYTES,
                                      analog_symbols=ANALOG_SYMBOLS, seed=SEED)


def record_loopback(base, snr_db: float = SNR_DB) -> random_transmission_source:
    """TX -> AWGN (Es/N0 ``snr_db``, CFO 0.2 subcarrier) -> sigmf_sink(base); the source."""
    tb = gr.top_block()
    src = make_source()
    tx = ofdm_burst_tx(gap_samples=400)
    channel = semcom_channel(snr_db=snr_db, cfo_subcarriers=0.2, profile="none", seed=5)
    sink = sigmf_sink(str(base), SAMP_RATE, CENTER_FREQ, description="gr-semcom test: OFDM loopback over AWGN",
                      hw="none (simulated channel)")
    tb.msg_connect(src, "out", tx, "in")
    tb.connect(tx, channel, sink)
    tb.run()
    assert tx.stats()["frames_sent"] == N_FRAMES, tx.stats()
    return src


def receive(source_block) -> tuple[list, ofdm_burst_rx]:
    """Run ``source_block`` (a finite complex stream) into an OFDM burst RX: ([(meta, frame)], rx)."""
    tb = gr.top_block()
    rx = ofdm_burst_rx()
    store = blocks.message_debug()
    tb.connect(source_block, rx)
    tb.msg_connect(rx, "out", store, "store")
    tb.run()
    return received_frames(store), rx


def received_frames(store) -> list:
    """(meta dict, ReceivedFrame) of every PDU a message_debug block stored."""
    out = []
    for i in range(store.num_messages()):
        meta, vec = pdu_to_python(store.get_message(i))
        out.append((meta, unpack_received(vec.tobytes())))
    return out


def check_received(frames, src, n: int = N_FRAMES, min_analog_snr_db: float = 10.0) -> None:
    """Every transmission 0..n-1 received exactly once: CRC ok, digital bytes equal, analog close."""
    assert sorted(meta["seq"] for meta, _ in frames) == list(range(n)), [meta for meta, _ in frames]
    for meta, frame in frames:
        sent = src.expected(meta["seq"])
        assert meta["crc_ok"] and frame.seq == meta["seq"], meta
        digital, analog = frame.units
        assert digital.kind == "digital" and digital.crc_ok and digital.data == sent.units[0].data
        err = np.mean(np.abs(analog.data - sent.units[1].data) ** 2)
        assert -10 * np.log10(err) > min_analog_snr_db, (meta, err)


def check_printed(log: str, n: int = N_FRAMES) -> None:
    """What a message_debug "print" port logged: PDUs with seq 0..n-1, each with crc_ok true."""
    seqs = sorted(int(s) for s in re.findall(r"\(seq \. (\d+)\)", log))
    assert seqs == list(range(n)), log[-3000:]
    assert log.count("(crc_ok . #t)") == n and "(crc_ok . #f)" not in log, log[-3000:]
