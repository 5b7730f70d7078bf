"""`semcom train`: train a neural codec (DJSCC or MSVQ) from a config file."""
from __future__ import annotations

import json

from .common import print_json


def register(sub) -> None:
    p = sub.add_parser("train", help="train a neural codec (DJSCC or MSVQ)",
                       description="Train a codec from a config file (configs/train_*.yaml): seeded, resumable, "
                                   "with a progress bar and loss/PSNR curves (docs/codecs.md).")
    p.add_argument("kind", choices=("djscc", "msvq"))
    p.add_argument("--config", required=True, help="YAML config, e.g. configs/train_djscc_first_frame.yaml")
    p.add_argument("--out", required=True, help="run folder: checkpoints, curves, final weights")
    p.add_argument("--no-resume", action="store_true", help="start over even if --out has a checkpoint")
    p.add_argument("--steps", type=int, help="total steps (overrides the config)")
    p.add_argument("--time-limit", type=float, help="stop after this many minutes (resumable)")
    p.add_argument("--export", metavar="DIR", help="copy the finished weights to DIR (e.g. models/weights)")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(func=run)


def run(args) -> int:
    from semcom_models.codec_train import export_weights, load_config, train

    cfg = load_config(args.config)
    if cfg.get("model") != args.kind:
        raise ValueError(f"{args.config} trains {cfg.get('model')!r}, not {args.kind!r}")
    summary = train(cfg, args.out, resume=not args.no_resume, progress=not args.json, steps=args.steps,
                    time_limit_min=args.time_limit)
    if args.export:
        if not summary.get("done"):
            raise ValueError("training has not finished; run it again (it resumes) before --export")
        summary["exported"] = str(export_weights(args.out, args.export))
    if args.json:
        print_json(summary)
    else:
        print(json.dumps(summary, indent=1, default=str))
    return 0
