"""Closed-loop link adaptation: a clip over a channel ramping from 12 dB to 0 dB, the receiver's
reports fed back two transmissions late with 10 % of them lost; the transmitter's coding follows
what comes back, never the channel's setting."""
from __future__ import annotations

import numpy as np
import pytest

from semcom_blocks.phy.fec import PayloadCoder
from semcom_blocks.phy.link_adapt import FeedbackPath, adapt_transmission
from semcom_blocks.phy.loopback import simulate_closed_loop, snr_trajectory
from semcom_blocks.test_source import random_transmission

CODER = PayloadCoder("ldpc", 648, "3/4", "qpsk", "crc32")


def clip(n=40):
    return [random_transmission(i, 7, 300, 64, CODER) for i in range(n)]


def test_the_feedback_path_delays_and_loses_reports():
    path = FeedbackPath(delay=2, loss=0.0, initial_snr_db=5.0)
    for v in (10.0, 11.0):
        path.push(v)
        assert path.latest == 5.0           # still in flight
    path.push(12.0)
    assert path.latest == 10.0              # the first report, two transmissions late
    lossy = FeedbackPath(delay=0, loss=0.5, seed=3)
    for i in range(200):
        lossy.push(float(i))
    assert 70 < lossy.lost < 130 and lossy.lost + lossy.delivered == 200
    with pytest.raises(ValueError):
        FeedbackPath(delay=-1)


def test_adapting_recodes_only_ldpc_units():
    tx = random_transmission(0, 1, 50, 16, CODER)
    out, decision = adapt_transmission(tx, 1.0)
    assert (decision["modulation"], decision["rate"]) == ("bpsk", "1/2")
    assert out.units[0].data == tx.units[0].data and out.units[0].coder.rate == "1/2"
    assert out.units[1] is tx.units[1]      # analog: unchanged
    assert snr_trajectory("12:0", 4) == [12.0, 8.0, 4.0, 0.0] and snr_trajectory(3, 2) == [3.0, 3.0]


def test_a_ramp_with_late_lossy_feedback_is_followed_and_reported():
    frames, stats, decisions = simulate_closed_loop(clip(), "12:0", feedback_delay=2, feedback_loss=0.1,
                                                    initial_snr_db=12.0, seed=5)
    assert len(decisions) == 40 and stats["feedback_lost"] > 0
    used = [d["snr_db"] for d in decisions]
    assert used[0] == used[1] == used[2] == 12.0                    # nothing back yet: the probe's figure
    for i, d in enumerate(decisions[3:], 3):                         # each decision is a report >= 2 old
        assert d["snr_db"] in [x["reported_snr_db"] for x in decisions[:i - 1]]
    rates = [(d["modulation"], d["rate"]) for d in decisions]
    assert rates[0] == ("16qam", "3/4") and rates[-1] == ("bpsk", "1/2") and len(set(rates)) >= 4
    efficiency = {("bpsk", "1/2"): 0.5, ("qpsk", "1/2"): 1, ("qpsk", "2/3"): 1.33, ("qpsk", "3/4"): 1.5,
                  ("16qam", "1/2"): 2, ("16qam", "3/4"): 3}
    eff = [efficiency[r] for r in rates]
    assert all(a >= b for a, b in zip(eff[::5], eff[5::5]))          # it backs off as the SNR falls
    ok_adapted = sum(u.crc_ok for f in frames for u in f.units if u.kind == "digital")
    fixed, _, _ = simulate_closed_loop(clip(), "12:0", initial_snr_db=12.0, margin_db=-99.0, seed=5)
    ok_fixed = sum(u.crc_ok for f in fixed for u in f.units if u.kind == "digital")
    assert ok_adapted > ok_fixed + 5                                  # never adapting (always 16-QAM 3/4) loses more
    assert np.isfinite([d["measured_snr_db"] for d in decisions if d["measured_snr_db"] is not None]).all()


def test_snr_trajectory_from_a_file_holds_its_last_value(tmp_path):
    from semcom_blocks.phy.loopback import is_trajectory, read_snr_file

    f = tmp_path / "trace.txt"
    f.write_text("# measured\n12, 9.5\n6  # fade\n\n3\n")
    assert read_snr_file(f) == [12.0, 9.5, 6.0, 3.0]
    assert snr_trajectory(str(f), 6) == [12.0, 9.5, 6.0, 3.0, 3.0, 3.0]
    assert snr_trajectory([5, 4], 3) == [5.0, 4.0, 4.0] and is_trajectory(str(f)) and not is_trajectory(3.0)
    for text, why in (("12 x\n", "not an SNR"), ("nan\n", "finite"), ("# none\n", "no SNR")):
        f.write_text(text)
        with pytest.raises(ValueError, match=why):
            snr_trajectory(str(f), 2)
    with pytest.raises(ValueError, match="START:STOP"):
        snr_trajectory("12:x", 2)
    with pytest.raises(ValueError, match="does not exist"):
        snr_trajectory(str(tmp_path / "missing.txt"), 2)
