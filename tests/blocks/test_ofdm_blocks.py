"""The OFDM burst TX and RX blocks in running GNU Radio flowgraphs."""
from __future__ import annotations

import time

import numpy as np
import pytest

gr = pytest.importorskip("gnuradio.gr", reason="needs Debian's GNU Radio (python3-gnuradio)")
pmt = pytest.importorskip("pmt", reason="needs GNU Radio's pmt bindings")
from gnuradio import blocks  # noqa: E402

from semcom_blocks.channel_hier import semcom_channel  # noqa: E402
from semcom_blocks.ofdm_rx import ofdm_burst_rx  # noqa: E402
from semcom_blocks.ofdm_tx import ofdm_burst_tx  # noqa: E402
from semcom_blocks.pdu_util import make_pdu, pdu_to_python  # noqa: E402
from semcom_blocks.phy.wire import pack_transmission, unpack_received  # noqa: E402
from semcom_blocks.test_source import random_transmission_source  # noqa: E402

pytestmark = pytest.mark.gnuradio
IN = pmt.intern("in")


def run_until(tb, predicate, timeout_s=30.0):
    tb.start()
    try:
        deadline = time.monotonic() + timeout_s
        while not predicate() and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        tb.stop()
        tb.wait()


def test_loopback_through_channel_runs_to_completion():
    tb = gr.top_block()
    src = random_transmission_source(n_frames=8, digital_bytes=80, analog_symbols=200, seed=4)
    tx = ofdm_burst_tx(gap_samples=300)
    rx = ofdm_burst_rx()
    sink = blocks.message_debug()
    tb.msg_connect(src, "out", tx, "in")
    tb.connect(tx, semcom_channel(snr_db=15.0, cfo_subcarriers=-0.8, profile="none", seed=2), rx)
    tb.msg_connect(rx, "out", sink, "store")
    tb.run()  # ends by itself: the source sends "done", the TX ends the stream
    assert sink.num_messages() == 8, rx.stats()
    for i in range(8):
        meta, vec = pdu_to_python(sink.get_message(i))
        frame = unpack_received(vec.tobytes())
        sent = src.expected(meta["seq"])
        assert meta["crc_ok"] and abs(meta["cfo"] + 0.8) < 0.05 and abs(meta["snr_est_db"] - 15) < 2
        assert frame.units[0].data == sent.units[0].data
        err = np.mean(np.abs(frame.units[1].data - sent.units[1].data) ** 2)
        assert 10 < -10 * np.log10(err) < 20
    assert tx.stats()["frames_sent"] == 8 and rx.stats()["frames_ok"] == 8


def test_bursts_are_tagged_for_uhd():
    tb = gr.top_block()
    tx = ofdm_burst_tx(gap_samples=0)
    sink = blocks.vector_sink_c()
    tb.connect(tx, sink)
    src = random_transmission_source(n_frames=2, digital_bytes=10, analog_symbols=0)
    for i in range(2):
        tx._post(IN, make_pdu({}, pack_transmission(src.expected(i))))
    run_until(tb, lambda: tx.stats()["frames_sent"] == 2 and len(sink.data()) == tx.stats()["samples_out"],
              timeout_s=10)
    tags = {}
    for tag in sink.tags():
        tags.setdefault(pmt.symbol_to_string(tag.key), []).append(tag.offset)
    n = len(sink.data())
    assert len(tags["tx_sob"]) == 2 and len(tags["tx_eob"]) == 2 and len(tags["packet_len"]) == 2
    assert tags["tx_sob"][0] == 0 and tags["tx_eob"][-1] == n - 1 and tags["tx_sob"][1] == tags["tx_eob"][0] + 1


def test_malformed_transmissions_are_counted_and_dropped():
    tb = gr.top_block()
    tx = ofdm_burst_tx()
    tb.connect(tx, blocks.null_sink(gr.sizeof_gr_complex))
    bad = [pmt.intern("nonsense"), make_pdu({}, b"not msgpack"), make_pdu({}, np.ones(4, np.complex64)),
           pmt.PMT_NIL]
    for msg in bad:
        tx._post(IN, msg)
    good = random_transmission_source(n_frames=1).expected(0)
    tx._post(IN, make_pdu({}, pack_transmission(good)))
    run_until(tb, lambda: tx.stats()["frames_sent"] == 1, timeout_s=10)
    stats = tx.stats()
    assert stats["frames_malformed"] == len(bad) and stats["frames_sent"] == 1


def test_receiver_survives_nan_and_garbage_streams():
    rng = np.random.default_rng(0)
    samples = (rng.standard_normal(100_000) + 1j * rng.standard_normal(100_000)).astype(np.complex64)
    samples[1000:1010] = np.nan
    tb = gr.top_block()
    rx = ofdm_burst_rx()
    sink = blocks.message_debug()
    tb.connect(blocks.vector_source_c(samples.tolist(), False), rx)
    tb.msg_connect(rx, "out", sink, "store")
    tb.run()
    stats = rx.stats()
    assert stats["samples_in"] == samples.size and stats["samples_nonfinite"] == 10
    assert stats["frames_ok"] == 0 and stats["work_errors"] == 0 and sink.num_messages() == 0
