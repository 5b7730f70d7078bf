"""The sweep grid: every point of a config with its stable key (video, scheme label, channel, SNR,
seed and a short hash of what else decides the result) and the params it runs with."""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path

from .config import SweepConfig, point_params


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
    snr_db: float | str  # dB, or a trajectory (SweepConfig.trajectories)
    seed: int
    frames: int
    size: int
    via: str
    params: dict
    cfo: float = 1.2
    timeout_s: float = 900.0
    out_dir: str | None = None
    link_adaptation: bool = False
    feedback_delay: int = 0
    feedback_loss: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)


def fmt_snr(snr: float | str) -> str:
    """An SNR setting as text: "10" (dB), a ramp "12:0" as is, a trajectory file by its name."""
    if isinstance(snr, str):
        return snr if ":" in snr and not Path(snr).is_file() else Path(snr).name
    return format(float(snr), "g")


def _snr_identity(snr: float | str):
    """What of an SNR setting enters a key: a number, a ramp, or a trajectory file's SHA-256."""
    if isinstance(snr, str) and Path(snr).is_file():
        return "sha256:" + hashlib.sha256(Path(snr).read_bytes()).hexdigest()
    return snr


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
    """Every point: videos x schemes x channels x SNR settings (SNRs, then trajectories) x seeds,
    in that nesting order.

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
                for snr in cfg.snr_settings:
                    varying = isinstance(snr, str)
                    params = {**base, **({} if varying else s.snr_params.get(float(snr), {}))}
                    for seed in cfg.seeds:
                        extra = {}  # only what differs from an open-loop fixed-SNR point, so old keys stay
                        if varying:
                            extra["trajectory"] = _snr_identity(snr)
                        if cfg.link_adaptation:
                            extra["loop"] = [cfg.feedback_delay, cfg.feedback_loss]
                        ident = json.dumps({"scheme": s.scheme, "preset": s.preset, "params": _identity(params),
                                            "frames": cfg.frames, "size": cfg.size, "via": cfg.via,
                                            "cfo": cfg.cfo if ch in ("cfo", "all") else None, **extra},
                                           sort_keys=True, default=str)
                        digest = hashlib.sha256(ident.encode()).hexdigest()[:10]
                        label = _slug(fmt_snr(snr)) if varying else f"{fmt_snr(snr)}dB"
                        key = f"{v.name}/{s.label}/{ch}/{label}/seed{seed}/{digest}"
                        out_dir = str(cfg.out / "points" / _slug(key)) if cfg.save_media else None
                        points.append(Point(key, v.name, v.path, s.label, s.scheme, s.preset, ch,
                                            snr if varying else float(snr), int(seed), cfg.frames, cfg.size,
                                            cfg.via, dict(params), cfg.cfo, cfg.timeout_s, out_dir,
                                            cfg.link_adaptation, cfg.feedback_delay, cfg.feedback_loss))
    return points
