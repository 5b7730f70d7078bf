"""The schemes of the three papers and their baselines, as semantic-service schemes.

Each module declares its schemes in one static table, ``SCHEMES`` (a tuple of
:class:`~semcom_host.schemes.base.Scheme`, whose docstring states the encoder/decoder contract);
:func:`builtin_schemes` collects them for the service's registry. ``presets/`` holds one YAML
file of paper parameters per preset (``semcom run --preset NAME``). :mod:`.common` has what the
schemes share: unit naming, the manifest, CBR counting.
"""
from __future__ import annotations

import importlib

__all__ = ["BUILTIN", "builtin_schemes"]

#: modules under semcom_host.schemes that declare built-in schemes (a ``SCHEMES`` table each)
BUILTIN: tuple[str, ...] = ("raw_analog", "gvsc", "lgvsc", "vq_deepvsc", "djscc_rgb", "h26x")


def builtin_schemes() -> list:
    """Every built-in :class:`~semcom_host.schemes.base.Scheme`, in BUILTIN's module order."""
    return [scheme for name in BUILTIN for scheme in importlib.import_module(f"{__name__}.{name}").SCHEMES]
