"""Channel models for the OFDM PHY in numpy: multipath fading, SRO, timing offset, CFO, AWGN, and
the radio front-end impairments of ``impairments.py`` (PA, phase noise, IQ imbalance, DC, ADC).

Importable without GNU Radio. ``semcom_blocks.channel_hier.semcom_channel`` is the same model
as a GNU Radio block built on gr-channels; both take their noise power from ``noise_variance``
and their multipath taps from ``profile_taps``.

SNR convention (docs/architecture.md): ``snr_db`` is Es/N0 per complex data symbol at the receiver,
in dB. The OFDM transmitter puts data symbols of energy Es = 1 on ``n_used`` of ``fft_len``
subcarriers and scales its IFFT so that the time-domain samples have unit average power::

    x[n] = (fft_len / sqrt(n_used)) * ifft(X)[n] = (1 / sqrt(n_used)) * sum_k X_k e^{j2pi kn/N}
    E|x[n]|^2 = n_used * Es / n_used = 1                                      (N = fft_len)

The receiver's FFT is normalised by sqrt(n_used) / fft_len, so that Y_k = X_k without noise::

    Y_k = (sqrt(n_used) / N) * sum_n y[n] e^{-j2pi kn/N}

Time-domain complex white noise w[n] of variance sigma^2 = E|w|^2 therefore reaches each
subcarrier with variance (n_used / N^2) * N * sigma^2 = n_used * sigma^2 / N = N0, and

    Es/N0 = snr  <=>  sigma^2 = fft_len / (n_used * snr)      (times signal_power if E|x|^2 != 1)

The cyclic prefix and the preamble have the same per-sample power, so they change nothing.
With multipath, the profile is normalised to unit total average power, so ``snr_db`` is the
average SNR (each realisation's SNR varies around it).

Order of impairments in ``ChannelSim``: PA compression -> multipath (tapped delay line) ->
sample-rate offset -> timing offset -> carrier frequency offset -> AWGN -> phase noise -> IQ
imbalance -> DC offset -> ADC quantization (the front-end models and their units are in
``impairments.py``; all are off by default). Units:

* ``sample_rate`` in Hz; profile delays in ns; ``doppler_hz`` the maximum Doppler shift in Hz;
* ``sro_ppm``: the receiver's sample period is (1 + sro_ppm * 1e-6) transmitter sample periods:
  output sample m is the waveform at input time m * (1 + sro_ppm * 1e-6), so a positive value
  shortens the stream by that factor (gr-channels' ``epsilon`` = 1 + sro_ppm * 1e-6);
* ``timing_offset`` in samples (>= 0): integer part as leading zeros, fractional part as a
  band-limited (windowed-sinc) delay;
* ``cfo`` in subcarrier spacings: y[n] = x[n] * exp(j 2 pi cfo n / fft_len), n = 0 at the first
  output sample;
* noise: circular complex Gaussian, variance ``noise_variance(snr_db, ...)`` on every output
  sample (leading zeros and multipath tail included).

Named scenarios (``scenario_settings``, ``SCENARIOS``): the channel block's keyword arguments
for ``awgn``, ``cfo``, ``multipath``, ``all``, ``radio`` (a USRP-like front end, ``RADIO_BUNDLE``)
and one per fading profile; the table ``semcom link`` reads (``channel_sim_kwargs`` turns an
entry into ``ChannelSim`` arguments).

Random draws come from numpy Generators seeded from ``seed``: one stream for the fading, one
for the noise and one for the phase noise (``SeedSequence(seed).spawn(3)``: the first two are
those of ``spawn(2)``), so the same seed gives the same fading realisations at every SNR of a
sweep.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .impairments import IMPAIRMENT_KEYS, Impairments, check_finite, check_nonnegative, check_positive
from .snr import noise_var_from_esn0

__all__ = ["PowerDelayProfile", "PROFILES", "get_profile", "profile_names", "profile_taps",
           "noise_variance", "sos_fading", "fractional_interp", "ChannelSim", "apply_channel",
           "check_finite", "check_positive", "check_nonnegative", "check_numerology", "check_snr_db",
           "SCENARIOS", "RADIO_BUNDLE", "scenario_names", "scenario_settings", "channel_sim_kwargs"]

#: half-width (samples) of the Kaiser-windowed sinc used for fractional delays and resampling.
INTERP_HALF_WIDTH = 16
#: Kaiser window shape parameter for that sinc.
INTERP_BETA = 8.0
#: half-width (samples) of the causal sinc that spreads a fractional path delay over taps.
PATH_SINC_HALF_WIDTH = 8


@dataclass(frozen=True)
class PowerDelayProfile:
    """A tapped-delay-line power-delay profile.

    ``delays``: excess delay of each path, in ns, or in units of the RMS delay spread when
    ``normalized`` (3GPP 38.901 TDL models: delay = normalized delay * DS).
    ``powers_db``: relative average power of each path, in dB (normalised to a unit total by
    ``powers``). ``source``: where the numbers come from.
    """

    name: str
    delays: tuple[float, ...]
    powers_db: tuple[float, ...]
    source: str
    normalized: bool = False

    def __post_init__(self):
        if len(self.delays) != len(self.powers_db) or not self.delays:
            raise ValueError(f"profile {self.name}: delays and powers must have the same, nonzero length")

    def delays_ns(self, delay_spread_ns: float | None = None) -> np.ndarray:
        """Path delays in ns (TDL profiles need ``delay_spread_ns``, the RMS delay spread)."""
        d = np.asarray(self.delays, dtype=float)
        if not self.normalized:
            return d
        if delay_spread_ns is None:
            raise ValueError(f"profile {self.name} is normalised to a delay spread: give delay_spread_ns")
        check_positive("delay_spread_ns", delay_spread_ns)
        return d * float(delay_spread_ns)

    def powers(self) -> np.ndarray:
        """Linear path powers, normalised to sum to 1."""
        p = 10.0 ** (np.asarray(self.powers_db, dtype=float) / 10.0)
        return p / p.sum()


# 3GPP TS 36.104 Annex B.2 (E-UTRA multipath fading propagation conditions), Tables B.2-2
# (EPA), B.2-3 (EVA), B.2-4 (ETU): excess tap delay [ns], relative power [dB].
# 3GPP TR 38.901 Table 7.7.2-1 (TDL-A), 7.7.2-2 (TDL-B), 7.7.2-3 (TDL-C): normalised delay
# (multiply by the RMS delay spread), power [dB]; all three are NLOS (Rayleigh on every tap).
PROFILES: dict[str, PowerDelayProfile] = {
    "flat": PowerDelayProfile("flat", (0.0,), (0.0,), "single Rayleigh tap (flat fading)"),
    "epa": PowerDelayProfile(
        "epa", (0, 30, 70, 90, 110, 190, 410),
        (0.0, -1.0, -2.0, -3.0, -8.0, -17.2, -20.8),
        "3GPP TS 36.104 Annex B.2, Table B.2-2 (Extended Pedestrian A)"),
    "eva": PowerDelayProfile(
        "eva", (0, 30, 150, 310, 370, 710, 1090, 1730, 2510),
        (0.0, -1.5, -1.4, -3.6, -0.6, -9.1, -7.0, -12.0, -16.9),
        "3GPP TS 36.104 Annex B.2, Table B.2-3 (Extended Vehicular A)"),
    "etu": PowerDelayProfile(
        "etu", (0, 50, 120, 200, 230, 500, 1600, 2300, 5000),
        (-1.0, -1.0, -1.0, 0.0, 0.0, 0.0, -3.0, -5.0, -7.0),
        "3GPP TS 36.104 Annex B.2, Table B.2-4 (Extended Typical Urban)"),
    "tdl-a": PowerDelayProfile(
        "tdl-a",
        (0.0000, 0.3819, 0.4025, 0.5868, 0.4610, 0.5375, 0.6708, 0.5750, 0.7618, 1.5375,
         1.8978, 2.2242, 2.1718, 2.4942, 2.5119, 3.0582, 4.0810, 4.4579, 4.5695, 4.7966,
         5.0066, 5.3043, 9.6586),
        (-13.4, 0.0, -2.2, -4.0, -6.0, -8.2, -9.9, -10.5, -7.5, -15.9, -6.6, -16.7, -12.4,
         -15.2, -10.8, -11.3, -12.7, -16.2, -18.3, -18.9, -16.6, -19.9, -29.7),
        "3GPP TR 38.901 Table 7.7.2-1 (TDL-A, NLOS)", normalized=True),
    "tdl-b": PowerDelayProfile(
        "tdl-b",
        (0.0000, 0.1072, 0.2155, 0.2095, 0.2870, 0.2986, 0.3752, 0.5055, 0.3681, 0.3697,
         0.5700, 0.5283, 1.1021, 1.2756, 1.5474, 1.7842, 2.0169, 2.8294, 3.0219, 3.6187,
         4.1067, 4.2790, 4.7834),
        (0.0, -2.2, -4.0, -3.2, -9.8, -1.2, -3.4, -5.2, -7.6, -3.0, -8.9, -9.0, -4.8, -5.7,
         -7.5, -1.9, -7.6, -12.2, -9.8, -11.4, -14.9, -9.2, -11.3),
        "3GPP TR 38.901 Table 7.7.2-2 (TDL-B, NLOS)", normalized=True),
    "tdl-c": PowerDelayProfile(
        "tdl-c",
        (0.0000, 0.2099, 0.2219, 0.2329, 0.2176, 0.6366, 0.6448, 0.6560, 0.6584, 0.7935,
         0.8213, 0.9336, 1.2285, 1.3083, 2.1704, 2.7105, 4.2589, 4.6003, 5.4902, 5.6077,
         6.3065, 6.6374, 7.0427, 8.6523),
        (-4.4, -1.2, -3.5, -5.2, -2.5, 0.0, -2.2, -3.9, -7.4, -7.1, -10.7, -11.1, -5.1, -6.8,
         -8.7, -13.2, -13.9, -13.9, -15.8, -17.1, -16.0, -15.7, -21.6, -22.8),
        "3GPP TR 38.901 Table 7.7.2-3 (TDL-C, NLOS)", normalized=True),
}

#: delay spread used for the TDL profiles when none is given (ns).
DEFAULT_DELAY_SPREAD_NS = 100.0


def profile_names() -> tuple[str, ...]:
    """Accepted profile names: "none" (no multipath) and the keys of ``PROFILES``."""
    return ("none",) + tuple(PROFILES)


def get_profile(profile) -> PowerDelayProfile | None:
    """The ``PowerDelayProfile`` for a name (case-insensitive, "_" for "-"), None for "none".

    A ``PowerDelayProfile`` passes through. Unknown names raise ValueError.
    """
    if profile is None or isinstance(profile, PowerDelayProfile):
        return profile
    if not isinstance(profile, str):
        raise ValueError(f"profile must be a name or a PowerDelayProfile, got {profile!r}")
    key = profile.strip().lower().replace("_", "-")
    if key in ("none", ""):
        return None
    if key in ("tdla", "tdlb", "tdlc"):
        key = key[:3] + "-" + key[3]
    if key not in PROFILES:
        raise ValueError(f"unknown channel profile {profile!r}; choose one of {', '.join(profile_names())}")
    return PROFILES[key]


def check_numerology(fft_len, n_used) -> tuple[int, int]:
    """(fft_len, n_used) as ints; ValueError unless 1 <= n_used <= fft_len."""
    if int(fft_len) != fft_len or int(fft_len) < 1:
        raise ValueError(f"fft_len must be a positive integer, got {fft_len!r}")
    if int(n_used) != n_used or not 1 <= int(n_used) <= int(fft_len):
        raise ValueError(f"n_used must be an integer in [1, fft_len={fft_len}], got {n_used!r}")
    return int(fft_len), int(n_used)


def check_snr_db(snr_db) -> float:
    """``snr_db`` as a float; ValueError unless it is a number other than NaN and -inf (+inf: no noise)."""
    try:
        v = float(snr_db)
    except (TypeError, ValueError):
        raise ValueError(f"snr_db must be a number, got {snr_db!r}") from None
    if math.isnan(v) or v == -math.inf:
        raise ValueError(f"snr_db must be a finite number or +inf (no noise), got {snr_db!r}")
    return v


def noise_variance(snr_db, fft_len: int = 64, n_used: int = 52, signal_power: float = 1.0) -> float:
    """Time-domain complex noise variance E|w|^2 that gives Es/N0 = ``snr_db`` per subcarrier.

    ``sigma^2 = signal_power * fft_len / (n_used * 10**(snr_db / 10))``: time-domain samples
    of average power ``signal_power`` carry data on ``n_used`` of ``fft_len`` subcarriers (see
    the module docstring for the derivation). ``snr_db = +inf`` gives 0 (no noise).
    """
    snr = check_snr_db(snr_db)
    fft_len, n_used = check_numerology(fft_len, n_used)
    p = check_positive("signal_power", signal_power)
    if snr == math.inf:
        return 0.0
    return p * fft_len / n_used * noise_var_from_esn0(snr)


def profile_taps(profile, sample_rate: float, delay_spread_ns: float | None = None,
                 delay_mode: str = "round") -> tuple[np.ndarray, np.ndarray]:
    """Path delays in samples and normalised powers for a profile at ``sample_rate`` (Hz).

    ``delay_mode="round"``: delays rounded to the nearest sample (halves up), paths landing on
    the same sample merged by adding their powers (a sum of independent Rayleigh taps is a
    Rayleigh tap with the summed power), sorted by delay; integer-valued float delays.
    ``delay_mode="sinc"``: fractional delays, one entry per tabled path.
    TDL profiles use ``delay_spread_ns`` (default ``DEFAULT_DELAY_SPREAD_NS``). Powers sum to 1.
    """
    prof = get_profile(profile)
    if prof is None:
        return np.zeros(1), np.ones(1)
    fs = check_positive("sample_rate", sample_rate)
    if prof.normalized and delay_spread_ns is None:
        delay_spread_ns = DEFAULT_DELAY_SPREAD_NS
    delays = prof.delays_ns(delay_spread_ns) * 1e-9 * fs
    powers = prof.powers()
    if delay_mode == "sinc":
        return delays, powers
    if delay_mode != "round":
        raise ValueError(f"delay_mode must be 'round' or 'sinc', got {delay_mode!r}")
    rounded = np.floor(delays + 0.5)
    uniq = np.unique(rounded)
    merged = np.array([powers[rounded == d].sum() for d in uniq])
    return uniq.astype(float), merged / merged.sum()


def _kaiser_sinc(d: np.ndarray, half_width: int = INTERP_HALF_WIDTH, beta: float = INTERP_BETA) -> np.ndarray:
    """Kaiser-windowed sinc at offsets ``d`` (samples), zero for |d| >= half_width."""
    d = np.asarray(d, dtype=float)
    r = np.clip(d / half_width, -1.0, 1.0)
    w = np.i0(beta * np.sqrt(1.0 - r * r)) / np.i0(beta)
    return np.where(np.abs(d) < half_width, np.sinc(d) * w, 0.0)


def fractional_interp(x: np.ndarray, t: np.ndarray, half_width: int = INTERP_HALF_WIDTH,
                      chunk: int = 1 << 15) -> np.ndarray:
    """Band-limited values of ``x`` at real sample positions ``t`` (Kaiser-windowed sinc,
    2*half_width taps); samples outside ``x`` count as zero. Flat to about 0.45 of the sample
    rate, enough for OFDM with 52 of 64 subcarriers used."""
    x = np.asarray(x)
    t = np.asarray(t, dtype=float)
    out = np.zeros(t.shape, dtype=np.result_type(x.dtype, np.complex128))
    if x.size == 0:
        return out
    offsets = np.arange(-half_width + 1, half_width + 1)
    for s in range(0, t.size, chunk):
        tc = t[s:s + chunk]
        idx = np.floor(tc).astype(np.int64)[:, None] + offsets[None, :]
        inside = (idx >= 0) & (idx < x.size)
        vals = np.where(inside, x[np.clip(idx, 0, max(x.size - 1, 0))], 0.0)
        out[s:s + chunk] = np.sum(vals * _kaiser_sinc(tc[:, None] - idx, half_width), axis=1)
    return out


def _path_filter(delay: float, length: int) -> np.ndarray:
    """Causal unit-energy filter that delays by ``delay`` samples: a delta for an integer delay,
    otherwise a windowed sinc truncated to taps 0..length-1 and renormalised."""
    k = np.arange(length, dtype=float)
    if float(delay).is_integer():
        return (k == delay).astype(float)
    f = _kaiser_sinc(k - delay, PATH_SINC_HALF_WIDTH)
    return f / np.sqrt(np.sum(f * f))


def sos_fading(n_samples: int, doppler_hz: float, sample_rate: float, n_paths: int,
               rng: np.random.Generator, n_sinusoids: int = 16) -> np.ndarray:
    """Unit-power Rayleigh fading processes with a Jakes (Clarke) Doppler spectrum.

    Sum of sinusoids after Zheng and Xiao (2003), one independent process per path::

        alpha_n = (2 pi n - pi + theta) / (4 M),  n = 1..M
        h(t) = sqrt(1/M) sum_n [cos(2 pi fD t cos(alpha_n) + phi_n) + j cos(2 pi fD t sin(alpha_n) + psi_n)]

    with theta, phi_n, psi_n uniform in [-pi, pi), t = sample index / sample_rate. E|h|^2 = 1.
    Returns (n_paths, n_samples) complex128.
    """
    m = int(n_sinusoids)
    if m < 1:
        raise ValueError(f"n_sinusoids must be >= 1, got {n_sinusoids!r}")
    t = np.arange(int(n_samples)) / float(sample_rate)
    out = np.empty((int(n_paths), t.size), dtype=np.complex128)
    n = np.arange(1, m + 1)
    for p in range(int(n_paths)):
        theta = rng.uniform(-np.pi, np.pi)
        phi = rng.uniform(-np.pi, np.pi, m)
        psi = rng.uniform(-np.pi, np.pi, m)
        alpha = (2 * np.pi * n - np.pi + theta) / (4 * m)
        wi = 2 * np.pi * doppler_hz * np.cos(alpha)
        wq = 2 * np.pi * doppler_hz * np.sin(alpha)
        hi = np.cos(np.outer(wi, t) + phi[:, None]).sum(axis=0)
        hq = np.cos(np.outer(wq, t) + psi[:, None]).sum(axis=0)
        out[p] = (hi + 1j * hq) / np.sqrt(m)
    return out


class ChannelSim:
    """Burst channel: PA -> multipath -> SRO -> timing offset -> CFO -> AWGN -> phase noise -> IQ
    imbalance -> DC -> ADC (see the module docstring).

    Parameters (units and conventions in the module docstring):

    * ``snr_db``: Es/N0 per data subcarrier in dB (+inf: no noise);
      ``fft_len``, ``n_used``, ``signal_power``: the numerology ``noise_variance`` uses;
    * ``profile``: "none", a ``PROFILES`` name or a ``PowerDelayProfile``; ``sample_rate`` (Hz)
      converts its delays to samples; ``delay_spread_ns`` scales the TDL profiles;
      ``delay_mode``: "round" (nearest sample, as the GNU Radio block does) or "sinc"
      (fractional delays as causal windowed sincs);
    * ``doppler_hz``: 0 gives block fading (independent complex Gaussian taps, held for the
      whole call); > 0 gives taps that evolve within the call (``sos_fading``, ``n_sinusoids``);
    * ``sro_ppm``, ``timing_offset`` (samples), ``cfo`` (subcarrier spacings);
    * front-end impairments, off by default (``impairments.Impairments`` for units and checks):
      ``clip`` (PA saturation, x RMS), ``rapp_p``, ``phase_noise_hz`` (linewidth at
      ``sample_rate``), ``iq_gain_db``, ``iq_phase_deg``, ``dc_dbc``, ``dc_phase_deg``,
      ``adc_bits``, ``adc_full_scale``; or ``impairments``, an ``Impairments`` (not both);
    * ``seed``: int (or None for fresh entropy) seeding the fading, noise and phase-noise Generators.

    Each call is an independent channel realisation. The output has len(x) + max path delay
    samples after multipath (the tail is kept), scaled by 1/(1 + sro_ppm 1e-6) by the SRO, plus
    ceil(timing_offset) leading samples; the phase noise starts at phase 0 in every call. After
    a call, ``last_path_gains`` holds the complex path gains ((n_paths,) for block fading,
    (n_paths, n) over the multipath output with Doppler), ``path_delays`` the delays in
    samples, and ``impulse_response()`` the taps.
    """

    def __init__(self, snr_db=math.inf, *, fft_len: int = 64, n_used: int = 52,
                 signal_power: float = 1.0, profile="none", sample_rate: float = 1e6,
                 doppler_hz: float = 0.0, delay_spread_ns: float | None = None,
                 delay_mode: str = "round", n_sinusoids: int = 16, sro_ppm: float = 0.0,
                 timing_offset: float = 0.0, cfo: float = 0.0, seed: int | None = 0, impairments=None,
                 **impairment_kwargs):
        self.fft_len, self.n_used = check_numerology(fft_len, n_used)
        self.signal_power = check_positive("signal_power", signal_power)
        self.snr_db = check_snr_db(snr_db)
        self.sample_rate = check_positive("sample_rate", sample_rate)
        self.doppler_hz = check_nonnegative("doppler_hz", doppler_hz)
        if self.doppler_hz >= self.sample_rate / 2:
            raise ValueError(f"doppler_hz must be below sample_rate / 2, got {doppler_hz!r}")
        if delay_spread_ns is not None:
            check_positive("delay_spread_ns", delay_spread_ns)
        if int(n_sinusoids) != n_sinusoids or int(n_sinusoids) < 1:
            raise ValueError(f"n_sinusoids must be a positive integer, got {n_sinusoids!r}")
        self.n_sinusoids = int(n_sinusoids)
        self.sro_ppm = check_finite("sro_ppm", sro_ppm)
        if not -1e5 < self.sro_ppm < 1e5:
            raise ValueError(f"sro_ppm must be within +-1e5 ppm, got {sro_ppm!r}")
        self.timing_offset = check_nonnegative("timing_offset", timing_offset)
        self.cfo = check_finite("cfo", cfo)
        if seed is not None and (int(seed) != seed or int(seed) < 0):
            raise ValueError(f"seed must be a non-negative integer or None, got {seed!r}")
        self.profile = get_profile(profile)
        self.delay_mode = delay_mode
        self.path_delays, self.path_powers = profile_taps(self.profile, self.sample_rate,
                                                          delay_spread_ns, delay_mode)
        length = int(np.ceil(self.path_delays.max())) + 1
        if delay_mode == "sinc" and not np.all(np.mod(self.path_delays, 1) == 0):
            length += PATH_SINC_HALF_WIDTH
        self.path_filters = np.stack([_path_filter(d, length) for d in self.path_delays])
        if impairments is not None and impairment_kwargs:
            raise ValueError("give either impairments or single impairment arguments, not both")
        if impairments is not None and not isinstance(impairments, Impairments):
            raise ValueError(f"impairments must be an Impairments, got {type(impairments).__name__}")
        self.impairments = impairments or Impairments.from_kwargs(**impairment_kwargs)
        fading_ss, noise_ss, phase_ss = np.random.SeedSequence(seed).spawn(3)
        self._fading_rng = np.random.default_rng(fading_ss)
        self._noise_rng = np.random.default_rng(noise_ss)
        self._phase_rng = np.random.default_rng(phase_ss)
        self.last_path_gains: np.ndarray | None = None

    @property
    def noise_var(self) -> float:
        """Time-domain complex noise variance added per output sample."""
        return noise_variance(self.snr_db, self.fft_len, self.n_used, self.signal_power)

    def impulse_response(self, sample: int | None = None) -> np.ndarray:
        """Taps h[k] of the last call's multipath (block fading), or at output ``sample``."""
        if self.last_path_gains is None:
            raise ValueError("no channel realisation yet: call the ChannelSim first")
        g = self.last_path_gains
        if g.ndim == 2:
            g = g[:, 0 if sample is None else int(sample)]
        return g @ self.path_filters

    def _multipath(self, x: np.ndarray) -> np.ndarray:
        if self.profile is None:
            self.last_path_gains = np.ones(1, dtype=np.complex128)
            return x.astype(np.complex128)
        n_paths, length = self.path_filters.shape
        n_out = x.size + length - 1 if x.size else 0
        amp = np.sqrt(self.path_powers)
        if self.doppler_hz == 0:
            g = (self._fading_rng.standard_normal(n_paths)
                 + 1j * self._fading_rng.standard_normal(n_paths)) * amp / np.sqrt(2)
            self.last_path_gains = g
            return np.convolve(x, g @ self.path_filters) if x.size else np.zeros(0, np.complex128)
        g = sos_fading(n_out, self.doppler_hz, self.sample_rate, n_paths, self._fading_rng,
                       self.n_sinusoids) * amp[:, None]
        self.last_path_gains = g
        y = np.zeros(n_out, dtype=np.complex128)
        for p in range(n_paths if x.size else 0):
            y += g[p] * np.convolve(x, self.path_filters[p])
        return y

    def __call__(self, x) -> np.ndarray:
        """Pass one burst (1-D complex samples) through the channel; complex64 in -> complex64
        out, otherwise complex128."""
        x = np.asarray(x)
        if x.ndim != 1:
            raise ValueError(f"input must be a 1-D array of samples, got shape {x.shape}")
        out_dtype = np.complex64 if x.dtype in (np.complex64, np.float32) else np.complex128
        imp = self.impairments
        y = self._multipath(imp.tx(x, self.signal_power) if imp.has_tx else x)
        if self.sro_ppm != 0 and y.size:
            ratio = 1.0 + self.sro_ppm * 1e-6
            n_out = int(np.floor((y.size - 1) / ratio)) + 1
            y = fractional_interp(y, np.arange(n_out) * ratio)
        if self.timing_offset > 0:
            whole = int(np.floor(self.timing_offset))
            frac = self.timing_offset - whole
            if frac > 0:
                y = fractional_interp(y, np.arange(y.size + 1) - frac)
            y = np.concatenate([np.zeros(whole, y.dtype), y])
        if self.cfo != 0:
            y = y * np.exp(2j * np.pi * self.cfo * np.arange(y.size) / self.fft_len)
        var = self.noise_var
        if var > 0:
            w = self._noise_rng.standard_normal((2, y.size))
            y = y + np.sqrt(var / 2) * (w[0] + 1j * w[1])
        if imp.has_rx:
            y, _ = imp.rx(y, self._phase_rng, self.sample_rate, self.signal_power)
        return y.astype(out_dtype)


def apply_channel(x, snr_db=math.inf, *, seed: int | None = 0, **kwargs) -> np.ndarray:
    """One call of ``ChannelSim(snr_db, seed=seed, **kwargs)`` on ``x``."""
    return ChannelSim(snr_db, seed=seed, **kwargs)(x)


# -- named scenarios ----------------------------------------------------------------------------

#: the ``radio`` bundle: a pair of USRP-class radios over a cable (no multipath). Carrier offset
#: in subcarrier spacings (the ``cfo`` argument of scenario_settings, default 1.2), LO leakage
#: -20 dBc, IQ imbalance 0.5 dB / 3 degrees (image rejection 28 dB), 1 kHz phase-noise
#: linewidth, PA clipping at 1.5 x RMS, a 12-bit ADC (default full scale), 20 ppm sample-rate
#: offset.
RADIO_BUNDLE = {"dc_dbc": -20.0, "iq_gain_db": 0.5, "iq_phase_deg": 3.0, "phase_noise_hz": 1e3, "clip": 1.5,
                "adc_bits": 12, "sro_ppm": 20.0}

#: fading scenarios: profile -> (sample rate in Hz, maximum Doppler in Hz). The rate puts the
#: profile's delay spread inside the 16-sample cyclic prefix (EVA: 2.51 us at 4 MS/s is 10
#: samples, ETU: 5 us at 2 MS/s is 10; at 20 MS/s the TDL profiles' 100 ns default delay spread
#: puts all but their weakest taps inside it). Doppler 5 Hz throughout (pedestrian, as EPA5):
#: the receiver estimates the channel once per burst, from its preamble and SIG, and a burst of
#: a few ms at EVA70 / ETU70 speeds drifts too far from that estimate.
_FADING = {"flat": (20e6, 5.0), "epa": (20e6, 5.0), "eva": (4e6, 5.0), "etu": (2e6, 5.0),
           "tdl-a": (20e6, 5.0), "tdl-b": (20e6, 5.0), "tdl-c": (20e6, 5.0)}

#: scenario names: ``awgn`` (noise only), ``cfo`` (+ carrier offset), ``multipath`` (+ EPA at
#: 20 MS/s, 5 Hz Doppler), ``all`` (the three), ``radio`` (``RADIO_BUNDLE`` + carrier offset,
#: no multipath), and one per fading profile (``_FADING``: Rayleigh fading, no carrier offset).
SCENARIOS = ("awgn", "cfo", "multipath", "all", "radio") + tuple(PROFILES)


def scenario_names() -> tuple[str, ...]:
    """The names ``scenario_settings`` accepts (``SCENARIOS``)."""
    return SCENARIOS


def scenario_settings(scenario: str, cfo: float = 1.2, **overrides) -> dict:
    """Keyword arguments of the SemCom Channel block (``channel_hier.semcom_channel``) for a named
    scenario, besides ``snr_db`` and ``seed``: ``cfo_subcarriers``, ``profile``,
    ``sample_rate`` (Hz), ``doppler_hz``, and for ``radio`` the impairments of ``RADIO_BUNDLE``.

    ``cfo``: the carrier offset (subcarrier spacings) of the scenarios that have one (cfo, all,
    radio). ``overrides``: further block arguments (``sro_ppm`` and ``IMPAIRMENT_KEYS``) that
    replace or add to the scenario's; None values are ignored. ValueError for an unknown scenario
    or argument, or an invalid impairment.
    """
    if scenario not in SCENARIOS:
        raise ValueError(f"unknown channel {scenario!r}; choose from {', '.join(SCENARIOS)}")
    cfo = check_finite("cfo", cfo)
    settings = {"cfo_subcarriers": cfo if scenario in ("cfo", "all", "radio") else 0.0,
                "profile": "none", "sample_rate": 20e6, "doppler_hz": 0.0}
    if scenario in ("multipath", "all"):
        settings.update(profile="epa", doppler_hz=5.0)
    elif scenario in _FADING:
        rate, doppler = _FADING[scenario]
        settings.update(profile=scenario, sample_rate=rate, doppler_hz=doppler)
    elif scenario == "radio":
        settings.update(RADIO_BUNDLE)
    extra = {k: v for k, v in overrides.items() if v is not None}
    unknown = set(extra) - set(IMPAIRMENT_KEYS) - {"sro_ppm"}
    if unknown:
        raise ValueError(f"unknown channel settings {sorted(unknown)}; known: sro_ppm, {', '.join(IMPAIRMENT_KEYS)}")
    settings.update(extra)
    if "sro_ppm" in settings:
        settings["sro_ppm"] = check_finite("sro_ppm", settings["sro_ppm"])
    Impairments.from_kwargs(**{k: v for k, v in settings.items() if k in IMPAIRMENT_KEYS})  # validates
    return settings


def channel_sim_kwargs(settings: dict) -> dict:
    """``scenario_settings`` output as ``ChannelSim`` keyword arguments (``cfo_subcarriers`` is
    ``ChannelSim``'s ``cfo``; everything else has the same name)."""
    out = dict(settings)
    if "cfo_subcarriers" in out:
        out["cfo"] = out.pop("cfo_subcarriers")
    return out
