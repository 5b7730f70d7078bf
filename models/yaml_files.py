"""The one loader of the project's YAML files: training configs (configs/), scheme presets
(host/schemes/presets/), sweeps (host/sweeps/) and the local-model map (models.yaml).

Each caller checks its own keys; this module only reads the file safely (``yaml.safe_load``,
never arbitrary objects) and makes every failure a clear error naming the file.
"""
from __future__ import annotations

import os
from pathlib import Path

__all__ = ["load_yaml_map"]


def load_yaml_map(path: str | os.PathLike, what: str, error: type[Exception] = ValueError) -> dict:
    """The map in the YAML file ``path``; an empty file is ``{}``.

    ``what`` names the kind of file in messages ("a sweep config", "a preset", ...). Raises
    FileNotFoundError for a missing file, and ``error`` (ValueError by default) for text that is
    not YAML or a document that is not a map.
    """
    import yaml

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{what} file {path} does not exist")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise error(f"{path}: not valid YAML ({exc})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise error(f"{path}: {what} is a YAML map, got a {type(data).__name__}")
    return data
