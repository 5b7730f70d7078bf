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
