"""Local model paths: search order, config file, clear errors, offline loading."""
import os

import pytest

from semcom_models import model_paths
from semcom_models.model_paths import ModelNotFoundError, env_var, resolve_model_path


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    for k in list(os.environ):
        if k.startswith("SEMCOM_"):
            monkeypatch.delenv(k)
    monkeypatch.setattr(model_paths, "DEFAULT_CONFIG", tmp_path / "absent" / "models.yaml")


def test_env_var_names():
    assert env_var("qwen2.5-vl") == "SEMCOM_QWEN2_5_VL_PATH"
    assert env_var("ltx-video") == "SEMCOM_LTX_VIDEO_PATH"
    assert model_paths.default_folder("svd") == "stable-video-diffusion-img2vid-xt"
    assert model_paths.default_folder("my-model") == "my-model"


def test_search_order(tmp_path, monkeypatch):
    explicit, per_model, root = tmp_path / "explicit", tmp_path / "per_model", tmp_path / "root"
    for p in (explicit, per_model, root / "LTX-Video-0.9.7-dev"):
        p.mkdir(parents=True)
    cfg = tmp_path / "models.yaml"
    cfg.write_text(f"root: {tmp_path}\nmodels:\n  ltx-video: from_config\n  svd: {explicit}\n")
    (tmp_path / "from_config").mkdir()
    monkeypatch.setenv("SEMCOM_MODELS_CONFIG", str(cfg))
    assert resolve_model_path("ltx-video") == tmp_path / "from_config"          # config entry (relative)
    monkeypatch.setenv("SEMCOM_MODEL_DIR", str(root))
    assert resolve_model_path("ltx-video") == root / "LTX-Video-0.9.7-dev"      # root beats config
    assert resolve_model_path("svd") == explicit                                # root lacks it: config
    monkeypatch.setenv("SEMCOM_LTX_VIDEO_PATH", str(per_model))
    assert resolve_model_path("ltx-video") == per_model                         # variable beats root
    assert resolve_model_path("ltx-video", explicit) == explicit                # argument beats all


def test_missing_models_are_clear_errors(tmp_path, monkeypatch):
    with pytest.raises(ModelNotFoundError, match="SEMCOM_WAN2_1_I2V_PATH.*never downloads"):
        resolve_model_path("wan2.1-i2v")
    with pytest.raises(ModelNotFoundError, match="does not exist"):
        resolve_model_path("wan2.1-i2v", tmp_path / "nope")
    monkeypatch.setenv("SEMCOM_WAN2_1_I2V_PATH", str(tmp_path / "gone"))
    with pytest.raises(ModelNotFoundError, match=r"\$SEMCOM_WAN2_1_I2V_PATH = .*gone does not exist"):
        resolve_model_path("wan2.1-i2v")
    monkeypatch.delenv("SEMCOM_WAN2_1_I2V_PATH")
    monkeypatch.setenv("SEMCOM_MODEL_DIR", str(tmp_path))
    with pytest.raises(ModelNotFoundError, match="Wan2.1-I2V-14B-480P-Diffusers"):
        resolve_model_path("wan2.1-i2v")
    cfg = tmp_path / "m.yaml"
    cfg.write_text("models:\n  wan2.1-i2v: missing_dir\n")
    with pytest.raises(ModelNotFoundError, match="m.yaml says .*missing_dir"):
        resolve_model_path("wan2.1-i2v", config=cfg)
    with pytest.raises(ModelNotFoundError, match="config file"):
        resolve_model_path("wan2.1-i2v", config=tmp_path / "no.yaml")
    cfg.write_text("- a list\n")
    with pytest.raises(ValueError, match="mapping"):
        resolve_model_path("wan2.1-i2v", config=cfg)


def test_from_pretrained_is_offline_and_local(tmp_path, monkeypatch):
    seen = {}

    class Fake:
        @classmethod
        def from_pretrained(cls, path, **kw):
            seen.update(kw, path=path, offline=os.environ.get("HF_HUB_OFFLINE"))
            return "model"

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    assert model_paths.from_pretrained(Fake, tmp_path, local_files_only=False, dtype="x") == "model"
    assert seen == {"local_files_only": True, "dtype": "x", "path": str(tmp_path), "offline": "1"}


def test_device_dtype_defaults():
    import torch

    dev, dt = model_paths.torch_device_dtype("cpu")
    assert dev == "cpu" and dt == torch.float32
    assert model_paths.torch_device_dtype("cuda")[1] == torch.bfloat16
    assert model_paths.torch_device_dtype("cpu", "float16")[1] == torch.float16
