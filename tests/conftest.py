import os

# Decoder kernels are single-threaded; keep numba from spawning a thread pool in tests.
os.environ.setdefault("NUMBA_NUM_THREADS", "1")
# Tiny models run far faster on one thread than with two threads fighting over a shared machine.
os.environ.setdefault("OMP_NUM_THREADS", "1")

from pathlib import Path

import pytest

from semcom_blocks import exit_status

# blocks that fail on purpose in this process must not make pytest exit 1 (flowgraph subprocesses still do)
exit_status.set_enabled(False)

SHARED = Path(__file__).resolve().parents[1].parent / "shared"


@pytest.fixture
def shared_dir():
    """../shared beside the repository; tests that need it skip cleanly where it is absent."""
    if not (SHARED / "data").is_dir():
        pytest.skip("../shared is not present")
    return SHARED
