"""Run the service as a child process: start it, wait until it listens, stop or kill it.

For commands that start and stop the service around a run (``semcom demo``, ``semcom run``) and
for tests that kill and restart it. The child runs ``python -m semcom_host.service serve`` with
the given arguments; it prints "semcom service listening on ENDPOINT" on stdout once bound,
logs on stderr (to ``log_path`` when given, else inherited), and stops cleanly on SIGTERM.
"""
from __future__ import annotations

import os
import selectors
import signal
import socket
import subprocess
import sys
import time

__all__ = ["ServiceProcess", "free_tcp_address"]

_READY = "semcom service listening on "


def free_tcp_address(host: str = "127.0.0.1") -> str:
    """tcp://host:PORT with a port that was free a moment ago (for a service that must come
    back on the same address after a restart)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return f"tcp://{host}:{s.getsockname()[1]}"


class ServiceProcess:
    """A service in a child process. ``args``: extra ``serve`` arguments (e.g. ["--workers", "2"])."""

    def __init__(self, address: str | None = None, *, keys_dir: str | None = None, args=(), env: dict | None = None,
                 log_path: str | os.PathLike | None = None):
        self.address = address or free_tcp_address()
        self.keys_dir, self.args, self.env, self.log_path = keys_dir, list(args), env, log_path
        self.proc: subprocess.Popen | None = None
        self.endpoint: str | None = None
        self._log = None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self, timeout_s: float = 30.0) -> str:
        """Start the child and wait until it listens; returns the endpoint. RuntimeError (with
        the child's exit status) if it exits or stays silent for ``timeout_s``."""
        if self.alive:
            raise RuntimeError(f"service process {self.pid} is already running")
        cmd = [sys.executable, "-m", "semcom_host.service", "serve", "--address", self.address, *self.args]
        if self.keys_dir:
            cmd += ["--keys", str(self.keys_dir)]
        if self.log_path is not None:
            self._log = open(self.log_path, "ab")
        env = dict(os.environ, **(self.env or {}))
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=self._log, stdin=subprocess.DEVNULL,
                                     env=env)
        deadline = time.monotonic() + timeout_s
        sel = selectors.DefaultSelector()
        sel.register(self.proc.stdout, selectors.EVENT_READ)
        try:
            buf = b""
            while time.monotonic() < deadline:
                if not sel.select(timeout=max(0.0, deadline - time.monotonic())):
                    break
                chunk = os.read(self.proc.stdout.fileno(), 4096)
                if not chunk:
                    break  # the child closed stdout: it exited
                buf += chunk
                complete = buf[:buf.rfind(b"\n") + 1]  # whole lines only
                for line in complete.decode(errors="replace").splitlines():
                    if line.startswith(_READY):
                        self.endpoint = line[len(_READY):].strip()
                        return self.endpoint
        finally:
            sel.close()
        code = self.proc.poll()
        self.kill()
        raise RuntimeError(f"the service did not start on {self.address} within {timeout_s:.0f} s "
                           f"(exit status {code}; see {self.log_path or 'its stderr'})")

    def stop(self, timeout_s: float = 10.0) -> int | None:
        """SIGTERM (a clean shutdown), then SIGKILL after ``timeout_s``; the exit status."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self._reap()

    def kill(self) -> int | None:
        """SIGKILL at once (a crash, as far as clients can tell); the exit status."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        return self._reap()

    def _reap(self) -> int | None:
        code = self.proc.returncode
        if self.proc.stdout:
            self.proc.stdout.close()
        if self._log is not None:
            self._log.close()
            self._log = None
        return code

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()
