"""results.jsonl: one JSON object per finished point, fsynced per line, read back tolerating a
line cut short by a kill; one writer per output folder (a lock file)."""
from __future__ import annotations

import datetime as _dt
import json
import os
from pathlib import Path

from .config import RESULTS, SweepConfigError


def read_results(path) -> tuple[list[dict], int]:
    """(records, unreadable lines) of a results.jsonl; a line cut short by a kill is unreadable."""
    path = Path(path)
    if not path.is_file():
        return [], 0
    records, bad = [], 0
    with path.open("rb") as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            try:
                rec = json.loads(line)
            except (json.JSONDecodeError, UnicodeDecodeError):
                bad += 1
                continue
            if isinstance(rec, dict) and isinstance(rec.get("key"), str) and rec.get("status") in ("ok", "failed"):
                records.append(rec)
            else:
                bad += 1
    return records, bad


def latest_records(records: list[dict], keys=None) -> dict[str, dict]:
    """key -> the last record of that key (restricted to ``keys`` when given)."""
    out = {}
    for r in records:
        if keys is None or r["key"] in keys:
            out[r["key"]] = r
    return out


class ResultsWriter:
    """Appends records to results.jsonl, one line each, flushed and fsynced; holds an exclusive
    lock on the output folder so that two sweeps never write the same file."""

    def __init__(self, out: Path):
        import fcntl

        out.mkdir(parents=True, exist_ok=True)
        self._lock = open(out / ".sweep.lock", "a+")
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self._lock.seek(0)
            holder = self._lock.read().strip() or "another process"
            self._lock.close()
            raise SweepConfigError(f"another sweep is writing to {out} (pid {holder}); wait for it or stop it") \
                from None
        self._lock.seek(0)
        self._lock.truncate()
        self._lock.write(str(os.getpid()))
        self._lock.flush()
        path = out / RESULTS
        self._f = open(path, "ab")
        if path.stat().st_size:
            with open(path, "rb") as r:
                r.seek(-1, os.SEEK_END)
                if r.read(1) != b"\n":  # a line cut short by a kill: start the next one on its own line
                    self._f.write(b"\n")

    def write(self, record: dict) -> None:
        line = json.dumps(record, allow_nan=True, default=str).encode() + b"\n"
        self._f.write(line)
        self._f.flush()
        os.fsync(self._f.fileno())

    def close(self) -> None:
        self._f.close()
        self._lock.close()


def now() -> str:
    """The current UTC time, ISO 8601 with milliseconds (a record's finished_at)."""
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="milliseconds")
