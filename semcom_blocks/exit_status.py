"""A flowgraph whose semantic source or sink failed exits with status 1, the error its last line.

GNU Radio's generated ``main()`` returns normally whatever the blocks did, so a script (or GNU
Radio Companion's ">>> Done") could not tell a failed run from a good one. A block that fails
calls :func:`record_failure`; at interpreter exit (after the flowgraph has stopped and the
generated code has returned) the recorded errors are printed to stderr and the process exits
with status 1. Nothing changes for a flowgraph in which no block failed.
"""
from __future__ import annotations

import atexit
import logging
import os
import sys
import threading

__all__ = ["record_failure", "failures", "set_enabled", "register_cleanup"]

_lock = threading.Lock()
_failures: list[str] = []
_enabled = True
_cleanups: list = []


def register_cleanup(fn) -> None:
    """Run ``fn()`` before a failed process exits (the exit skips the other exit handlers)."""
    with _lock:
        _cleanups.append(fn)


def set_enabled(enabled: bool) -> None:
    """Whether a recorded failure changes the exit status (a test process that runs failing
    flowgraphs on purpose turns it off; the errors are still recorded)."""
    global _enabled
    _enabled = bool(enabled)


def failures() -> list[str]:
    """The errors recorded so far in this process."""
    with _lock:
        return list(_failures)


def record_failure(message: str) -> None:
    """Make this process exit with status 1 at its end, printing ``message`` (one line) last."""
    with _lock:
        first = not _failures
        _failures.append(" ".join(str(message).split()))
    if first:
        atexit.register(_exit_failed)


def _exit_failed() -> None:
    if not _enabled:
        return
    for fn in list(_cleanups):
        try:
            fn()
        except Exception as exc:  # noqa: BLE001 - report it, still exit with the failure
            print(f"error during cleanup: {exc}", file=sys.stderr)
    logging.shutdown()
    sys.stdout.flush()
    for msg in failures():
        print(f"error: {msg}", file=sys.stderr)
    sys.stderr.flush()
    os._exit(1)  # the exit status cannot be changed any other way from an exit handler
