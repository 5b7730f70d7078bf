"""The USRP flowgraphs without a USRP: structure, command line, and runs with UHD stood in for.

No USRP and no UHD simulator exist here. Beyond compiling (tests/blocks/test_grc_blocks.py compiles
every flowgraph), each USRP flowgraph is compiled with grcc and its generated top block is run
with ``gnuradio.uhd`` replaced by stand-ins: the USRP sink keeps the samples and tags it is
given, the USRP source plays a SigMF recording of an OFDM loopback run. Both record the
settings calls the generated code makes (sample rate, frequency, gain, antenna, device args).
What this cannot check is the radio itself: UHD's burst handling, timing, gains, RF.
"""
from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import yaml

gr = pytest.importorskip("gnuradio.gr", reason="needs Debian's GNU Radio (python3-gnuradio)")
pmt = pytest.importorskip("pmt", reason="needs GNU Radio's pmt bindings")
import gnuradio  # noqa: E402
from gnuradio import blocks  # noqa: E402

from helpers.sigmf_loopback import N_FRAMES, check_printed, check_received, receive, record_loopback  # noqa: E402
from semcom_blocks.sigmf_meta import read_recording  # noqa: E402
from semcom_blocks.sigmf_source import sigmf_source  # noqa: E402
from semcom_blocks.test_source import random_transmission_source  # noqa: E402

pytestmark = [pytest.mark.gnuradio,
              pytest.mark.skipif(shutil.which("grcc") is None, reason="grcc (GNU Radio Companion compiler) not found")]

from helpers import REPO  # noqa: E402

USRP_FLOWGRAPHS = ("usrp_tx", "usrp_rx", "usrp_loopback")
#: command-line options each generated script must offer
OPTIONS = {
    "usrp_tx": ["--freq", "--samp-rate", "--args", "--tx-gain", "--tx-ant", "--tx-scale", "--n-frames",
                "--interval", "--seed"],
    "usrp_rx": ["--freq", "--samp-rate", "--args", "--rx-gain", "--rx-ant", "--threshold", "--record"],
    "usrp_loopback": ["--freq", "--samp-rate", "--args", "--tx-gain", "--rx-gain", "--tx-ant", "--rx-ant",
                      "--tx-scale", "--n-frames", "--interval", "--seed", "--threshold", "--record"],
    "replay_sigmf": ["--recording", "--threshold"],
}
# what the flowgraphs' random transmission source sends (flowgraphs/usrp_tx.grc)
TX_DIGITAL_BYTES, TX_ANALOG_SYMBOLS = 100, 256


def load_grc(name: str) -> dict:
    return yaml.safe_load((REPO / "flowgraphs" / f"{name}.grc").read_text())


def blocks_of(data: dict, block_id: str) -> list[dict]:
    return [b["parameters"] for b in data["blocks"] if b["id"] == block_id and b["states"]["state"] == "enabled"]


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    """Folder with the generated Python of every flowgraph in OPTIONS."""
    from helpers.grc import grc_env

    out = tmp_path_factory.mktemp("generated")
    paths = [str(REPO / "flowgraphs" / f"{name}.grc") for name in OPTIONS]
    proc = subprocess.run([shutil.which("grcc"), "-o", str(out), *paths], env=grc_env(), capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out


@pytest.mark.parametrize("name", OPTIONS)
def test_command_line_options(compiled, name):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
    proc = subprocess.run([sys.executable, str(compiled / f"{name}.py"), "--help"], env=env, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for option in OPTIONS[name]:
        assert option in proc.stdout, (option, proc.stdout)


@pytest.mark.parametrize("name", ["usrp_tx", "usrp_loopback"])
def test_tx_bursts_are_length_tagged_for_uhd(name):
    data = load_grc(name)
    (tx,), (usrp,) = blocks_of(data, "semcom_ofdm_burst_tx"), blocks_of(data, "uhd_usrp_sink")
    assert usrp["len_tag_name"] == tx["len_tag"] == "packet_len"
    assert usrp["type"] == "fc32" and usrp["sync"] == "none"
    assert (usrp["center_freq0"], usrp["gain0"], usrp["samp_rate"], usrp["dev_args"]) == \
        ("freq", "tx_gain", "samp_rate", "args")


@pytest.mark.parametrize("name", ["usrp_rx", "usrp_loopback"])
def test_rx_records_on_request(name):
    data = load_grc(name)
    (usrp,), (sink,) = blocks_of(data, "uhd_usrp_source"), blocks_of(data, "semcom_sigmf_sink")
    assert (usrp["center_freq0"], usrp["gain0"], usrp["samp_rate"], usrp["dev_args"]) == \
        ("freq", "rx_gain", "samp_rate", "args")
    assert (sink["base"], sink["samp_rate"], sink["center_freq"]) == ("record", "samp_rate", "freq")
    (record,) = [b["parameters"] for b in data["blocks"] if b["name"] == "record"]
    assert record["type"] == "str" and record["value"] == ""  # recording off unless asked for
    assert [c for c in data["connections"] if c[0] == "uhd_usrp_source_0" and c[2] == "semcom_sigmf_sink_0"]


# --- runs with UHD stood in for -------------------------------------------------------------

class _Settings:
    """The multi_usrp setters the generated code calls, recorded per channel."""

    def _init_settings(self, device_args, stream_args):
        self.device_args, self.stream_args = device_args, stream_args
        self.settings = {}

    def set_samp_rate(self, rate):
        self.settings["samp_rate"] = rate

    def set_center_freq(self, freq, chan=0):
        self.settings[("center_freq", chan)] = freq

    def set_gain(self, gain, chan=0):
        self.settings[("gain", chan)] = gain

    def set_antenna(self, antenna, chan=0):
        self.settings[("antenna", chan)] = antenna

    def set_bandwidth(self, bandwidth, chan=0):
        self.settings[("bandwidth", chan)] = bandwidth


class FakeUsrpSink(gr.hier_block2, _Settings):
    """uhd.usrp_sink stand-in: keeps every sample and tag in a vector sink."""

    instances: list = []

    def __init__(self, device_args, stream_args, len_tag_name=""):
        gr.hier_block2.__init__(self, "fake_usrp_sink", gr.io_signature(1, 1, gr.sizeof_gr_complex),
                                gr.io_signature(0, 0, 0))
        self._init_settings(device_args, stream_args)
        self.len_tag_name = len_tag_name
        self.sink = blocks.vector_sink_c()
        self.connect(self, self.sink)
        FakeUsrpSink.instances.append(self)


class FakeUsrpSource(gr.hier_block2, _Settings):
    """uhd.usrp_source stand-in: plays the SigMF recording ``FakeUsrpSource.recording``."""

    instances: list = []
    recording: str = ""

    def __init__(self, device_args, stream_args):
        gr.hier_block2.__init__(self, "fake_usrp_source", gr.io_signature(0, 0, 0),
                                gr.io_signature(1, 1, gr.sizeof_gr_complex))
        self._init_settings(device_args, stream_args)
        self.connect(sigmf_source(FakeUsrpSource.recording), self)
        FakeUsrpSource.instances.append(self)


@pytest.fixture
def fake_uhd(monkeypatch, tmp_path):
    """``gnuradio.uhd`` replaced by the stand-ins; the source plays a fresh loopback recording."""
    fake = types.ModuleType("gnuradio.uhd")
    fake.usrp_sink, fake.usrp_source = FakeUsrpSink, FakeUsrpSource
    fake.stream_args = lambda **kwargs: kwargs
    monkeypatch.setitem(sys.modules, "gnuradio.uhd", fake)
    monkeypatch.setattr(gnuradio, "uhd", fake, raising=False)
    FakeUsrpSink.instances, FakeUsrpSource.instances = [], []
    FakeUsrpSource.recording = str(tmp_path / "on_air")
    src = record_loopback(tmp_path / "on_air")
    return src


def top_block_class(compiled, name: str):
    spec = importlib.util.spec_from_file_location(f"generated_{name}", compiled / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, name)


def check_sent_bursts(usrp: FakeUsrpSink, n: int, scale: float, seed: int) -> None:
    """What reached the USRP sink: n tagged bursts of RMS ``scale`` carrying transmissions 0..n-1."""
    samples = np.array(usrp.sink.data(), np.complex64)
    tags = {}
    for tag in usrp.sink.tags():
        tags.setdefault(pmt.symbol_to_string(tag.key), []).append((tag.offset, tag.value))
    assert usrp.len_tag_name == "packet_len"
    assert len(tags["tx_sob"]) == len(tags["tx_eob"]) == len(tags["packet_len"]) == n
    starts = [offset for offset, _ in tags["packet_len"]]
    ends = [start + pmt.to_long(value) for start, value in tags["packet_len"]]
    assert starts == [offset for offset, _ in tags["tx_sob"]] and starts[0] == 0 and ends[-1] == len(samples)
    assert [end - 1 for end in ends] == [offset for offset, _ in tags["tx_eob"]]
    assert np.abs(samples).max() < 1.0  # below the DAC's full scale
    power = np.mean(np.abs(samples[samples != 0]) ** 2)
    assert abs(10 * np.log10(power / scale ** 2)) < 0.5
    frames, _ = receive(blocks.vector_source_c(samples.tolist()))
    reference = random_transmission_source(n_frames=n, digital_bytes=TX_DIGITAL_BYTES,
                                           analog_symbols=TX_ANALOG_SYMBOLS, seed=seed)
    check_received(frames, reference, n=n, min_analog_snr_db=30)


def check_device(usrp, args: str, freq: float, rate: float, gain: float, antenna: str) -> None:
    assert usrp.device_args.split(",")[-1] == args and usrp.stream_args["cpu_format"] == "fc32"
    assert usrp.settings == {"samp_rate": rate, ("center_freq", 0): freq, ("gain", 0): gain,
                             ("antenna", 0): antenna}


def test_usrp_tx_sends_scaled_tagged_bursts(compiled, fake_uhd):
    tb = top_block_class(compiled, "usrp_tx")(n_frames=3, interval=0.0, tx_scale=0.12, seed=9, freq=915e6,
                                               samp_rate=2e6, tx_gain=55, args="type=b200", tx_ant="TX/RX")
    tb.run()  # ends by itself after the last transmission
    (usrp,) = FakeUsrpSink.instances
    check_device(usrp, "type=b200", 915e6, 2e6, 55, "TX/RX")
    check_sent_bursts(usrp, n=3, scale=0.12, seed=9)


def test_usrp_rx_decodes_and_records(compiled, fake_uhd, tmp_path, capfd):
    src = fake_uhd
    base = tmp_path / "rx_capture"
    tb = top_block_class(compiled, "usrp_rx")(record=str(base), freq=2.45e9, samp_rate=2e6, rx_gain=30,
                                               args="serial=ABC", rx_ant="RX2")
    tb.run()  # the stand-in's recording ends the stream
    check_printed(capfd.readouterr().out)
    (usrp,) = FakeUsrpSource.instances
    check_device(usrp, "serial=ABC", 2.45e9, 2e6, 30, "RX2")
    rec = read_recording(base)
    assert rec.sample_rate == 2e6 and rec.center_freq == 2.45e9 and rec.meta["global"]["core:hw"] == "USRP serial=ABC"
    assert rec.data_path.read_bytes() == Path(f"{FakeUsrpSource.recording}.sigmf-data").read_bytes()
    frames, _ = receive(sigmf_source(str(base)))
    check_received(frames, src)


def test_usrp_rx_without_record_writes_nothing(compiled, fake_uhd, tmp_path, monkeypatch, capfd):
    workdir = tmp_path / "work"
    workdir.mkdir()
    monkeypatch.chdir(workdir)
    top_block_class(compiled, "usrp_rx")().run()
    check_printed(capfd.readouterr().out)
    assert list(workdir.iterdir()) == []


def test_usrp_loopback_uses_one_device_for_both(compiled, fake_uhd, capfd):
    tb = top_block_class(compiled, "usrp_loopback")(n_frames=2, interval=0.0, seed=4, args="addr=192.168.10.2",
                                                     freq=5.8e9, samp_rate=2e6, tx_gain=10, rx_gain=20)
    tb.run()
    check_printed(capfd.readouterr().out, n=N_FRAMES)
    (sink,), (source,) = FakeUsrpSink.instances, FakeUsrpSource.instances
    assert sink.device_args == source.device_args
    check_device(sink, "addr=192.168.10.2", 5.8e9, 2e6, 10, "TX/RX")
    check_device(source, "addr=192.168.10.2", 5.8e9, 2e6, 20, "RX2")
    check_sent_bursts(sink, n=2, scale=0.15, seed=4)  # the default TX amplitude
