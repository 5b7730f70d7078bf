"""The AKEI calibration file: VQ-DeepVSC's SNR -> keyframe-ratio polynomial with its data card,
written by `semcom calibrate akei` (semcom_host.experiments.akei_calibration), and the one the
project ships (:data:`SHIPPED`, measured on the development clips; read by the scheme's default).

Format (JSON, ``kind`` :data:`KIND`, ``version`` :data:`VERSION`): ``coeffs`` (ascending powers of
the SNR in dB, :class:`semcom_models.keyframes.KeyframeRatioPolynomial`), ``min_ratio``,
``degree``, ``penalty``, ``lam`` and ``card`` (what was measured: clips, SNRs, ratios, metric,
the quality table, the fit residuals). SNR is Es/N0 per data subcarrier in dB.
"""
from __future__ import annotations

import functools
import json
import math
from pathlib import Path

__all__ = ["KIND", "VERSION", "SHIPPED", "CalibrationFileError", "load_akei_calibration", "shipped_ratio",
           "read_calibration", "finite_number"]

#: the JSON file's ``kind``
KIND = "semcom.akei_ratio_calibration"
#: the JSON file's format version
VERSION = 1
#: the calibration shipped with the package
SHIPPED = Path(__file__).resolve().parent / "weights" / "akei_ratio.json"


class CalibrationFileError(ValueError):
    """A calibration file that is not one: the message names the file and what is wrong."""


def finite_number(value) -> float | None:
    """``value`` as a float when it is a finite int or float (not a bool), else None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def _fail(path, what: str):
    raise CalibrationFileError(f"{path}: {what}")


def load_akei_calibration(path) -> tuple[list[float], dict]:
    """(coeffs, card) of a calibration file written by `semcom calibrate akei`: ``coeffs`` the
    polynomial's ascending powers of the SNR in dB (VQ-DeepVSC's ``ratio_coeffs``), ``card`` the
    data card (its ``fit`` holds degree, penalty, lam and min_ratio).

    FileNotFoundError when the file is missing; CalibrationFileError (a ValueError) when it is
    not JSON, not a calibration of this kind and version, or its fields are malformed."""
    doc = read_calibration(path)
    return [float(c) for c in doc["coeffs"]], doc["card"]


def read_calibration(path) -> dict:
    """The whole calibration file, checked (see :func:`load_akei_calibration`)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no AKEI calibration at {path}: make one with "
                                f"`semcom calibrate akei CLIP ... --out {path}`")
    try:
        doc = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        _fail(path, f"not JSON ({exc})")
    if not isinstance(doc, dict):
        _fail(path, f"want a JSON object, got {type(doc).__name__}")
    if doc.get("kind") != KIND:
        _fail(path, f"not an AKEI calibration (kind {doc.get('kind')!r}, want {KIND!r})")
    if doc.get("version") != VERSION:
        _fail(path, f"format version {doc.get('version')!r} is not supported (this code reads {VERSION})")
    missing = [k for k in ("coeffs", "min_ratio", "degree", "penalty", "lam", "card") if k not in doc]
    if missing:
        _fail(path, f"missing fields {missing}")
    coeffs = doc["coeffs"]
    if not isinstance(coeffs, list) or not coeffs or any(finite_number(c) is None for c in coeffs):
        _fail(path, f"coeffs must be a non-empty list of finite numbers, got {coeffs!r}")
    degree = doc["degree"]
    if isinstance(degree, bool) or not isinstance(degree, int) or degree < 1 or len(coeffs) != degree + 1:
        _fail(path, f"degree {degree!r} does not match {len(coeffs)} coefficients")
    if finite_number(doc["min_ratio"]) is None or not 0 < doc["min_ratio"] <= 1:
        _fail(path, f"min_ratio must be in (0, 1], got {doc['min_ratio']!r}")
    if doc["penalty"] not in ("l1", "l2"):
        _fail(path, f"penalty must be 'l1' or 'l2', got {doc['penalty']!r}")
    if finite_number(doc["lam"]) is None or doc["lam"] < 0:
        _fail(path, f"lam must be a finite number >= 0, got {doc['lam']!r}")
    if not isinstance(doc["card"], dict):
        _fail(path, f"card must be a JSON object, got {type(doc['card']).__name__}")
    return doc


@functools.lru_cache(maxsize=1)
def shipped_ratio() -> tuple[list[float], float]:
    """(coeffs, min_ratio) of :data:`SHIPPED`, read once per process; ([], 0.02) when the package
    has none."""
    if not SHIPPED.is_file():
        return [], 0.02
    doc = read_calibration(SHIPPED)
    return [float(c) for c in doc["coeffs"]], float(doc["min_ratio"])
