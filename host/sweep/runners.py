"""Running a sweep: one point (:func:`run_point`), in this process, in spawned worker processes or
as Ray tasks, with a progress line; :func:`run_sweep` resumes from results.jsonl."""
from __future__ import annotations

import hashlib
import json
import os
import platform
import sys
import time
import traceback
from dataclasses import asdict
from pathlib import Path

from .config import SweepConfig, SweepConfigError
from .grid import expand_grid, fmt_snr
from .report import write_outputs
from .results import ResultsWriter, latest_records, now, read_results


def _failure(point: dict, exc: BaseException, seconds: float, backend: str, tb: str | None = None) -> dict:
    return {"key": point["key"], "status": "failed", "point": point,
            "error": f"{type(exc).__name__}: {exc}", "traceback": tb, "seconds": round(seconds, 3),
            "finished_at": now(), "host": platform.node(), "pid": os.getpid(), "backend": backend}


def run_point(point: dict, backend: str = "serial") -> dict:
    """Run one point (a :meth:`Point.to_dict`) through run_video; the results.jsonl record.

    Never raises for a failing point (but lets KeyboardInterrupt through): the record then has
    status "failed", the error and the last lines of its traceback."""
    from semcom_host import run as _run

    t0 = time.perf_counter()
    try:
        report = _run.run_video(point["video_path"], point["scheme"], preset=point["preset"],
                                channel=point["channel"], snr_db=point["snr_db"], params=point["params"],
                                frames=point["frames"], size=point["size"], out_dir=point["out_dir"],
                                seed=point["seed"], cfo=point["cfo"], via=point["via"], timeout_s=point["timeout_s"],
                                link_adaptation=point.get("link_adaptation", False),
                                feedback_delay=point.get("feedback_delay", 0),
                                feedback_loss=point.get("feedback_loss", 0.0))
    except Exception as exc:  # noqa: BLE001 - a failing point is a result of the sweep, not its end
        tb = "".join(traceback.format_exception(exc)[-6:])
        return _failure(point, exc, time.perf_counter() - t0, backend, tb)
    report = json.loads(json.dumps(report, default=_run.jsonable))
    return {"key": point["key"], "status": "ok", "point": point, "result": report,
            "seconds": round(time.perf_counter() - t0, 3), "finished_at": now(), "host": platform.node(),
            "pid": os.getpid(), "backend": backend}


def _limit_threads(threads: int) -> None:
    """Keep one worker to ``threads`` CPU threads (torch, OpenMP/MKL, numba)."""
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS"):
        os.environ[var] = str(threads)
    import torch

    torch.set_num_threads(threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:  # already set, or parallel work has started in this process
        pass


def _worker_init(threads: int) -> None:
    """Initializer of a spawned worker process: thread limits, and exit when the driver dies
    (a killed sweep must not leave workers running points nobody will record)."""
    import multiprocessing
    import threading

    _limit_threads(threads)
    parent = multiprocessing.parent_process()
    if parent is not None:
        def watch():
            from multiprocessing.connection import wait

            wait([parent.sentinel])
            os._exit(3)

        threading.Thread(target=watch, name="semcom-sweep-parent-watch", daemon=True).start()


def _pool_task(point: dict) -> dict:
    return run_point(point, backend="pool")


def materialize(path: str, data: bytes | None) -> str:
    """A file the point needs, on a Ray node that may not share the driver's disk: ``path`` if it
    exists here, else ``data`` written once to a cache folder named by its SHA-256."""
    if Path(path).is_file() or data is None:
        return path
    import tempfile

    digest = hashlib.sha256(data).hexdigest()[:16]
    target = Path(tempfile.gettempdir()) / "semcom_sweep_files" / digest / Path(path).name
    if not target.is_file():
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(target.suffix + f".{os.getpid()}.part")
        tmp.write_bytes(data)
        os.replace(tmp, target)
    return str(target)


def _ray_task(point: dict, threads: int, video_bytes: bytes | None, captions_bytes: bytes | None) -> dict:
    _limit_threads(threads)
    point = dict(point, params=dict(point["params"]))
    point["video_path"] = materialize(point["video_path"], video_bytes)
    if isinstance(point["params"].get("captions_file"), str) and point["params"]["captions_file"]:
        point["params"]["captions_file"] = materialize(point["params"]["captions_file"], captions_bytes)
    return run_point(point, backend="ray")


def _columns(stream) -> int:
    """Width of the terminal behind ``stream`` (0 when unknown: a pseudo-terminal of size 0 x 0
    shows no tqdm bar at all, so plain lines are used there)."""
    try:
        return os.get_terminal_size(stream.fileno()).columns
    except (OSError, AttributeError, ValueError):
        return 0


class _Progress:
    """A tqdm bar on stderr when it is a terminal and ``bar``; else one plain line per point."""

    def __init__(self, total: int, done: int, bar: bool, stream=None):
        self.stream = stream or sys.stderr
        self.total, self.count = total, done
        self.bar = None
        if bar and getattr(self.stream, "isatty", lambda: False)() and _columns(self.stream) > 20:
            from tqdm import tqdm

            self.bar = tqdm(total=total, initial=done, file=self.stream, unit="point", dynamic_ncols=True)

    def update(self, rec: dict) -> None:
        self.count += 1
        p = rec["point"]
        if rec["status"] != "ok":
            what = f"FAILED {rec['error'][:120]}"
        else:
            psnr = rec["result"].get("psnr")
            what = "ok" if psnr is None else f"PSNR {psnr:.2f} dB"
        unit = "" if isinstance(p["snr_db"], str) else " dB"
        text = f"{p['video']} {p['scheme_label']} {p['channel']} {fmt_snr(p['snr_db'])}{unit} seed {p['seed']}: {what}"
        if self.bar is not None:
            self.bar.set_postfix_str(text[:60], refresh=False)
            self.bar.update(1)
            if rec["status"] != "ok":
                self.bar.write(text, file=self.stream)
        else:
            print(f"[{self.count}/{self.total}] {text} ({rec['seconds']:.1f} s)", file=self.stream, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _run_serial(points: list[dict], record, cfg: SweepConfig) -> None:
    """In this process (its torch/OpenMP thread count is set to ``cfg.threads``, default 1)."""
    _limit_threads(cfg.threads or 1)
    for p in points:
        record(run_point(p, backend="serial"))


def _run_pool(points: list[dict], record, cfg: SweepConfig) -> None:
    """At most ``workers`` points in flight, so that a worker that dies costs only its own point."""
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool

    ctx = multiprocessing.get_context("spawn")
    threads = cfg.threads or 1
    queue = list(reversed(points))
    while queue:
        pool = ProcessPoolExecutor(max_workers=cfg.workers, mp_context=ctx, initializer=_worker_init,
                                   initargs=(threads,))
        running: dict = {}
        broken = False
        try:
            while queue or running:
                while queue and len(running) < cfg.workers and not broken:
                    p = queue.pop()
                    running[pool.submit(_pool_task, p)] = (p, time.perf_counter())
                if not running:
                    break
                done, _ = wait(list(running), return_when=FIRST_COMPLETED)
                for fut in done:
                    p, t0 = running.pop(fut)
                    try:
                        record(fut.result())
                    except BrokenProcessPool as exc:
                        broken = True
                        record(_failure(p, RuntimeError(f"a worker process died ({exc})"), time.perf_counter() - t0,
                                        "pool"))
                    except Exception as exc:  # noqa: BLE001 - e.g. a result that cannot be pickled
                        record(_failure(p, exc, time.perf_counter() - t0, "pool"))
                if broken and not running:
                    break
        except BaseException:
            for proc in list((getattr(pool, "_processes", None) or {}).values()):  # points nobody will record
                proc.terminate()
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        pool.shutdown(wait=True)


def _run_ray(points: list[dict], record, cfg: SweepConfig) -> None:
    """The points as Ray tasks (one CPU each) on ``cfg.ray``: "local" starts a Ray in this process
    with ``workers`` CPUs; any other value is passed to ray.init(address=...). With an address
    the clip and caption files travel with the tasks (for nodes that do not share this disk)."""
    try:
        import ray
    except ImportError:
        raise SweepConfigError("Ray is not installed: pip install 'gr-semcom[cluster]' (or pip install ray)") from None
    started = False
    if not ray.is_initialized():
        kw = dict(include_dashboard=False, log_to_driver=False)
        if cfg.ray == "local":
            ray.init(num_cpus=cfg.workers, **kw)
        else:
            ray.init(address=cfg.ray, **kw)
        started = True
    ship = cfg.ray != "local"
    try:
        cpus = max(1, int(ray.cluster_resources().get("CPU", 1)))
        threads = cfg.threads or 1
        task = ray.remote(num_cpus=1, max_retries=1)(_ray_task)
        blobs: dict[str, object] = {}

        def blob(path):
            if not ship or not isinstance(path, str) or not path:
                return None
            if path not in blobs:
                blobs[path] = ray.put(Path(path).read_bytes())
            return blobs[path]

        queue = list(reversed(points))
        running: dict = {}
        try:
            while queue or running:
                while queue and len(running) < 2 * cpus:
                    p = queue.pop()
                    ref = task.remote(p, threads, blob(p["video_path"]), blob(p["params"].get("captions_file")))
                    running[ref] = (p, time.perf_counter())
                done, _ = ray.wait(list(running), num_returns=1)
                for ref in done:
                    p, t0 = running.pop(ref)
                    try:
                        record(ray.get(ref))
                    except Exception as exc:  # noqa: BLE001 - a task or node that died
                        record(_failure(p, exc, time.perf_counter() - t0, "ray"))
        except BaseException:
            for ref in running:
                ray.cancel(ref, force=True)
            raise
    finally:
        if started:
            ray.shutdown()


def run_sweep(cfg: SweepConfig, *, retry_failed: bool = False, progress: bool = True, limit: int | None = None,
              report: bool = True, stream=None) -> dict:
    """Run the points of ``cfg`` that have no line in results.jsonl yet (and the failed ones with
    ``retry_failed``), at most ``limit`` of them; then write the outputs (``report``).

    Returns the summary: points (grid size), done (run now, ok), failed (run now, failed),
    skipped (finished before), failed_total (failed in the results now), unreadable_lines,
    seconds (wall), backend, outputs (paths)."""
    t0 = time.perf_counter()
    grid = expand_grid(cfg)
    keys = {p.key for p in grid}
    previous, bad = read_results(cfg.results_path)
    last = latest_records(previous, keys)
    finished = {k for k, r in last.items() if r["status"] == "ok" or not retry_failed}
    todo = [p.to_dict() for p in grid if p.key not in finished]
    if limit is not None:
        todo = todo[:max(0, limit)]
    backend = "ray" if cfg.ray else "pool" if cfg.workers > 1 and len(todo) > 1 else "serial"
    counts = {"ok": 0, "failed": 0}
    writer = ResultsWriter(cfg.out)
    bar = _Progress(len(grid), len(grid) - len([p for p in grid if p.key not in finished]), progress, stream)
    (cfg.out / "sweep.json").write_text(json.dumps(
        {"name": cfg.name, "config": cfg.source, "points": len(grid), "videos": [asdict(v) for v in cfg.videos],
         "schemes": [asdict(s) for s in cfg.schemes], "channels": cfg.channels, "snrs": cfg.snrs,
         "trajectories": cfg.trajectories, "link_adaptation": cfg.link_adaptation,
         "feedback": {"delay": cfg.feedback_delay, "loss": cfg.feedback_loss},
         "seeds": cfg.seeds, "frames": cfg.frames, "size": cfg.size, "via": cfg.via,
         "unavailable_schemes": cfg.unavailable, "keys": [p.key for p in grid]}, indent=1))

    def record(rec: dict) -> None:
        writer.write(rec)
        last[rec["key"]] = rec
        counts[rec["status"]] += 1
        bar.update(rec)

    try:
        if todo:
            {"ray": _run_ray, "pool": _run_pool, "serial": _run_serial}[backend](todo, record, cfg)
    finally:
        bar.close()
        writer.close()
    summary = {"name": cfg.name, "out": str(cfg.out), "points": len(grid), "done": counts["ok"],
               "failed": counts["failed"], "skipped": len(grid) - len([p for p in grid if p.key not in finished]),
               "remaining": len([p for p in grid if p.key not in last]),
               "failed_total": sum(1 for r in last.values() if r["status"] == "failed"),
               "unreadable_lines": bad, "backend": backend, "workers": cfg.workers,
               "unavailable_schemes": cfg.unavailable}
    if report:
        summary["outputs"] = write_outputs(cfg)
    summary["seconds"] = round(time.perf_counter() - t0, 2)
    return summary
