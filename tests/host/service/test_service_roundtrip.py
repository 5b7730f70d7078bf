"""Encode and decode through the service with the built-in raw-analog scheme: frames and video
files in, transmissions through the real OFDM burst PHY, reconstructed frames and a report out."""
from __future__ import annotations

import numpy as np
import pytest

from semcom_blocks.phy.frame import FrameFormat
from semcom_blocks.phy.receiver import BurstReceiver
from semcom_blocks.phy.wire import pack_received, unpack_received, unpack_transmission
from semcom_client.protocol import ProtocolError
from semcom_host.schemes.raw_analog import FRAME_TYPE, HEADER
from semcom_host.service import RemoteError, Server, ServiceClient
from semcom_host.service.handlers import PathPolicy


def clip(t=8, h=64, w=64) -> np.ndarray:
    """A smooth moving colour pattern, uint8 T x H x W x 3."""
    tt, yy, xx, cc = np.meshgrid(np.arange(t), np.arange(h), np.arange(w), np.arange(3), indexing="ij")
    return np.clip(128 + 90 * np.sin(0.09 * xx + 0.05 * yy + 0.4 * tt + 2.0 * cc), 0, 255).astype(np.uint8)


def psnr(a, b) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(255.0 ** 2 / mse)


def through_phy(transmissions: list, snr_db: float, seed: int = 0) -> list:
    """Wire transmissions -> bursts -> AWGN at Es/N0 ``snr_db`` -> burst receiver -> wire received."""
    fmt, rx = FrameFormat(), BurstReceiver()
    gap = np.zeros(400, np.complex64)
    samples = np.concatenate([np.concatenate([fmt.build(unpack_transmission(t)), gap]) for t in transmissions])
    rng = np.random.default_rng(seed)
    n0 = 10 ** (-snr_db / 10)
    samples = samples + (np.sqrt(n0 / 2) * (rng.standard_normal(samples.size)
                                            + 1j * rng.standard_normal(samples.size))).astype(np.complex64)
    return [pack_received(f) for f in rx.push(np.concatenate([gap, samples])) + rx.flush()]


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory):
    root = tmp_path_factory.mktemp("videos")
    s = Server("tcp://127.0.0.1:*", video_root=str(root))
    s.start()
    s.video_dir = root
    yield s
    s.stop()


@pytest.fixture
def client(endpoint):
    with ServiceClient(endpoint.endpoint, heartbeat_s=0.2) as c:
        yield c


def test_raw_analog_round_trip_through_the_ofdm_phy(client):
    video = clip()
    enc = client.encode("raw-analog", video, fps=12.0)
    assert len(enc.transmissions) == 8 and enc.info["num_frames"] == 8 and enc.info["fps"] == 12.0
    ctx = enc.context
    assert (ctx["tx_height"], ctx["tx_width"], ctx["n_transmissions"]) == (32, 32, 8)
    first = unpack_transmission(enc.transmissions[0])
    assert first.frame_type == FRAME_TYPE and [u.name for u in first.units] == ["hdr", "pix"]
    analog = first.units[1].data
    assert analog.size == 32 * 32 * 3 // 2 and abs(np.mean(np.abs(analog) ** 2) - 1) < 1e-3  # unit power
    assert len(first.units[0].data) == HEADER.size
    received = through_phy(enc.transmissions, snr_db=30.0)
    assert len(received) == 8
    dec = client.decode("raw-analog", received, context=ctx)
    assert dec.frames.shape == video.shape and dec.frames.dtype == np.uint8 and dec.fps == 12.0
    rep = dec.report
    assert rep["headers_ok"] == 8 and rep["chunks_placed"] == 8 and rep["symbol_coverage"] == 1.0
    assert rep["frames_concealed"] == 0 and abs(rep["snr_est_db"] - 30) < 2
    assert rep["cbr_net"] == pytest.approx(ctx["cbr_net"]) and 0.1 < rep["cbr_net"] < 0.25
    assert psnr(dec.frames, video) > 28  # 2x downscaling of a smooth clip + 30 dB analog noise
    assert dec.info["received"] == 8 and dec.info["received_malformed"] == 0


def test_native_size_noiseless_is_near_lossless(client):
    video = clip(t=3, h=24, w=40)
    enc = client.encode("raw-analog", video, params={"height": 0, "width": 0, "symbols_per_transmission": 512})
    assert len(enc.transmissions) == 3 * 3  # 24*40*3/2 = 1440 symbols per frame -> 3 chunks of <= 512
    received = through_phy(enc.transmissions, snr_db=40.0)
    assert len(received) == 9
    dec = client.decode("raw-analog", received)  # no context: the headers describe everything
    assert dec.report["symbol_coverage"] == 1.0 and psnr(dec.frames, video) > 38


def test_lost_and_corrupt_transmissions_are_concealed_and_counted(client):
    video = clip(t=4, h=32, w=32)
    enc = client.encode("raw-analog", video, params={"height": 0, "width": 0})
    received = through_phy(enc.transmissions, snr_db=30.0)
    kept = received[:1] + received[2:] + [b"\x93garbage"]  # frame 1 lost, one message corrupt
    dec = client.decode("raw-analog", kept, context=enc.context)
    assert dec.info["received_malformed"] == 1
    assert dec.report["frames_concealed"] == 1 and dec.report["transmissions_received"] == 3
    assert np.array_equal(dec.frames[1], dec.frames[0])  # repeated from the previous frame


def test_non_finite_symbols_and_bad_noise_variances_are_erased_and_counted(client):
    video = clip(t=2, h=32, w=32)
    enc = client.encode("raw-analog", video, params={"height": 0, "width": 0})
    clean = [unpack_received(r) for r in through_phy(enc.transmissions, snr_db=30.0)]
    good = client.decode("raw-analog", [pack_received(f) for f in clean], context=enc.context)
    pix = next(u for u in clean[0].units if u.kind == "analog")
    n = pix.data.size
    pix.data[: n // 4] = np.nan                 # a quarter of frame 0's symbols not finite
    pix.noise_var[n // 4: n // 2] = -1.0        # a quarter with impossible noise variances
    pix.noise_var[n // 2: n // 2 + 10] = np.nan
    dec = client.decode("raw-analog", [pack_received(f) for f in clean], context=enc.context)
    assert dec.info["analog_symbols_erased"] == n // 2 + 10 and good.info["analog_symbols_erased"] == 0
    assert np.array_equal(dec.frames[1], good.frames[1])  # the other frame is untouched
    rows = dec.frames[0].reshape(-1, 3)
    assert rows.std() > 10 and psnr(dec.frames[0], video[0]) > 8  # not a constant frame
    assert psnr(dec.frames[0][16:], video[0][16:]) > 28           # its intact half decodes as before


def test_without_header_or_context_decode_is_a_clear_error(client):
    with pytest.raises(RemoteError) as err:
        client.decode("raw-analog", [], context={})
    assert err.value.code == "bad_input" and "size is unknown" in str(err.value)


def test_encode_a_video_file_read_by_the_service(endpoint, client):
    from semcom_models.video_io import write_video

    path = endpoint.video_dir / "clip.mp4"
    write_video(path, clip(t=6, h=48, w=64), fps=10.0)
    enc = client.encode("raw-analog", video_path=str(path), max_frames=4, stride=1, size=(32, 48))
    assert enc.info["num_frames"] == 4 and (enc.info["height"], enc.info["width"]) == (32, 48)
    assert enc.info["fps"] == pytest.approx(10.0) and len(enc.transmissions) == 4
    with pytest.raises(RemoteError) as err:
        client.encode("raw-analog", video_path="/etc/passwd")
    assert err.value.code == "forbidden"
    with pytest.raises(RemoteError) as err:
        client.encode("raw-analog", video_path=str(endpoint.video_dir / "missing.mp4"))
    assert err.value.code == "bad_input" and "not found" in str(err.value)


def test_path_policy():
    with pytest.raises(ProtocolError) as err:
        PathPolicy(None, allow_any=False).check("/tmp/x.mp4")
    assert err.value.code == "forbidden"
    assert PathPolicy(None, allow_any=True).check("/tmp/x.mp4").name == "x.mp4"
