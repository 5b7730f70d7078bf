"""Chase combining of unit copies across transmissions (semcom_blocks.phy.combining + receiver)."""
from __future__ import annotations

import numpy as np
import pytest

from semcom_blocks.phy.combining import CopyCombiner
from semcom_blocks.phy.fec import PayloadCoder
from semcom_blocks.phy.frame import Transmission, Unit
from semcom_blocks.phy.loopback import simulate
from semcom_blocks.phy.receiver import BurstReceiver
from semcom_blocks.phy.wire import pack_received, unpack_received

CODER = PayloadCoder("ldpc", 648, "3/4", "qpsk", "crc32")


def _copies(n_units: int, copies: int, seed: int = 0) -> list[Transmission]:
    """``copies`` transmissions, each carrying the same ``n_units`` units (one clip's repeats)."""
    rng = np.random.default_rng(seed)
    units = [Unit(f"kf{i}", "digital", rng.integers(0, 256, 200, dtype=np.uint8).tobytes(), CODER)
             for i in range(n_units)]
    return [Transmission(list(units), seq=s, frame_type=0x22) for s in range(copies)]


def _delivered(frames) -> set[str]:
    return {u.name for f in frames for u in f.units if u.crc_ok}


def test_copies_decode_together_where_each_fails_alone():
    """At an SNR below what QPSK R3/4 needs (about 4.3 dB), single copies fail but the sum of
    two copies' LLRs (3 dB more) decodes: Chase combining recovers units no copy carries alone."""
    txs = _copies(n_units=12, copies=2)
    off, _ = simulate(txs, 2.5, "awgn", seed=3, receiver=BurstReceiver(combine_window=0))
    on, stats = simulate(txs, 2.5, "awgn", seed=3, receiver=BurstReceiver())
    assert len(on) == len(off) == 2
    alone = _delivered(off)
    combined = _delivered(on)
    assert alone <= combined and len(combined) >= len(alone) + 4
    assert stats["units_combined_ok"] == sum(u.copies == 2 for f in on for u in f.units)
    assert stats["units_combined_ok"] >= 4
    second = {u.name: u for u in on[1].units}
    for name in combined - alone:
        assert second[name].copies == 2 and second[name].data == txs[1].units[int(name[2:])].data


def test_copies_of_other_data_or_too_late_are_not_combined():
    """A stale entry (beyond the window) is dropped; different data under one name fails its CRC."""
    comb = CopyCombiner(window=4)
    key = comb.key(0x22, "kf1", CODER, 200)
    comb.keep(key, 10, np.ones(100, np.float32))
    assert comb.partner(key, 20, np.ones(100)) is None and len(comb) == 0  # 10 transmissions later
    comb.keep(key, 65534, np.ones(100, np.float32))
    summed, n = comb.partner(key, 1, np.ones(100))  # seq wraps: 3 later
    assert n == 2 and np.allclose(summed, 2)
    assert comb.partner(key, 2, np.ones(99)) is None  # another length: not a copy


def test_combiner_memory_is_bounded():
    comb = CopyCombiner(window=8, max_entries=3, max_llrs=1000)
    for i in range(10):
        comb.keep(comb.key(0, f"u{i}", CODER, 10), i, np.zeros(400, np.float32))
    assert len(comb) <= 2 and comb.stored_llrs <= 1000 and comb.evicted == 8
    comb.keep(comb.key(0, "huge", CODER, 10), 0, np.zeros(5000, np.float32))
    assert comb.stored_llrs <= 1000 and comb.evicted == 9
    with pytest.raises(ValueError):
        CopyCombiner(window=0)


def test_copies_travel_on_the_wire():
    txs = _copies(n_units=12, copies=2)
    frames, _ = simulate(txs, 2.5, "awgn", seed=3)
    back = unpack_received(pack_received(frames[1]))
    assert [u.copies for u in back.units] == [u.copies for u in frames[1].units]
    assert max(u.copies for u in back.units) == 2


def test_effective_snr_is_the_mean_on_a_flat_channel_and_below_it_on_a_selective_one():
    from semcom_blocks.phy.receiver import effective_snr_db

    assert abs(effective_snr_db(np.ones(52), 10.0) - 10.0) < 1e-9
    h = np.where(np.arange(52) % 2, 1.4, 0.2)  # half the subcarriers 17 dB down
    eff = effective_snr_db(h, 10.0)
    assert eff < 10.0 - 1.0 and np.isfinite(eff)
    assert effective_snr_db(np.zeros(52), 5.0) == 5.0  # no channel estimate: the mean stands
    frames, _ = simulate(_copies(1, 6), 10.0, "epa", seed=1)
    assert all(f.snr_eff_db <= f.snr_est_db + 1e-9 for f in frames)
    assert unpack_received(pack_received(frames[0])).snr_eff_db == pytest.approx(frames[0].snr_eff_db)
