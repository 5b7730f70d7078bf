"""SigMF metadata of complex baseband recordings: write it, read it back, check it.

A recording is the file pair ``<base>.sigmf-data`` (the samples, no header) and
``<base>.sigmf-meta`` (JSON, SigMF 1.x core namespace), as the SigMF specification defines a
conforming dataset. This module needs neither GNU Radio nor the ``sigmf`` package (Debian's
interpreter, which runs flowgraphs from GRC, has no ``sigmf``); the tests check what it writes
with ``sigmf``'s own validator.

Conventions:

* ``core:sample_rate`` is in samples per second (Hz), ``core:frequency`` (per capture) is the RF
  centre frequency in Hz; sample 0 of the data file is at that centre frequency, i.e. complex
  baseband.
* ``core:datetime`` is ISO-8601 UTC with a ``Z`` suffix and microseconds,
  e.g. ``2024-05-01T12:00:00.123456Z``.
* Sample formats read (``SAMPLE_FORMATS``): ``cf32_le`` (complex float32, written by
  ``sigmf_sink``), ``ci16_le`` (interleaved int16 I, Q; a sample is ``(I + jQ) / 32768``, so that
  full scale maps to +-1, as a USRP's sc16 format does), ``ci8`` (interleaved int8; divided by
  128).

Errors: a missing file is ``FileNotFoundError`` naming the path; anything else wrong with a
recording (not JSON, no ``global`` object, a datatype not in ``SAMPLE_FORMATS``, several
channels, header or trailing bytes, metadata-only) is ``ValueError`` naming the path and the
offending field.
"""
from __future__ import annotations

import json
import math
import os
import sys
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

__all__ = ["SIGMF_VERSION", "RECORDER", "META_EXT", "DATA_EXT", "SampleFormat", "SAMPLE_FORMATS",
           "Recording", "recording_paths", "utc_timestamp", "make_meta", "write_meta", "read_recording",
           "host_is_little_endian"]

#: SigMF specification version written into ``core:version``.
SIGMF_VERSION = "1.2.0"
#: ``core:recorder`` of recordings made by gr-semcom.
RECORDER = "gr-semcom"
META_EXT, DATA_EXT = ".sigmf-meta", ".sigmf-data"


@dataclass(frozen=True)
class SampleFormat:
    """How a SigMF datatype is laid out in the data file.

    ``component_bytes``: bytes of one real component (I or Q); a complex sample takes twice
    that. ``scale``: the divisor that maps the integer components to floats (full scale -> 1);
    1 for floating point.
    """

    datatype: str
    component_bytes: int
    scale: float

    @property
    def sample_bytes(self) -> int:
        return 2 * self.component_bytes


#: The datatypes ``sigmf_source`` replays.
SAMPLE_FORMATS = {
    "cf32_le": SampleFormat("cf32_le", 4, 1.0),
    "ci16_le": SampleFormat("ci16_le", 2, 32768.0),
    "ci8": SampleFormat("ci8", 1, 128.0),
}


def recording_paths(path) -> tuple[Path, Path]:
    """(meta path, data path) of a recording given its base path or either file's path.

    ``"cap"``, ``"cap.sigmf-meta"`` and ``"cap.sigmf-data"`` all name the pair
    ``cap.sigmf-meta`` / ``cap.sigmf-data``. An archive (``.sigmf``) is refused: extract it
    first (``tar xf``).
    """
    if not str(os.fspath(path)).strip():
        raise ValueError("no recording path given (the base path, or the .sigmf-meta or .sigmf-data file)")
    p = Path(os.fspath(path)).expanduser()
    if not p.name:
        raise ValueError(f"not a recording path: {path!r}")
    if p.suffix in (META_EXT, DATA_EXT):
        p = p.with_suffix("")
    elif p.suffix == ".sigmf":
        raise ValueError(f"{p}: SigMF archives are not read; extract the .sigmf-meta and .sigmf-data first")
    return p.with_name(p.name + META_EXT), p.with_name(p.name + DATA_EXT)


def utc_timestamp(when: datetime | None = None) -> str:
    """ISO-8601 UTC timestamp as SigMF wants it (``YYYY-MM-DDTHH:MM:SS.ffffffZ``); now by default."""
    when = datetime.now(timezone.utc) if when is None else when.astimezone(timezone.utc)
    return when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _finite(name: str, value, positive: bool = False) -> float:
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(x) or (positive and x <= 0):
        raise ValueError(f"{name} must be {'positive and ' if positive else ''}finite, got {value!r}")
    return x


def make_meta(samp_rate: float, center_freq: float, description: str = "", author: str = "", hw: str = "",
              datetime_utc: str | None = None, datatype: str = "cf32_le") -> dict:
    """SigMF metadata of a single-capture complex recording starting at sample 0.

    ``samp_rate`` and ``center_freq`` in Hz; empty ``description``/``author``/``hw`` are left
    out; ``datetime_utc`` (``utc_timestamp()`` format) defaults to now.
    """
    if datatype not in SAMPLE_FORMATS:
        raise ValueError(f"datatype {datatype!r} is not supported (supported: {', '.join(SAMPLE_FORMATS)})")
    glob = {"core:datatype": datatype, "core:sample_rate": _finite("samp_rate", samp_rate, positive=True),
            "core:version": SIGMF_VERSION, "core:recorder": RECORDER}
    for key, value in (("core:description", description), ("core:author", author), ("core:hw", hw)):
        if value:
            glob[key] = str(value)
    capture = {"core:sample_start": 0, "core:frequency": _finite("center_freq", center_freq),
               "core:datetime": datetime_utc or utc_timestamp()}
    return {"global": glob, "captures": [capture], "annotations": []}


def write_meta(base, meta: dict) -> Path:
    """Write ``<base>.sigmf-meta`` atomically (a temporary file renamed over it): the file on disk
    is always complete JSON, whenever the process is killed. Returns its path.

    The directory must exist (``FileNotFoundError`` naming it otherwise).
    """
    meta_path, _ = recording_paths(base)
    if not meta_path.parent.is_dir():
        raise FileNotFoundError(f"directory for the recording does not exist: {meta_path.parent}")
    tmp = meta_path.with_name(meta_path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(meta, f, indent=2)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, meta_path)
    return meta_path


@dataclass(frozen=True)
class Recording:
    """What ``read_recording`` found: paths, format, rates and the whole metadata.

    ``sample_rate`` (Hz) and ``center_freq`` (Hz, of the first capture) are None when the
    metadata leaves them out. ``n_samples``: whole complex samples in the data file;
    ``partial_bytes``: bytes after the last whole sample (a recording cut off mid-write).
    """

    meta_path: Path
    data_path: Path
    format: SampleFormat
    sample_rate: float | None
    center_freq: float | None
    n_samples: int
    partial_bytes: int
    meta: dict = field(repr=False)

    @property
    def datatype(self) -> str:
        return self.format.datatype


def _load_json(meta_path: Path) -> dict:
    if not meta_path.is_file():
        raise FileNotFoundError(f"SigMF metadata not found: {meta_path}")
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"{meta_path}: malformed SigMF metadata (not JSON: {err})") from None
    if not isinstance(meta, dict) or not isinstance(meta.get("global"), dict):
        raise ValueError(f"{meta_path}: malformed SigMF metadata (no \"global\" object)")
    captures = meta.get("captures", [])
    if not isinstance(captures, list) or not all(isinstance(c, dict) for c in captures):
        raise ValueError(f"{meta_path}: malformed SigMF metadata (\"captures\" is not a list of objects)")
    return meta


def _optional_number(meta_path: Path, obj: dict, key: str, positive: bool = False) -> float | None:
    if key not in obj:
        return None
    try:
        return _finite(key, obj[key], positive)
    except ValueError as err:
        raise ValueError(f"{meta_path}: {err}") from None


def read_recording(path) -> Recording:
    """Read and check a recording's metadata and find its data file (module docstring for errors)."""
    meta_path, data_path = recording_paths(path)
    meta = _load_json(meta_path)
    glob = meta["global"]
    datatype = glob.get("core:datatype")
    if not isinstance(datatype, str):
        raise ValueError(f"{meta_path}: malformed SigMF metadata (global core:datatype missing or not a string)")
    if datatype not in SAMPLE_FORMATS:
        raise ValueError(f"{meta_path}: datatype {datatype!r} is not supported "
                         f"(supported: {', '.join(SAMPLE_FORMATS)})")
    if glob.get("core:num_channels", 1) != 1:
        raise ValueError(f"{meta_path}: core:num_channels is {glob['core:num_channels']!r}; only 1 is supported")
    if glob.get("core:metadata_only"):
        raise ValueError(f"{meta_path}: core:metadata_only is set; there are no samples to read")
    if glob.get("core:trailing_bytes") or any(c.get("core:header_bytes") for c in meta.get("captures", [])):
        raise ValueError(f"{meta_path}: non-conforming dataset (core:header_bytes / core:trailing_bytes) "
                         "is not supported")
    dataset = glob.get("core:dataset")
    if dataset is not None:  # a non-conforming dataset's file name, beside the metadata
        if not isinstance(dataset, str) or not dataset or Path(dataset).name != dataset:
            raise ValueError(f"{meta_path}: core:dataset must be a file name in the same folder, got {dataset!r}")
        data_path = meta_path.with_name(dataset)
    if not data_path.is_file():
        raise FileNotFoundError(f"SigMF data not found: {data_path} (metadata: {meta_path})")
    fmt = SAMPLE_FORMATS[datatype]
    size = data_path.stat().st_size
    captures = meta.get("captures", [])
    return Recording(meta_path=meta_path, data_path=data_path, format=fmt,
                     sample_rate=_optional_number(meta_path, glob, "core:sample_rate", positive=True),
                     center_freq=_optional_number(meta_path, captures[0], "core:frequency") if captures else None,
                     n_samples=size // fmt.sample_bytes, partial_bytes=size % fmt.sample_bytes, meta=meta)


def host_is_little_endian() -> bool:
    """Whether the ``_le`` formats are this host's in-memory layout (gr_complex, int16), which the
    file blocks read and write without conversion."""
    return sys.byteorder == "little"
