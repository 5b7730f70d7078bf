"""`semcom models list / check`: every known model located (or why not), configured ones loaded
and run once, a broken one making the command exit 1."""
from __future__ import annotations

import json
import os

import pytest

from semcom_host.cli import main
from semcom_models import model_paths


@pytest.fixture
def nothing_configured(monkeypatch, tmp_path):
    for k in list(os.environ):
        if k.startswith("SEMCOM_"):
            monkeypatch.delenv(k)
    monkeypatch.setattr(model_paths, "DEFAULT_CONFIG", tmp_path / "absent.yaml")


def _json(capsys, argv) -> tuple[int, dict]:
    rc = main(argv)
    return rc, json.loads(capsys.readouterr().out)


def test_list_names_every_model_and_where_it_is_looked_for(nothing_configured, capsys, tmp_path, monkeypatch):
    rc, out = _json(capsys, ["models", "list", "--json"])
    names = [m["name"] for m in out["models"]]
    assert rc == 0 and set(names) == set(model_paths.KNOWN_MODELS)
    clip = next(m for m in out["models"] if m["name"] == "clip")
    assert clip["path"] is None and clip["env"] == "SEMCOM_CLIP_PATH" and "never downloads" in clip["why"]
    (tmp_path / "clip-vit-base-patch32").mkdir()
    monkeypatch.setenv("SEMCOM_MODEL_DIR", str(tmp_path))
    rc, out = _json(capsys, ["models", "list", "--json"])
    assert next(m for m in out["models"] if m["name"] == "clip")["path"] == str(tmp_path / "clip-vit-base-patch32")


def test_check_runs_a_configured_model_and_fails_on_a_broken_one(nothing_configured, capsys, tmp_path, monkeypatch):
    pytest.importorskip("diffusers")
    from helpers import tiny_models as tm

    with tm.torch_threads(1):
        monkeypatch.setenv("SEMCOM_LTX_VIDEO_PATH", str(tm.save_ltx(tmp_path / "ltx")))
        rc, out = _json(capsys, ["models", "check", "--json"])
    (ltx,) = out["models"]
    assert rc == 0 and ltx["name"] == "ltx-video" and ltx["ok"] is True and ltx["seconds"] > 0
    assert "frames of 64 x 64" in ltx["result"]
    broken = tmp_path / "broken"
    broken.mkdir()
    monkeypatch.setenv("SEMCOM_LTX_VIDEO_PATH", str(broken))
    rc, out = _json(capsys, ["models", "check", "ltx-video", "clip", "--json"])
    assert rc == 1 and [m["ok"] for m in out["models"]] == [False, False]
    assert "SEMCOM_CLIP_PATH" in out["models"][1]["error"]


def test_tiny_writes_models_that_check_finds_and_runs(nothing_configured, capsys, tmp_path, monkeypatch):
    pytest.importorskip("diffusers")
    from helpers import tiny_models as tm

    assert set(tm.BUILDERS) | set(tm.NOT_BUILT) == set(model_paths.KNOWN_MODELS)   # every model accounted for
    assert not set(tm.BUILDERS) & set(tm.NOT_BUILT)
    root = tmp_path / "models"
    foreign = root / model_paths.default_folder("lpips-alex")
    foreign.mkdir(parents=True)
    (foreign / "mine.pth").write_bytes(b"not a tiny model")
    with tm.torch_threads(1):
        rc = main(["models", "tiny", str(root), "--only", "ltx-video", "clip", "lpips-alex", "opensora", "--json"])
    captured = capsys.readouterr()
    by_name = {m["name"]: m for m in json.loads(captured.out)["models"]}
    assert rc == 1 and list(by_name) == ["ltx-video", "lpips-alex", "clip", "opensora"]
    assert by_name["ltx-video"]["path"] == str(root / "LTX-Video-0.9.7-dev") and by_name["clip"]["size_mb"] > 0
    assert "left as it is" in by_name["lpips-alex"]["error"]
    assert (foreign / "mine.pth").read_bytes() == b"not a tiny model"
    assert "opensora-repo" in by_name["opensora"]["skipped"]
    assert "ltx-video: wrote" in captured.err and "clip: wrote" in captured.err   # progress on stderr with --json

    monkeypatch.setenv("SEMCOM_MODEL_DIR", str(root))
    with tm.torch_threads(1):
        rc, out = _json(capsys, ["models", "check", "ltx-video", "clip", "--json"])
    assert rc == 0 and [m["ok"] for m in out["models"]] == [True, True]
    with tm.torch_threads(1):                          # a folder it wrote may be written again
        assert main(["models", "tiny", str(root), "--only", "clip"]) == 0
    assert "clip: wrote" in capsys.readouterr().out
