"""msgpack wire format of transmissions and received frames: round trips and refusals."""
import msgpack
import numpy as np
import pytest

from semcom_blocks.phy.fec import PayloadCoder
from semcom_blocks.phy.frame import FrameFormat, Transmission, Unit
from semcom_blocks.phy.receiver import BurstReceiver
from semcom_blocks.phy.wire import pack_received, pack_transmission, unpack_received, unpack_transmission


def _tx():
    analog = (np.arange(10) * (1 + 1j) / 10).astype(np.complex64)
    return Transmission([Unit("caption", "digital", b"hello", PayloadCoder("turbo", modulation="qpsk")),
                         Unit("sketch", "analog", analog),
                         Unit("vq", "digital", b"\x00\x01", PayloadCoder("ldpc", 1944, "5/6", "64qam", None))],
                        seq=42, frame_type=7, meta={"scheme": "gvsc"})


def test_transmission_round_trip():
    tx = _tx()
    back = unpack_transmission(pack_transmission(tx))
    assert (back.seq, back.frame_type, back.meta) == (42, 7, {"scheme": "gvsc"})
    for a, b in zip(tx.units, back.units):
        assert (a.name, a.kind, a.coder) == (b.name, b.kind, b.coder)
        assert np.array_equal(np.asarray(a.data), np.asarray(b.data)) if a.kind == "analog" else a.data == b.data


def test_received_round_trip():
    tx = _tx()
    rx = BurstReceiver()
    frames = rx.push(np.concatenate([FrameFormat().build(tx), np.zeros(400, np.complex64)])) + rx.flush()
    back = unpack_received(pack_received(frames[0]))
    assert back.seq == 42 and back.crc_ok
    assert back.units[0].data == b"hello" and back.units[2].data == b"\x00\x01"
    assert np.allclose(back.units[1].data, tx.units[1].data, atol=1e-3)
    assert back.units[1].noise_var.size == 10


@pytest.mark.parametrize("raw", [
    b"", b"\xc1", b"garbage", msgpack.packb([1, 2, 3]), msgpack.packb({"v": 2, "type": "transmission", "units": []}),
    msgpack.packb({"v": 1, "type": "received", "units": []}),
    msgpack.packb({"v": 1, "type": "transmission", "units": "x", "seq": 1, "frame_type": 0}),
    msgpack.packb({"v": 1, "type": "transmission", "units": [{"name": "a", "kind": "digital"}], "seq": 1,
                   "frame_type": 0}),
    msgpack.packb({"v": 1, "type": "transmission", "units": [{"name": "a", "kind": "analog", "data": b"123"}],
                   "seq": 1, "frame_type": 0}),
    msgpack.packb({"v": 1, "type": "transmission", "units": [], "seq": 70000, "frame_type": 0}),
    msgpack.packb({"v": 1, "type": "transmission", "units": [{"name": "a", "kind": "digital", "data": b"x",
                   "fec": "polar", "n": 648, "rate": "1/2", "modulation": "qpsk", "crc": "none"}],
                   "seq": 1, "frame_type": 0}),
    b"\x80\x04\x95" + b"pickle-like bytes",
])
def test_malformed_messages_are_value_errors(raw):
    with pytest.raises(ValueError):
        unpack_transmission(raw)


def test_received_refuses_transmissions_and_non_bytes():
    with pytest.raises(ValueError, match="type"):
        unpack_received(pack_transmission(_tx()))
    with pytest.raises(ValueError, match="bytes"):
        unpack_transmission({"v": 1})
