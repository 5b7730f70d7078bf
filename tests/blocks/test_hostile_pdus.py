"""Every message handler of the blocks against hostile PDUs: nothing raises (an exception would
stop the block's message thread while the flowgraph runs on), every message is counted."""
from __future__ import annotations

import msgpack
import numpy as np
import pytest

gr = pytest.importorskip("gnuradio.gr", reason="needs Debian's GNU Radio (python3-gnuradio)")
pmt = pytest.importorskip("pmt", reason="needs GNU Radio's pmt bindings")

from semcom_blocks.fec_pdu import fec_decoder_pdu, fec_encoder_pdu  # noqa: E402
from semcom_blocks.ofdm_tx import ofdm_burst_tx  # noqa: E402
from semcom_blocks.pdu_util import make_pdu  # noqa: E402
from semcom_blocks.semantic_sink import semantic_sink  # noqa: E402


def _nested_pmt(depth: int):
    x = pmt.from_long(1)
    for _ in range(depth):
        x = pmt.cons(x, pmt.PMT_NIL)
    return x


def _transmission(**overrides) -> bytes:
    msg = {"v": 1, "type": "transmission", "seq": 1, "frame_type": 1, "meta": {},
           "units": [{"name": "d", "kind": "digital", "data": b"abc", "fec": "ldpc", "n": 648, "rate": "1/2",
                      "modulation": "qpsk", "crc": "crc32"}]}
    msg.update(overrides)
    return msgpack.packb(msg, use_bin_type=True)


def hostile_messages() -> list:
    deep_meta = b"\x91" * 900 + b"\x01"
    weird_units = [{"name": "d", "kind": "digital", "data": b"x", "fec": "ldpc", "n": 2**63 - 1, "rate": "9/7",
                    "modulation": "qpsk", "crc": "crc32"},
                   {"name": "a", "kind": "analog", "data": b"\x00" * 7},
                   {"name": 5, "kind": "digital"}]
    return [
        pmt.PMT_NIL, pmt.PMT_T, pmt.intern("done?"), pmt.from_double(float("nan")),
        _nested_pmt(2000),                                        # a deep pair chain
        pmt.cons(pmt.PMT_NIL, pmt.PMT_NIL),                      # a "PDU" with no vector
        pmt.cons(pmt.make_dict(), pmt.make_vector(3, pmt.PMT_NIL)),
        pmt.cons(pmt.intern("meta?"), pmt.init_u8vector(3, [1, 2, 3])),
        make_pdu({"k": 1}, np.full(8, np.nan, np.complex64)),
        make_pdu({}, b""),
        make_pdu({}, b"\xc1"),
        make_pdu({}, _transmission(meta=None) [:-3]),             # truncated
        make_pdu({}, b"\x87" + _transmission()[1:-1] + deep_meta),
        make_pdu({}, _transmission(units=weird_units)),
        make_pdu({}, _transmission(seq="one", frame_type=2**64 - 1)),
        make_pdu({}, _transmission(units=[{"kind": "analog", "name": "a", "data": np.full(4, np.inf,
                                                                                         np.complex64).tobytes()}])),
    ]


def test_ofdm_tx_counts_every_hostile_message():
    tx = ofdm_burst_tx()
    msgs = hostile_messages()
    for m in msgs:
        tx._handle(m)
    s = tx.stats()
    assert s["frames_in"] == len(msgs) and s["frames_malformed"] + len(tx._queue) == len(msgs)


@pytest.mark.parametrize("make", [lambda: fec_encoder_pdu(), lambda: fec_decoder_pdu()], ids=["encoder", "decoder"])
def test_fec_blocks_count_every_hostile_message(make):
    block = make()
    msgs = hostile_messages()
    for m in msgs:
        block._safe_handle(m)
    s = block.stats()
    assert s["frames_in"] == len(msgs) and s["frames_malformed"] + s["frames_out"] == len(msgs)


def test_semantic_sink_counts_every_hostile_message(tmp_path):
    sink = semantic_sink(output_path=str(tmp_path / "x.mp4"))
    msgs = hostile_messages()
    for m in msgs:
        sink._on_pdu(m)
        sink._on_ctx(m)
    s = sink.stats()
    assert s["malformed"] + s["received"] == len(msgs)
    assert s["ctx_malformed"] + s["ctx_received"] == len(msgs) and s["ctx_received"] == 0
