"""`semcom sweep CONFIG.yaml`: a grid of videos x schemes x channels x SNRs x seeds, resumable.

Every point of the grid is one :func:`semcom_host.run.run_video` call (one clip through one
scheme over one channel scenario at one SNR with one seed, through the GNU Radio video loopback
flowgraph or, with ``via: engine``, the PHY engine without GNU Radio). The sweep:

* expands the grid from a YAML config (:func:`load_config`, :func:`expand_grid`; the format is
  documented in docs/sweeps.md) and gives every point a stable key: video, scheme label, channel,
  SNR, seed and a short hash of what else decides the result (scheme, preset, parameters,
  frames, size, via, cfo), so a changed setting is a new point, never a stale hit;
* appends one JSON line per finished point to ``<out>/results.jsonl`` (flushed and fsynced per
  line); a point that raised is recorded with its error. A restarted sweep skips every key that
  has a line (failed ones too, unless ``retry_failed``), so a sweep killed at any moment resumes
  without recomputing; a line cut short by the kill is ignored;
* runs the points in this process (``workers: 1``), in ``workers`` spawned processes
  (concurrent.futures with the "spawn" context: GNU Radio and torch do not survive fork; torch,
  OpenMP and numba limited to ``threads`` threads per process), or as Ray tasks (``ray: true``
  for a local Ray, or a cluster address), the driver writing each result as it arrives;
* writes, from the lines of the current grid: ``plots/<channel>.png`` (one panel per metric
  against SNR in dB, one line per scheme, the mean over videos and seeds with a min-max band)
  and ``plots/<metric>_<channel>.png`` (one metric per figure, like the papers' figures), the
  CBR table ``cbr.csv`` / ``cbr.md`` (scheme -> cbr_net, cbr_gross, cbr_paper: complex symbols
  per source value C*H*W*F), ``summary.csv`` (every metric per channel, scheme and SNR) and the
  self-contained ``report.html`` (tables and the PNGs inline as base64).

SNR is Es/N0 per complex data symbol in dB; times are wall-clock seconds.

The package by role: :mod:`.config` (the YAML format), :mod:`.grid` (points and keys),
:mod:`.runners` (one point, serial, worker processes, Ray), :mod:`.results` (results.jsonl),
:mod:`.report` (plots, tables, HTML) and :mod:`.cli` (the command's body).
"""
from .cli import run_cli
from .config import METRICS, RESULTS, SchemeSpec, SweepConfig, SweepConfigError, VideoSpec, bundled_sweeps, load_config
from .grid import Point, expand_grid
from .report import aggregate, cbr_table, write_outputs
from .results import ResultsWriter, latest_records, read_results
from .runners import materialize, run_point, run_sweep

__all__ = ["SweepConfigError", "SweepConfig", "VideoSpec", "SchemeSpec", "Point", "load_config", "expand_grid",
           "bundled_sweeps", "run_point", "run_sweep", "read_results", "latest_records", "write_outputs",
           "aggregate", "cbr_table", "METRICS", "RESULTS", "ResultsWriter", "materialize", "run_cli"]
