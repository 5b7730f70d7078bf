"""GNU Radio Companion for tests: an environment in which GRC and grcc see this checkout's
blocks and GNU Radio's own only (GR_CONF_GRC_* override the system config, so that a copy
installed under /usr/local by `make install` cannot shadow the files under test), and a helper
that compiles a flowgraph of flowgraphs/ and runs it headless."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from gnuradio import gr

from helpers import REPO

GRC_DIR = REPO / "semcom_blocks" / "grc"
CORE_BLOCKS = Path(gr.prefix()) / "share" / "gnuradio" / "grc" / "blocks"


def grc_env() -> dict:
    env = dict(os.environ)
    env["GRC_BLOCKS_PATH"] = str(GRC_DIR)
    env["GR_CONF_GRC_GLOBAL_BLOCKS_PATH"] = str(CORE_BLOCKS)
    env["GR_CONF_GRC_LOCAL_BLOCKS_PATH"] = ""
    return env


def compile_and_run(tmp_path, name: str, *args: str) -> str:
    """Compile flowgraphs/<name>.grc with grcc, run it headless with ``args``; its log."""
    subprocess.run([shutil.which("grcc"), "-o", str(tmp_path), str(REPO / "flowgraphs" / f"{name}.grc")],
                   env=grc_env(), check=True, capture_output=True, timeout=120)
    run_env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
    proc = subprocess.run([sys.executable, str(tmp_path / f"{name}.py"), *args], cwd=tmp_path, env=run_env,
                          capture_output=True, text=True, timeout=120)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log
    return log
