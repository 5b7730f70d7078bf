"""Transmissions through the PHY engine and a simulated channel, without GNU Radio.

The same transmitter (``FrameFormat.build``), channel model (``ChannelSim``) and receiver
(``BurstReceiver``) that the GNU Radio blocks wrap, called directly: for scheme tests and for
figures where a flowgraph's threads add nothing. ``semcom run`` goes through the flowgraph.

Channel scenarios are the channel model's (:func:`.channel.scenario_settings`: ``awgn``, ``cfo``,
``multipath``, ``all``, ``radio`` and one per fading profile), the same as ``semcom link``'s.

SNR is Es/N0 per data subcarrier in dB (docs/architecture.md). On fading scenarios every burst sees
its own channel realisation (a simulated second of 5 Hz fading is far longer than a clip's
bursts would span at these rates, so this is the pessimistic, many-realisation view).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .channel import SCENARIOS, ChannelSim, channel_sim_kwargs, scenario_settings
from .frame import FrameFormat, Transmission
from .receiver import BurstReceiver, ReceivedFrame

__all__ = ["SCENARIOS", "scenario_settings", "simulate", "simulate_closed_loop", "snr_trajectory", "read_snr_file",
           "is_trajectory", "probe_snr", "PROBE_BURSTS"]

#: probe bursts sent before a clip (their SNR estimates are averaged in linear scale)
PROBE_BURSTS = 2


def simulate(transmissions: list[Transmission], snr_db: float, scenario: str = "awgn", *, cfo: float = 1.2,
             seed: int = 0, gap_samples: int = 200, chunk_samples: int = 1 << 16,
             receiver: BurstReceiver | None = None, **impairments) -> tuple[list[ReceivedFrame], dict]:
    """Send ``transmissions`` as bursts separated by ``gap_samples`` of silence through the
    scenario's channel at ``snr_db``; returns (frames received, the receiver's counters).

    Noise covers the gaps too; the stream is fed to the receiver in chunks of
    ``chunk_samples`` as a radio would deliver it. ``impairments``: single radio impairments
    added to the scenario's (``scenario_settings``' overrides: dc_dbc, phase_noise_hz, ...).
    """
    settings = scenario_settings(scenario, cfo, **impairments)
    if gap_samples < 0:
        raise ValueError("gap_samples must be >= 0")
    fmt = FrameFormat(receiver.params if receiver is not None else None)
    rx = receiver or BurstReceiver(fmt.params)
    seeds = np.random.SeedSequence(seed).generate_state(max(len(transmissions), 1))
    pieces = []
    for tx, s in zip(transmissions, seeds):
        chan = ChannelSim(snr_db, fft_len=fmt.params.fft_len, seed=int(s), **channel_sim_kwargs(settings))
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


def _link_snr(frame: ReceivedFrame) -> float:
    """What the receiver feeds back for a frame (link_adapt.link_snr: its effective SNR, else its mean)."""
    from .link_adapt import link_snr

    return link_snr({"snr_eff_db": frame.snr_eff_db, "snr_est_db": frame.snr_est_db})


def probe_snr(snr_db: float, scenario: str = "awgn", *, cfo: float = 1.2, seed: int = 0, bursts: int = PROBE_BURSTS,
              **impairments) -> float | None:
    """What a receiver would feed back before a clip: the mean (linear scale) of its effective
    Es/N0 estimates (dB; receiver.effective_snr_db) of ``bursts`` short probe bursts (one
    64-byte QPSK R1/2 unit each) through the scenario's channel at ``snr_db``; None when none
    was received. The transmitter adapts to this figure, never to the channel's setting."""
    from .fec import PayloadCoder
    from .frame import Unit
    from .snr import mean_db

    rng = np.random.default_rng([int(seed), 0x5EED])
    coder = PayloadCoder("ldpc", 648, "1/2", "qpsk", "crc32")
    probes = [Transmission([Unit("probe", "digital", rng.integers(0, 256, 64, dtype=np.uint8).tobytes(), coder)],
                           seq=i) for i in range(bursts)]
    frames, _ = simulate(probes, snr_db, scenario, cfo=cfo, seed=int(seed) + 7919, **impairments)
    return mean_db([_link_snr(f) for f in frames]) if frames else None


#: most values a trajectory file may hold (per-transmission SNRs)
MAX_TRAJECTORY = 1 << 20


def read_snr_file(path) -> list[float]:
    """Per-transmission SNRs (dB) from a text file: numbers separated by whitespace or commas,
    ``#`` starting a comment. ValueError naming the file for anything else, for a non-finite
    value or for an empty file."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"SNR trajectory file {path} does not exist")
    if path.stat().st_size > 32 * MAX_TRAJECTORY:
        raise ValueError(f"SNR trajectory file {path} is larger than {32 * MAX_TRAJECTORY} bytes")
    values = []
    for n, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
        for item in line.split("#", 1)[0].replace(",", " ").split():
            try:
                v = float(item)
            except ValueError:
                raise ValueError(f"{path}:{n}: {item[:40]!r} is not an SNR in dB") from None
            if not np.isfinite(v):
                raise ValueError(f"{path}:{n}: SNRs must be finite, got {item!r}")
            values.append(v)
    if not values:
        raise ValueError(f"SNR trajectory file {path} holds no SNR")
    return values


def is_trajectory(spec) -> bool:
    """Whether an SNR setting changes over a clip (a ramp, a file or a list), not one number."""
    return not isinstance(spec, (int, float, np.integer, np.floating))


def snr_trajectory(spec, count: int) -> list[float]:
    """Per-transmission SNRs (dB) for ``count`` transmissions. ``spec``: a number (constant);
    "START:STOP" (a linear ramp from START to STOP over the clip); the path of a file of
    per-transmission SNRs (:func:`read_snr_file`); or a sequence of numbers. A file or sequence
    shorter than the clip holds its last value to the end (a measured trace of any length can be
    replayed); the report of `semcom run` lists the SNRs each transmission saw."""
    if not is_trajectory(spec):
        return [float(spec)] * count
    if isinstance(spec, (str, Path)):
        parts = str(spec).split(":")
        try:
            start, stop = (float(v) for v in parts)
        except ValueError:
            if len(parts) == 2 and not Path(spec).is_file():
                raise ValueError(f"an SNR ramp is START:STOP in dB, got {spec!r}") from None
            spec = read_snr_file(spec)
        else:
            return [float(v) for v in np.linspace(start, stop, count)] if count > 1 else [start] * count
    values = [float(v) for v in spec]
    if not values:
        raise ValueError("an SNR trajectory needs at least one value")
    if not all(np.isfinite(values)):
        raise ValueError("SNRs must be finite")
    return (values + values[-1:] * max(0, count - len(values)))[:count]


def simulate_closed_loop(transmissions: list[Transmission], snr_db, scenario: str = "awgn", *, cfo: float = 1.2,
                         seed: int = 0, gap_samples: int = 200, feedback_delay: int = 0, feedback_loss: float = 0.0,
                         initial_snr_db: float = 0.0, margin_db: float | None = None, adapt: bool = True,
                         **impairments) -> tuple[list[ReceivedFrame], dict, list[dict]]:
    """Transmissions one at a time over a channel whose SNR may change per transmission
    (``snr_db``: a number, "START:STOP" or a list; :func:`snr_trajectory`), each one's LDPC units
    coded for the SNR the receiver last fed back (:mod:`.link_adapt`: ``feedback_delay``
    transmissions late, each report lost with probability ``feedback_loss``; ``initial_snr_db``
    before any report; ``adapt`` False: sent as they are, the loop only measured). Returns
    (frames received, receiver counters, one decision per transmission: what the transmitter used
    and what the receiver then measured)."""
    from .link_adapt import FeedbackPath, adapt_transmission
    from .mcs import DEFAULT_MARGIN_DB

    snrs = snr_trajectory(snr_db, len(transmissions))
    settings = scenario_settings(scenario, cfo, **impairments)
    fmt = FrameFormat()
    rx = BurstReceiver(fmt.params)
    path = FeedbackPath(int(feedback_delay), float(feedback_loss), float(initial_snr_db), int(seed))
    seeds = np.random.SeedSequence(seed).generate_state(max(len(transmissions), 1))
    frames, decisions = [], []
    margin = DEFAULT_MARGIN_DB if margin_db is None else margin_db
    for tx, snr, s in zip(transmissions, snrs, seeds):
        if adapt:
            adapted, decision = adapt_transmission(tx, path.latest, margin)
        else:
            adapted, decision = tx, {"seq": int(tx.seq), "snr_db": path.latest, "modulation": None, "rate": None}
        chan = ChannelSim(snr, fft_len=fmt.params.fft_len, seed=int(s), **channel_sim_kwargs(settings))
        burst = np.concatenate([np.zeros(gap_samples, np.complex64), fmt.build(adapted).astype(np.complex64),
                                np.zeros(gap_samples, np.complex64)])
        got = rx.push(chan(burst).astype(np.complex64))
        frames += got
        measured = got[-1].snr_est_db if got else None
        path.push(_link_snr(got[-1]) if got else None)
        decisions.append({**decision, "channel_snr_db": snr, "measured_snr_db": measured,
                          "reported_snr_db": _link_snr(got[-1]) if got else None})
    frames += rx.flush()
    stats = {**rx.stats, "feedback_delivered": path.delivered, "feedback_lost": path.lost}
    return frames, stats, decisions
