"""Where the large pretrained models live on this machine, and loading them without a hub.

gr-semcom never downloads a model. Every model has a short name (``"ltx-video"``,
``"qwen2.5-vl"``, ...); :func:`resolve_model_path` turns that name into a local folder, looking in
this order and stopping at the first that applies:

1. an explicit ``path`` argument (it must exist);
2. the environment variable ``SEMCOM_<NAME>_PATH``, the name upper-cased with every character
   that is not a letter or digit replaced by ``_`` (``qwen2.5-vl`` -> ``SEMCOM_QWEN2_5_VL_PATH``;
   it must exist);
3. ``$SEMCOM_MODEL_DIR/<folder>``, where ``<folder>`` is the model's usual folder name (the
   Hugging Face repository name, see :data:`KNOWN_MODELS`), when that folder exists;
4. the YAML config file named by the ``config`` argument, else by ``$SEMCOM_MODELS_CONFIG``, else
   ``~/.config/semcom/models.yaml`` when it exists::

       root: /data/models            # optional; relative paths below are taken from here
       models:
         ltx-video: LTX-Video-0.9.7-dev
         qwen2.5-vl: /data/vlm/Qwen2.5-VL-7B-Instruct

   An entry for the name must exist; without one, ``root/<folder>`` is tried when it exists.

Anything else is a :class:`ModelNotFoundError` that names every place looked at and the variable
that sets the path. Loading goes through :func:`from_pretrained`, which sets ``HF_HUB_OFFLINE=1``
and always passes ``local_files_only=True``.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .yaml_files import load_yaml_map

ENV_ROOT = "SEMCOM_MODEL_DIR"
ENV_CONFIG = "SEMCOM_MODELS_CONFIG"
DEFAULT_CONFIG = Path("~/.config/semcom/models.yaml")


@dataclass(frozen=True)
class KnownModel:
    """A model gr-semcom knows by name: its usual folder name and what it is."""

    folder: str
    description: str


# Folder names are the Hugging Face repository names, so that a folder of downloaded snapshots
# (``huggingface-cli download <repo> --local-dir $SEMCOM_MODEL_DIR/<folder>``) is found as is.
KNOWN_MODELS: dict[str, KnownModel] = {
    # Vision-language models (SKEM/PSSS, captioning)
    "qwen2.5-vl": KnownModel("Qwen2.5-VL-7B-Instruct", "Qwen2.5-VL (transformers)"),
    "qwen2-vl": KnownModel("Qwen2-VL-7B-Instruct", "Qwen2-VL (transformers)"),
    "llava-onevision": KnownModel("llava-onevision-qwen2-7b-ov-hf", "LLaVA-OneVision (transformers)"),
    "internvl3": KnownModel("InternVL3-8B-hf", "InternVL3, transformers-native (-hf) checkpoint"),
    # Video diffusion (diffusers)
    "ltx-video": KnownModel("LTX-Video-0.9.7-dev", "LTX-Video (LTXPipeline / ImageToVideo / Condition)"),
    "wan2.1-i2v": KnownModel("Wan2.1-I2V-14B-480P-Diffusers", "Wan 2.1 image-to-video"),
    "wan2.1-flf2v": KnownModel("Wan2.1-FLF2V-14B-720P-diffusers", "Wan 2.1 first-last-frame-to-video"),
    "wan2.1-vace": KnownModel("Wan2.1-VACE-1.3B-diffusers", "Wan 2.1 VACE (keyframes, control videos)"),
    "cogvideox": KnownModel("CogVideoX-2b", "CogVideoX text-to-video"),
    "cogvideox-i2v": KnownModel("CogVideoX-5b-I2V", "CogVideoX image-to-video"),
    "svd": KnownModel("stable-video-diffusion-img2vid-xt", "Stable Video Diffusion (25 frames)"),
    "sd3.5": KnownModel("stable-diffusion-3.5-large", "Stable Diffusion 3.5 (text-to-image base)"),
    "sd3.5-controlnet-canny": KnownModel("stable-diffusion-3.5-large-controlnet-canny",
                                         "SD3.5 Large ControlNet on Canny edges"),
    # Learned sketch extractors (semcom_models.sketch: PiDiNet, HED in plain torch)
    "annotators": KnownModel("Annotators", "PiDiNet/HED annotator weights (table5_pidinet.pth, ControlNetHED.pth)"),
    # Open-Sora runs from its own repository (a git checkout) and checkpoint folder.
    "opensora-repo": KnownModel("Open-Sora", "git checkout of hpcaitech/Open-Sora (v2.0)"),
    "opensora": KnownModel("Open-Sora-v2", "Open-Sora 2.0 checkpoints (hpcai-tech/Open-Sora-v2)"),
    # Evaluation metrics (semcom_host.eval, docs/metrics.md). LPIPS and DISTS folders hold
    # torchvision's backbone file beside the metric's own weights file.
    "lpips-alex": KnownModel("lpips-alex", "LPIPS v0.1 AlexNet: alexnet-owt-7be5be79.pth + lpips alex.pth"),
    "lpips-vgg": KnownModel("lpips-vgg", "LPIPS v0.1 VGG16: vgg16-397923af.pth + lpips vgg.pth"),
    "dists": KnownModel("dists", "DISTS: vgg16-397923af.pth + DISTS_pytorch weights.pt (alpha, beta)"),
    "clip": KnownModel("clip-vit-base-patch32", "CLIP (transformers CLIPModel) for CLIP scores"),
    "bertscore": KnownModel("roberta-large", "BERTScore encoder (bert_score's English default, layer 17)"),
}


class ModelNotFoundError(FileNotFoundError):
    """A model's local folder is not configured or does not exist. Never means 'download it'."""


def env_var(name: str) -> str:
    """The per-model environment variable for ``name``: ``SEMCOM_<NAME>_PATH``."""
    return "SEMCOM_" + re.sub(r"[^A-Za-z0-9]", "_", name).upper() + "_PATH"


def default_folder(name: str) -> str:
    """The folder name looked for under a models root (the repository name for known models)."""
    known = KNOWN_MODELS.get(name)
    return known.folder if known else name


def config_file(config: str | os.PathLike | None = None) -> Path | None:
    """The YAML config file in use: ``config``, else ``$SEMCOM_MODELS_CONFIG``, else the default
    ``~/.config/semcom/models.yaml`` if it exists; None when there is none.

    An explicitly named file (argument or variable) that does not exist is an error.
    """
    explicit = config if config is not None else os.environ.get(ENV_CONFIG)
    if explicit:
        p = Path(explicit).expanduser()
        if not p.is_file():
            src = "config argument" if config is not None else f"${ENV_CONFIG}"
            raise ModelNotFoundError(f"model config file {p} (from the {src}) does not exist")
        return p
    p = DEFAULT_CONFIG.expanduser()
    return p if p.is_file() else None


def _read_config(path: Path) -> dict[str, Any]:
    data = load_yaml_map(path, "a models.yaml (a mapping with an optional 'root' and a 'models' mapping)")
    if not isinstance(data.get("models", {}), dict):
        raise ValueError(f"{path}: expected a mapping with an optional 'root' and a 'models' mapping")
    return data


def resolve_model_path(name: str, path: str | os.PathLike | None = None, *,
                       config: str | os.PathLike | None = None) -> Path:
    """The local folder (or file) of model ``name``; see the module docstring for the search order.

    Raises ModelNotFoundError naming what was tried and how to set it.
    """
    how = (f"pass path=..., set ${env_var(name)}, put {default_folder(name)!r} under ${ENV_ROOT}, "
           f"or add '{name}: <path>' under 'models:' in the YAML file named by ${ENV_CONFIG}")
    if path is not None:
        p = Path(path).expanduser()
        if not p.exists():
            raise ModelNotFoundError(f"model {name!r}: the path given, {p}, does not exist")
        return p
    var = env_var(name)
    if os.environ.get(var):
        p = Path(os.environ[var]).expanduser()
        if not p.exists():
            raise ModelNotFoundError(f"model {name!r}: ${var} = {p} does not exist")
        return p
    tried = []
    if os.environ.get(ENV_ROOT):
        p = Path(os.environ[ENV_ROOT]).expanduser() / default_folder(name)
        if p.exists():
            return p
        tried.append(f"{p} (${ENV_ROOT}/{default_folder(name)})")
    cfg_path = config_file(config)
    if cfg_path is not None:
        data = _read_config(cfg_path)
        root = Path(str(data.get("root", cfg_path.parent))).expanduser()
        entry = (data.get("models") or {}).get(name)
        if entry is not None:
            p = Path(str(entry)).expanduser()
            p = p if p.is_absolute() else root / p
            if not p.exists():
                raise ModelNotFoundError(f"model {name!r}: {cfg_path} says {p}, which does not exist")
            return p
        p = root / default_folder(name)
        if p.exists():
            return p
        tried.append(f"{p} (root of {cfg_path}, no entry for {name!r})")
    where = "; ".join(tried) if tried else "no path, variable or config file is set"
    raise ModelNotFoundError(f"model {name!r} not found locally (tried: {where}). To use it, {how}. "
                             "gr-semcom never downloads models.")


def offline() -> None:
    """Forbid hub access for this process (belt and braces: loaders also pass local_files_only)."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")


def from_pretrained(cls: Any, path: str | os.PathLike, **kwargs: Any) -> Any:
    """``cls.from_pretrained(path, local_files_only=True, **kwargs)`` with the hub switched off.

    ``path`` must be a resolved local path (see :func:`resolve_model_path`).
    """
    offline()
    kwargs["local_files_only"] = True
    return cls.from_pretrained(str(path), **kwargs)


def diffusers_dtype(dtype: Any) -> dict[str, Any]:
    """The keyword giving a diffusers ``from_pretrained`` its dtype: ``dtype`` where this diffusers
    takes it (0.36 and later deprecate ``torch_dtype``), else ``torch_dtype``."""
    try:
        from diffusers.utils import deprecation_utils
    except ImportError:
        return {"torch_dtype": dtype}
    return {"dtype": dtype} if hasattr(deprecation_utils, "_resolve_dtype") else {"torch_dtype": dtype}


def torch_device_dtype(device: str | None = None, dtype: Any = None) -> tuple[str, Any]:
    """The device (``"cuda"`` when available, else ``"cpu"``) and compute dtype to load models with.

    ``dtype`` may be a torch dtype or its name (``"bfloat16"``, ``"float16"``, ``"float32"``);
    the default is bfloat16 on CUDA and float32 on the CPU.
    """
    import torch

    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if dtype is None:
        dtype = torch.bfloat16 if str(device).startswith("cuda") else torch.float32
    elif isinstance(dtype, str):
        dtype = getattr(torch, dtype)
    return str(device), dtype
