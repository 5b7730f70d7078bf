"""The schemes of the three papers and their baselines, as semantic-service schemes.

Each module registers one or more schemes with :func:`semcom_host.service.registry.register_scheme`
(the encoder/decoder contract is documented there) through its ``register()``; ``presets/``
holds one YAML file of paper parameters per preset (``semcom run --preset NAME``).
:mod:`.common` has what they share: unit naming, the manifest, CBR counting.
"""
from __future__ import annotations

import importlib

__all__ = ["BUILTIN", "register_all"]

#: modules under semcom_host.schemes whose register() adds built-in schemes
BUILTIN: tuple[str, ...] = ("gvsc", "lgvsc", "vq_deepvsc", "djscc_rgb", "h26x")


def register_all() -> None:
    """Register every built-in scheme (idempotent)."""
    for name in BUILTIN:
        importlib.import_module(f"{__name__}.{name}").register()
