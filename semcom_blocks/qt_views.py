"""GNU Radio blocks with a QT widget, for the QT GUI flowgraphs: a readout of the OFDM receiver's
bursts and a view of the reconstructed frames beside the originals.

Each block owns its widget (``block.widget``, a QWidget placed by GRC's GUI hint). Messages arrive
on GNU Radio's message threads and are handed to the widget through a Qt signal (a queued
connection), so the widget is only ever touched on the GUI thread. Malformed messages are counted
(``stats()["malformed"]``) and dropped, never raised.

Needs PyQt5 (Debian's python3-pyqt5, which GNU Radio's QT GUI uses too).
"""
from __future__ import annotations

import math
import threading

import numpy as np
import pmt
from gnuradio import gr
from PyQt5 import QtCore, QtGui, QtWidgets

__all__ = ["burst_readout", "frame_view"]

_SYSTEM, _DONE = pmt.intern("system"), pmt.intern("done")


class _Bridge(QtCore.QObject):
    """Carries a Python object from any thread to a slot on the GUI thread."""

    changed = QtCore.pyqtSignal(object)


def _dict_of(msg) -> dict | None:
    """A PMT dict (or a PDU's metadata dict) as a Python dict; None when ``msg`` is neither."""
    try:
        if pmt.is_pair(msg) and not pmt.is_dict(msg):
            msg = pmt.car(msg)
        value = pmt.to_python(msg)
    except Exception:  # noqa: BLE001 - anything PMT cannot convert is malformed here
        return None
    return value if isinstance(value, dict) else None


class burst_readout(gr.basic_block):
    """Per-burst figures of OFDM Burst RX's ``out`` PDUs (their metadata): bursts received, the
    last and the mean SNR estimate (Es/N0, dB, mean taken in linear scale), the last carrier
    offset (subcarrier spacings), and how many bursts had every digital unit's CRC pass."""

    def __init__(self, label: str = "Receiver", parent=None):
        gr.basic_block.__init__(self, name="semcom_burst_readout", in_sig=None, out_sig=None)
        self._lock = threading.Lock()
        self._stats = {"bursts": 0, "crc_ok": 0, "crc_fail": 0, "malformed": 0}
        self._snr_lin_sum = 0.0
        self._last = {"snr_est_db": math.nan, "cfo": math.nan}
        self.widget = QtWidgets.QGroupBox(label, parent)
        grid = QtWidgets.QGridLayout(self.widget)
        self._labels = {}
        for row, (key, text) in enumerate((("bursts", "bursts"), ("snr", "SNR est. (dB)"),
                                           ("snr_mean", "mean SNR (dB)"), ("cfo", "CFO (subcarriers)"),
                                           ("crc", "CRC ok / failed"))):
            grid.addWidget(QtWidgets.QLabel(text), row, 0)
            value = QtWidgets.QLabel("-")
            value.setAlignment(QtCore.Qt.AlignRight | QtCore.Qt.AlignVCenter)
            grid.addWidget(value, row, 1)
            self._labels[key] = value
        self._bridge = _Bridge()
        self._bridge.changed.connect(self._show)
        self.message_port_register_in(pmt.intern("in"))
        self.set_msg_handler(pmt.intern("in"), self._on_pdu)

    def stats(self) -> dict:
        with self._lock:
            return {**self._stats, **self._last, "snr_mean_db": self._mean_db()}

    def _mean_db(self) -> float:
        n = self._stats["bursts"]
        return 10 * math.log10(self._snr_lin_sum / n) if n and self._snr_lin_sum > 0 else math.nan

    def _on_pdu(self, msg) -> None:
        meta = _dict_of(msg)
        snr, cfo = (meta or {}).get("snr_est_db"), (meta or {}).get("cfo")
        if meta is None or not isinstance(snr, (int, float)) or not isinstance(cfo, (int, float)):
            with self._lock:
                self._stats["malformed"] += 1
            return
        with self._lock:
            self._stats["bursts"] += 1
            self._stats["crc_ok" if meta.get("crc_ok") else "crc_fail"] += 1
            if math.isfinite(snr):
                self._snr_lin_sum += 10 ** (snr / 10)
            self._last = {"snr_est_db": float(snr), "cfo": float(cfo)}
        self._bridge.changed.emit(self.stats())

    def _show(self, s: dict) -> None:
        def fmt(x, spec):
            return "-" if not isinstance(x, (int, float)) or not math.isfinite(x) else format(x, spec)

        self._labels["bursts"].setText(str(s["bursts"]))
        self._labels["snr"].setText(fmt(s["snr_est_db"], ".1f"))
        self._labels["snr_mean"].setText(fmt(s["snr_mean_db"], ".1f"))
        self._labels["cfo"].setText(fmt(s["cfo"], "+.3f"))
        self._labels["crc"].setText(f"{s['crc_ok']} / {s['crc_fail']}")


def _to_pixmap(frame: np.ndarray, scale: int) -> QtGui.QPixmap:
    h, w, _ = frame.shape
    img = QtGui.QImage(np.ascontiguousarray(frame).data, w, h, 3 * w, QtGui.QImage.Format_RGB888)
    return QtGui.QPixmap.fromImage(img.copy()).scaled(w * scale, h * scale)


def _fit(frames: np.ndarray, height: int, width: int) -> np.ndarray:
    """Nearest-neighbour resize of uint8 T x H x W x 3 frames (display only)."""
    t, h, w, _ = frames.shape
    if (h, w) == (height, width):
        return frames
    rows = (np.arange(height) * h // height).clip(0, h - 1)
    cols = (np.arange(width) * w // width).clip(0, w - 1)
    return frames[:, rows][:, :, cols]


class frame_view(gr.basic_block):
    """The reconstructed clip beside the original, played in a loop once the Semantic Sink has
    written it, each frame's PSNR (dB) under it.

    Ports: ``source`` (the Semantic Source's ``status``: its "encoded" state names the clip the
    service read) and ``sink`` (the Semantic Sink's ``status``: "decoded" names the video it wrote;
    "error" shows the error). fps: playback rate (0 = 8 frames per second). scale: pixels per
    pixel on screen. max_frames: frames read from each video (memory bound). reference: the
    original clip's path for a receiver without a Semantic Source ("" = none: black).
    """

    def __init__(self, label: str = "Reconstruction", fps: float = 0.0, scale: int = 1, max_frames: int = 250,
                 reference: str = "", parent=None):
        gr.basic_block.__init__(self, name="semcom_frame_view", in_sig=None, out_sig=None)
        if fps < 0 or scale < 1 or max_frames < 1:
            raise ValueError("need fps >= 0, scale >= 1, max_frames >= 1")
        self.fps, self.scale, self.max_frames = float(fps), int(scale), int(max_frames)
        self._stats = {"malformed": 0, "shown": 0}
        self.reference_path: str | None = str(reference) or None
        self._frames: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        self._index = 0
        self.widget = QtWidgets.QGroupBox(label, parent)
        layout = QtWidgets.QGridLayout(self.widget)
        self._views = [QtWidgets.QLabel(), QtWidgets.QLabel()]
        for col, (view, title) in enumerate(zip(self._views, ("original", "reconstruction"))):
            layout.addWidget(QtWidgets.QLabel(title), 0, col)
            layout.addWidget(view, 1, col)
        self._caption = QtWidgets.QLabel("waiting for the Semantic Sink")
        self._caption.setWordWrap(True)
        layout.addWidget(self._caption, 2, 0, 1, 2)
        self._timer = QtCore.QTimer(self.widget)
        self._timer.timeout.connect(self._next)
        self._bridge = _Bridge()
        self._bridge.changed.connect(self._on_gui)
        for port, handler in (("source", self._on_source), ("sink", self._on_sink)):
            self.message_port_register_in(pmt.intern(port))
            self.set_msg_handler(pmt.intern(port), handler)
        # GNU Radio may hand a block its upstream "done" before earlier messages on its other
        # ports: finish only once the sink's status has been handled
        self._sink_seen, self._upstream_done, self._finishing = False, False, False
        self.set_msg_handler(_SYSTEM, self._on_system)

    def stats(self) -> dict:
        return dict(self._stats)

    def _on_system(self, msg) -> None:
        if self._finishing or not (pmt.is_pair(msg) and pmt.eq(pmt.car(msg), _DONE)):
            self.gateway.system_handler(msg)  # our own "done" (or anything else): GNU Radio's handling
            return
        self._upstream_done = True
        if self._sink_seen:
            self._finish()

    def _finish(self) -> None:
        if not self._finishing:
            self._finishing = True
            self._post(_SYSTEM, pmt.cons(_DONE, pmt.from_long(1)))

    def _on_source(self, msg) -> None:
        status = _dict_of(msg)
        if status is None:
            self._stats["malformed"] += 1
        elif status.get("state") == "encoded" and isinstance(status.get("video"), str):
            self.reference_path = status["video"]

    def _on_sink(self, msg) -> None:
        status = _dict_of(msg)
        if status is None:
            self._stats["malformed"] += 1
            return
        if status.get("state") == "decoded" and isinstance(status.get("video"), str):
            self._bridge.changed.emit(self._load(status["video"]))
        elif status.get("state") == "error":
            self._bridge.changed.emit(f"the decode failed: {status.get('error')}")
        self._sink_seen = True
        if self._upstream_done:
            self._finish()

    def _load(self, video: str):
        """(reference, reconstruction, per-frame PSNR) or an error text; runs on the message thread."""
        try:
            from semcom_models.video_io import read_video

            rec, _ = read_video(video, max_frames=self.max_frames)
            if self.reference_path:
                ref, _ = read_video(self.reference_path, max_frames=rec.shape[0])
                ref = _fit(ref, rec.shape[1], rec.shape[2])
            else:
                ref = np.zeros_like(rec)
            n = min(len(ref), len(rec))
            ref, rec = ref[:n], rec[:n]
            mse = ((ref.astype(np.float64) - rec.astype(np.float64)) ** 2).mean(axis=(1, 2, 3))
            psnr = np.where(mse > 0, 10 * np.log10(255.0 ** 2 / np.maximum(mse, 1e-12)), 100.0)
            return ref, rec, psnr
        except Exception as exc:  # noqa: BLE001 - a video the view cannot read: say so, keep running
            return f"cannot show {video}: {type(exc).__name__}: {exc}"

    def _on_gui(self, value) -> None:
        if isinstance(value, str):
            self._timer.stop()
            self._caption.setText(value)
            return
        self._frames, self._index = value, 0
        self._timer.start(int(1000 / (self.fps or 8.0)))
        self._next()

    def _next(self) -> None:
        if self._frames is None:
            return
        ref, rec, psnr = self._frames
        i = self._index % len(rec)
        self._views[0].setPixmap(_to_pixmap(ref[i], self.scale))
        self._views[1].setPixmap(_to_pixmap(rec[i], self.scale))
        self._caption.setText(f"frame {i + 1} / {len(rec)}: PSNR {psnr[i]:.1f} dB (clip mean {psnr.mean():.1f} dB)")
        self._index += 1
        self._stats["shown"] += 1
