"""The human side of an AKEI calibration (semcom_host.experiments.akei_calibration): its markdown
data card and its plot (quality against keyframe ratio per SNR; best and fitted ratio against
SNR)."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

__all__ = ["markdown_card", "plot_calibration"]

#: qualities this close (relative) to the best count as ties (bold in the card)
TIE_RTOL = 1e-9


def _cell(v, spec: str) -> str:
    return "n/a" if v is None else format(v, spec)


def markdown_card(doc: dict, json_name: str = "the JSON file") -> str:
    """The markdown data card of a calibration document."""
    c = doc["card"]
    spec = ".2f" if c["metric"] == "psnr" else ".4f"
    ratios, snrs = c["ratios"], c["snrs_db"]
    poly = " + ".join([f"{doc['coeffs'][0]:.6g}"] + [f"{v:.6g} s^{k}" if k > 1 else f"{v:.6g} s"
                                                      for k, v in enumerate(doc["coeffs"]) if k])
    lines = [f"# AKEI SNR -> keyframe ratio calibration ({c['scheme']})", "",
             f"Data card of `{json_name}`: VQ-DeepVSC's keyframe ratio r = f(SNR) "
             f"(`ratio_coeffs`, ascending powers of s = SNR in dB, Es/N0 per data subcarrier), "
             f"clipped to [{doc['min_ratio']:g}, 1].", "",
             f"- fit: degree {doc['degree']}, penalty {doc['penalty']}, lam {doc['lam']:g}; "
             f"r(s) = {poly}",
             f"- coeffs: `{json.dumps(doc['coeffs'])}`",
             f"- RMS residual (fitted - best ratio): {c['rms_residual']:.4g}",
             f"- metric: {c['metric_label']} (`{c['metric']}`, higher is better), {c['averaging']}",
             f"- best ratio per SNR: {c['best_rule']}",
             f"- budget reference: keyframe_ratio {c['keyframe_ratio']:g} (its coded symbols are each clip's "
             "budget); a ratio r is run as `ratio_coeffs: [r]`",
             f"- channels: {', '.join(c['channels'])}; seeds: {', '.join(str(s) for s in c['seeds'])}; "
             f"frames {c['frames']} at {c['size']} x {c['size']} px; PHY engine; decoder: "
             f"{', '.join(c.get('decoders') or ['?'])}",
             f"- points: {c['points']} ({c['seconds']:.0f} s wall, work folder `{c['work_dir']}`)",
             f"- git commit: {c.get('git_commit') or 'unknown'}; date: {c['date']}",
             f"- command: `{c.get('command') or 'n/a'}`", "", "## Clips", "",
             "| clip | source | frames | size (H x W) | keyframes allowed per ratio |", "|---|---|---|---|---|"]
    for clip in c["clips"]:
        size = clip.get("size") or [None, None]
        allowed = ", ".join(f"{k}: {v}" for k, v in clip["keyframes_allowed"].items())
        lines.append(f"| {clip['name']} | `{clip['source']}` | {clip['frames']} | {size[0]} x {size[1]} | {allowed} |")
    lines += ["", f"## Quality q(SNR, ratio): {c['metric_label']}", "",
              "| SNR (dB) | " + " | ".join(f"r={r:g}" for r in ratios) + " | best r | fitted r | residual |",
              "|---|" + "---|" * (len(ratios) + 3)]
    for i, s in enumerate(snrs):
        row = c["quality"][i]
        top = c["best_quality"][i]
        cells = [f"**{_cell(v, spec)}**" if v is not None and math.isclose(v, top, rel_tol=TIE_RTOL)
                 else _cell(v, spec) for v in row]
        lines.append(f"| {s:g} | " + " | ".join(cells) + f" | {c['best_ratio'][i]:.4g} | {c['fitted_ratio'][i]:.4g} "
                     f"| {c['residuals'][i]:+.4g} |")
    if c.get("keyframes_sent") and any(v is not None for row in c["keyframes_sent"] for v in row):
        lines += ["", "## Keyframes sent (mean; the transmitter's choice within the budget)", "",
                  "| SNR (dB) | " + " | ".join(f"r={r:g}" for r in ratios) + " |", "|---|" + "---|" * len(ratios)]
        for i, s in enumerate(snrs):
            lines.append(f"| {s:g} | " + " | ".join(_cell(v, ".3g") for v in c["keyframes_sent"][i]) + " |")
    if c.get("notes"):
        lines += ["", "## Notes", ""] + [f"- {n}" for n in c["notes"]]
    return "\n".join(lines) + "\n"


def plot_calibration(doc: dict, path) -> Path:
    """PNG: quality against ratio (one line per SNR, the best marked) and best / fitted ratio
    against SNR (the fitted polynomial, clipped, drawn over the SNR range)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from semcom_models.keyframes import KeyframeRatioPolynomial

    c = doc["card"]
    snrs, ratios = np.asarray(c["snrs_db"], float), np.asarray(c["ratios"], float)
    q = np.asarray([[np.nan if v is None else v for v in row] for row in c["quality"]], float)
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4.2))
    cmap = matplotlib.colormaps["viridis"]
    for i, s in enumerate(snrs):
        color = cmap(i / max(1, len(snrs) - 1))
        a.plot(ratios, q[i], marker="o", ms=3, color=color, label=f"{s:g} dB")
        j = int(np.nanargmax(q[i]))
        a.plot(ratios[j], q[i, j], marker="*", ms=10, color=color, markeredgecolor="k", linestyle="none")
    a.set_xscale("log")
    a.set_xticks(ratios, [f"{r:g}" for r in ratios])
    a.minorticks_off()
    a.set_xlabel("keyframe ratio r = M / T")
    a.set_ylabel(f"{c['metric_label']} (mean over clips, channels, seeds)")
    a.set_title("quality against keyframe ratio (star: best)")
    a.grid(True, alpha=0.3)
    a.legend(fontsize=7, title="SNR", title_fontsize=7, ncol=2)
    poly = KeyframeRatioPolynomial(np.asarray(doc["coeffs"], float), float(doc["min_ratio"]))
    fine = np.linspace(snrs.min(), snrs.max(), 200)
    b.plot(snrs, c["best_ratio"], "o", color="C1", label="best ratio (measured)")
    b.plot(fine, poly(fine), "-", color="C0",
           label=f"fitted: degree {doc['degree']}, {doc['penalty']}, lam {doc['lam']:g}")
    b.set_xlabel("SNR (dB, Es/N0)")
    b.set_ylabel("keyframe ratio r")
    b.set_title(f"best and fitted ratio (RMS residual {c['rms_residual']:.3g})")
    b.grid(True, alpha=0.3)
    b.legend(fontsize=8)
    fig.suptitle(f"AKEI calibration of {c['scheme']}: {', '.join(x['name'] for x in c['clips'])}; "
                 f"{', '.join(c['channels'])}; budget keyframe_ratio {c['keyframe_ratio']:g}", fontsize=9)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
