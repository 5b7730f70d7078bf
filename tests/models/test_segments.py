"""Segment scheduler: supported lengths, plans for any length, mapping back, stitching."""
import numpy as np
import pytest

from semcom_models.segments import (
    MODEL_RULES,
    LengthRule,
    Segment,
    fit_length,
    generated_index,
    keyframes_in,
    plan_segments,
    resample_indices,
    stitch,
)


def test_length_rules_of_the_models():
    ltx, wan, svd = MODEL_RULES["ltx-video"], MODEL_RULES["wan2.1"], MODEL_RULES["svd-xt"]
    assert [n for n in range(1, 30) if ltx.supports(n)] == [9, 17, 25]
    assert [n for n in range(1, 15) if wan.supports(n)] == [5, 9, 13]
    assert ltx.at_least(1) == 9 and ltx.at_least(10) == 17 and ltx.longest == 257
    assert wan.at_least(81) == 81 and wan.longest == 81
    assert svd.at_least(3) == 25 and svd.longest == 25 and not svd.supports(24)
    assert MODEL_RULES["cogvideox1.5"].longest == 161 and MODEL_RULES["cogvideox1.5"].supports(81)
    with pytest.raises(ValueError, match="exceed"):
        wan.at_least(82)
    with pytest.raises(ValueError, match="exceed"):
        svd.at_least(26)


def test_rule_validation():
    with pytest.raises(ValueError):
        LengthRule(step=8, offset=1, minimum=9, maximum=8)
    assert LengthRule().at_least(7) == 7 and LengthRule().longest is None
    assert LengthRule(step=8, offset=1, minimum=9, maximum=20).longest == 17


def _check_plan(segs, n, rule, cap=None):
    assert segs[0].start == 0 and segs[-1].stop == n
    for a, b in zip(segs[:-1], segs[1:]):
        assert b.start == a.stop - 1           # one shared frame
    for s in segs:
        assert rule.supports(s.gen_frames) and s.gen_frames >= s.length
        if cap:
            assert s.length <= cap


@pytest.mark.parametrize("n", [1, 2, 8, 9, 10, 81, 82, 200, 1000])
def test_plans_cover_any_length(n):
    for name in ("ltx-video", "wan2.1", "svd", "cogvideox-i2v"):
        rule = MODEL_RULES[name]
        segs = plan_segments(n, rule)
        _check_plan(segs, n, rule, rule.longest)
        # Frames covered exactly once apart from the shared boundaries.
        assert sum(s.length for s in segs) - (len(segs) - 1) == n


def test_split_is_balanced_and_capped():
    segs = plan_segments(30, MODEL_RULES["svd"])            # 14 frames per pass
    assert [(s.start, s.stop) for s in segs] == [(0, 11), (10, 20), (19, 30)]
    assert all(s.gen_frames == 14 for s in segs)
    segs = plan_segments(100, MODEL_RULES["ltx-video"], max_frames=33)
    _check_plan(segs, 100, MODEL_RULES["ltx-video"], 33)


def test_keyframes_are_boundaries():
    rule = MODEL_RULES["wan2.1"]
    segs = plan_segments(40, rule, boundaries=[0, 12, 30, 39])
    assert [(s.start, s.stop) for s in segs] == [(0, 13), (12, 31), (30, 40)]
    assert [s.gen_frames for s in segs] == [13, 21, 13]
    # Boundaries not at the ends still start/finish segments; a long gap is split further.
    segs = plan_segments(200, rule, boundaries=[5])
    assert segs[0] == Segment(0, 6, 9) and segs[1].start == 5
    _check_plan(segs, 200, rule, 81)
    with pytest.raises(ValueError, match="outside"):
        plan_segments(10, rule, boundaries=[10])


def test_resample_keeps_ends_and_matches_generated_index():
    idx = resample_indices(25, 10)
    assert idx[0] == 0 and idx[-1] == 24 and np.all(np.diff(idx) > 0)
    assert resample_indices(9, 9).tolist() == list(range(9))
    assert resample_indices(5, 1).tolist() == [0]
    frames = np.arange(25)[:, None] * np.ones((1, 2), dtype=int)
    out = fit_length(frames, 10)
    assert out.shape == (10, 2)
    for j in range(10):
        assert out[j, 0] == generated_index(j, 10, 25)
    assert fit_length(frames, 4, mode="trim")[:, 0].tolist() == [0, 1, 2, 3]
    assert fit_length(np.arange(3), 5).tolist() == [0, 1, 1, 2, 2]   # upsampling repeats
    with pytest.raises(ValueError):
        fit_length(np.arange(3), 5, mode="trim")
    with pytest.raises(ValueError):
        fit_length(np.arange(3), 2, mode="nearest")


def test_segment_indices_and_keyframes():
    seg = Segment(10, 21, 25)
    assert seg.local(10) == 0 and seg.local(20) == 10
    assert seg.generated_index(20) == 24 and seg.generated_index(10) == 0
    with pytest.raises(ValueError):
        seg.local(21)
    kf = {0: "a", 10: "b", 20: "c", 25: "d"}
    assert keyframes_in(seg, kf) == {0: "b", 10: "c"}


def test_stitch_takes_shared_frame_from_later_segment():
    segs = plan_segments(7, LengthRule(fixed=(4,)))
    assert [(s.start, s.stop) for s in segs] == [(0, 4), (3, 7)]
    pieces = [np.full((4, 2), 1), np.full((4, 2), 2)]
    out = stitch(pieces, segs, 7)
    assert out[:, 0].tolist() == [1, 1, 1, 2, 2, 2, 2]
    with pytest.raises(ValueError, match="needs"):
        stitch([np.zeros((3, 2)), np.zeros((4, 2))], segs, 7)
    with pytest.raises(ValueError, match="not covered"):
        stitch([np.zeros((4, 2))], segs[:1], 7)
