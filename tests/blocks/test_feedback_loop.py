"""The loopback's closed loop in GNU Radio: OFDM Burst RX's reports go back through SemCom
Feedback Link (one transmission late) to OFDM Burst TX, which codes each transmission's LDPC units
for the SNR it last heard, starting from its initial guess."""
from __future__ import annotations

import pytest

gr = pytest.importorskip("gnuradio.gr", reason="needs Debian's GNU Radio (python3-gnuradio)")
pmt = pytest.importorskip("pmt", reason="needs GNU Radio's pmt bindings")

from gnuradio import blocks  # noqa: E402

from semcom_blocks.channel_hier import semcom_channel  # noqa: E402
from semcom_blocks.feedback_link import feedback_link  # noqa: E402
from semcom_blocks.ofdm_rx import ofdm_burst_rx  # noqa: E402
from semcom_blocks.ofdm_tx import ofdm_burst_tx  # noqa: E402
from semcom_blocks.pdu_util import make_pdu  # noqa: E402
from semcom_blocks.test_source import random_transmission_source  # noqa: E402


def test_the_transmitter_follows_what_the_receiver_reports():
    tb = gr.top_block()
    src = random_transmission_source(n_frames=12, digital_bytes=200, analog_symbols=32, interval_s=0.08,
                                     rate="1/2", modulation="qpsk")
    tx = ofdm_burst_tx(gap_samples=400, link_adaptation=True, initial_snr_db=20.0)
    chan = semcom_channel(snr_db=6.0, profile="none", seed=3)
    rx = ofdm_burst_rx()
    fb = feedback_link(delay=1)
    got = blocks.message_debug()
    tb.msg_connect(src, "out", tx, "in")
    tb.connect(tx, chan, rx)
    tb.msg_connect(rx, "out", fb, "in")
    tb.msg_connect(fb, "out", tx, "feedback")
    tb.msg_connect(rx, "out", got, "store")
    tb.keep_alive = [src, tx, chan, rx, fb]
    tb.run()
    decisions = tx.decisions()
    assert len(decisions) == 12 and fb.stats()["delivered"] >= 8
    first, last = decisions[0], decisions[-1]
    assert first["snr_db"] == 20.0 and (first["modulation"], first["rate"]) == ("16qam", "3/4")
    assert abs(last["snr_db"] - 6.0) < 1.5 and last["modulation"] in ("qpsk", "bpsk")   # what came back
    assert tx.stats()["feedback_in"] == fb.stats()["delivered"]


def test_malformed_feedback_is_counted_not_raised():
    tx = ofdm_burst_tx(link_adaptation=True, initial_snr_db=7.0)
    for msg in (pmt.PMT_NIL, pmt.to_pmt({"snr_est_db": "x"}), pmt.to_pmt({"snr_est_db": float("nan")}),
                make_pdu({}, b"x")):
        tx._on_feedback(msg)
    tx._on_feedback(pmt.to_pmt({"snr_est_db": 3.5}))
    assert tx.stats()["feedback_malformed"] == 4 and tx.fed_back_snr_db == 3.5
    fb = feedback_link()
    fb._on_pdu(pmt.PMT_NIL)
    fb._on_pdu(make_pdu({"snr_est_db": None}, b"x"))
    assert fb.stats()["malformed"] == 2
