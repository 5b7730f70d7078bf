"""GRC sees every SemCom block, and every flowgraph in flowgraphs/ validates and compiles.

GRC skips a .block.yml it cannot load with only a log line, so the test lists the ids defined
in our YAML files and requires each one in the platform's library, loaded from this checkout.
Blocks are searched in this repository's semcom_blocks/grc and in GNU Radio's own block
directory only (GR_CONF_GRC_* override the system config), so that a copy installed under
/usr/local by `make install` cannot shadow the files under test.
"""
from __future__ import annotations

import py_compile
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

gr = pytest.importorskip("gnuradio.gr", reason="needs Debian's GNU Radio (python3-gnuradio)")
platform_mod = pytest.importorskip("gnuradio.grc.core.platform",
                                   reason="needs GNU Radio Companion (gnuradio package)")
from gnuradio.grc.core import schema_checker  # noqa: E402

pytestmark = pytest.mark.gnuradio

from helpers import REPO  # noqa: E402
from helpers.grc import CORE_BLOCKS, GRC_DIR, compile_and_run, grc_env  # noqa: E402

BLOCK_FILES = sorted(GRC_DIR.glob("*.block.yml"))
FLOWGRAPHS = sorted((REPO / "flowgraphs").glob("*.grc"))


@pytest.fixture(scope="module")
def platform():
    p = platform_mod.Platform(
        version=gr.version(),
        version_parts=(gr.major_version(), gr.api_version(), gr.minor_version()),
        prefs=None,  # no system block paths: only those given to build_library
    )
    p.build_library(path=[str(GRC_DIR), str(CORE_BLOCKS)])
    return p


def test_there_are_blocks_and_flowgraphs():
    assert BLOCK_FILES, f"no *.block.yml in {GRC_DIR}"
    assert FLOWGRAPHS, "no flowgraphs/*.grc"


@pytest.mark.parametrize("path", BLOCK_FILES, ids=lambda p: p.name)
def test_block_yaml_loads_into_grc(platform, path):
    data = yaml.safe_load(path.read_text())
    block_id = data["id"]
    assert path.name == f"{block_id}.block.yml"
    assert data["file_format"] == 1
    assert str(data.get("documentation", "")).strip(), "documentation: is empty"
    checker = schema_checker.Validator(schema_checker.BLOCK_SCHEME)
    assert checker.run(data) and not checker.messages, checker.messages

    assert block_id in platform.blocks, f"GRC skipped {path.name} (see its log)"
    block = platform.blocks[block_id]
    assert Path(block.loaded_from).resolve() == path.resolve()
    assert data["category"].startswith("[SemCom]")
    assert block.category[0] == "SemCom"  # GRC strips the brackets of the root category
    assert "semcom_blocks" in block.templates["imports"]


@pytest.mark.skipif(shutil.which("grcc") is None, reason="grcc (GNU Radio Companion compiler) not found")
@pytest.mark.parametrize("grc", FLOWGRAPHS, ids=lambda p: p.name)
def test_flowgraph_compiles_with_grcc(tmp_path, grc):
    proc = subprocess.run([shutil.which("grcc"), "-o", str(tmp_path), str(grc)], env=grc_env(),
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    generated = tmp_path / f"{yaml.safe_load(grc.read_text())['options']['parameters']['id']}.py"
    assert generated.is_file(), proc.stdout + proc.stderr
    py_compile.compile(str(generated), doraise=True)


@pytest.mark.skipif(shutil.which("grcc") is None, reason="grcc (GNU Radio Companion compiler) not found")
def test_fec_link_awgn_runs_to_completion(tmp_path):
    """The compiled headless link takes --snr-db and delivers every PDU."""
    log = compile_and_run(tmp_path, "fec_link_awgn", "--snr-db", "8", "--n-frames", "4", "--frame-bytes", "60")
    assert log.count("(crc_ok . #t)") == 4, log
    assert "'frames_crc_ok': 4" in log, log


@pytest.mark.skipif(shutil.which("grcc") is None, reason="grcc (GNU Radio Companion compiler) not found")
def test_loopback_sim_runs_to_completion(tmp_path):
    """The compiled OFDM loopback (TX -> EPA channel -> RX) ends by itself and decodes every burst."""
    log = compile_and_run(tmp_path, "loopback_sim_nogui", "--snr-db", "20", "--n-frames", "6")
    assert "'frames_sent': 6" in log and "'frames_ok': 6" in log, log


def test_the_scheme_parameter_lists_every_built_in_scheme_with_one_default():
    import yaml

    from semcom_host.schemes import builtin_schemes

    names = {s.name for s in builtin_schemes()}
    defaults = set()
    for block in ("semcom_semantic_source", "semcom_semantic_sink"):
        spec = yaml.safe_load((GRC_DIR / f"{block}.block.yml").read_text())
        (param,) = [p for p in spec["parameters"] if p["id"] == "scheme"]
        assert param["dtype"] == "string"  # a list to pick from, and free text for plug-in schemes
        assert set(param["options"]) == names, block
        defaults.add(param["default"])
    assert len(defaults) == 1 and defaults <= names
