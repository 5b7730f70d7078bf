"""A sweep's outputs from its results: metric-vs-SNR plots, the CBR table, summary.csv and the
self-contained report.html."""
from __future__ import annotations

import base64
import csv
import html
import io
import math
import os
from pathlib import Path

from .config import CBR_KEYS, METRICS, SweepConfig
from .grid import expand_grid, fmt_snr
from .results import latest_records, now, read_results


def _value(result: dict, key: str):
    v = result.get(key)
    if v is None:
        v = (result.get("scheme_report") or {}).get(key)
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        return None
    return float(v)


def aggregate(cfg: SweepConfig, records: dict[str, dict]) -> list[dict]:
    """One row per (channel, scheme label, SNR setting: dB or trajectory) with finished points:
    n (ok points), failed, and per metric of :data:`METRICS` present: mean, min, max over videos
    and seeds."""
    grid = expand_grid(cfg)
    cells: dict[tuple, list] = {}
    for p in grid:
        cells.setdefault((p.channel, p.scheme_label, p.snr_db), []).append(records.get(p.key))
    rows = []
    for ch in cfg.channels:
        for s in cfg.schemes:
            for snr in cfg.snr_settings:
                snr = snr if isinstance(snr, str) else float(snr)
                recs = [r for r in cells.get((ch, s.label, snr), []) if r is not None]
                ok = [r["result"] for r in recs if r["status"] == "ok"]
                if not recs:
                    continue
                row = {"channel": ch, "scheme": s.label, "snr_db": snr, "n": len(ok),
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
        mine = [r for r in rows if r["channel"] == channel and r["scheme"] == s.label and metric in r
                and not isinstance(r["snr_db"], str)]  # trajectories are in the tables only
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
        ["channels", ", ".join(cfg.channels)], ["SNRs (dB, Es/N0)", ", ".join(fmt_snr(s) for s in cfg.snrs) or "none"],
        ["SNR trajectories", ", ".join(fmt_snr(s) for s in cfg.trajectories) or "none"],
        ["link adaptation", f"on, feedback {cfg.feedback_delay} transmissions late, {cfg.feedback_loss:g} lost"
                            if cfg.link_adaptation else "off"],
        ["seeds", ", ".join(map(str, cfg.seeds))], ["frames x size", f"{cfg.frames or 'all'} x {cfg.size}x{cfg.size}"],
        ["via", cfg.via], ["points", f"{len(grid_keys)} in the grid, {ok} finished, {len(failed)} failed, "
                                     f"{len(grid_keys) - len(records)} not run"],
        ["written", now()]]))
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
                                         for x in cfg.snr_settings])
            parts.append(f"<h3>{html.escape(label)}, {html.escape(ch)} (mean over videos and seeds)</h3>")
            parts.append(_html_table(["scheme \\ SNR (dB)"] + [fmt_snr(x) for x in cfg.snr_settings], body))
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
