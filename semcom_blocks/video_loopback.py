"""The video loopback flowgraph (flowgraphs/video_loopback_nogui.grc), built in Python for ``semcom run``.

Semantic Source (video file -> transmissions, encoded by the service) -> OFDM Burst TX ->
SemCom Channel -> OFDM Burst RX -> Semantic Sink (received transmissions -> service -> video
file + report JSON); the source's ``ctx`` goes to the sink; a message debug block keeps every
received transmission so that the caller can compare digital units with what was sent.

The .grc file has the same blocks and connections; this module exists so that the flowgraph's
parameters (channel, SNR, scheme, params) can be set from code without a generated file.
"""
from __future__ import annotations

import json
import threading
import time

from gnuradio import blocks, gr

from .channel_hier import semcom_channel
from .feedback_link import feedback_link
from .ofdm_rx import ofdm_burst_rx
from .ofdm_tx import ofdm_burst_tx
from .semantic_sink import semantic_sink
from .semantic_source import semantic_source

__all__ = ["video_loopback"]


class video_loopback(gr.top_block):
    """See the module docstring.

    address: the semantic service. scheme, params (dict or JSON text): what the source asks
    for. video_path, max_frames, height, width: the clip (0 = all frames / native size).
    channel: keyword arguments of :class:`semcom_channel` (snr_db in dB Es/N0, profile, cfo,
    ...). output_path, report_path: the sink's outputs. gap_samples, gap_jitter: silence between
    bursts (samples; jitter makes arrival times random). The sink decodes when every transmission
    arrived, else once the source and the receiver have finished (bursts were lost), else
    ``idle_timeout_s`` after the last arrival. timeout_s: limit on encode and decode.
    start_service: start ``semcom serve`` on a loopback ``address`` where none answers.
    link_adaptation: the receiver's SNR reports go back through a Feedback Link (``feedback_delay``
    transmissions late, ``feedback_loss`` of them lost) and OFDM Burst TX codes each transmission
    for the last one (``initial_snr_db`` before any).
    """

    def __init__(self, address: str, scheme: str, video_path: str, output_path: str, *, params=None,
                 max_frames: int = 0, height: int = 0, width: int = 0, channel: dict | None = None,
                 report_path: str = "", gap_samples: int = 400, gap_jitter: int = 400, seed: int = 1,
                 idle_timeout_s: float = 5.0, timeout_s: float = 600.0, start_service: bool = True,
                 link_adaptation: bool = False, feedback_delay: int = 0, feedback_loss: float = 0.0,
                 initial_snr_db: float = 10.0):
        gr.top_block.__init__(self, "video_loopback", catch_exceptions=True)
        params_json = params if isinstance(params, str) else json.dumps(params or {})
        self.source = semantic_source(address=address, scheme=scheme, video_path=str(video_path), params=params_json,
                                      max_frames=max_frames, height=height, width=width, timeout_s=timeout_s,
                                      start_service=start_service)
        self.tx = ofdm_burst_tx(gap_samples=gap_samples, gap_jitter=gap_jitter, seed=seed, max_queue=1 << 16,
                                link_adaptation=link_adaptation, initial_snr_db=initial_snr_db)
        self.channel = semcom_channel(**{"seed": seed, **(channel or {})})
        self.rx = ofdm_burst_rx()
        self.sink = semantic_sink(address=address, scheme=scheme, output_path=str(output_path),
                                  report_path=str(report_path), idle_timeout_s=idle_timeout_s, timeout_s=timeout_s,
                                  upstream_blocks=2, start_service=start_service)
        self.received = blocks.message_debug()
        self.msg_connect(self.source, "out", self.tx, "in")
        self.connect(self.tx, self.channel, self.rx)
        self.msg_connect(self.rx, "out", self.sink, "in")
        self.msg_connect(self.rx, "out", self.received, "store")
        self.msg_connect(self.source, "ctx", self.sink, "ctx")
        self.feedback = None
        if link_adaptation:  # the receiver's reports back to the transmitter, late and lossy
            self.feedback = feedback_link(feedback_delay, feedback_loss, seed)
            self.msg_connect(self.rx, "out", self.feedback, "in")
            self.msg_connect(self.feedback, "out", self.tx, "feedback")

    def run_to_end(self, timeout_s: float) -> float:
        """Run until the sink has written its outputs (the flowgraph ends by itself);
        ``timeout_s`` is a backstop that stops it. Returns the wall time (s)."""
        watchdog = threading.Timer(timeout_s, self.stop)
        t0 = time.perf_counter()
        watchdog.start()
        try:
            self.run()
        finally:
            watchdog.cancel()
        return time.perf_counter() - t0
