"""The feedback link between two hosts (semcom_blocks/feedback_zmq.py): OFDM Burst RX's reports
over ZeroMQ from SemCom Feedback ZMQ Sink to SemCom Feedback ZMQ Source, in order; CURVE with ZAP
off loopback; hostile messages counted, never raised; a prompt stop; and a flowgraph with the
source ends when its transmitter does, not before."""
from __future__ import annotations

import math
import threading
import time

import pytest

gr = pytest.importorskip("gnuradio.gr", reason="needs Debian's GNU Radio (python3-gnuradio)")
pmt = pytest.importorskip("pmt", reason="needs GNU Radio's pmt bindings")
zmq = pytest.importorskip("zmq")

import msgpack  # noqa: E402
from gnuradio import blocks  # noqa: E402

from semcom_blocks import feedback_zmq  # noqa: E402
from semcom_blocks.feedback_zmq import feedback_zmq_sink, feedback_zmq_source, pack_report  # noqa: E402
from semcom_blocks.ofdm_tx import ofdm_burst_tx  # noqa: E402
from semcom_blocks.pdu_util import declare_done, make_pdu  # noqa: E402
from semcom_blocks.test_source import random_transmission_source  # noqa: E402
from semcom_client.keys import KeysError, generate_keys  # noqa: E402

pytestmark = pytest.mark.gnuradio

ANY_PORT = "tcp://127.0.0.1:*"


def wait_until(predicate, timeout: float = 3.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


class Feeder(gr.basic_block):
    """Messages published from the test, for the blocks under test; finish() ends it (and so,
    through GNU Radio's ("done" . 1), the blocks it feeds)."""

    def __init__(self):
        gr.basic_block.__init__(self, name="feeder", in_sig=None, out_sig=None)
        self.message_port_register_out(pmt.intern("out"))

    def send(self, msg) -> None:
        self.message_port_pub(pmt.intern("out"), msg)

    def finish(self) -> None:
        declare_done(self)


class TxSide:
    """A flowgraph with the source posting into a Message Debug; stopped on exit."""

    def __init__(self, source: feedback_zmq_source):
        self.source, self.debug, self.tb = source, blocks.message_debug(), gr.top_block()
        self.tb.msg_connect(source, "out", self.debug, "store")

    def __enter__(self):
        self.tb.start()
        return self

    def __exit__(self, *exc):
        self.tb.stop()
        self.tb.wait()

    def reports(self) -> list[dict]:
        return [pmt.to_python(self.debug.get_message(i)) for i in range(self.debug.num_messages())]


def burst_pdu(snr, **meta):
    return make_pdu({"snr_est_db": snr, **meta}, b"\x00")


@pytest.fixture
def push():
    """A raw PUSH socket connected to an endpoint: what a hostile peer on this host can send."""
    ctx = zmq.Context()
    socks = []

    def connect(endpoint):
        sock = ctx.socket(zmq.PUSH)
        sock.linger = 0
        sock.connect(endpoint)
        socks.append(sock)
        return sock

    yield connect
    for sock in socks:
        sock.close(linger=0)
    ctx.term()


def good(n, snr=7.5, sender=1, **extra):
    return pack_report(sender, n, {"snr_est_db": snr, **extra})


def test_reports_travel_from_a_receiver_flowgraph_to_a_transmitter_flowgraph_in_order():
    source = feedback_zmq_source(ANY_PORT)
    sink = feedback_zmq_sink(source.endpoint)
    feeder, rx = Feeder(), gr.top_block()
    rx.msg_connect(feeder, "out", sink, "in")
    snrs = [12.25, 3.5, -1.0, 20.0, 8.0]
    with TxSide(source) as tx:
        rx.start()
        feeder.send(burst_pdu(snrs[0], cfo=0.125, crc_ok=True, seq=41))
        feeder.send(pmt.PMT_NIL)                                  # not a PDU
        feeder.send(burst_pdu(float("nan")))                      # no finite SNR
        feeder.send(make_pdu({"cfo": 0.1}, b"\x00"))              # no SNR at all
        for snr in snrs[1:]:
            feeder.send(burst_pdu(snr, cfo=float("inf"), crc_ok=1, seq=-3))  # the bad extras are left out
        assert wait_until(lambda: tx.debug.num_messages() >= len(snrs)), source.stats()
        feeder.finish()  # the sink ends with its upstream, as after OFDM Burst RX
        done = threading.Thread(target=rx.wait, daemon=True)
        done.start()
        done.join(3)
        assert not done.is_alive(), "the receiver flowgraph did not end with its upstream"
        got = tx.reports()
    assert [r["snr_est_db"] for r in got] == snrs
    assert got[0] == {"snr_est_db": 12.25, "cfo": 0.125, "crc_ok": True, "seq": 41}
    assert all(set(r) == {"snr_est_db"} for r in got[1:])
    assert sink.stats() == {"reports": 5, "sent": 5, "dropped": 0, "malformed": 3}
    s = source.stats()
    assert (s["received"], s["delivered"], s["malformed"], s["out_of_order"]) == (5, 5, 0, 0)


def test_curve_admits_an_authorised_client_and_refuses_the_others(tmp_path):
    keys = tmp_path / "keys"
    generate_keys(keys, clients=("client", "rogue"))
    (keys / "authorized" / "rogue.key").unlink()  # rogue has a key pair, but it is not authorised
    source = feedback_zmq_source(ANY_PORT, keys_dir=str(keys))
    with TxSide(source) as tx:
        rogue = feedback_zmq_sink(source.endpoint, keys_dir=str(keys), key_name="rogue")
        plain = feedback_zmq_sink(source.endpoint)  # no keys at all against a CURVE server
        for sink in (rogue, plain):
            sink._on_pdu(burst_pdu(-30.0))
        assert wait_until(lambda: source.stats()["auth_failures"] >= 1), source.stats()
        assert wait_until(lambda: source.stats()["handshake_failures"] >= 1), source.stats()
        client = feedback_zmq_sink(source.endpoint, keys_dir=str(keys))
        client._on_pdu(burst_pdu(9.0))
        assert wait_until(lambda: tx.debug.num_messages() >= 1)
        time.sleep(0.2)
        got = tx.reports()
        for sink in (rogue, plain, client):
            sink.close()
    assert got == [{"snr_est_db": 9.0}]
    assert source.stats()["delivered"] == 1 and source.stats()["received"] == 1


def test_addresses_other_than_loopback_need_keys(tmp_path):
    for make in (feedback_zmq_sink, feedback_zmq_source):
        for address in ("tcp://192.0.2.7:5601", "tcp://txhost:5601", "tcp://0.0.0.0:5601", "tcp://*:5601"):
            with pytest.raises(KeysError, match="CURVE keys"):
                make(address)
        with pytest.raises(ValueError, match="tcp://HOST:PORT"):
            make("udp://127.0.0.1:5601")
        with pytest.raises(KeysError, match="key file not found"):
            make("tcp://192.0.2.7:5601", keys_dir=str(tmp_path / "none"))
    source = feedback_zmq_source(ANY_PORT)
    with pytest.raises(OSError, match="cannot bind"):
        feedback_zmq_source(source.endpoint)
    source.close()
    with pytest.raises(ValueError, match="max_age_s"):
        feedback_zmq_source(ANY_PORT, max_age_s=-1)


def test_an_empty_address_disables_the_link():
    sink, source = feedback_zmq_sink(""), feedback_zmq_source("")
    sink._on_pdu(burst_pdu(5.0))
    assert sink.stats()["dropped"] == 1 and source.endpoint == ""
    source.start()
    assert not source.is_running()
    source.stop()


def test_hostile_messages_are_counted_and_dropped_and_a_good_report_still_gets_through(push):
    source = feedback_zmq_source(ANY_PORT)
    bad = [
        b"",                                                     # empty
        b"garbage \xc1\xff",                                     # not msgpack
        b"\xc1",                                                 # reserved byte
        b"\x91" * 5000 + b"\x01",                                # nested 5000 deep
        msgpack.packb({"v": 1, "sender": 1, "n": 1, "t": time.time(), "snr_est_db": 1.0, "pad": "x" * 5000}),
        msgpack.packb([1, 2, 3]),                                # not a map
        msgpack.packb({"v": 1, "sender": 1, "n": 1, "t": time.time(), "snr_est_db": {"a": 1}}),  # nested value
        good(1, float("nan")),
        good(1, float("inf")),
        good(1, 1000.0),                                         # out of range
        good(1, -51.0),
        msgpack.packb({"v": 2, "sender": 1, "n": 1, "t": time.time(), "snr_est_db": 5.0}),
        msgpack.packb({"v": True, "sender": 1, "n": 1, "t": time.time(), "snr_est_db": 5.0}),
        msgpack.packb({"v": 1, "sender": 1, "n": 1, "t": time.time(), "snr_est_db": "5"}),
        msgpack.packb({"v": 1, "sender": 1, "n": 1, "t": time.time(), "snr_est_db": True}),
        msgpack.packb({"v": 1, "n": 1, "t": time.time(), "snr_est_db": 5.0}),              # no sender
        msgpack.packb({"v": 1, "sender": 1, "n": 0, "t": time.time(), "snr_est_db": 5.0}),  # counter 0
        msgpack.packb({"v": 1, "sender": 1, "n": 1, "t": float("nan"), "snr_est_db": 5.0}),
        good(1, 5.0, cfo=float("nan")),
        good(1, 5.0, crc_ok=1),
        good(1, 5.0, seq=-1),
        msgpack.packb({1: 2}),                                   # non-string key
        b"\xa5ab",                                               # truncated string
    ]
    with TxSide(source) as tx:
        sock = push(source.endpoint)
        for raw in bad:
            sock.send(raw)
        sock.send_multipart([good(1), good(2)])                  # a report is one part
        sock.send(good(3, 4.25, cfo=-0.5, crc_ok=False, seq=7))
        assert wait_until(lambda: tx.debug.num_messages() >= 1), source.stats()
        assert wait_until(lambda: source.stats()["received"] >= len(bad) + 2), source.stats()
        # larger than libzmq's limit: it drops that connection; a new one still gets through
        big = push(source.endpoint)
        big.send(b"\x00" * (feedback_zmq.MAX_WIRE_BYTES + 1))
        time.sleep(0.2)
        push(source.endpoint).send(good(4, -2.0))
        assert wait_until(lambda: tx.debug.num_messages() >= 2), source.stats()
        got = tx.reports()
    assert got == [{"snr_est_db": 4.25, "cfo": -0.5, "crc_ok": False, "seq": 7}, {"snr_est_db": -2.0}]
    s = source.stats()
    assert s["malformed"] == len(bad) + 1 and s["delivered"] == 2, s


def test_out_of_order_and_old_reports_are_dropped(push):
    source = feedback_zmq_source(ANY_PORT, max_age_s=1.0)
    with TxSide(source) as tx:
        sock = push(source.endpoint)
        for n, snr, sender in ((5, 1.0, 1), (3, 2.0, 1), (5, 3.0, 1), (1, 4.0, 2), (6, 5.0, 1)):
            sock.send(good(n, snr, sender))
        sock.send(pack_report(1, 7, {"snr_est_db": 6.0}, t=time.time() - 10))
        sock.send(good(8, 7.0, 1))
        assert wait_until(lambda: tx.debug.num_messages() >= 4), source.stats()
        time.sleep(0.1)
        got = [r["snr_est_db"] for r in tx.reports()]
    assert got == [1.0, 4.0, 5.0, 7.0]
    s = source.stats()
    assert (s["received"], s["out_of_order"], s["too_old"], s["delivered"]) == (7, 2, 1, 4), s


def test_stop_returns_within_a_second():
    source = feedback_zmq_source(ANY_PORT)
    tb = gr.top_block()
    tb.msg_connect(source, "out", blocks.message_debug(), "store")
    tb.start()
    assert wait_until(source.is_running)
    t0 = time.monotonic()
    tb.stop()
    tb.wait()
    assert time.monotonic() - t0 < 1.0 and not source.is_running()
    t0 = time.monotonic()
    source.start()  # started again outside the flowgraph: it binds again
    assert source.is_running() and source.endpoint
    source.stop()
    assert time.monotonic() - t0 < 1.0 and not source.is_running()


def test_the_source_neither_ends_by_itself_nor_outlives_what_it_is_told_to_end_with():
    source = feedback_zmq_source(ANY_PORT)
    feeder, debug, tb = Feeder(), blocks.message_debug(), gr.top_block()
    tb.msg_connect(feeder, "out", source, "end_with")
    tb.msg_connect(source, "out", debug, "store")
    tb.start()
    time.sleep(0.5)
    feeder.send(burst_pdu(1.0))  # anything but "done" is ignored
    assert source.is_running()
    feeder.send(pmt.intern("done"))
    assert wait_until(lambda: not source.is_running())
    feeder.finish()
    done = threading.Thread(target=tb.wait, daemon=True)
    done.start()
    done.join(3)
    assert not done.is_alive()


@pytest.mark.parametrize("address", [ANY_PORT, ""], ids=["linked", "disabled"])
def test_a_transmitter_flowgraph_with_the_source_ends_when_its_last_burst_is_out(address):
    """As in flowgraphs/video_usrp_tx*.grc: a Probe Rate on OFDM Burst TX's output feeds end_with.
    Every transmission is sent (nothing ends early), the fed-back SNR is used, and the flowgraph
    ends by itself."""
    n = 5
    source = feedback_zmq_source(address)
    sink = feedback_zmq_sink(source.endpoint) if address else None
    tb = gr.top_block()
    src = random_transmission_source(n_frames=n, digital_bytes=60, analog_symbols=16, interval_s=0.1)
    tx = ofdm_burst_tx(link_adaptation=True, initial_snr_db=20.0)
    probe = blocks.probe_rate(gr.sizeof_gr_complex, 500.0, 0.15)
    tb.msg_connect(src, "out", tx, "in")
    tb.connect(tx, blocks.null_sink(gr.sizeof_gr_complex))
    tb.connect(tx, probe)
    tb.msg_connect(probe, "rate", source, "end_with")
    tb.msg_connect(source, "out", tx, "feedback")
    if sink is not None:
        sink._on_pdu(burst_pdu(2.0))  # queued until the source listens
    worker = threading.Thread(target=tb.run, daemon=True)
    t0 = time.monotonic()
    worker.start()
    worker.join(10)
    if worker.is_alive():
        tb.stop()
        tb.wait()
        pytest.fail("the flowgraph did not end")
    assert time.monotonic() - t0 < 5
    assert tx.stats()["frames_sent"] == n
    decisions = tx.decisions()
    if sink is not None:
        sink.close()
        assert tx.stats()["feedback_in"] == 1 and decisions[-1]["snr_db"] == 2.0
    else:
        assert all(d["snr_db"] == 20.0 for d in decisions)
    assert not source.is_running() and all(math.isfinite(d["snr_db"]) for d in decisions)
