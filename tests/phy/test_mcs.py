"""Picking a modulation and coding scheme for a fed-back SNR."""
from __future__ import annotations

import pytest

from semcom_blocks.phy.mcs import MCS_TABLE, pick_mcs


def test_the_most_efficient_reachable_mcs_is_picked():
    assert (pick_mcs(10.1, 2.0).modulation, pick_mcs(10.1, 2.0).rate) == ("16qam", "1/2")
    assert (pick_mcs(8.5, 2.0).modulation, pick_mcs(8.5, 2.0).rate) == ("qpsk", "3/4")
    assert (pick_mcs(2.1, 2.0).modulation, pick_mcs(2.1, 2.0).rate) == ("bpsk", "1/2")
    assert pick_mcs(-20.0) == min(MCS_TABLE, key=lambda m: m.esn0_db)  # below everything: the most robust
    effs = [m.bits_per_symbol for m in MCS_TABLE]
    assert effs == sorted(effs) and MCS_TABLE[3].bits_per_symbol == pytest.approx(1.5)
    with pytest.raises(ValueError):
        pick_mcs(5.0, table=())
