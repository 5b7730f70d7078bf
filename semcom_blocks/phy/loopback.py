"""Transmissions through the PHY engine and a simulated channel, without GNU Radio.

The same transmitter (``FrameFormat.build``), channel model (``ChannelSim``) and receiver
(``BurstReceiver``) that the GNU Radio blocks wrap, called directly: for scheme tests and for
figures where a flowgraph's threads add nothing. ``semcom run`` goes through the flowgraph.

Named channel scenarios (``SCENARIOS``), the same as ``semcom link``'s:

* ``awgn``: noise only;
* ``cfo``: noise + a carrier offset of ``cfo`` subcarrier spacings;
* ``multipath``: noise + EPA Rayleigh fading at 20 MS/s with 5 Hz Doppler;
* ``all``: the three together.

SNR is Es/N0 per data subcarrier in dB (docs/architecture.md). On fading scenarios every burst sees
its own channel realisation (a simulated second of 5 Hz fading is far longer than a clip's
bursts would span at these rates, so this is the pessimistic, many-realisation view).
"""
from __future__ import annotations

import numpy as np

from .channel import ChannelSim
from .frame import FrameFormat, Transmission
from .receiver import BurstReceiver, ReceivedFrame

__all__ = ["SCENARIOS", "scenario_settings", "simulate"]

SCENARIOS = ("awgn", "cfo", "multipath", "all")


def scenario_settings(scenario: str, cfo: float = 1.2) -> dict:
    """Channel settings of a named scenario, as keyword arguments of the SemCom Channel block
    (``cfo_subcarriers``, ``profile``, ``sample_rate``, ``doppler_hz``)."""
    if scenario not in SCENARIOS:
        raise ValueError(f"unknown channel {scenario!r}; choose from {', '.join(SCENARIOS)}")
    fading = scenario in ("multipath", "all")
    return {"cfo_subcarriers": float(cfo) if scenario in ("cfo", "all") else 0.0,
            "profile": "epa" if fading else "none", "sample_rate": 20e6, "doppler_hz": 5.0 if fading else 0.0}


def simulate(transmissions: list[Transmission], snr_db: float, scenario: str = "awgn", *, cfo: float = 1.2,
             seed: int = 0, gap_samples: int = 200, chunk_samples: int = 1 << 16,
             receiver: BurstReceiver | None = None) -> tuple[list[ReceivedFrame], dict]:
    """Send ``transmissions`` as bursts separated by ``gap_samples`` of silence through the
    scenario's channel at ``snr_db``; returns (frames received, the receiver's counters).

    Noise covers the gaps too; the stream is fed to the receiver in chunks of
    ``chunk_samples`` as a radio would deliver it.
    """
    settings = scenario_settings(scenario, cfo)
    if gap_samples < 0:
        raise ValueError("gap_samples must be >= 0")
    fmt = FrameFormat(receiver.params if receiver is not None else None)
    rx = receiver or BurstReceiver(fmt.params)
    seeds = np.random.SeedSequence(seed).generate_state(max(len(transmissions), 1))
    pieces = []
    for tx, s in zip(transmissions, seeds):
        chan = ChannelSim(snr_db, fft_len=fmt.params.fft_len, profile=settings["profile"],
                          sample_rate=settings["sample_rate"], doppler_hz=settings["doppler_hz"],
                          cfo=settings["cfo_subcarriers"], seed=int(s))
        burst = np.concatenate([np.zeros(gap_samples, np.complex64), fmt.build(tx).astype(np.complex64)])
        pieces.append(chan(burst))
    pieces.append(ChannelSim(snr_db, fft_len=fmt.params.fft_len, seed=int(seeds[0]) + 1)(
        np.zeros(max(gap_samples, 4 * fmt.params.symbol_len), np.complex64)))
    stream = np.concatenate(pieces)
    frames = []
    for i in range(0, stream.size, chunk_samples):
        frames += rx.push(stream[i:i + chunk_samples])
    frames += rx.flush()
    return frames, dict(rx.stats)
