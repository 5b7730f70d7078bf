"""SigMF recording and replay: sigmf_sink, sigmf_source, sigmf_meta and replay_sigmf.grc.

The metadata is checked with the ``sigmf`` package's own reader and JSON-schema validator; a
loopback run (OFDM TX -> AWGN 15 dB -> sigmf_sink) is replayed through the sigmf_source block
and through the compiled replay_sigmf.grc, and every transmission must come back intact.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pytest

gr = pytest.importorskip("gnuradio.gr", reason="needs Debian's GNU Radio (python3-gnuradio)")
sigmf = pytest.importorskip("sigmf", reason="needs the sigmf package")
from gnuradio import blocks  # noqa: E402
from sigmf import sigmffile  # noqa: E402
from sigmf import validate as sigmf_validate  # noqa: E402

from helpers.sigmf_loopback import (  # noqa: E402
    CENTER_FREQ,
    N_FRAMES,
    SAMP_RATE,
    check_printed,
    check_received,
    receive,
    record_loopback,
)
from semcom_blocks.sigmf_meta import RECORDER, SAMPLE_FORMATS, make_meta, read_recording, recording_paths, write_meta  # noqa: E402
from semcom_blocks.sigmf_sink import sigmf_sink  # noqa: E402
from semcom_blocks.sigmf_source import sigmf_source  # noqa: E402

pytestmark = pytest.mark.gnuradio
from helpers import REPO  # noqa: E402


def sigmf_check(base) -> "sigmffile.SigMFFile":
    """Read a recording with the sigmf package and validate its metadata against the schema."""
    rec = sigmffile.fromfile(str(base))
    rec.validate()
    sigmf_validate.validate(json.loads(Path(f"{base}.sigmf-meta").read_text()))
    return rec


def run_into_sink(samples, base, **kwargs) -> sigmf_sink:
    tb = gr.top_block()
    sink = sigmf_sink(str(base), **kwargs)
    tb.connect(blocks.vector_source_c(np.asarray(samples, np.complex64).tolist()), sink)
    tb.run()
    return sink


def replay(path, repeat=False, head=None) -> np.ndarray:
    tb = gr.top_block()
    src = sigmf_source(str(path), repeat=repeat)
    out = blocks.vector_sink_c()
    if head is None:
        tb.connect(src, out)
    else:
        tb.connect(src, blocks.head(gr.sizeof_gr_complex, head), out)
    tb.run()
    return np.array(out.data(), np.complex64)


@pytest.fixture(scope="module")
def loopback(tmp_path_factory):
    """(base path, source) of one recorded loopback run, shared by the replay tests."""
    base = tmp_path_factory.mktemp("loopback") / "loopback"
    return base, record_loopback(base)


# --- recording ------------------------------------------------------------------------------

def test_metadata_is_valid_before_any_sample_flows(tmp_path):
    base = tmp_path / "early"
    sink = sigmf_sink(str(base), samp_rate=5e6, center_freq=915e6, description="d", author="a", hw="B210")
    assert sink.recording and sink.meta_path == tmp_path / "early.sigmf-meta"
    # the flowgraph never ran: the data file is empty (sigmf cannot map it), the metadata complete
    assert sink.data_path.stat().st_size == 0
    meta = json.loads(sink.meta_path.read_text())
    sigmf_validate.validate(meta)
    assert meta["global"] == {"core:datatype": "cf32_le", "core:sample_rate": 5e6,
                              "core:version": meta["global"]["core:version"],
                              "core:recorder": RECORDER, "core:description": "d", "core:author": "a", "core:hw": "B210"}
    assert re.fullmatch(r"1\.\d+\.\d+", meta["global"]["core:version"])
    (capture,) = meta["captures"]
    assert capture["core:sample_start"] == 0 and capture["core:frequency"] == 915e6
    when = datetime.strptime(capture["core:datetime"], "%Y-%m-%dT%H:%M:%S.%fZ")
    assert abs((datetime.now(timezone.utc) - when.replace(tzinfo=timezone.utc)).total_seconds()) < 60
    assert meta["annotations"] == []
    assert not list(tmp_path.glob("*.tmp"))


def test_recording_holds_the_samples_exactly(tmp_path):
    rng = np.random.default_rng(1)
    x = (rng.standard_normal(5000) + 1j * rng.standard_normal(5000)).astype(np.complex64)
    run_into_sink(x, tmp_path / "cap.sigmf-data", samp_rate=1e6, center_freq=2.4e9)  # either file names the pair
    rec = sigmf_check(tmp_path / "cap")
    assert rec.get_global_field("core:datatype") == "cf32_le"
    assert rec.get_global_field("core:sample_rate") == 1e6
    assert rec.get_capture_info(0)["core:frequency"] == 2.4e9
    np.testing.assert_array_equal(rec.read_samples(), x)
    np.testing.assert_array_equal(replay(tmp_path / "cap.sigmf-meta"), x)
    assert "core:description" not in rec.get_global_info() and "core:hw" not in rec.get_global_info()


def test_empty_base_path_records_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    sink = run_into_sink(np.ones(100), "", samp_rate=1e6)
    assert not sink.recording and sink.meta_path is None
    assert list(tmp_path.iterdir()) == []


def test_sink_rejects_a_missing_folder_and_bad_rates(tmp_path):
    with pytest.raises(FileNotFoundError, match=str(tmp_path / "nowhere")):
        sigmf_sink(str(tmp_path / "nowhere" / "cap"), samp_rate=1e6)
    with pytest.raises(ValueError, match="samp_rate"):
        sigmf_sink(str(tmp_path / "cap"), samp_rate=0)
    with pytest.raises(ValueError, match="center_freq"):
        sigmf_sink(str(tmp_path / "cap"), samp_rate=1e6, center_freq=float("nan"))


_KILLED_RECORDER = """
import sys, time
sys.path.insert(0, sys.argv[2])
from gnuradio import analog, blocks, gr
from semcom_blocks.sigmf_sink import sigmf_sink
tb = gr.top_block()
tb.connect(analog.noise_source_c(analog.GR_GAUSSIAN, 1.0, 7), blocks.throttle(gr.sizeof_gr_complex, 2e6),
           sigmf_sink(sys.argv[1], samp_rate=2e6, center_freq=433.92e6))
tb.start()
time.sleep(120)
"""


def test_a_killed_recording_is_still_valid(tmp_path):
    """SIGKILL mid-recording (no cleanup at all): the metadata is complete and the samples replay."""
    base = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-c", _KILLED_RECORDER, str(base), str(REPO)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        data = Path(f"{base}.sigmf-data")
        deadline = time.monotonic() + 60
        while not (data.exists() and data.stat().st_size >= 1 << 16) and time.monotonic() < deadline:
            assert proc.poll() is None, proc.stdout.read().decode()
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    sigmf_validate.validate(json.loads(Path(f"{base}.sigmf-meta").read_text()))
    rec = read_recording(base)
    assert rec.n_samples >= (1 << 16) // 8 and rec.center_freq == 433.92e6
    x = replay(base)
    assert len(x) == rec.n_samples and 0.5 < np.mean(np.abs(x) ** 2) < 2


# --- replay of a loopback recording ---------------------------------------------------------

def test_loopback_recording_is_valid_sigmf(loopback):
    base, _ = loopback
    rec = sigmf_check(base)
    assert rec.get_global_field("core:sample_rate") == SAMP_RATE
    assert rec.get_capture_info(0)["core:frequency"] == CENTER_FREQ
    assert rec.sample_count > 0


def test_replay_block_decodes_every_transmission(loopback):
    base, src = loopback
    block = sigmf_source(str(base))
    assert block.samp_rate() == SAMP_RATE and block.center_freq() == CENTER_FREQ
    frames, rx = receive(block)
    check_received(frames, src)
    assert rx.stats()["frames_ok"] == N_FRAMES and rx.stats()["false_detections"] == 0


def test_replay_sigmf_grc_decodes_every_transmission(loopback, tmp_path):
    if shutil.which("grcc") is None:
        pytest.skip("grcc (GNU Radio Companion compiler) not found")
    from helpers.grc import compile_and_run

    base, _ = loopback
    log = compile_and_run(tmp_path, "replay_sigmf", "--recording", f"{base}.sigmf-meta")
    check_printed(log)
    assert f"'frames_ok': {N_FRAMES}" in log, log


def _write_ci16(x: np.ndarray, base: Path, scale: float) -> np.ndarray:
    """x * scale as interleaved int16 (full scale 32768) with ci16_le metadata; the int16 array."""
    iq = np.empty(2 * len(x), np.float64)
    iq[0::2], iq[1::2] = x.real, x.imag
    ints = np.clip(np.round(iq * scale * 32768), -32768, 32767).astype("<i2")
    ints.tofile(f"{base}.sigmf-data")
    write_meta(base, make_meta(SAMP_RATE, CENTER_FREQ, description="converted to ci16_le", datatype="ci16_le"))
    return ints


def test_ci16_replay_scale_matches_sigmf(tmp_path):
    """ci16_le: sample = (I + jQ) / 32768, as the sigmf package reads it."""
    ints = np.array([0, 0, 16384, -32768, 32767, 1, -1, 100], "<i2")
    ints.tofile(tmp_path / "s.sigmf-data")
    write_meta(tmp_path / "s", make_meta(1e6, 0.0, datatype="ci16_le"))
    got = replay(tmp_path / "s")
    want = (ints[0::2] + 1j * ints[1::2]) / 32768
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-7)
    np.testing.assert_allclose(sigmf_check(tmp_path / "s").read_samples(), want, rtol=0, atol=1e-7)


def test_ci8_replay_scale(tmp_path):
    ints = np.array([0, 64, -128, 127], np.int8)
    ints.tofile(tmp_path / "c.sigmf-data")
    write_meta(tmp_path / "c", make_meta(1e6, 0.0, datatype="ci8"))
    np.testing.assert_allclose(replay(tmp_path / "c"), [0.5j, -1 + 127 / 128 * 1j], rtol=0, atol=1e-7)


def test_ci16_conversion_of_the_loopback_decodes(loopback, tmp_path):
    base, src = loopback
    x = np.fromfile(f"{base}.sigmf-data", np.complex64)
    _write_ci16(x, tmp_path / "ci16", scale=0.8 / np.abs(np.r_[x.real, x.imag]).max())
    sigmf_check(tmp_path / "ci16")
    frames, _ = receive(sigmf_source(str(tmp_path / "ci16")))
    check_received(frames, src)


def test_repeat_plays_the_recording_again(tmp_path):
    x = np.arange(7, dtype=np.complex64)
    run_into_sink(x, tmp_path / "r", samp_rate=1e6)
    np.testing.assert_array_equal(replay(tmp_path / "r", repeat=True, head=20), np.tile(x, 3)[:20])


def test_partial_last_sample_is_skipped(tmp_path):
    x = np.arange(5, dtype=np.complex64)
    run_into_sink(x, tmp_path / "p", samp_rate=1e6)
    with open(tmp_path / "p.sigmf-data", "ab") as f:
        f.write(b"\x01\x02\x03")
    rec = read_recording(tmp_path / "p")
    assert rec.n_samples == 5 and rec.partial_bytes == 3
    np.testing.assert_array_equal(replay(tmp_path / "p"), x)


def test_recording_paths():
    for name in ("a/cap", "a/cap.sigmf-meta", "a/cap.sigmf-data"):
        assert recording_paths(name) == (Path("a/cap.sigmf-meta"), Path("a/cap.sigmf-data"))
    assert recording_paths("a/cap.v2") == (Path("a/cap.v2.sigmf-meta"), Path("a/cap.v2.sigmf-data"))


# --- error paths ----------------------------------------------------------------------------

def test_missing_metadata_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError, match=re.escape(str(tmp_path / "none.sigmf-meta"))):
        sigmf_source(str(tmp_path / "none"))


def test_missing_data_is_file_not_found(tmp_path):
    write_meta(tmp_path / "nodata", make_meta(1e6, 0.0))
    with pytest.raises(FileNotFoundError, match=re.escape(str(tmp_path / "nodata.sigmf-data"))):
        sigmf_source(str(tmp_path / "nodata"))


@pytest.mark.parametrize("datatype", ["cf64_le", "ri16_le", "cf32_be", "ci16_be", "cu8", "rf32_le"])
def test_unsupported_datatype_is_named(tmp_path, datatype):
    assert datatype not in SAMPLE_FORMATS
    meta = make_meta(1e6, 0.0)
    meta["global"]["core:datatype"] = datatype
    write_meta(tmp_path / "x", meta)
    (tmp_path / "x.sigmf-data").write_bytes(bytes(64))
    with pytest.raises(ValueError, match=rf"{re.escape(str(tmp_path / 'x.sigmf-meta'))}.*'{datatype}'.*cf32_le"):
        sigmf_source(str(tmp_path / "x"))


@pytest.mark.parametrize("text, message", [
    ("{not json", "not JSON"),
    ("[1, 2]", "no \"global\" object"),
    ('{"global": {"core:version": "1.2.0"}, "captures": []}', "core:datatype missing"),
    ('{"global": {"core:datatype": "cf32_le"}, "captures": 3}', "captures"),
    ('{"global": {"core:datatype": "cf32_le", "core:sample_rate": -5}}', "core:sample_rate"),
    ('{"global": {"core:datatype": "cf32_le", "core:num_channels": 2}}', "num_channels"),
    ('{"global": {"core:datatype": "cf32_le", "core:trailing_bytes": 4}}', "non-conforming"),
    ('{"global": {"core:datatype": "cf32_le"}, "captures": [{"core:sample_start": 0, "core:header_bytes": 8}]}',
     "non-conforming"),
    ('{"global": {"core:datatype": "cf32_le", "core:dataset": "../elsewhere.bin"}}', "core:dataset"),
])
def test_malformed_metadata_is_a_value_error_naming_the_file(tmp_path, text, message):
    (tmp_path / "bad.sigmf-meta").write_text(text)
    (tmp_path / "bad.sigmf-data").write_bytes(bytes(64))
    with pytest.raises(ValueError, match=re.escape(str(tmp_path / "bad.sigmf-meta"))) as err:
        sigmf_source(str(tmp_path / "bad.sigmf-meta"))
    assert message in str(err.value)


def test_empty_recording_and_empty_path_are_errors(tmp_path):
    run_into_sink(np.zeros(0), tmp_path / "empty", samp_rate=1e6)
    with pytest.raises(ValueError, match="no complete sample"):
        sigmf_source(str(tmp_path / "empty"))
    with pytest.raises(ValueError, match="no recording"):
        sigmf_source("")


def test_non_conforming_dataset_name_is_read(tmp_path):
    """core:dataset names the data file (beside the metadata) of a non-conforming dataset."""
    x = np.arange(4, dtype=np.complex64)
    x.tofile(tmp_path / "raw.cf32")
    meta = make_meta(1e6, 0.0)
    meta["global"]["core:dataset"] = "raw.cf32"
    write_meta(tmp_path / "named", meta)
    np.testing.assert_array_equal(replay(tmp_path / "named"), x)


def test_recording_written_by_the_sigmf_package_replays(tmp_path):
    """A recording written by the sigmf package itself (cf32_le) replays."""
    x = (np.arange(16) * (1 - 0.5j)).astype(np.complex64)
    x.tofile(tmp_path / "ext.sigmf-data")
    handle = sigmffile.SigMFFile(data_file=str(tmp_path / "ext.sigmf-data"),
                                 global_info={"core:datatype": "cf32_le", "core:sample_rate": 8e6})
    handle.add_capture(0, metadata={"core:frequency": 100e6})
    handle.tofile(str(tmp_path / "ext.sigmf-meta"))
    block = sigmf_source(str(tmp_path / "ext"))
    assert block.samp_rate() == 8e6 and block.center_freq() == 100e6 and block.n_samples() == 16
    np.testing.assert_array_equal(replay(tmp_path / "ext"), x)


def test_importable_without_sigmf_package():
    """The blocks must not need the sigmf package (Debian's interpreter, which GRC uses, lacks it)."""
    code = ("import sys; sys.modules['sigmf'] = None; "
            "import semcom_blocks.sigmf_meta, semcom_blocks.sigmf_sink, semcom_blocks.sigmf_source")
    env = dict(os.environ, PYTHONPATH=str(REPO))
    subprocess.run([sys.executable, "-c", code], check=True, env=env, timeout=60)
