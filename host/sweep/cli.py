"""`semcom sweep`'s body: list, dry-run, run and report (the parser is in semcom_host.commands.sweep)."""
from __future__ import annotations

import sys
from importlib import resources
from pathlib import Path

from .config import SweepConfigError, bundled_sweeps, load_config
from .grid import expand_grid
from .report import write_outputs
from .results import latest_records, read_results
from .runners import run_sweep


def run_cli(args, print_json) -> int:
    """`semcom sweep` (its parser: semcom_host.commands.sweep): run or report a sweep; exit status 0, or 1 when
    points failed in this run."""
    if args.list:
        from semcom_models.yaml_files import load_yaml_map

        info = {}
        for name in bundled_sweeps():
            try:
                data = load_yaml_map(str(resources.files("semcom_host").joinpath("sweeps", f"{name}.yaml")),
                                     "a sweep config")
                lines = str(data.get("description", "")).strip().splitlines()
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
                  f"{len(cfg.channels)} channels x {len(cfg.snr_settings)} SNR settings x {len(cfg.seeds)} seeds), "
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
