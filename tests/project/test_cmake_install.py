"""`cmake -B build && cmake --build build && cmake --install build` installs the module.

Installs into a temporary prefix and checks that the Python packages (with their data files),
every GRC block YAML and every flowgraph land where Debian's /usr/bin/python3 and GRC look
for that prefix, and that Debian's interpreter imports the installed copy. Then grcc, seeing
only GNU Radio's blocks and the installed SemCom YAML, compiles every installed flowgraph, and
Debian's interpreter imports the generated scripts with the installed package and runs the
installed replay flowgraph.
"""
from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from helpers import REPO  # noqa: E402

SYSTEM_PYTHON = Path("/usr/bin/python3")
PACKAGES = {"semcom_blocks": REPO / "semcom_blocks", "semcom_client": REPO / "client", "semcom_host": REPO / "host",
            "semcom_models": REPO / "models"}

pytestmark = [
    pytest.mark.skipif(shutil.which("cmake") is None, reason="cmake not found"),
    pytest.mark.skipif(not SYSTEM_PYTHON.exists(), reason="Debian's /usr/bin/python3 not found"),
]


def run(cmd, **kwargs) -> str:
    proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=120, **kwargs)
    assert proc.returncode == 0, f"{cmd} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def system_python_dir(prefix: Path) -> Path:
    """Where Debian's python3 looks for packages under ``prefix`` (as for /usr/local)."""
    version = run([SYSTEM_PYTHON, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"]).strip()
    return prefix / "lib" / f"python{version}" / "dist-packages"


def source_files(folder: Path) -> set[str]:
    """Files a package must install: everything but caches, hidden files and GRC YAML."""
    out = set()
    for path in folder.rglob("*"):
        rel = path.relative_to(folder)
        if path.is_file() and not any(part == "__pycache__" or part.startswith(".") for part in rel.parts) \
                and rel.parts[0] != "grc" and path.suffix not in (".pyc", ".pyo"):
            out.add(rel.as_posix())
    return out


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(prefix, site dir, files under the prefix right after the install)."""
    tmp = tmp_path_factory.mktemp("cmake")
    prefix, build = tmp / "prefix", tmp / "build"
    run(["cmake", "-S", REPO, "-B", build, f"-DCMAKE_INSTALL_PREFIX={prefix}",
         f"-DPython3_EXECUTABLE={SYSTEM_PYTHON}"])
    run(["cmake", "--build", build])
    run(["cmake", "--install", build])
    files = {p.relative_to(prefix).as_posix() for p in prefix.rglob("*") if p.is_file()}
    return prefix, system_python_dir(prefix), files


def test_python_packages_and_data_installed(installed):
    prefix, site, files = installed
    for package, source in PACKAGES.items():
        want = {f"{site.relative_to(prefix).as_posix()}/{package}/{rel}" for rel in source_files(source)}
        assert want, f"nothing to install from {source}"
        assert want <= files, f"missing: {sorted(want - files)}"
    ldpc = [f for f in files if "/semcom_blocks/phy/data/ldpc/" in f and f.endswith(".txt")]
    assert len(ldpc) == len(list((REPO / "semcom_blocks/phy/data/ldpc").glob("*.txt"))) > 0
    assert not [f for f in files if "__pycache__" in f or f.endswith((".pyc", ".nbi", ".nbc"))]
    assert not [f for f in files if "/semcom_blocks/grc/" in f]


def test_grc_yaml_and_flowgraphs_installed(installed):
    prefix, _, files = installed
    blocks = sorted(p.name for p in (REPO / "semcom_blocks/grc").glob("*.block.yml"))
    flowgraphs = sorted(p.name for p in (REPO / "flowgraphs").glob("*.grc"))
    assert blocks and flowgraphs
    for name in blocks:
        assert f"share/gnuradio/grc/blocks/{name}" in files
    for name in flowgraphs:
        assert f"share/gr-semcom/flowgraphs/{name}" in files


def installed_python_env(site: Path) -> dict:
    """Environment in which Debian's python3 imports the installed packages (and nothing of this
    checkout or venv)."""
    paths = [str(site)]
    # Debian's interpreter has no numba unless python3-numba is installed: borrow this
    # environment's copy, placed after the installed packages.
    has_numba = subprocess.run([SYSTEM_PYTHON, "-c", "import numba"], capture_output=True).returncode == 0
    if not has_numba:
        spec = importlib.util.find_spec("numba")
        if spec is None or spec.origin is None:
            pytest.skip("numba is importable neither by /usr/bin/python3 nor by this environment")
        paths.append(str(Path(spec.origin).parent.parent))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env["PYTHONPATH"] = os.pathsep.join(paths)
    return env


def test_debian_python_imports_the_installed_copy(installed, tmp_path):
    _, site, _ = installed
    env = installed_python_env(site)
    out = run([SYSTEM_PYTHON, "-s", "-c",
               "import semcom_blocks.phy.ldpc as m, semcom_host, semcom_models; "
               "m.get_ldpc(648, '1/2'); print(m.__file__)"], cwd=tmp_path, env=env)
    assert Path(out.strip()).resolve() == (site / "semcom_blocks/phy/ldpc.py").resolve()


def test_default_prefix_site_dir_is_searched_by_debian_python(tmp_path):
    """With no options (default prefix /usr/local, default interpreter, whatever python3 is
    first on PATH), the computed dir is on /usr/bin/python3's sys.path."""
    build = tmp_path / "build"
    run(["cmake", "-S", REPO, "-B", build])
    cache = (build / "CMakeCache.txt").read_text().splitlines()
    prefix = next(line.split("=", 1)[1] for line in cache if line.startswith("CMAKE_INSTALL_PREFIX:"))
    pydir = next(line.split("=", 1)[1] for line in cache if line.startswith("GR_PYTHON_DIR:"))
    sys_path = run([SYSTEM_PYTHON, "-s", "-c", "import sys; print('\\n'.join(sys.path))"],
                   cwd=tmp_path, env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")}).split()
    assert prefix == "/usr/local"
    assert f"{prefix}/{pydir}" in sys_path


# --- the installed flowgraphs against the installed GRC blocks -------------------------------

_GRC_LIBRARY = """
import json
from gnuradio import gr
from gnuradio.grc.core.platform import Platform
p = Platform(prefs=gr.prefs(), version=gr.version(),
             version_parts=(gr.major_version(), gr.api_version(), gr.minor_version()))
p.build_library()
print(json.dumps({"paths": p.config.block_paths,
                  "semcom": {k: str(b.loaded_from) for k, b in p.blocks.items() if k.startswith("semcom_")}}))
"""


@pytest.fixture(scope="module")
def installed_grc_env(installed, tmp_path_factory):
    """Environment in which GRC (grcc) finds GNU Radio's blocks and the installed SemCom YAML, and
    neither this checkout's semcom_blocks/grc nor a copy under /usr/local or ~/.grc_gnuradio:
    the GR_CONF_GRC_* variables replace /etc/gnuradio/conf.d/grc.conf, GRC_BLOCKS_PATH is unset
    and GRC_HIER_PATH points at an empty folder."""
    prefix, site, _ = installed
    if shutil.which("grcc") is None:
        pytest.skip("grcc (GNU Radio Companion compiler) not found")
    gr_prefix = subprocess.run([SYSTEM_PYTHON, "-c", "from gnuradio import gr; print(gr.prefix())"],
                               capture_output=True, text=True)
    if gr_prefix.returncode != 0:
        pytest.skip("Debian's python3 has no GNU Radio")
    env = {k: v for k, v in installed_python_env(site).items() if not k.startswith("GRC_")}
    env["GR_CONF_GRC_GLOBAL_BLOCKS_PATH"] = os.pathsep.join(
        [str(Path(gr_prefix.stdout.strip()) / "share/gnuradio/grc/blocks"), str(prefix / "share/gnuradio/grc/blocks")])
    env["GR_CONF_GRC_LOCAL_BLOCKS_PATH"] = ""
    env["GRC_HIER_PATH"] = str(tmp_path_factory.mktemp("empty_hier"))
    return env


def test_grc_loads_only_the_installed_block_yaml(installed, installed_grc_env, tmp_path):
    prefix, _, _ = installed
    out = run([SYSTEM_PYTHON, "-s", "-c", _GRC_LIBRARY], cwd=tmp_path, env=installed_grc_env)
    library = json.loads(out.strip().splitlines()[-1])
    assert not [p for p in library["paths"] if Path(p).resolve().is_relative_to(REPO)], library["paths"]
    ids = {yaml_id(p) for p in (REPO / "semcom_blocks/grc").glob("*.block.yml")}
    assert set(library["semcom"]) == ids
    for block_id, loaded_from in library["semcom"].items():
        assert Path(loaded_from).resolve() == (prefix / f"share/gnuradio/grc/blocks/{block_id}.block.yml").resolve()


def yaml_id(path: Path) -> str:
    return next(line.split(":", 1)[1].strip() for line in path.read_text().splitlines() if line.startswith("id:"))


def test_installed_flowgraphs_compile_and_import_the_installed_package(installed, installed_grc_env, tmp_path):
    """grcc compiles every installed flowgraph with the installed blocks; Debian's python3 imports
    each generated script, and with it the installed semcom_blocks."""
    prefix, site, _ = installed
    flowgraphs = sorted((prefix / "share/gr-semcom/flowgraphs").glob("*.grc"))
    assert {p.name for p in flowgraphs} == {p.name for p in (REPO / "flowgraphs").glob("*.grc")}
    out = tmp_path / "generated"
    proc = subprocess.run([shutil.which("grcc"), "-o", str(out), *map(str, flowgraphs)], cwd=tmp_path,
                          env=installed_grc_env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    scripts = sorted(out.glob("*.py"))
    assert len(scripts) == len(flowgraphs), proc.stdout + proc.stderr
    importer = ("import importlib.util, sys\n"
                "for path in sys.argv[1:]:\n"
                "    spec = importlib.util.spec_from_file_location('fg_' + path.rsplit('/', 1)[-1][:-3], path)\n"
                "    spec.loader.exec_module(importlib.util.module_from_spec(spec))\n"
                "import semcom_blocks\n"
                "print(semcom_blocks.__file__)\n")
    imported = run([SYSTEM_PYTHON, "-s", "-c", importer, *scripts], cwd=tmp_path, env=installed_grc_env)
    assert Path(imported.strip().splitlines()[-1]).resolve() == (site / "semcom_blocks/__init__.py").resolve()


def test_installed_replay_flowgraph_decodes_a_recording(installed, installed_grc_env, tmp_path):
    """The installed replay_sigmf.grc, compiled and run by Debian's python3 with the installed
    package, decodes a recording made here (numpy frame builder + AWGN, written as SigMF)."""
    prefix, _, _ = installed
    import numpy as np

    from semcom_blocks.phy.channel import noise_variance
    from semcom_blocks.phy.frame import FrameFormat, Transmission, Unit
    from semcom_blocks.sigmf_meta import make_meta, write_meta

    rng = np.random.default_rng(11)
    fmt, bursts = FrameFormat(), [np.zeros(500, np.complex64)]
    for seq in range(2):
        bursts += [fmt.build(Transmission([Unit("text", "digital", rng.bytes(40))], seq=seq)),
                   np.zeros(500, np.complex64)]
    x = np.concatenate(bursts)
    sigma = np.sqrt(noise_variance(20.0, 64, 52) / 2)
    x = (x + sigma * (rng.standard_normal(len(x)) + 1j * rng.standard_normal(len(x)))).astype("<c8")
    x.tofile(tmp_path / "rec.sigmf-data")
    write_meta(tmp_path / "rec", make_meta(1e6, 915e6, description="install test"))

    grcc = subprocess.run([shutil.which("grcc"), "-o", str(tmp_path),
                           str(prefix / "share/gr-semcom/flowgraphs/replay_sigmf.grc")],
                          cwd=tmp_path, env=installed_grc_env, capture_output=True, text=True, timeout=120)
    assert grcc.returncode == 0, grcc.stdout + grcc.stderr
    proc = subprocess.run([SYSTEM_PYTHON, "-s", str(tmp_path / "replay_sigmf.py"), "--recording",
                           str(tmp_path / "rec.sigmf-meta")], cwd=tmp_path,
                          env=dict(installed_grc_env, NUMBA_CACHE_DIR=str(tmp_path / "numba")),
                          capture_output=True, text=True, timeout=300)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log
    assert "'frames_ok': 2" in log and log.count("(crc_ok . #t)") == 2, log
