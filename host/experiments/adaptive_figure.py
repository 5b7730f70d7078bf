"""docs/figures/adaptive.png: quality against SNR, each scheme fixed (dashed) against the same
scheme adapting to the SNR fed back (solid), one row per channel, from the results of the bundled
``adaptive`` sweep (host/sweeps/adaptive.yaml), in the manner of VQ-DeepVSC's Figs. 6-7.

Pairs are the sweep's scheme labels ``NAME-fixed`` / ``NAME-adaptive``; each point is the mean
over the sweep's clips and seeds (semcom_host.sweep.report.aggregate), MS-SSIM and PSNR, and LPIPS
where the run measured it (its weights configured). The legend gives each line's mean net CBR.

``python -m semcom_host.experiments.adaptive_figure [--sweep adaptive] [--out docs/figures/adaptive.png]``
after ``semcom sweep adaptive``; ``--json`` prints the table the figure draws.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

__all__ = ["pair_rows", "plot_pairs", "main"]

#: (metric key, axis label), drawn when present
PANELS = (("ms_ssim", "MS-SSIM"), ("psnr", "PSNR (dB)"), ("lpips", "LPIPS (lower is better)"))


def pair_rows(cfg, records: dict) -> dict:
    """{"channels", "pairs": {NAME: {"fixed"|"adaptive": {channel: [(snr, {metric: mean})]}}},
    "cbr": {label: mean cbr_net}} from a sweep's config and latest records."""
    from semcom_host.sweep.report import aggregate, cbr_table

    rows = [r for r in aggregate(cfg, records) if not isinstance(r["snr_db"], str)]
    pairs: dict = {}
    for s in cfg.schemes:
        name, _, kind = s.label.rpartition("-")
        if kind not in ("fixed", "adaptive") or not name:
            continue
        side = {ch: [(r["snr_db"], {k: r[k] for k, _ in PANELS if k in r})
                     for r in rows if r["scheme"] == s.label and r["channel"] == ch] for ch in cfg.channels}
        if any(side.values()):
            pairs.setdefault(name, {})[kind] = side
    cbr = {r["scheme"]: r.get("cbr_net") for r in cbr_table(cfg, records)}
    return {"channels": list(cfg.channels), "pairs": pairs, "cbr": cbr}


def plot_pairs(table: dict, path, title: str = "") -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    present = [(k, label) for k, label in PANELS
               if any(k in m for p in table["pairs"].values() for side in p.values()
                      for pts in side.values() for _, m in pts)]
    chans = table["channels"]
    fig, axes = plt.subplots(len(chans), len(present), figsize=(4.6 * len(present), 3.6 * len(chans)), squeeze=False)
    for i, ch in enumerate(chans):
        for j, (key, label) in enumerate(present):
            ax = axes[i][j]
            for c, (name, sides) in enumerate(table["pairs"].items()):
                for kind, style in (("fixed", "--"), ("adaptive", "-")):
                    pts = [(s, m[key]) for s, m in sides.get(kind, {}).get(ch, []) if key in m]
                    if not pts:
                        continue
                    cbr = table["cbr"].get(f"{name}-{kind}")
                    tag = f" (CBR {cbr:.4f})" if isinstance(cbr, float) else ""
                    ax.plot([p[0] for p in pts], [p[1] for p in pts], style, marker="os^D"[c % 4], ms=4,
                            color=f"C{c % 10}", label=f"{name} {kind}{tag}")
            ax.set_title(f"{label}, {ch}", fontsize=10)
            ax.set_xlabel("SNR (dB, Es/N0)")
            ax.grid(True, alpha=0.3)
    axes[0][0].legend(fontsize=7)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def main(argv=None) -> int:
    from semcom_host.sweep import latest_records, load_config, read_results

    ap = argparse.ArgumentParser(prog="python -m semcom_host.experiments.adaptive_figure", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sweep", default="adaptive", help="bundled sweep name or config file (default adaptive)")
    ap.add_argument("--results", help="its output folder, when not the config's out")
    ap.add_argument("--out", default="docs/figures/adaptive.png", help="the PNG to write")
    ap.add_argument("--json", action="store_true", help="print the table drawn")
    args = ap.parse_args(argv)
    cfg = load_config(args.sweep, out=args.results)
    records, _ = read_results(cfg.results_path)
    table = pair_rows(cfg, latest_records(records))
    if not table["pairs"]:
        print(f"no NAME-fixed / NAME-adaptive results in {cfg.results_path}: run `semcom sweep {args.sweep}`",
              file=sys.stderr)
        return 1
    plot_pairs(table, args.out, f"{cfg.name}: fixed (dashed) vs adaptive (solid), mean over {len(cfg.videos)} "
                                f"clips, {cfg.frames} frames at {cfg.size}x{cfg.size}")
    if args.json:
        print(json.dumps(table))
    else:
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
