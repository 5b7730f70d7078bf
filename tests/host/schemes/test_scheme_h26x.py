"""The H.264/H.265 + LDPC + QAM baseline as service schemes (host/schemes/h26x.py)."""
from __future__ import annotations

import copy
import math

import numpy as np
import pytest

from semcom_blocks.phy.loopback import simulate
from semcom_host.experiments.cliff import measure_cliff, plot_cliff
from semcom_host.schemes import h26x, h26x_bitstream
from semcom_host.schemes.common import MANIFEST, find_manifest, ideal_received
from semcom_host.service.registry import (
    get_scheme,
    load_builtin_schemes,
    received_to_dict,
    scheme_names,
    unregister_scheme,
)

pytest.importorskip("av")

T, H, W = 16, 64, 64
CBR = 0.05


def _clip(t: int = T, h: int = H, w: int = W) -> np.ndarray:
    """A smooth pattern that moves by a few pixels per frame (uint8 t x h x w x 3)."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    frames = [np.stack([128 + 100 * np.sin((xx + 2 * i) / 6.0), 128 + 100 * np.cos((yy - i) / 5.0),
                        128 + 90 * np.sin((xx + yy + 3 * i) / 9.0)], -1) for i in range(t)]
    return np.clip(np.rint(frames), 0, 255).astype(np.uint8)


def _psnr(a, b) -> float:
    from semcom_models.metrics import psnr

    return float(np.mean(psnr(a, b)))


@pytest.fixture(scope="module")
def clip():
    return _clip()


@pytest.fixture(scope="module", params=h26x.NAMES)
def encoded(request, clip):
    name = request.param
    txs, ctx = h26x.encode(clip, {"cbr": CBR, "fps": 25.0}, name)
    ideal, rep = h26x.decode(ideal_received(txs), ctx, {}, name)
    return name, txs, ctx, ideal, rep


def _over_phy(txs, snr_db, seed=0):
    frames, _ = simulate(txs, snr_db, "awgn", seed=seed)
    return [received_to_dict(f) for f in frames]


def test_register_and_presets():
    for name in h26x.NAMES:
        unregister_scheme(name)
    load_builtin_schemes()
    load_builtin_schemes()  # idempotent
    assert {"h264", "h265"} <= set(scheme_names())
    from semcom_host.run import load_preset

    for name in h26x.NAMES:
        preset = load_preset(name)
        assert preset["scheme"] == name and preset["paper"]
        params = get_scheme(name).merge_params(preset["params"])
        assert params["cbr"] == 0.008 and params["modulation"] == "qpsk"
        with pytest.raises(ValueError):
            get_scheme(name).merge_params({"crf": 23})


def test_unit_size_fills_one_codeword():
    for rate, size in (("1/2", 36), ("2/3", 50), ("3/4", 56), ("5/6", 63)):
        coder = h26x._coder(rate, "qpsk")
        assert h26x.unit_payload_bytes(coder) == size
        assert coder.coded_bits(size) <= 648 < coder.coded_bits(size + 1)
    values = [0, 1, 127, 128, 300, 70000, 2 ** 40]
    assert h26x._unvarints(h26x._varints(values)) == values
    with pytest.raises(ValueError):
        h26x._unvarints(b"\x80")


def test_error_free_roundtrip_over_phy(encoded, clip):
    name, txs, ctx, ideal, ideal_rep = encoded
    codec_psnr = _psnr(ideal, clip)
    assert codec_psnr > 22.0, "the codec alone should reproduce the smooth clip reasonably"
    assert ideal_rep["frames_decoded"] == T and ideal_rep["units_lost"] == 0 and not ideal_rep["failed"]
    # rate control: within the budget, and close to it
    assert ctx["budget_met"] and ctx["warning"] is None and ctx["rate_control"] == "crf"
    assert ctx["cbr_net"] <= CBR and abs(ctx["cbr_net"] - CBR) / CBR < 0.15
    assert ctx["cbr_paper"] < ctx["cbr_net"] < ctx["cbr_gross"]
    assert all(tx.units[0].name == MANIFEST and tx.frame_type == h26x.FRAME_TYPES[name] for tx in txs)

    out, rep = h26x.decode(_over_phy(txs, 20.0), {}, {}, name)  # no context: the manifests describe the clip
    assert out.shape == clip.shape and out.dtype == np.uint8
    assert rep["manifest_from"] == "received" and rep["decoder"] == f"ffmpeg-{name}"
    assert rep["frames_decoded"] == T and rep["frames_frozen"] == 0 and rep["units_lost"] == 0
    assert rep["bytes_lost"] == 0 and rep["nal_units_dropped"] == 0 and rep["decode_errors"] == 0
    assert abs(_psnr(out, clip) - codec_psnr) < 0.05
    assert np.array_equal(out, ideal)
    for key in ("cbr_net", "cbr_gross", "cbr_paper", "symbols_sent", "samples_on_air"):
        assert rep[key] == pytest.approx(ctx[key]), key
    assert abs(rep["snr_est_db"] - 20.0) < 1.5


def _truth_dropped(stream: np.ndarray, au_sizes, lost: list[tuple[int, int]]) -> int:
    """NAL units of the error-free stream (from their 00 00 01 start code on; the zero byte of a
    4-byte start code is not part of the NAL unit) that overlap a lost byte range."""
    n, off = 0, 0
    for size in au_sizes:
        for s, e in h26x_bitstream.segments(stream, off, off + size):
            s += int(stream[s + 2] == 0)
            n += any(s < hi and lo < e for lo, hi in lost)
        off += size
    return n


def test_erasures_degrade_and_are_counted(encoded, clip):
    name, txs, ctx, ideal, _ = encoded
    rx = ideal_received(txs)
    stream = b"".join(u.data for tx in txs for u in tx.units if u.name.startswith("bs."))
    p = ctx["unit_bytes"]
    n_units = ctx["units"]
    assert n_units == math.ceil(len(stream) / p) >= 12
    gone, failed, short = {5, 6}, 9, n_units - 3
    damaged = copy.deepcopy(rx)
    for tx in damaged:
        keep = []
        for u in tx["units"]:
            idx = int(u["name"].split(".")[1]) if u["name"].startswith("bs.") else None
            if idx in gone:
                continue
            if idx == failed:
                u["crc_ok"] = False
            if idx == short:
                u["data"] = u["data"][:-1]
            keep.append(u)
        tx["units"] = keep
    out, rep = h26x.decode(damaged, ctx, {}, name)
    assert rep["units_lost"] == 4 and rep["units_malformed"] == 1 and rep["units_received"] == n_units - 4
    assert rep["bytes_lost"] == 4 * p
    lost = [(5 * p, 7 * p), (failed * p, (failed + 1) * p), (short * p, (short + 1) * p)]
    truth = _truth_dropped(np.frombuffer(stream, np.uint8), h26x._unvarints(ctx[MANIFEST]["au"]), lost)
    assert truth <= rep["nal_units_dropped"] <= truth + len(lost)
    assert rep["frames_frozen"] > 0 and rep["access_units_dropped"] > 0
    assert _psnr(out, clip) < _psnr(ideal, clip) - 0.5
    assert not np.array_equal(out, ideal)


def test_garbage_units_never_crash(encoded):
    """Units whose CRC passed but whose bytes are wrong (an undetected error) or whose kind,
    name or type is off: decoding carries on and counts them."""
    name, txs, ctx, _, _ = encoded
    rng = np.random.default_rng(3)
    for trial in range(3):
        rx = copy.deepcopy(ideal_received(txs))
        units = rx[0]["units"]
        for u in units[1 + trial::3]:
            u["data"] = rng.integers(0, 256, len(u["data"]), dtype=np.uint8).tobytes()
        units.append({"name": "bs.99999", "kind": "digital", "crc_ok": True, "data": b"\x00\x00\x01\x65"})
        units.append({"name": "bs.1", "kind": "analog", "crc_ok": None, "data": np.zeros(4, np.complex64),
                      "noise_var": np.zeros(4, np.float32)})
        units.append({"name": None, "kind": "digital", "crc_ok": True, "data": b"x"})
        out, rep = h26x.decode(rx, ctx, {}, name)
        assert out.shape == (T, H, W, 3) and rep["num_frames"] == T


def test_nothing_received(encoded):
    name, _, ctx, _, _ = encoded
    out, rep = h26x.decode([], ctx, {}, name)
    assert rep["failed"] and rep["frames_decoded"] == 0 and rep["frames_frozen"] == T
    assert rep["manifest_from"] == "context" and rep["units_lost"] == rep["units_expected"]
    assert out.shape == (T, H, W, 3) and np.all(out == 128)
    with pytest.raises(ValueError, match="no manifest"):
        h26x.decode([], {}, {}, name)


def test_freezing_repeats_the_last_good_frame():
    from semcom_host.schemes.common import freeze_missing

    out = np.stack([np.full((2, 2, 3), i, np.uint8) for i in range(6)])
    freeze_missing(out, [4, 2])
    assert [int(f[0, 0, 0]) for f in out] == [2, 2, 2, 2, 4, 4]
    freeze_missing(out, [])
    assert np.all(out == 128)


def test_cliff_over_awgn():
    """Above the LDPC threshold the clip arrives whole; 2 dB below it, nothing survives."""
    clip = _clip(8, 48, 48)
    txs, ctx = h26x.encode(clip, {"cbr": 0.08}, "h264")
    codec_psnr = _psnr(h26x.decode(ideal_received(txs), ctx, {}, "h264")[0], clip)
    good, rep_good = h26x.decode(_over_phy(txs, 8.0, seed=4), ctx, {}, "h264")
    bad, rep_bad = h26x.decode(_over_phy(txs, 0.0, seed=4), ctx, {}, "h264")
    assert rep_good["frames_decoded"] == 8 and abs(_psnr(good, clip) - codec_psnr) < 0.05
    assert rep_bad["frame_loss"] >= 0.75 and rep_bad["units_lost"] > rep_bad["units_expected"] // 2
    assert _psnr(bad, clip) < _psnr(good, clip) - 8.0


def test_budget_too_small_is_reported_not_hidden():
    clip = _clip(4, 32, 32)
    txs, ctx = h26x.encode(clip, {"cbr": 0.001}, "h264")
    assert not ctx["budget_met"] and "over the budget" in ctx["warning"]
    assert ctx["rate_control"] == "lowest-quality" and ctx["cbr_net"] > 0.001
    out, rep = h26x.decode(ideal_received(txs), ctx, {}, "h264")
    assert rep["budget_met"] is False and rep["warning"] == ctx["warning"] and rep["frames_decoded"] == 4


def test_fixed_qp_odd_size_bframes_and_bursts():
    """Fixed QP (the LGVSC table's mode), odd frame sizes, B frames reordered by the manifest's
    presentation indices, and the burst size limit."""
    clip = _clip(12, 31, 45)
    for name in h26x.NAMES:
        txs, ctx = h26x.encode(clip, {"qp": 20, "bframes": 2, "gop": 6, "units_per_transmission": 8}, name)
        assert ctx["rate_control"] == "qp" and ctx["qp"] == 20 and len(ctx["trials"]) == 1
        if name == "h264":  # x264 uses the B frames (x265 may decide against them on this clip)
            assert ctx[MANIFEST].get("pts") is not None   # B frames: decode order != display order
        assert all(len(tx.units) <= 9 for tx in txs) and len(txs) == math.ceil(ctx["units"] / 8)
        assert [tx.seq for tx in txs] == list(range(len(txs)))
        out, rep = h26x.decode(ideal_received(txs), {}, {}, name)
        assert out.shape == clip.shape and rep["frames_decoded"] == 12
        # every output frame is its own source frame, not a neighbour
        err = np.abs(out[:, None].astype(np.int32) - clip[None].astype(np.int32)).mean(axis=(2, 3, 4))
        assert np.array_equal(err.argmin(axis=1), np.arange(12))
        assert _psnr(out, clip) > 30.0
        body, where = find_manifest(ideal_received(txs), {}, name)
        assert where == "received" and body["L"] == ctx["bitstream_bytes"]


def test_rate_control_follows_the_target():
    clip = _clip(8, 48, 48)
    sizes = [h26x.encode(clip, {"cbr": c}, "h265")[1]["bitstream_bytes"] for c in (0.04, 0.12)]
    assert sizes[0] < sizes[1]
    with pytest.raises(ValueError):
        h26x.encode(clip, {"cbr": 0.0}, "h265")
    with pytest.raises(ValueError):
        h26x.encode(clip, {"ldpc_rate": "7/8"}, "h265")


def test_measure_cliff_and_plot(tmp_path):
    clip = _clip(6, 48, 48)
    rows = measure_cliff(clip, 25.0, schemes=("h264",), cbr=0.1, snrs=(9.0,), seeds=(0,))
    assert [r["snr_db"] for r in rows] == [None, 9.0]          # the codec alone, then the channel
    assert rows[0]["frame_loss"] == 0.0 and rows[1]["psnr_db"] == pytest.approx(rows[0]["psnr_db"], abs=0.05)
    path = tmp_path / "cliff.png"
    plot_cliff(rows, str(path))
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
