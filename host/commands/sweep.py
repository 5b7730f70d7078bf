"""`semcom sweep`: a grid of videos x schemes x channels x SNRs x seeds, resumable, with plots."""
from __future__ import annotations

from .common import print_json


def register(sub) -> None:
    p = sub.add_parser("sweep", help="a grid of videos x schemes x channels x SNRs x seeds, resumable, with plots",
                       description="Run every point of a sweep config (docs/sweeps.md) through `semcom run`'s "
                                   "engine: one JSON line per finished point in OUT/results.jsonl (a restarted "
                                   "sweep skips finished points), in parallel worker processes or on Ray; then "
                                   "plots of each metric against SNR (Es/N0 in dB), a CBR table and an HTML report "
                                   "in OUT. Exit status 1 when points failed in this run.")
    p.add_argument("config", nargs="?", help="sweep YAML file, or a bundled name (see --list)")
    p.add_argument("--out", help="output folder (default: the config's 'out', else out/sweeps/NAME)")
    p.add_argument("--workers", type=int, help="parallel worker processes, or local Ray CPUs (default: config, 1)")
    p.add_argument("--threads", type=int, help="torch/OpenMP threads per worker (default 1)")
    p.add_argument("--via", choices=("flowgraph", "engine"), help="override the config's 'via'")
    p.add_argument("--ray", nargs="?", const="local", metavar="ADDRESS",
                   help="run the points as Ray tasks: on a local Ray, or on the cluster at ADDRESS "
                        "(e.g. auto, ray://HOST:10001); needs the 'cluster' extra")
    p.add_argument("--no-ray", action="store_true", help="ignore the config's 'ray'")
    p.add_argument("--retry-failed", action="store_true", help="run the points recorded as failed again")
    p.add_argument("--limit", type=int, metavar="N", help="run at most N points now (the rest on a later run)")
    p.add_argument("--report-only", action="store_true", help="write plots, tables and report from results.jsonl")
    p.add_argument("--dry-run", action="store_true", help="list the grid's keys and what is finished; run nothing")
    p.add_argument("--list", action="store_true", help="list the bundled sweep configs")
    p.add_argument("--no-progress", action="store_true", help="plain progress lines instead of a bar")
    p.add_argument("--json", action="store_true", help="print one JSON summary at the end")
    p.set_defaults(func=run)


def run(args) -> int:
    from semcom_host.sweep import run_cli  # lazily: the sweep (and its dependencies) only when sweeping

    return run_cli(args, print_json)
