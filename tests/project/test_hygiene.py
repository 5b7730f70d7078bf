"""Project hygiene: the licence, the citation file, the changelog and the version, in one place."""
from __future__ import annotations

import re
import tomllib

import yaml

from helpers import REPO
from semcom_host.cli import main


def project_version() -> str:
    return tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]


def test_license_is_the_gpl3_text_pyproject_names():
    assert "GNU GENERAL PUBLIC LICENSE" in (REPO / "LICENSE").read_text()[:200]
    assert "Version 3" in (REPO / "LICENSE").read_text()[:200]
    assert tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["license"] == "GPL-3.0-or-later"


def test_citation_names_the_three_papers():
    cff = yaml.safe_load((REPO / "CITATION.cff").read_text())
    titles = " | ".join(ref["title"] for ref in cff["references"])
    for paper in ("Generative Video Semantic Communication via Multimodal Semantic Fusion", "LGVSC", "VQ-DeepVSC"):
        assert paper in titles
    assert cff["license"] == "GPL-3.0-or-later"


def test_changelog_has_the_current_version():
    assert re.search(rf"^## {re.escape(project_version())}\b", (REPO / "CHANGELOG.md").read_text(), re.M)


def test_semcom_version_prints_the_project_version(capsys):
    try:
        main(["--version"])
    except SystemExit as exc:
        assert exc.code == 0
    assert capsys.readouterr().out.strip() == f"semcom {project_version()}"


#: the longest a Python module of the packages may be (docs/architecture.md: small modules named
#: for what they do); the compiled PHY kernels' C sources are not Python and not counted
MAX_MODULE_LINES = 600


def test_no_module_is_a_monolith():
    long = {str(p.relative_to(REPO)): n for folder in ("client", "host", "models", "semcom_blocks")
            for p in (REPO / folder).rglob("*.py")
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES}
    assert not long, f"modules over {MAX_MODULE_LINES} lines: split them by role: {long}"
