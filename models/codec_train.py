"""Training of the neural codecs (``semcom train``): DJSCC variants and MSVQ.

A run is described by a YAML config (configs/train_*.yaml) or a dict with these keys:

=================  ===========================================================================
model              "djscc" or "msvq"
variant            DJSCC: a name of ``djscc.VARIANTS``; MSVQ: a name of ``msvq.VARIANTS``
seed               seeds torch, the crop sampler and the channel noise (int)
steps              optimiser steps in total
batch_size         crops per step
crop               side of the square training crops (pixels); networks are fully convolutional
lr, lr_final       Adam learning rate, cosine-decayed from lr to lr_final after ``warmup`` steps
warmup             linear warm-up steps
snr_db             [low, high]: SNR (Es/N0 per complex symbol, dB) drawn uniformly per example
channel            "awgn" or "rayleigh" (DJSCC only)
loss_k             loss = k MSE + (1 - k)(1 - MS-SSIM) (GVSC's k = 0.3; LPIPS is not available)
clips              training clips (frames_dataset names); default frames_dataset.TRAIN_CLIPS
clip_stride        keep every n-th frame of the training clips
max_frames         at most this many frames per clip (None = all; tests use a few)
eval_every         steps between evaluations on held-out frames (0 = never)
eval_per_clip      held-out frames per evaluation clip used during training
checkpoint_every   steps between checkpoints
threads            torch CPU threads
time_limit_min     stop (with a checkpoint) after this many minutes of wall time in this call
init_from          optional .safetensors whose tensors of matching name and shape initialise the
                   model (e.g. djscc_rgb from djscc_first_frame)
=================  ===========================================================================

Output folder: ``checkpoint.safetensors`` (model), ``optimizer.safetensors`` (Adam moments and
the torch RNG state), ``state.json`` (step, sampler RNG state, wall time, loss history, config),
``curves.png`` (loss and PSNR against step) and, when the run finishes, ``<variant>.safetensors``
(the exported weights). ``train(..., resume=True)`` continues from the checkpoint when the
folder has one with the same config. The MS-SSIM term of the loss is :func:`ms_ssim_loss`
(metrics.py's definition, computed cheaply for training); figures are always measured with
models/metrics.py.
"""
from __future__ import annotations

import json
import math
import os
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from . import metrics
from .frames_dataset import TRAIN_CLIPS, CropSampler, eval_frames, to_float
from .yaml_files import load_yaml_map

__all__ = ["DEFAULTS", "load_config", "train", "ms_ssim_loss", "export_weights", "model_card", "machine_info",
           "plot_curves"]

DEFAULTS = {
    "model": "djscc", "variant": "djscc_first_frame", "seed": 1, "steps": 20000, "batch_size": 16,
    "crop": 128, "lr": 1e-3, "lr_final": 2e-5, "warmup": 200, "snr_db": [0.0, 10.0],
    "channel": "awgn", "loss_k": 0.3, "clips": list(TRAIN_CLIPS), "clip_stride": 2, "max_frames": None,
    "eval_every": 1000, "eval_per_clip": 4, "checkpoint_every": 250, "threads": 2,
    "time_limit_min": None, "init_from": None, "log_every": 25,
}


def load_config(config) -> dict:
    """A config from a YAML path or a dict, over DEFAULTS; unknown keys are an error."""
    if isinstance(config, (str, os.PathLike)):
        user = load_yaml_map(config, "a training config")
    elif isinstance(config, dict):
        user = dict(config)
    else:
        raise TypeError(f"config must be a YAML path or a dict, got {type(config).__name__}")
    extra = sorted(set(user) - set(DEFAULTS) - {"msvq"})
    if extra:
        raise ValueError(f"unknown config keys: {', '.join(extra)} (known: {', '.join(sorted(DEFAULTS))})")
    cfg = {**DEFAULTS, **user}
    if cfg["model"] not in ("djscc", "msvq"):
        raise ValueError(f"model must be 'djscc' or 'msvq', got {cfg['model']!r}")
    lo, hi = cfg["snr_db"]
    if hi < lo:
        raise ValueError(f"snr_db must be [low, high], got {cfg['snr_db']}")
    return cfg


def machine_info() -> str:
    """One line naming the CPU, core count, torch version (for model cards)."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, torch {torch.__version__}, CPU only"


def _gauss_1d(channels: int) -> tuple[torch.Tensor, torch.Tensor]:
    """metrics.py's SSIM window (11 taps, sigma 1.5) as separable depthwise kernels."""
    r = torch.arange(metrics.SSIM_KERNEL, dtype=torch.float32) - metrics.SSIM_KERNEL // 2
    g = torch.exp(-r * r / (2 * metrics.SSIM_SIGMA ** 2))
    g = g / g.sum()
    return g.view(1, 1, 1, -1).repeat(channels, 1, 1, 1), g.view(1, 1, -1, 1).repeat(channels, 1, 1, 1)


def ms_ssim_loss(x_hat: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """1 - MS-SSIM as a training loss (differentiable, batch mean).

    The definition of models/metrics.py (Gaussian window 11 taps sigma 1.5, K1 = 0.01,
    K2 = 0.03, Wang et al.'s scale weights) with separable filtering and no border padding,
    which makes it about 10x cheaper than torchmetrics' (the loss is half of a training step
    otherwise). It uses as many scales as the image side allows (4 for 128-pixel crops) and
    clamps each scale's mean contrast-structure term at 1e-4 so that gradients stay finite.
    Evaluation figures always come from models/metrics.py; tests check that this agrees with
    it within 0.01 on 256 x 256 frames.
    """
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    scales = max(n for n in range(1, 6) if metrics.ms_ssim_min_side(n) <= min(x.shape[2:]))
    betas = metrics.MS_SSIM_BETAS[:scales]
    n, c = x.shape[:2]
    gh, gv = _gauss_1d(5 * c)
    a, b = x_hat, x
    value = torch.ones(n, dtype=x.dtype, device=x.device)
    for i, beta in enumerate(betas):
        if i:
            a, b = F.avg_pool2d(a, 2), F.avg_pool2d(b, 2)
        stack = torch.cat([a, b, a * a, b * b, a * b], dim=1)
        if min(stack.shape[2:]) >= metrics.SSIM_KERNEL:
            stack = F.conv2d(F.conv2d(stack, gh, groups=5 * c), gv, groups=5 * c)
        mu_a, mu_b, aa, bb, ab = stack.split(c, dim=1)
        var_a, var_b, cov = aa - mu_a * mu_a, bb - mu_b * mu_b, ab - mu_a * mu_b
        cs = (2 * cov + c2) / (var_a + var_b + c2)
        if i == len(betas) - 1:
            term = ((2 * mu_a * mu_b + c1) / (mu_a * mu_a + mu_b * mu_b + c1) * cs).mean(dim=(1, 2, 3))
        else:
            term = cs.mean(dim=(1, 2, 3))
        value = value * term.clamp_min(1e-4) ** beta
    return 1.0 - value.mean()


def _psnr_batch(x_hat: torch.Tensor, x: torch.Tensor) -> float:
    mse = F.mse_loss(x_hat.detach(), x).clamp_min(1e-10)
    return float(10 * torch.log10(1.0 / mse))


def _lr(cfg: dict, step: int) -> float:
    if step < cfg["warmup"]:
        return cfg["lr"] * (step + 1) / cfg["warmup"]
    t = (step - cfg["warmup"]) / max(1, cfg["steps"] - cfg["warmup"])
    return cfg["lr_final"] + 0.5 * (cfg["lr"] - cfg["lr_final"]) * (1 + math.cos(math.pi * min(1.0, t)))


# -- tasks: what is trained and how a step is computed --------------------------------------------
@dataclass
class _Task:
    model: torch.nn.Module
    mode: str                                  # sampler mode: "rgb" or "sketch"
    step_fn: object                            # (batch, generator) -> (loss, logs dict)
    eval_fn: object                            # () -> dict of held-out figures
    save_fn: object                            # (path, extra_metadata) -> Path
    name: str
    extra: dict = field(default_factory=dict)


def _djscc_task(cfg: dict, eval_data) -> _Task:
    from .channel_layers import make_channel, sample_snr_db
    from .djscc import VARIANTS, DeepJSCC, save_djscc

    if cfg["variant"] not in VARIANTS:
        raise ValueError(f"unknown DJSCC variant {cfg['variant']!r}; choose from {sorted(VARIANTS)}")
    vcfg = VARIANTS[cfg["variant"]]
    model = DeepJSCC(vcfg)
    channel = make_channel(cfg["channel"])
    lo, hi = cfg["snr_db"]
    k = cfg["loss_k"]
    mode = "sketch" if vcfg.in_channels == 1 else "rgb"

    def step_fn(x, gen):
        snr = sample_snr_db(x.shape[0], lo, hi, gen)
        x_hat = model(x, snr, channel, generator=gen)
        mse = F.mse_loss(x_hat, x)
        loss = k * mse + (1 - k) * ms_ssim_loss(x_hat, x)
        return loss, {"psnr": _psnr_batch(x_hat, x)}

    @torch.no_grad()
    def eval_fn():
        if eval_data is None:
            return {}
        x = eval_data if mode == "rgb" else eval_data["sketch"]
        out = {}
        gen = torch.Generator().manual_seed(1234)
        model.eval()
        for snr in (0.0, 10.0):
            x_hat = model(x, snr, make_channel("awgn"), generator=gen)
            out[f"psnr_{snr:g}dB"] = float(np.mean([_psnr_batch(a[None], b[None]) for a, b in zip(x_hat, x)]))
        model.train()
        return out

    return _Task(model, mode, step_fn, eval_fn, lambda p, meta: save_djscc(model, p, meta), cfg["variant"])


def _msvq_task(cfg: dict, eval_data) -> _Task:
    from .msvq import build_msvq_task

    return build_msvq_task(cfg, eval_data, ms_ssim_loss, _psnr_batch, _Task)


def _build_task(cfg: dict, eval_data) -> _Task:
    return _djscc_task(cfg, eval_data) if cfg["model"] == "djscc" else _msvq_task(cfg, eval_data)


def _eval_data(cfg: dict):
    """Held-out frames for monitoring during training (None when the clips are absent)."""
    if not cfg["eval_every"]:
        return None
    try:
        frames, _ = eval_frames(per_clip=cfg["eval_per_clip"], size=256)
    except FileNotFoundError:
        return None
    x = to_float(frames)
    if cfg["model"] == "djscc" and "sketch" in cfg["variant"]:
        from .sketch import extract_sketch

        return {"sketch": to_float(np.stack([extract_sketch(f, "xdog") for f in frames]))}
    return x


# -- checkpoints ------------------------------------------------------------------------------
def _save_checkpoint(out: Path, task: _Task, opt: torch.optim.Optimizer, state: dict) -> None:
    from safetensors.torch import save_file

    model_state = {k: v.detach().contiguous() for k, v in task.model.state_dict().items()}
    save_file(model_state, str(out / "checkpoint.safetensors.tmp"))
    opt_tensors = {"torch_rng": torch.get_rng_state()}
    names = {id(p): n for n, p in task.model.named_parameters()}
    for group in opt.param_groups:
        for p in group["params"]:
            for key, val in opt.state.get(p, {}).items():
                if isinstance(val, torch.Tensor):
                    opt_tensors[f"{names[id(p)]}::{key}"] = val.detach().contiguous()
    save_file(opt_tensors, str(out / "optimizer.safetensors.tmp"))
    with open(out / "state.json.tmp", "w") as f:
        json.dump(state, f)
    for name in ("checkpoint.safetensors", "optimizer.safetensors", "state.json"):
        os.replace(out / f"{name}.tmp", out / name)


def _load_checkpoint(out: Path, task: _Task, opt: torch.optim.Optimizer) -> dict:
    from safetensors.torch import load_file

    from .djscc import load_state_checked

    load_state_checked(task.model, load_file(str(out / "checkpoint.safetensors")), str(out))
    tensors = load_file(str(out / "optimizer.safetensors"))
    torch.set_rng_state(tensors.pop("torch_rng"))
    params = dict(task.model.named_parameters())
    for key, val in tensors.items():
        pname, skey = key.split("::")
        st = opt.state.setdefault(params[pname], {})
        st[skey] = val
    with open(out / "state.json") as f:
        return json.load(f)


def _init_from(model: torch.nn.Module, path: str) -> int:
    """Copy tensors of matching name and shape from a safetensors file; return how many."""
    from safetensors.torch import load_file

    src = load_file(str(path))
    own = model.state_dict()
    take = {k: v for k, v in src.items() if k in own and tuple(own[k].shape) == tuple(v.shape)}
    model.load_state_dict({**own, **take})
    return len(take)


def plot_curves(history: list[dict], evals: list[dict], path: Path, title: str) -> Path:
    """Loss and PSNR (training batches; held-out at 0 and 10 dB) against step, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 4))
    if history:
        s = [h["step"] for h in history]
        a1.plot(s, [h["loss"] for h in history])
        a2.plot(s, [h["psnr"] for h in history], label="training batches (SNR drawn per example)")
    for key in sorted({k for e in evals for k in e if k.startswith("psnr_")}):
        a2.plot([e["step"] for e in evals if key in e], [e[key] for e in evals if key in e], "o-",
                label=f"held-out, {key[5:]}")
    a1.set_xlabel("step"), a1.set_ylabel("loss"), a1.set_yscale("log"), a1.grid(alpha=0.3)
    a2.set_xlabel("step"), a2.set_ylabel("PSNR (dB)"), a2.grid(alpha=0.3), a2.legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def train(config, out_dir, resume: bool = True, progress: bool = True, steps: int | None = None,
          time_limit_min: float | None = None) -> dict:
    """Train a codec; return a summary dict (step, done, wall_s, last figures, paths).

    config: YAML path or dict (see module note). out_dir: folder for checkpoints and curves.
    resume: continue from ``out_dir``'s checkpoint when there is one (its config must agree on
    model and variant). steps / time_limit_min override the config's values.
    """
    cfg = load_config(config)
    if steps is not None:
        cfg["steps"] = int(steps)
    if time_limit_min is not None:
        cfg["time_limit_min"] = float(time_limit_min)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(int(cfg["threads"]))
    torch.manual_seed(cfg["seed"])
    eval_data = _eval_data(cfg)
    task = _build_task(cfg, eval_data)
    if cfg["init_from"]:
        task.extra["init_tensors"] = _init_from(task.model, cfg["init_from"])
    opt = torch.optim.Adam(task.model.parameters(), lr=cfg["lr"])
    sampler = CropSampler.from_clips(cfg["clips"], cfg["crop"], cfg["seed"], task.mode,
                                     stride=cfg["clip_stride"], max_frames=cfg["max_frames"])
    gen = torch.Generator().manual_seed(cfg["seed"] + 1)
    state = {"step": 0, "wall_s": 0.0, "history": [], "evals": [], "config": cfg}
    if resume and (out / "state.json").is_file():
        old = json.loads((out / "state.json").read_text())["config"]
        if (old["model"], old["variant"]) != (cfg["model"], cfg["variant"]):
            raise ValueError(f"{out} holds a {old['model']}/{old['variant']} run, not {cfg['model']}/{cfg['variant']}")
        state = _load_checkpoint(out, task, opt)
        sampler.set_state(state["sampler"])
        gen.set_state(torch.tensor(state["gen"], dtype=torch.uint8))
        state["config"] = cfg
    task.model.train()
    t_start = time.monotonic()
    wall0 = state["wall_s"]
    limit = cfg["time_limit_min"] * 60 if cfg["time_limit_min"] else None
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=cfg["steps"], initial=state["step"], desc=f"train {task.name}", dynamic_ncols=True)
    acc_loss, acc_psnr, acc_n = 0.0, 0.0, 0

    def snapshot():
        state["wall_s"] = wall0 + time.monotonic() - t_start
        state["sampler"] = sampler.get_state()
        state["gen"] = gen.get_state().tolist()
        _save_checkpoint(out, task, opt, state)
        plot_curves(state["history"], state["evals"], out / "curves.png", f"{cfg['model']} {task.name}")

    while state["step"] < cfg["steps"]:
        step = state["step"]
        for g in opt.param_groups:
            g["lr"] = _lr(cfg, step)
        x = sampler.batch(cfg["batch_size"])
        loss, logs = task.step_fn(x, gen)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"loss became {float(loss)} at step {step}; lower lr in the config")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(task.model.parameters(), 1.0)
        opt.step()
        state["step"] = step = step + 1
        acc_loss += float(loss.detach())
        acc_psnr += logs.get("psnr", float("nan"))
        acc_n += 1
        if step % cfg["log_every"] == 0 or step == cfg["steps"]:
            entry = {"step": step, "loss": acc_loss / acc_n, "psnr": acc_psnr / acc_n, "lr": _lr(cfg, step - 1)}
            entry.update({k: v for k, v in logs.items() if k != "psnr"})
            state["history"].append(entry)
            acc_loss, acc_psnr, acc_n = 0.0, 0.0, 0
            if bar is not None:
                bar.set_postfix(loss=f"{entry['loss']:.4f}", psnr=f"{entry['psnr']:.2f}")
        if cfg["eval_every"] and (step % cfg["eval_every"] == 0 or step == cfg["steps"]):
            ev = task.eval_fn()
            if ev:
                state["evals"].append({"step": step, **ev})
                if bar is not None:
                    bar.write(f"step {step}: " + ", ".join(f"{k} {v:.3f}" for k, v in ev.items()))
        if bar is not None:
            bar.update(1)
        over_time = limit is not None and time.monotonic() - t_start > limit
        if step % cfg["checkpoint_every"] == 0 or step == cfg["steps"] or over_time:
            snapshot()
        if over_time:
            break
    if bar is not None:
        bar.close()
    snapshot()
    done = state["step"] >= cfg["steps"]
    exported = None
    if done:
        exported = task.save_fn(out / f"{task.name}.safetensors",
                                {"steps": state["step"], "wall_s": round(state["wall_s"], 1), "seed": cfg["seed"]})
    return {"step": state["step"], "done": done, "wall_s": state["wall_s"], "out_dir": str(out),
            "weights": str(exported) if exported else None,
            "last": state["history"][-1] if state["history"] else None,
            "last_eval": state["evals"][-1] if state["evals"] else None}


def export_weights(out_dir, weights_dir, card_text: str | None = None) -> Path:
    """Copy a finished run's exported weights into ``weights_dir`` (checks the 25 MB limit) and
    write the model card ``<variant>.md`` when ``card_text`` is given. Returns the weights path."""
    import shutil

    out = Path(out_dir)
    with open(out / "state.json") as f:
        state = json.load(f)
    name = state["config"]["variant"]
    src = out / f"{name}.safetensors"
    if not src.is_file():
        raise FileNotFoundError(f"{src}: the run in {out} has not finished (step {state['step']})")
    if src.stat().st_size > 25 * 2 ** 20:
        raise ValueError(f"{src} is {src.stat().st_size / 2**20:.1f} MB, over the 25 MB limit")
    dst = Path(weights_dir) / src.name
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dst)
    if card_text is not None:
        (Path(weights_dir) / f"{name}.md").write_text(card_text)
    return dst


def model_card(out_dir, eval_rows: list[dict] | None = None, notes: str = "", eval_command: str = "") -> str:
    """Markdown model card for a finished run: architecture and budget, data, training
    settings, steps, wall time, machine, and the evaluation table when ``eval_rows`` are given."""
    out = Path(out_dir)
    state = json.loads((out / "state.json").read_text())
    cfg = state["config"]
    name = cfg["variant"]
    lines = [f"# {name}", ""]
    if cfg["model"] == "djscc":
        from .djscc import VARIANTS

        v = VARIANTS[name]
        k = v.num_symbols()
        kind = "RGB" if v.in_channels == 3 else "one-channel sketch"
        lat_h, lat_w = v.image_size[0] // v.downsample, v.image_size[1] // v.downsample
        lines += [f"Attention deep JSCC (models/djscc.py), {kind} "
                  f"{v.image_size[0]}x{v.image_size[1]} -> {k:,} complex symbols of unit average power "
                  f"(latent {lat_h}x{lat_w}x{v.latent_channels} real), "
                  f"CBR {v.cbr():.5f} per RGB frame. Widths {list(v.widths)}, downsampling {v.downsample}.",
                  f"Channel during training: {cfg['channel']}, SNR (Es/N0 per complex symbol) drawn uniformly in "
                  f"{cfg['snr_db'][0]:g}..{cfg['snr_db'][1]:g} dB per example; one model for every SNR "
                  f"(SNR-conditioned attention)."]
    else:
        from .msvq import VARIANTS

        v = VARIANTS[name]
        lines += [f"MSVQ (models/msvq.py): {v.groups} groups x {v.dim}-dim vectors per position at 1/8 resolution, one "
                  f"shared codebook of {v.codebook_size} entries ({v.bits_per_index} bits per index), "
                  f"{v.indices_per_frame():,} indices = {v.indices_per_frame() * v.bits_per_index:,} bits per 256x256 "
                  f"frame; EMA codebook (decay {v.decay}), commitment weight {v.beta}."]
    params = None
    try:
        from safetensors.torch import load_file

        params = sum(t.numel() for t in load_file(str(out / "checkpoint.safetensors")).values())
    except (OSError, RuntimeError):
        pass
    lines += ["", "## Training", "",
              f"- data: frames of {', '.join(cfg['clips'])} (frame stride {cfg['clip_stride']}), random square crops "
              f"of random scale resized to {cfg['crop']}x{cfg['crop']}, random left-right flips "
              f"(models/frames_dataset.py); held out for evaluation: bikes.mp4 and sintel_48f.mp4",
              f"- loss: {cfg['loss_k']} MSE + {1 - cfg['loss_k']:.1f} (1 - MS-SSIM); GVSC uses LPIPS in place of "
              f"MS-SSIM, but no LPIPS weights are available offline here",
              f"- Adam, lr {cfg['lr']:g} cosine-decayed to {cfg['lr_final']:g} after {cfg['warmup']} warm-up steps, "
              f"batch {cfg['batch_size']}, gradient norm clipped at 1, seed {cfg['seed']}"
              + (f", initialised from {cfg['init_from']} where shapes agree" if cfg.get("init_from") else ""),
              f"- steps: {state['step']:,} ({state['step'] * cfg['batch_size']:,} crops); wall time "
              f"{state['wall_s'] / 60:.1f} min",
              f"- machine: {machine_info()}, shared with other jobs (run under nice)",
              f"- parameters: {params:,}" if params else "- parameters: see the weights file",
              f"- config: configs/train_{name if cfg['model'] == 'djscc' else 'msvq'}.yaml"]
    if eval_rows:
        lines += ["", "## Evaluation (held-out frames, AWGN)", ""]
        if eval_command:
            lines += ["```sh", eval_command, "```", ""]
        lines += ["| codec | SNR (dB) | PSNR (dB) | SSIM | MS-SSIM | symbols/frame | CBR | lost "
                  "| ms/frame (1 thread) |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for r in eval_rows:
            snr = "error-free" if r["snr_db"] is None else f"{r['snr_db']:g}"
            ms = "" if r.get("ms_per_frame") is None else f"{r['ms_per_frame']:.1f}"
            lines.append(f"| {r['model']} | {snr} | {r['psnr']:.2f} | {r['ssim']:.3f} | {r['ms_ssim']:.3f} | "
                         f"{r['symbols']:,.0f} | {r['cbr']:.5f} | {r.get('lost', 0):.2f} | {ms} |")
    if notes:
        lines += ["", "## Notes", "", notes.strip()]
    lines += ["", "Loading: `semcom_models.djscc.load_djscc(name)` / `semcom_models.msvq.load_msvq(name)`, "
              "CPU only, no network; the file's metadata holds the architecture config.", ""]
    return "\n".join(lines)
