"""The Semantic Source and Sink's service launcher (start `semcom serve` when none answers on a
loopback address) and the exit status of a flowgraph whose semantic blocks failed."""
from __future__ import annotations

import logging
import subprocess
import sys

import pytest

from helpers import REPO
from semcom_blocks import service_launcher as launcher
from semcom_host.service.process import free_tcp_address

SEMCOM = REPO / ".venv" / "bin" / "semcom"
log = logging.getLogger("test.launcher")


class _Logger:  # GNU Radio's block logger has info/warn/error
    def info(self, msg):
        log.info(msg)


@pytest.mark.skipif(not SEMCOM.exists(), reason="needs the venv's semcom (make setup)")
def test_a_service_is_started_when_none_answers_and_stopped_at_the_end(monkeypatch):
    monkeypatch.setenv("SEMCOM_COMMAND", str(SEMCOM))
    address = free_tcp_address()
    assert not launcher.service_listening(address, timeout_s=0.2)
    try:
        assert launcher.ensure_service(address, None, _Logger()) is True
        assert launcher.service_listening(address)
        assert launcher.ensure_service(address, None, _Logger()) is False  # one is there now
    finally:
        launcher.stop_services()
    assert not launcher.service_listening(address, timeout_s=0.3)


def test_nothing_is_started_for_remote_addresses_or_with_keys(monkeypatch):
    monkeypatch.setenv("SEMCOM_COMMAND", "/nonexistent/semcom")
    assert launcher.ensure_service("tcp://192.0.2.1:5560", None, _Logger()) is False
    assert launcher.ensure_service(free_tcp_address(), "/some/keys", _Logger()) is False


def test_a_missing_or_failing_command_is_a_clear_error(monkeypatch, tmp_path):
    failing = tmp_path / "semcom"
    failing.write_text("#!/bin/sh\necho 'cannot start' >&2\nexit 3\n")
    failing.chmod(0o755)
    monkeypatch.setenv("SEMCOM_COMMAND", str(failing))
    with pytest.raises(RuntimeError, match="exit status 3"):
        launcher.ensure_service(free_tcp_address(), None, _Logger())


def test_a_recorded_failure_makes_the_process_exit_1_with_the_error_last():
    code = ("from semcom_blocks.exit_status import record_failure, register_cleanup\n"
            "register_cleanup(lambda: print('cleaned up'))\n"
            "record_failure('Semantic Sink: decoding\\nfailed')\n"
            "print('main returns normally')\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=REPO)
    assert proc.returncode == 1
    assert proc.stdout.splitlines() == ["main returns normally", "cleaned up"]
    assert proc.stderr.strip().splitlines()[-1] == "error: Semantic Sink: decoding failed"
    ok = subprocess.run([sys.executable, "-c", "import semcom_blocks.exit_status"], capture_output=True, timeout=60)
    assert ok.returncode == 0
