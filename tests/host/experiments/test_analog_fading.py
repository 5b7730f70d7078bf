"""Analog units over block fading: MMSE equalisation (or ZF shrunk by the noise variance the
receiver hands on, what the decoders use) reaches the MMSE bound from the true channel."""
from __future__ import annotations

from semcom_host.experiments.analog_fading import measure_analog_fading


def test_mmse_reaches_the_bound_and_zero_forcing_does_not():
    r = measure_analog_fading("epa", 15.0, bursts=30, symbols=512, seed=3)
    assert r["mmse_bursts_received"] == r["zf_bursts_received"] == 30
    assert abs(r["mmse_db"] - r["mmse_bound_db"]) < 1.0
    assert abs(r["zf_shrunk_db"] - r["mmse_db"]) < 0.05
    assert r["zf_db"] < r["mmse_db"] - 2  # deep fades blow up the unbiased estimate
