"""`cmake -B build && cmake --build build && cmake --install build` installs the module.

Installs into a temporary prefix and checks that the Python packages (with their data files),
every GRC block YAML and every flowgraph land where Debian's /usr/bin/python3 and GRC look
for that prefix, and that Debian's interpreter imports the installed copy.
"""
from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SYSTEM_PYTHON = Path("/usr/bin/python3")
PACKAGES = {"semcom_blocks": REPO / "semcom_blocks", "semcom_host": REPO / "host",
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


def test_debian_python_imports_the_installed_copy(installed, tmp_path):
    _, site, _ = installed
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
