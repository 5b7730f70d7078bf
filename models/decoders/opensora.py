"""Open-Sora 2.0 as a decoder, run from its own repository in a subprocess.

diffusers has no Open-Sora pipeline, so gr-semcom drives the repository's inference script
(``scripts/diffusion/inference.py`` of hpcaitech/Open-Sora v2.0) with its own Python (an
environment where Open-Sora is installed) and reads the video it writes back with PyAV.

Paths (see :mod:`semcom_models.model_paths`): ``opensora-repo`` is the git checkout
(``$SEMCOM_OPENSORA_REPO_PATH``), ``opensora`` the checkpoint folder downloaded from
hpcai-tech/Open-Sora-v2 (``$SEMCOM_OPENSORA_PATH``), holding ``Open_Sora_v2.safetensors``,
``hunyuan_vae.safetensors``, ``google/t5-v1_1-xxl`` and ``openai/clip-vit-large-patch14``. The
Python that runs the script is the ``python`` option, else ``$SEMCOM_OPENSORA_PYTHON``, else this
interpreter.

For each segment the decoder writes a CSV (columns ``text`` and ``ref``) and the reference
frames as PNG into a fresh folder, runs::

    <python> -m torch.distributed.run --nproc_per_node 1 --standalone scripts/diffusion/inference.py
        <inference config> --save-dir <dir> --dataset.data_path <csv> --cond_type <t2v|i2v_head|i2v_tail|i2v_loop>
        --sampling_option.num_frames <n> --sampling_option.resolution <256px|768px>
        --sampling_option.aspect_ratio <1:1|16:9|9:16> --sampling_option.num_steps <steps>
        --sampling_option.seed <seed> --seed <seed> --fps_save <fps>
        --model.from_pretrained <ckpt>/Open_Sora_v2.safetensors --ae.from_pretrained <ckpt>/hunyuan_vae.safetensors
        --t5.from_pretrained <ckpt>/google/t5-v1_1-xxl --clip.from_pretrained <ckpt>/openai/clip-vit-large-patch14

in the repository folder, and reads the one ``.mp4`` it leaves under the save folder. Open-Sora
2.0 generates 4k+1 frames (up to 129) at a resolution class and aspect ratio; frames are resized
to the conditioning's size. Segments run from keyframe to keyframe: ``i2v_loop`` when both ends
are given, ``i2v_head`` from the first frame (a keyframe or the previous segment's last frame).
"""
from __future__ import annotations

import csv
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Sequence

import numpy as np

from semcom_models import model_paths
from semcom_models.decoders.base import Capability, Conditioning, VideoDecoder
from semcom_models.decoders.diffusers_video import resize_frames
from semcom_models.segments import MODEL_RULES, fit_length, plan_segments, stitch

ENV_PYTHON = "SEMCOM_OPENSORA_PYTHON"
SCRIPT = Path("scripts/diffusion/inference.py")
DEFAULT_INFERENCE_CONFIG = "configs/diffusion/inference/256px.py"
CHECKPOINT_FILES = {
    "model": "Open_Sora_v2.safetensors",
    "ae": "hunyuan_vae.safetensors",
    "t5": "google/t5-v1_1-xxl",
    "clip": "openai/clip-vit-large-patch14",
}
ASPECT_RATIOS = {"1:1": 1.0, "16:9": 16 / 9, "9:16": 9 / 16}
TORCHRUN = ("-m", "torch.distributed.run", "--nproc_per_node", "1", "--standalone")


def nearest_aspect_ratio(height: int, width: int) -> str:
    """The Open-Sora aspect ratio (width:height) closest to width / height, in log scale."""
    r = np.log(width / height)
    return min(ASPECT_RATIOS, key=lambda k: abs(np.log(ASPECT_RATIOS[k]) - r))


def read_video(path: str | os.PathLike) -> np.ndarray:
    """All frames of a video file as uint8 T x H x W x 3 (RGB), with PyAV."""
    import av

    with av.open(str(path)) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    if not frames:
        raise RuntimeError(f"{path} holds no video frames")
    return np.stack(frames)


def cond_type(first: bool, last: bool) -> str:
    """Open-Sora's condition type for reference frames at the first and/or last frame."""
    return {(False, False): "t2v", (True, False): "i2v_head", (False, True): "i2v_tail",
            (True, True): "i2v_loop"}[(first, last)]


class OpenSoraDecoder(VideoDecoder):
    """Open-Sora 2.0 through its repository's inference script (see the module docstring).

    Options: repo_path, checkpoint_path, config (model config file), inference_config (relative to
    the repository), resolution ("256px" or "768px"), num_steps (50), python, launcher (arguments
    between python and the script; default torchrun on one process), motion_score (None: the
    config's), timeout_s (None: no limit), extra_args (appended to the command).
    """

    name = "opensora"
    capabilities = Capability.TEXT | Capability.FIRST_FRAME | Capability.FIRST_LAST | Capability.KEYFRAMES

    def __init__(self, repo_path: str | os.PathLike | None = None, checkpoint_path: str | os.PathLike | None = None,
                 *, config: str | os.PathLike | None = None, inference_config: str = DEFAULT_INFERENCE_CONFIG,
                 resolution: str = "256px", num_steps: int = 50, python: str | None = None,
                 launcher: Sequence[str] | None = None, motion_score: int | None = None,
                 timeout_s: float | None = None, extra_args: Sequence[str] = ()):
        self.repo = model_paths.resolve_model_path("opensora-repo", repo_path, config=config)
        missing = [str(self.repo / p) for p in (SCRIPT, Path(inference_config)) if not (self.repo / p).is_file()]
        if missing:
            raise FileNotFoundError(f"{self.repo} is not an Open-Sora 2.0 checkout: missing {', '.join(missing)}")
        self.checkpoints = model_paths.resolve_model_path("opensora", checkpoint_path, config=config)
        missing = [str(self.checkpoints / f) for f in CHECKPOINT_FILES.values() if not (self.checkpoints / f).exists()]
        if missing:
            raise FileNotFoundError(f"Open-Sora checkpoint folder {self.checkpoints} lacks {', '.join(missing)} "
                                    "(download hpcai-tech/Open-Sora-v2 into it)")
        if resolution not in ("256px", "768px"):
            raise ValueError(f"resolution must be '256px' or '768px', got {resolution!r}")
        self.inference_config = inference_config
        self.resolution = resolution
        self.num_steps = num_steps
        self.python = python or os.environ.get(ENV_PYTHON) or sys.executable
        self.launcher = list(TORCHRUN if launcher is None else launcher)
        self.motion_score = motion_score
        self.timeout_s = timeout_s
        self.extra_args = list(extra_args)
        self.rule = MODEL_RULES["opensora2"]

    def command(self, csv_path: str | os.PathLike, save_dir: str | os.PathLike, num_frames: int, ctype: str,
                seed: int, aspect_ratio: str, fps: float) -> list[str]:
        """The command line (run in the repository folder) generating one segment."""
        if not self.rule.supports(num_frames):
            raise ValueError(f"Open-Sora 2.0 generates 4k+1 frames up to 129, not {num_frames}")
        if aspect_ratio not in ASPECT_RATIOS:
            raise ValueError(f"aspect ratio must be one of {sorted(ASPECT_RATIOS)}, got {aspect_ratio!r}")
        ck = {k: str(self.checkpoints / v) for k, v in CHECKPOINT_FILES.items()}
        cmd = [self.python, *self.launcher, str(SCRIPT), self.inference_config,
               "--save-dir", str(save_dir), "--dataset.data_path", str(csv_path), "--cond_type", ctype,
               "--sampling_option.num_frames", str(num_frames), "--sampling_option.resolution", self.resolution,
               "--sampling_option.aspect_ratio", aspect_ratio, "--sampling_option.num_steps", str(self.num_steps),
               "--sampling_option.seed", str(int(seed)), "--seed", str(int(seed)),
               "--fps_save", str(max(1, int(round(fps)))),
               "--model.from_pretrained", ck["model"], "--ae.from_pretrained", ck["ae"],
               "--t5.from_pretrained", ck["t5"], "--clip.from_pretrained", ck["clip"]]
        if self.motion_score is not None:
            cmd += ["--motion_score", str(int(self.motion_score))]
        return cmd + self.extra_args

    @staticmethod
    def write_inputs(folder: Path, prompt: str, refs: dict[str, np.ndarray]) -> Path:
        """Write the prompt CSV and reference PNGs ("first"/"last") into ``folder``; return the CSV."""
        from PIL import Image

        paths = []
        for key in ("first", "last"):
            if key in refs:
                p = folder / f"ref_{key}.png"
                Image.fromarray(np.asarray(refs[key], dtype=np.uint8)).save(p)
                paths.append(str(p))
        csv_path = folder / "semcom.csv"
        with open(csv_path, "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f, quoting=csv.QUOTE_ALL)
            w.writerow(["text", "ref"])
            w.writerow([prompt or "", ";".join(paths)])
        return csv_path

    def run_segment(self, prompt: str, refs: dict[str, np.ndarray], num_frames: int, seed: int,
                    aspect_ratio: str, fps: float) -> np.ndarray:
        """Generate one segment; uint8 frames as Open-Sora wrote them."""
        with tempfile.TemporaryDirectory(prefix="semcom_opensora_") as tmp:
            folder = Path(tmp)
            csv_path = self.write_inputs(folder, prompt, refs)
            save_dir = folder / "out"
            cmd = self.command(csv_path, save_dir, num_frames, cond_type("first" in refs, "last" in refs), seed,
                               aspect_ratio, fps)
            try:
                proc = subprocess.run(cmd, cwd=self.repo, capture_output=True, text=True, timeout=self.timeout_s)
            except FileNotFoundError as e:
                raise RuntimeError(f"cannot run Open-Sora with {self.python!r} (set ${ENV_PYTHON}): {e}") from e
            if proc.returncode != 0:
                tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-15:])
                raise RuntimeError(f"Open-Sora failed (exit {proc.returncode}): {' '.join(cmd)}\n{tail}")
            videos = sorted(save_dir.rglob("*.mp4"))
            if len(videos) != 1:
                raise RuntimeError(f"expected one .mp4 under {save_dir}, found {len(videos)}")
            return read_video(videos[0])

    def _decode(self, cond: Conditioning) -> np.ndarray:
        bounds = set(cond.keyframes) | ({s.start for s in cond.segments} if cond.adaptation == "dsa" else set())
        segments = plan_segments(cond.num_frames, self.rule, sorted(bounds))
        aspect = nearest_aspect_ratio(cond.height, cond.width)
        pieces, prev_last = [], None
        for n, seg in enumerate(segments):
            first = cond.keyframes.get(seg.start, prev_last)
            last = cond.keyframes.get(seg.stop - 1) if seg.length > 1 else None
            refs = {k: v for k, v in (("first", first), ("last", last)) if v is not None}
            frames = self.run_segment(cond.prompt_for(seg.start, seg.stop), refs, seg.gen_frames, int(cond.seed) + n,
                                      aspect, cond.fps)
            frames = resize_frames(frames, cond.height, cond.width)
            mode = "resample" if ("last" in refs or frames.shape[0] < seg.length) else "trim"
            piece = fit_length(frames, seg.length, mode)
            prev_last = piece[-1]
            pieces.append(piece)
        return stitch(pieces, segments, cond.num_frames)


__all__ = ["OpenSoraDecoder", "read_video", "nearest_aspect_ratio", "cond_type"]
