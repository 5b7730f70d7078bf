"""The QT GUI flowgraphs: compiled with grcc and run headless (QT_QPA_PLATFORM=offscreen) to
completion by semcom_blocks.qt_run, the views fed and a screenshot taken; the view blocks
against hostile messages."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

gr = pytest.importorskip("gnuradio.gr", reason="needs Debian's GNU Radio (python3-gnuradio)")
pmt = pytest.importorskip("pmt", reason="needs GNU Radio's pmt bindings")
pytest.importorskip("PyQt5", reason="needs PyQt5 (python3-pyqt5)")

from helpers import REPO  # noqa: E402
from helpers.grc import grc_env  # noqa: E402

pytestmark = [pytest.mark.gnuradio,
              pytest.mark.skipif(shutil.which("grcc") is None, reason="grcc (GNU Radio Companion compiler) not found")]


@pytest.fixture(scope="module")
def qapp():
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PyQt5 import Qt

    return Qt.QApplication.instance() or Qt.QApplication(["test"])


def test_the_qt_video_loopback_runs_headless_and_shows_what_it_received(tmp_path):
    from semcom_host.service.process import free_tcp_address

    subprocess.run([shutil.which("grcc"), "-o", str(tmp_path), str(REPO / "flowgraphs" / "video_loopback.grc")],
                   env=grc_env(), check=True, capture_output=True, timeout=120)
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen",
               PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
    shot = tmp_path / "shot.png"
    proc = subprocess.run([sys.executable, "-m", "semcom_blocks.qt_run", str(tmp_path / "video_loopback.py"),
                           "--screenshot", str(shot), "--linger", "1", "--", "--address", free_tcp_address(),
                           "--max-frames", "8", "--size", "64"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-3000:]
    assert (tmp_path / "video_rx.mp4").stat().st_size > 0 and (tmp_path / "video_rx.json").is_file()
    assert shot.stat().st_size > 20_000  # the window: sliders, spectrum, waterfall, constellation, views


def test_the_qt_test_traffic_loopback_runs_headless(tmp_path):
    subprocess.run([shutil.which("grcc"), "-o", str(tmp_path), str(REPO / "flowgraphs" / "loopback_sim.grc")],
                   env=grc_env(), check=True, capture_output=True, timeout=120)
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen",
               PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
    proc = subprocess.run([sys.executable, "-m", "semcom_blocks.qt_run", str(tmp_path / "loopback_sim.py"),
                           "--screenshot", str(tmp_path / "shot.png"), "--linger", "0.5", "--", "--n-frames", "6"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    assert "'frames_ok': 6" in proc.stdout + proc.stderr and (tmp_path / "shot.png").stat().st_size > 10_000


def test_the_views_count_and_drop_hostile_messages(qapp, tmp_path):
    from semcom_blocks import qt_views
    from semcom_blocks.pdu_util import make_pdu

    readout = qt_views.burst_readout()
    bad = [pmt.PMT_NIL, pmt.intern("x"), make_pdu({"snr_est_db": "high"}, b"x"), pmt.cons(pmt.PMT_T, pmt.PMT_T)]
    for msg in bad:
        readout._on_pdu(msg)
    readout._on_pdu(make_pdu({"snr_est_db": 10.0, "cfo": 0.5, "crc_ok": True}, b"x"))
    readout._on_pdu(make_pdu({"snr_est_db": 20.0, "cfo": -0.5, "crc_ok": False}, b"x"))
    s = readout.stats()
    assert s["malformed"] == len(bad) and s["bursts"] == 2 and (s["crc_ok"], s["crc_fail"]) == (1, 1)
    assert s["snr_mean_db"] == pytest.approx(10 * np.log10((10 + 100) / 2)) and s["cfo"] == -0.5

    view = qt_views.frame_view()
    for msg in bad:
        view._on_source(msg)
        view._on_sink(msg)
    assert view.stats()["malformed"] >= len(bad) - 1
    missing = view._load(str(tmp_path / "absent.mp4"))
    assert isinstance(missing, str) and "cannot show" in missing
