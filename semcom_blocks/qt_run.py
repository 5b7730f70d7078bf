"""Run a QT GUI flowgraph that GNU Radio Companion generated until it finishes, without a person
at the window: for tests, CI and screenshots.

    python -m semcom_blocks.qt_run video_loopback.py [--screenshot shot.png] [--linger 2] [-- FLOWGRAPH OPTIONS]

The generated module's top block is built from its own command line (``argument_parser()``, as
its ``main()`` does), shown, started, and the Qt event loop runs until the flowgraph has finished
(``wait()`` returned: the Semantic Sink ends it once the video is written) and ``linger`` more
seconds (views keep updating), then a screenshot is saved when asked and the flowgraph stopped.
With ``QT_QPA_PLATFORM=offscreen`` no display is needed. The exit status is 1 when a semantic
block recorded a failure (:mod:`.exit_status`), 2 when the flowgraph did not finish in
``timeout`` seconds.
"""
from __future__ import annotations

import argparse
import importlib.util
import sys
import threading
import time
from pathlib import Path

__all__ = ["run_qt_flowgraph", "main"]


def _top_block_class(module):
    """The generated top block: the class named like the module (GRC's convention), else the one
    gr.top_block subclass the module defines."""
    from gnuradio import gr

    name = Path(module.__file__).stem
    cls = getattr(module, name, None)
    if isinstance(cls, type) and issubclass(cls, gr.top_block):
        return cls
    found = [v for v in vars(module).values() if isinstance(v, type) and issubclass(v, gr.top_block)
             and v.__module__ == module.__name__]
    if len(found) != 1:
        raise ValueError(f"{module.__file__}: expected one top block class, found {len(found)}")
    return found[0]


def run_qt_flowgraph(path: str | Path, args=(), *, screenshot: str | Path | None = None, linger_s: float = 2.0,
                     timeout_s: float = 600.0, size: tuple[int, int] = (1400, 1150)):
    """Build, show and run the flowgraph generated at ``path`` with command-line ``args``; returns
    the top block (stopped) once it finished, or raises TimeoutError after ``timeout_s`` seconds."""
    from PyQt5 import Qt

    spec = importlib.util.spec_from_file_location(Path(path).stem, str(path))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    app = Qt.QApplication.instance() or Qt.QApplication([sys.argv[0]])
    options = module.argument_parser().parse_args(list(args)) if hasattr(module, "argument_parser") else None
    tb = _top_block_class(module)(**(vars(options) if options else {}))
    tb.resize(*size)
    tb.start()
    tb.show()
    finished = threading.Event()
    threading.Thread(target=lambda: (tb.wait(), finished.set()), daemon=True).start()
    deadline = time.monotonic() + timeout_s
    while not finished.is_set():
        if time.monotonic() > deadline:
            tb.stop()
            raise TimeoutError(f"{path} did not finish in {timeout_s:g} s")
        app.processEvents()
        time.sleep(0.02)
    end = time.monotonic() + linger_s
    while time.monotonic() < end:
        app.processEvents()
        time.sleep(0.02)
    if screenshot is not None:
        Path(screenshot).parent.mkdir(parents=True, exist_ok=True)
        if not tb.grab().save(str(screenshot)):
            raise OSError(f"could not write {screenshot}")
    tb.stop()
    tb.wait()
    return tb


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m semcom_blocks.qt_run", description=__doc__.split("\n\n")[0])
    ap.add_argument("flowgraph", help="the Python file grcc generated from a QT GUI flowgraph")
    ap.add_argument("--screenshot", help="PNG of the window once the flowgraph has finished")
    ap.add_argument("--linger", type=float, default=2.0, help="seconds the views keep running after it finished")
    ap.add_argument("--timeout", type=float, default=600.0, help="give up after this many seconds (exit 2)")
    argv = list(sys.argv[1:] if argv is None else argv)
    cut = argv.index("--") if "--" in argv else len(argv)
    a = ap.parse_args(argv[:cut])  # after "--": the flowgraph's own options
    rest = argv[cut + 1:]
    try:
        run_qt_flowgraph(a.flowgraph, rest, screenshot=a.screenshot, linger_s=a.linger, timeout_s=a.timeout)
    except TimeoutError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
