"""The video loopback (its no-GUI twin) as a GNU Radio user runs it: gr-semcom installed with CMake (to a temporary
prefix), the flowgraph compiled with grcc against the installed blocks and run by Debian's
/usr/bin/python3 (GNU Radio Companion's interpreter, without the venv) from an unrelated folder,
with its defaults: the bundled clip and its captions, a service the flowgraph starts itself
through the installed `semcom` launcher, a playable .mp4 and a report beside where it ran.
A broken video path makes it exit non-zero with the error as its last line."""
from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest

from helpers import REPO

SYSTEM_PYTHON = "/usr/bin/python3"

pytestmark = [
    pytest.mark.gnuradio,
    pytest.mark.skipif(shutil.which("grcc") is None or shutil.which("cmake") is None,
                       reason="needs grcc (GNU Radio Companion) and cmake"),
    pytest.mark.skipif(not os.path.exists(SYSTEM_PYTHON), reason="needs Debian's /usr/bin/python3"),
    pytest.mark.skipif(not (REPO / ".venv" / "bin" / "semcom").exists(), reason="needs the venv (make setup)"),
]


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(prefix, compiled flowgraph folder, environment) of a CMake install into a temporary prefix."""
    root = tmp_path_factory.mktemp("install")
    prefix, build = root / "prefix", root / "build"
    for cmd in (["cmake", "-S", str(REPO), "-B", str(build), f"-DCMAKE_INSTALL_PREFIX={prefix}",
                 f"-DPython3_EXECUTABLE={SYSTEM_PYTHON}"],
                ["cmake", "--build", str(build)], ["cmake", "--install", str(build)]):
        subprocess.run(cmd, check=True, capture_output=True, timeout=300)
    site = next((prefix / "lib").glob("python3*/*-packages"))
    core = subprocess.run([SYSTEM_PYTHON, "-c", "from gnuradio import gr; print(gr.prefix())"], check=True,
                          capture_output=True, text=True).stdout.strip()
    env = dict(os.environ, PYTHONPATH=str(site), PATH=f"{prefix / 'bin'}{os.pathsep}{os.environ['PATH']}",
               GRC_BLOCKS_PATH=str(prefix / "share" / "gnuradio" / "grc" / "blocks"),
               GR_CONF_GRC_GLOBAL_BLOCKS_PATH=f"{core}/share/gnuradio/grc/blocks", GR_CONF_GRC_LOCAL_BLOCKS_PATH="")
    env.pop("VIRTUAL_ENV", None)
    env.pop("SEMCOM_COMMAND", None)
    compiled = root / "compiled"
    subprocess.run([shutil.which("grcc"), "-o", str(compiled),
                    str(prefix / "share" / "gr-semcom" / "flowgraphs" / "video_loopback_nogui.grc")],
                   env=env, check=True, capture_output=True, timeout=120)
    return prefix, compiled, env


def _run(installed, cwd, *args) -> subprocess.CompletedProcess:
    from semcom_host.service.process import free_tcp_address

    _, compiled, env = installed
    cwd.mkdir(parents=True, exist_ok=True)
    return subprocess.run([SYSTEM_PYTHON, str(compiled / "video_loopback_nogui.py"), "--address", free_tcp_address(),
                           *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def test_the_installed_loopback_runs_with_its_defaults_from_any_folder(installed, tmp_path):
    import av

    prefix, _, _ = installed
    assert os.access(prefix / "bin" / "semcom", os.X_OK)
    proc = _run(installed, tmp_path / "elsewhere")  # only the address differs from the defaults
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log
    video, report = tmp_path / "elsewhere" / "video_rx.mp4", tmp_path / "elsewhere" / "video_rx.json"
    assert f"wrote the reconstruction (16 frames) to {video}" in log and "starting one" in log
    with av.open(str(video)) as container:
        frames = [f for f in container.decode(video=0)]
    assert len(frames) == 16 and (frames[0].height, frames[0].width) == (256, 256)
    rep = json.loads(report.read_text())
    assert rep["scheme"] == "lgvsc-skim" and rep["trigger"] == "complete"
    assert rep["service"]["received"] == rep["expected"]
    # the bundled clip's captions reached the generative receiver, found by the service on its own
    assert rep["report"]["captions_ok"] >= 1 and "red car" in " ".join(rep["report"]["captions_received"])


def test_a_broken_video_path_exits_non_zero_with_the_error_last(installed, tmp_path):
    proc = _run(installed, tmp_path, "--video", "no/such/clip.mp4")
    assert proc.returncode == 1
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and "not found" in proc.stderr, proc.stderr[-2000:]
    assert str(tmp_path / "no" / "such" / "clip.mp4") in proc.stderr  # made absolute where it ran


def test_the_installed_loopback_closes_the_link_adaptation_loop(installed, tmp_path):
    """Link adaptation on from the command line: the receiver's reports go back through the Feedback
    Link (two transmissions late, 10 % lost) and OFDM Burst TX logs what it coded each one for,
    starting from the initial SNR before any report."""
    proc = _run(installed, tmp_path, "--scheme", "vq-deepvsc", "--max-frames", "8", "--size", "64",
                "--snr-db", "6", "--link-adaptation", "1", "--feedback-delay", "2", "--feedback-loss", "0.1",
                "--initial-snr-db", "0")
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-3000:]
    decisions = [line for line in log.splitlines() if "link adaptation: transmission" in line]
    assert decisions and "for 0.00 dB fed back" in decisions[0], log[-3000:]
    assert (tmp_path / "video_rx.mp4").is_file()
