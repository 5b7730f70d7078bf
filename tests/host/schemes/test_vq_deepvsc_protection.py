"""VQ-DeepVSC's cliff mitigation: AKEI's polynomial caps the keyframes, the budget left repeats the
most important ones, and the receiver combines the copies (host/schemes/vq_deepvsc.py,
semcom_blocks/phy/combining.py) — the join from the encoder's plan to the decoder's keyframes."""
from __future__ import annotations

import pytest

from helpers.clips import clip_frames  # noqa: E402
from semcom_blocks.phy.loopback import simulate
from semcom_blocks.phy.receiver import BurstReceiver
from semcom_host.schemes.vq_deepvsc import plan_repeats
from semcom_host.service.registry import get_scheme, load_builtin_schemes, received_to_dict

#: a budget of 8 keyframes at BPSK R1/2, of which AKEI's constant polynomial keeps 2
PARAMS = {"image_size": 64, "keyframe_ratio": 1.0, "ratio_coeffs": [0.25], "modulation": "bpsk",
          "ldpc_rate": "1/2"}


def _encode(snr_db: float, **extra):
    load_builtin_schemes()
    spec = get_scheme("vq-deepvsc")
    p = spec.merge_params({**PARAMS, **extra})
    p.update(fps=8.0, snr_db=snr_db)  # what the service sets
    txs, ctx = spec.encoder(clip_frames(), p)
    return spec, p, txs, ctx


def test_plan_repeats_takes_the_first_keyframe_then_the_most_important():
    scores = [0.0, 0.1, 0.9, 0.5, 0.2]
    keys = [0, 2, 3, 4]
    assert plan_repeats(scores, keys, [10, 1, 1, 1], room=11, max_copies=2) == [0, 2]
    assert plan_repeats(scores, keys, [10, 1, 1, 1], room=12.5, max_copies=2) == [0, 2, 3]
    # round after round, each at most max_copies times in all; a copy that does not fit is skipped
    assert plan_repeats(scores, keys, [10, 1, 1, 1], room=6, max_copies=3) == [2, 3, 4, 2, 3, 4]
    assert plan_repeats(scores, keys, [10, 1, 1, 1], room=100, max_copies=1) == []


def test_the_budget_left_by_fewer_keyframes_goes_to_copies_in_later_transmissions():
    spec, p, txs, ctx = _encode(-1.5)
    link = ctx["link_adaptation"]
    assert link["keyframes_allowed"] == 2 == link["keyframes"] and link["protection"] == "repeat"
    assert link["repeats"][:2] == [0, 7] and link["symbols"] <= link["symbols_budget"]
    names = [[u.name for u in tx.units if u.name != "manifest"] for tx in txs]
    assert names[0] == ["kf0", "kf7"]
    for later in names[1:]:  # every copy rides in a transmission of its own, after the originals
        assert set(later) <= {"kf0", "kf7"}
    copies = [u for tx in txs[1:] for u in tx.units if u.name != "manifest"]
    first = {u.name: u for u in txs[0].units}
    assert all(u.data == first[u.name].data and u.coder == first[u.name].coder for u in copies)


def test_combined_copies_rebuild_keyframes_that_no_copy_delivers_alone():
    spec, p, txs, ctx = _encode(-1.5)
    results = {}
    for window in (0, 16):
        rx, stats = simulate(txs, -1.5, "awgn", seed=3, receiver=BurstReceiver(combine_window=window))
        received = [received_to_dict(f) for f in rx]
        frames, report = spec.decoder(received, ctx, p)
        results[window] = (report, stats, received)
    alone, combined = results[0][0], results[16][0]
    assert alone["keyframes_rebuilt"] == []  # the first keyframe lost: nothing to rebuild from
    assert combined["keyframes_rebuilt"] == [0, 7] and combined["keyframe_units_lost"] == []
    assert results[16][1]["units_combined_ok"] >= 1
    assert any(u.get("copies", 1) >= 2 and u["crc_ok"] for r in results[16][2] for u in r["units"])


def test_rate_protection_codes_the_keyframes_more_robustly_instead():
    spec, p, txs, ctx = _encode(8.0, protection="rate")
    link = ctx["link_adaptation"]
    assert link["repeats"] == [] and len(txs) == 1
    repeat = _encode(8.0)[3]["link_adaptation"]
    from semcom_blocks.phy.mcs import MCS_TABLE

    threshold = {(m.modulation, m.rate): m.esn0_db for m in MCS_TABLE}
    assert threshold[link["modulation"], link["ldpc_rate"]] < threshold[repeat["modulation"], repeat["ldpc_rate"]]
    assert link["symbols"] <= link["symbols_budget"]


def test_unknown_protection_is_a_clear_error():
    with pytest.raises(ValueError, match="protection"):
        _encode(5.0, protection="prayer")


def test_a_clip_over_a_falling_channel_with_late_lossy_feedback(tmp_path):
    """The closed loop end to end: vq-deepvsc through `semcom run`'s engine while the channel
    ramps from 12 to 0 dB, the receiver's reports two transmissions late and a tenth of them
    lost: every transmission's decision is reported, the coding backs off as the reports fall,
    and the clip still decodes."""
    from semcom_host.run import run_video
    from semcom_models.video_io import write_video

    clip = write_video(tmp_path / "clip.mp4", clip_frames(16), fps=8.0, crf=0)
    r = run_video(clip, "vq-deepvsc", snr_db="12:0", params={"keyframe_ratio": 1.0, "ratio_coeffs": [],
                                                              "max_symbols_per_transmission": 1500},
                  frames=16, size=64, via="engine", link_adaptation=True, feedback_delay=2, feedback_loss=0.1)
    decisions = r["link_decisions"]
    assert len(decisions) == r["transmissions_sent"] >= 6
    assert [d["channel_snr_db"] for d in decisions][0] == 12.0 and decisions[-1]["channel_snr_db"] == 0.0
    assert all(d["snr_db"] == decisions[0]["snr_db"] for d in decisions[:2])  # nothing back yet
    used = [d["snr_db"] for d in decisions]
    assert used[-1] < used[2]  # the fed-back SNR fell, and the transmitter followed it
    assert len({(d["modulation"], d["rate"]) for d in decisions}) >= 2
    assert r["feedback"]["delay"] == 2 and r["feedback"]["lost"] + r["feedback"]["delivered"] > 0
    assert r["frames"] == 16 and r["psnr"] > 10
