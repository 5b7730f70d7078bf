"""What several tests share: the repository root, tiny randomly initialised models
(:mod:`helpers.tiny_models`), synthetic clips (:mod:`helpers.clips`), GRC and grcc with this
checkout's blocks (:mod:`helpers.grc`) and the SigMF loopback (:mod:`helpers.sigmf_loopback`).

``tests/`` is on ``sys.path`` under pytest (``pythonpath`` in pyproject.toml), so tests import
this package as ``helpers``."""
from pathlib import Path

#: the repository's root folder (the one holding pyproject.toml)
REPO = Path(__file__).resolve().parents[2]
