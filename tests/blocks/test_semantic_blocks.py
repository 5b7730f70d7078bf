"""The Semantic Source and Sink blocks in running flowgraphs: a video file through the service,
the real OFDM burst TX -> channel -> RX, and back to a video file and a report; the service
killed and restarted mid-run; failures that end the flowgraph cleanly with an error status."""
from __future__ import annotations

import json
import threading
import time

import msgpack
import numpy as np
import pytest

gr = pytest.importorskip("gnuradio.gr", reason="needs Debian's GNU Radio (python3-gnuradio)")
pmt = pytest.importorskip("pmt", reason="needs GNU Radio's pmt bindings")
from gnuradio import blocks  # noqa: E402

from semcom_blocks.channel_hier import semcom_channel  # noqa: E402
from semcom_blocks.ofdm_rx import ofdm_burst_rx  # noqa: E402
from semcom_blocks.ofdm_tx import ofdm_burst_tx  # noqa: E402
from semcom_blocks.pdu_util import make_pdu  # noqa: E402
from semcom_blocks.semantic_sink import semantic_sink  # noqa: E402
from semcom_blocks.semantic_source import semantic_source  # noqa: E402
from semcom_host.service import Server  # noqa: E402
from semcom_host.service.process import ServiceProcess, free_tcp_address  # noqa: E402
from semcom_models.video_io import read_video, write_video  # noqa: E402

pytestmark = pytest.mark.gnuradio


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    """An 8-frame 64 x 64 clip on disk, and its frames as read back."""
    tt, yy, xx, cc = np.meshgrid(np.arange(8), np.arange(64), np.arange(64), np.arange(3), indexing="ij")
    frames = np.clip(128 + 90 * np.sin(0.09 * xx + 0.05 * yy + 0.4 * tt + 2.0 * cc), 0, 255).astype(np.uint8)
    path = tmp_path_factory.mktemp("clip") / "clip.mp4"
    write_video(path, frames, fps=8.0)
    return path, read_video(path)[0]


def psnr(a, b) -> float:
    return 10 * np.log10(255.0 ** 2 / np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))


def loopback(address, video_path, out_path, snr_db=25.0, heartbeat_s=0.2, extra=(), **sink_kw):
    """source -> OFDM TX -> AWGN channel -> OFDM RX -> sink (ctx connected); statuses stored."""
    tb = gr.top_block("semantic_loopback")
    # start_service off: these tests stop and start the service themselves
    src = semantic_source(address=address, video_path=str(video_path), heartbeat_s=heartbeat_s, timeout_s=30,
                          start_service=False)
    tx = ofdm_burst_tx(gap_samples=300)
    rx = ofdm_burst_rx()
    sink = semantic_sink(address=address, output_path=str(out_path), heartbeat_s=heartbeat_s, timeout_s=30,
                         start_service=False, **{"idle_timeout_s": 1.0, **sink_kw})
    src_status, sink_status = blocks.message_debug(), blocks.message_debug()
    chan = semcom_channel(snr_db=snr_db, profile="none", seed=5)
    tb.keep_alive = [tx, chan, rx]  # Python blocks must outlive this function while the flowgraph runs
    tb.msg_connect(src, "out", tx, "in")
    tb.connect(tx, chan, rx)
    tb.msg_connect(rx, "out", sink, "in")
    tb.msg_connect(src, "ctx", sink, "ctx")
    tb.msg_connect(src, "status", src_status, "store")
    tb.msg_connect(sink, "status", sink_status, "store")
    for block, port in extra:
        tb.msg_connect(src, "status", block, port)
    return tb, src, sink, src_status, sink_status


def run(tb, timeout_s=60.0) -> float:
    """tb.run() with a watchdog; the flowgraph must end by itself. Returns seconds."""
    watchdog = threading.Timer(timeout_s, tb.stop)
    t0 = time.monotonic()
    watchdog.start()
    tb.run()
    watchdog.cancel()
    seconds = time.monotonic() - t0
    assert seconds < timeout_s, "the flowgraph did not finish by itself"
    return seconds


def statuses(debug) -> list[dict]:
    return [pmt.to_python(debug.get_message(i)) for i in range(debug.num_messages())]


def test_video_through_source_ofdm_loopback_and_sink(video, tmp_path):
    path, frames = video
    server = Server("tcp://127.0.0.1:*")
    endpoint = server.start()
    try:
        tb, src, sink, src_status, sink_status = loopback(endpoint, path, tmp_path / "rx.mp4")
        run(tb)
    finally:
        server.stop()
    assert [s["state"] for s in statuses(src_status)] == ["encoded", "sent"]
    assert src.stats()["transmissions_sent"] == 8
    (status,) = statuses(sink_status)
    assert status["state"] == "decoded" and status["trigger"] == "complete" and status["frames"] == 8
    out, fps = read_video(tmp_path / "rx.mp4")
    assert out.shape == frames.shape and fps == pytest.approx(8.0)
    assert psnr(out, frames) > 25
    report = json.loads((tmp_path / "rx.json").read_text())
    assert report["scheme"] == "raw-analog" and report["received"] == report["expected"] == 8
    assert report["report"]["headers_ok"] == 8 and report["report"]["frames_concealed"] == 0
    assert abs(report["report"]["snr_est_db"] - 25) < 2 and report["report"]["cbr_net"] > 0
    assert set(report["stage_seconds"]) == {"collect", "decode_request", "write"}
    assert report["sink"]["service_gaps"] == 0 and report["sink"]["malformed"] == 0


def test_stopping_the_flowgraph_decodes_what_arrived(video, tmp_path):
    path, frames = video
    server = Server("tcp://127.0.0.1:*")
    endpoint = server.start()
    try:
        # never complete by itself: 100 expected, a minute of idle time, no finishing
        tb, src, sink, _, sink_status = loopback(endpoint, path, tmp_path / "rx.npy", expected=100,
                                                 idle_timeout_s=60.0, finish=False)
        tb.start()
        deadline = time.monotonic() + 30
        while sink.stats()["received"] < 8 and time.monotonic() < deadline:
            time.sleep(0.02)
        tb.stop()
        tb.wait()
    finally:
        server.stop()
    assert sink.outcome["state"] == "decoded" and sink.outcome["trigger"] == "stopped"
    assert np.load(tmp_path / "rx.npy").shape == frames.shape


class Killer(gr.basic_block):
    """On the source's "sent" status (every transmission published, the sink about to decode): kill
    the service, bring it back ``after_s`` later."""

    def __init__(self, service: ServiceProcess, after_s: float):
        gr.basic_block.__init__(self, name="killer", in_sig=None, out_sig=None)
        self.service, self.after = service, after_s
        self.message_port_register_in(pmt.intern("in"))
        self.set_msg_handler(pmt.intern("in"), self._handle)
        self.restarter = None

    def _handle(self, msg):
        if pmt.to_python(msg).get("state") == "sent" and self.restarter is None:
            self.service.kill()
            self.restarter = threading.Timer(self.after, self.service.start)
            self.restarter.start()


def test_service_killed_and_restarted_mid_run(video, tmp_path):
    """The service is down when the flowgraph starts (the source's encode waits through a gap)
    and is killed again once the source has sent everything (the sink's decode meets a gap)."""
    path, frames = video
    svc = ServiceProcess(free_tcp_address(), log_path=tmp_path / "service.log")
    killer = Killer(svc, after_s=0.8)
    tb, src, sink, _, sink_status = loopback(svc.address, path, tmp_path / "rx.npy", heartbeat_s=0.1,
                                             extra=[(killer, "in")])
    late_start = threading.Timer(0.8, svc.start)
    late_start.start()
    try:
        run(tb)
        late_start.join()
        killer.restarter.join()
    finally:
        svc.stop()
    assert src.stats()["service_gaps"] >= 1 and src.stats()["transmissions_sent"] == 8
    assert sink.stats()["service_gaps"] >= 1 and sink.stats()["service_reconnects"] >= 1
    (status,) = statuses(sink_status)
    assert status["state"] == "decoded" and status["service_gaps"] >= 1
    out = np.load(tmp_path / "rx.npy")
    assert out.shape == frames.shape and psnr(out, frames) > 25
    report = json.loads((tmp_path / "rx.json").read_text())
    assert report["sink"]["service_gaps"] >= 1 and report["stage_seconds"]["decode_request"] > 0.3


def test_unreadable_video_ends_the_flowgraph_with_error_statuses(tmp_path):
    server = Server("tcp://127.0.0.1:*")
    endpoint = server.start()
    try:
        tb, src, sink, src_status, sink_status = loopback(endpoint, tmp_path / "missing.mp4", tmp_path / "rx.mp4")
        run(tb)
    finally:
        server.stop()
    (status,) = statuses(src_status)
    assert status["state"] == "error" and "not found" in status["error"] and src.stats()["errors"] == 1
    (status,) = statuses(sink_status)
    assert status["state"] == "error" and "no transmissions" in status["error"]
    assert not (tmp_path / "rx.mp4").exists()


def test_sink_counts_malformed_input_and_bad_params_are_refused(tmp_path):
    sink = semantic_sink(output_path=str(tmp_path / "x.mp4"), expected=2)
    sink._on_pdu(pmt.intern("nonsense"))
    sink._on_pdu(make_pdu({}, np.ones(4, np.complex64)))
    sink._on_ctx(make_pdu({}, b"\xc1 not msgpack"))
    sink._on_ctx(make_pdu({}, msgpack.packb({"v": 99, "context": {}})))
    sink._on_pdu(make_pdu({}, b"received bytes"))
    sink._on_ctx(make_pdu({}, msgpack.packb({"v": 1, "context": {}, "n_transmissions": 1})))
    stats = sink.stats()
    assert (stats["malformed"], stats["ctx_malformed"], stats["received"], stats["ctx_received"]) == (2, 2, 1, 1)
    assert sink._expected() == 2 and sink._why_complete(time.monotonic()) is None  # the block's count wins
    sink._on_pdu(make_pdu({}, b"more received bytes"))
    assert sink._why_complete(time.monotonic()) == "complete"
    with pytest.raises(ValueError, match="JSON"):
        semantic_sink(output_path="x.mp4", params="{not json")
    with pytest.raises(ValueError, match="video_path"):
        semantic_source(video_path="")
    with pytest.raises(ValueError, match="height and width"):
        semantic_source(video_path="x.mp4", height=32)
