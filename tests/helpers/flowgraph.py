"""Running a stream block in a throwaway GNU Radio flowgraph, for the block tests."""
from __future__ import annotations

import threading

import numpy as np
import pytest
from gnuradio import blocks, gr


def run_flowgraph(block, x, timeout_s: float = 30.0) -> np.ndarray:
    """x (complex64) -> block -> the samples it produced; the test fails after ``timeout_s`` seconds."""
    tb = gr.top_block()
    src = blocks.vector_source_c(np.asarray(x, np.complex64))
    snk = blocks.vector_sink_c()
    tb.connect(src, block, snk)
    worker = threading.Thread(target=tb.run, daemon=True)
    worker.start()
    worker.join(timeout_s)
    if worker.is_alive():
        tb.stop()
        tb.wait()
        pytest.fail(f"flowgraph did not finish within {timeout_s} s")
    return np.array(snk.data())
