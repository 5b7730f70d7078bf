"""GNU Radio channel for the OFDM PHY: ``semcom_channel`` (complex stream in, complex stream out).

The same model and conventions as ``semcom_blocks.phy.channel.ChannelSim`` (read its module
docstring for the SNR derivation and units), built from C++ blocks and, for the radio
front-end impairments, two numpy blocks running ``phy.impairments.Impairments``::

    in -> radio_stage(tx)                     (clip set: PA compression)
       -> channels.selective_fading_model     (profile != "none": Rayleigh taps, Jakes Doppler)
       -> blocks.delay(3) + filter.mmse_resampler_cc (sro_ppm != 0: epsilon = 1 + sro_ppm 1e-6)
       -> blocks.rotator_cc                   (CFO: exp(j 2 pi cfo n / fft_len))
       -> blocks.add_cc + analog.noise_source_c  (AWGN, E|w|^2 = noise_variance(snr_db, ...))
       -> radio_stage(rx)                     (any set: phase noise, IQ imbalance, DC, ADC)
       -> out

* ``snr_db``: Es/N0 per data subcarrier in dB, for transmitted samples of unit average power
  with data on ``n_used`` of ``fft_len`` subcarriers (``noise_variance``); +inf: no noise.
* ``profile``: "none" (no multipath), "flat", "epa", "eva", "etu", "tdl-a", "tdl-b", "tdl-c"
  (``PROFILES``); delays are rounded to whole samples at ``sample_rate`` (Hz) and merged
  (``profile_taps(..., delay_mode="round")``), powers normalised to a unit total.
  ``delay_spread_ns`` scales the TDL profiles.
* ``doppler_hz``: maximum Doppler shift in Hz (fDTs = doppler_hz / sample_rate). With 0 the
  taps are drawn once, at start-up, and held for the whole run (one block-fading realisation
  per flowgraph run, not per burst: use ``ChannelSim`` for per-burst realisations).
  gr-channels' faders are sums of ``n_sinusoids`` sinusoids (8, as GNU Radio suggests): the
  taps are close to, not exactly, Gaussian, and their time-average power is 1.
* ``cfo_subcarriers``: carrier frequency offset in subcarrier spacings (may be fractional
  and negative); the rotator's phase runs on continuously when it is changed.
* ``sro_ppm``: the receiver's sample period is (1 + sro_ppm 1e-6) transmitter periods (the
  stream gets shorter by that factor for positive values). GNU Radio's 8-tap MMSE
  interpolator is the accuracy limit: against an exact band-limited resampling its error is
  about -23 dB of the signal for 52 of 64 subcarriers used and -37 dB for the inner 26
  (``ChannelSim``'s 32-tap sinc: about -95 dB), an SNR ceiling when sro_ppm != 0.
* radio impairments (``phy.impairments``, all off by default): ``clip`` (PA saturation in
  multiples of the unit RMS; None or 0: none) and ``rapp_p`` (Rapp smoothness; None: ideal
  clipper); ``phase_noise_hz`` (Wiener linewidth in Hz at ``sample_rate``, the phase running on
  across the whole stream); ``iq_gain_db``, ``iq_phase_deg``; ``dc_dbc`` (None or -inf: none)
  and ``dc_phase_deg``; ``adc_bits`` (None or 0: none) and ``adc_full_scale``. Invalid values
  raise ValueError when the block is made. ``phy.channel.scenario_settings`` names sets of
  them (``radio``). The two stages are Python blocks: keep a reference to the channel block
  while its flowgraph runs (GRC's generated code and ``semcom link`` do).
* ``seed``: integer in [0, 2**24); fading, noise and phase-noise generators are seeded from it
  (GNU Radio's own generators: the realisations differ from ``ChannelSim``'s for one seed).

Why not channels.channel_model (measured on GNU Radio 3.10.5, 2e5 to 2e6 samples per seed):
its fastnoise_source draws from a fixed pool of samples, so one seed's noise power is off by a
fixed fraction of a percent with unequal I and Q power (0.9922 to 0.9989 of the set power over
seeds 1, 2, 3, 7; 0.488 / 0.504 in I / Q for seed 7); analog.noise_source_c gives the set
variance within the estimate's own error (1.0004 over 2e6 samples). Its
mmse_resampler is there even at epsilon = 1 and advances the stream by 3 samples.

Tagged streams: without SRO every block here is a sync block and the output sample n belongs
to input sample n, so tags stay in place (the multipath taps spread a burst's energy over the
next max-delay samples, past its length tag). With SRO the resampler rescales tag offsets,
holds back the last few samples until more input comes (the end of the last burst is lost
when the stream ends) and is not exact against length tags: use it on continuous streams
into a receiver that finds bursts itself, as the OFDM receiver does.
blocks.add_cc asks for output multiples of 8 (volk); it is set to 1 so that nothing is held
back at the end of a burst.
"""
from __future__ import annotations

import math

import numpy as np
from gnuradio import analog, blocks, channels, filter, gr

from .phy.channel import (
    check_finite,
    check_nonnegative,
    check_numerology,
    check_positive,
    check_snr_db,
    get_profile,
    noise_variance,
    profile_taps,
)
from .phy.impairments import Impairments

__all__ = ["semcom_channel", "radio_stage"]

#: samples by which filter.mmse_resampler_cc advances its output (its 8-tap interpolator
#: reads x[i + 3 + mu]); compensated with a delay in front of it.
MMSE_RESAMPLER_ADVANCE = 3


class radio_stage(gr.sync_block):
    """complex64 in, complex64 out, through ``Impairments.tx`` (``side`` "tx": the PA) or
    ``Impairments.rx`` (``side`` "rx": phase noise, IQ imbalance, DC, ADC; the oscillator phase
    carries on from one work call to the next). ``seed`` seeds the phase-noise generator."""

    def __init__(self, impairments: Impairments, side: str, sample_rate: float = 1e6, seed: int = 0):
        gr.sync_block.__init__(self, name=f"semcom_radio_{side}", in_sig=[np.complex64], out_sig=[np.complex64])
        if side not in ("tx", "rx"):
            raise ValueError(f"side must be 'tx' or 'rx', got {side!r}")
        self.impairments, self.side = impairments, side
        self.sample_rate = check_positive("sample_rate", sample_rate)
        self._rng = np.random.default_rng([int(seed), 0x5EED])
        self.phase = 0.0

    def work(self, input_items, output_items):
        x = input_items[0]
        if self.side == "tx":
            y = self.impairments.tx(x)
        else:
            y, self.phase = self.impairments.rx(x, self._rng, self.sample_rate, 1.0, self.phase)
        output_items[0][:] = y
        return len(x)


class semcom_channel(gr.hier_block2):
    """Multipath, SRO, CFO, AWGN and radio impairments for OFDM bursts of unit sample power
    (module docstring)."""

    def __init__(self, snr_db: float = 20.0, fft_len: int = 64, n_used: int = 52,
                 cfo_subcarriers: float = 0.0, sro_ppm: float = 0.0, profile: str = "none",
                 sample_rate: float = 1e6, doppler_hz: float = 0.0, seed: int = 0,
                 delay_spread_ns: float = 100.0, n_sinusoids: int = 8, clip: float | None = None,
                 rapp_p: float | None = None, phase_noise_hz: float = 0.0, iq_gain_db: float = 0.0,
                 iq_phase_deg: float = 0.0, dc_dbc: float | None = None, dc_phase_deg: float = 45.0,
                 adc_bits: int | None = None, adc_full_scale: float = 4.0):
        gr.hier_block2.__init__(self, "semcom_channel",
                                gr.io_signature(1, 1, gr.sizeof_gr_complex),
                                gr.io_signature(1, 1, gr.sizeof_gr_complex))
        self.impairments = Impairments(clip=clip, rapp_p=rapp_p, phase_noise_hz=phase_noise_hz,
                                       iq_gain_db=iq_gain_db, iq_phase_deg=iq_phase_deg, dc_dbc=dc_dbc,
                                       dc_phase_deg=dc_phase_deg, adc_bits=adc_bits, adc_full_scale=adc_full_scale)
        self._fft_len, self._n_used = check_numerology(fft_len, n_used)
        self._sample_rate = check_positive("sample_rate", sample_rate)
        doppler_hz = check_nonnegative("doppler_hz", doppler_hz)
        if doppler_hz >= self._sample_rate / 2:
            raise ValueError(f"doppler_hz must be below sample_rate / 2, got {doppler_hz!r}")
        self._sro_ppm = check_finite("sro_ppm", sro_ppm)
        if not -1e5 < self._sro_ppm < 1e5:
            raise ValueError(f"sro_ppm must be within +-1e5 ppm, got {sro_ppm!r}")
        if int(seed) != seed or not 0 <= int(seed) < 2 ** 24:
            raise ValueError(f"seed must be an integer in [0, 2**24), got {seed!r}")
        if int(n_sinusoids) != n_sinusoids or int(n_sinusoids) < 1:
            raise ValueError(f"n_sinusoids must be a positive integer, got {n_sinusoids!r}")
        seed = int(seed)
        self._profile = get_profile(profile)
        self._snr_db = check_snr_db(snr_db)
        self._cfo = check_finite("cfo_subcarriers", cfo_subcarriers)
        self._doppler_hz = doppler_hz

        chain = []
        self.tx_stage = self.rx_stage = None
        if self.impairments.has_tx:
            self.tx_stage = radio_stage(self.impairments, "tx", self._sample_rate, seed)
            chain.append(self.tx_stage)
        self.fading = None
        if self._profile is not None:
            delays, powers = profile_taps(self._profile, self._sample_rate,
                                          check_positive("delay_spread_ns", delay_spread_ns), "round")
            self.path_delays, self.path_powers = delays, powers
            # every fader has unit average power: magnitudes sqrt(power) give a unit total.
            # gr-channels seeds fader i with seed + i (and seed + i + 1): keep the block
            # seeds far apart from the noise seed below.
            self.fading = channels.selective_fading_model(
                int(n_sinusoids), doppler_hz / self._sample_rate, False, 1.0,
                1000 + 64 * seed, [float(d) for d in delays], [float(m) for m in np.sqrt(powers)],
                int(delays.max()) + 1)
            chain.append(self.fading)
        else:
            self.path_delays, self.path_powers = np.zeros(1), np.ones(1)
        self.resampler = None
        if self._sro_ppm != 0:
            self.resampler = filter.mmse_resampler_cc(0.0, 1.0 + self._sro_ppm * 1e-6)
            chain += [blocks.delay(gr.sizeof_gr_complex, MMSE_RESAMPLER_ADVANCE), self.resampler]
        self.rotator = blocks.rotator_cc(self._phase_inc(self._cfo))
        chain.append(self.rotator)
        # gr::random reseeds from the clock for seed 0: 2 * seed + 1 is never 0
        self.noise = analog.noise_source_c(analog.GR_GAUSSIAN, self._noise_voltage(self._snr_db),
                                           2 * seed + 1)
        self.adder = blocks.add_cc()
        self.adder.set_output_multiple(1)
        self.connect(self, *chain)
        self.connect(chain[-1], (self.adder, 0))
        self.connect(self.noise, (self.adder, 1))
        if self.impairments.has_rx:
            self.rx_stage = radio_stage(self.impairments, "rx", self._sample_rate, seed)
            self.connect(self.adder, self.rx_stage, self)
        else:
            self.connect(self.adder, self)

    def _phase_inc(self, cfo: float) -> float:
        return 2 * math.pi * cfo / self._fft_len

    def _noise_voltage(self, snr_db: float) -> float:
        return math.sqrt(noise_variance(snr_db, self._fft_len, self._n_used))

    def noise_var(self) -> float:
        """Complex noise variance E|w|^2 added per sample (linear)."""
        return noise_variance(self._snr_db, self._fft_len, self._n_used)

    def snr_db(self) -> float:
        return self._snr_db

    def set_snr_db(self, snr_db: float) -> None:
        """Es/N0 per data subcarrier in dB (+inf: no noise); takes effect at once."""
        snr_db = check_snr_db(snr_db)
        self.noise.set_amplitude(self._noise_voltage(snr_db))
        self._snr_db = snr_db

    def cfo_subcarriers(self) -> float:
        return self._cfo

    def set_cfo_subcarriers(self, cfo_subcarriers: float) -> None:
        """Carrier frequency offset in subcarrier spacings; the phase stays continuous."""
        cfo = check_finite("cfo_subcarriers", cfo_subcarriers)
        self.rotator.set_phase_inc(self._phase_inc(cfo))
        self._cfo = cfo

    def doppler_hz(self) -> float:
        return self._doppler_hz

    def set_doppler_hz(self, doppler_hz: float) -> None:
        """Maximum Doppler shift in Hz (no effect with profile "none")."""
        doppler_hz = check_nonnegative("doppler_hz", doppler_hz)
        if doppler_hz >= self._sample_rate / 2:
            raise ValueError(f"doppler_hz must be below sample_rate / 2, got {doppler_hz!r}")
        if self.fading is not None:
            self.fading.set_fDTs(doppler_hz / self._sample_rate)
        self._doppler_hz = doppler_hz
