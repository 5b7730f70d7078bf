"""Radio front-end impairments, in numpy, and the named channel scenarios.

What a pair of real radios adds to the propagation channel of ``channel.ChannelSim``: a power
amplifier that compresses, oscillators with phase noise, a receive mixer with IQ imbalance and
LO leakage (a DC term), and an ADC that quantizes. ``ChannelSim`` and the GNU Radio block
``channel_hier.semcom_channel`` apply them through ``Impairments``; the functions below are the
single impairments, each with its own conventions:

* ``pa_compress``: memoryless AM/AM on the transmitted samples (phase kept). Saturation
  amplitude A = ``clip`` x sqrt(signal_power) (``clip`` in multiples of the nominal RMS).
  ``rapp_p`` None: ideal clipper, |y| = min(|x|, A); ``rapp_p`` = p > 0: Rapp's model,
  |y| = |x| / (1 + (|x| / A)^(2p))^(1/(2p)) (p -> inf is the clipper; 2 to 3 is a solid-state
  PA).
* ``wiener_phase``: the combined phase noise of both oscillators as a Wiener process
  (free-running oscillators, a Lorentzian spectrum of 3 dB full width ``linewidth_hz``):
  phi[n] = phi[n-1] + w[n], w ~ N(0, 2 pi linewidth_hz / sample_rate), so that
  Var(phi(t) - phi(0)) = 2 pi linewidth_hz t (t in s). Applied as y = x exp(j phi).
* ``iq_imbalance``: receive mixer with amplitude imbalance g = 10^(gain_db / 20) and phase
  imbalance phi (``phase_deg``) of the Q branch against the I branch:
  I' = I, Q' = g (cos(phi) Q - sin(phi) I), i.e. y = mu x + nu conj(x) with
  mu = (1 + g e^{-j phi}) / 2, nu = (1 - g e^{j phi}) / 2. A tone at +f gets an image at -f
  |nu|^2 / |mu|^2 below it: the image rejection ratio ``image_rejection_db`` (0.5 dB and 3
  degrees: 28.2 dB). In OFDM, subcarrier k's image lands on subcarrier -k.
* DC offset (LO leakage): a constant c added after the mixer, |c|^2 = signal_power x
  10^(dc_dbc / 10) (dBc: relative to the nominal signal power), phase ``dc_phase_deg``.
* ``quantize``: an ADC of ``bits`` bits per axis, mid-rise, full scale +-``full_scale`` (same
  units as the samples; the PHY's samples have unit average power, so the default 4.0 puts the
  RMS of each axis 15 dB below full scale). Step 2 full_scale / 2^bits; values beyond full
  scale saturate. A full-scale sine has SQNR = 6.02 bits + 1.76 dB.

Order (``Impairments.tx`` then the propagation channel then ``Impairments.rx``): PA ->
multipath -> SRO -> timing -> CFO -> AWGN -> phase noise -> IQ imbalance -> DC -> ADC. Phase
noise after the AWGN is the same in distribution as before it (circular white noise rotated by
any phase is the same noise). SNR (Es/N0) keeps its meaning: the noise set by ``snr_db``
against the nominal signal power; what the impairments add is on top of it.

The named channel scenarios that bundle these with the propagation channel are in
``channel.py`` (``scenario_settings``). The argument checks shared by the channel models
(``check_finite`` and friends, re-exported by ``channel``) live here, the lowest of them.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

__all__ = ["Impairments", "pa_compress", "wiener_phase", "iq_coefficients", "iq_imbalance", "image_rejection_db",
           "dc_offset_value", "quantize", "IMPAIRMENT_KEYS", "check_finite", "check_positive", "check_nonnegative"]

#: keyword arguments of ``Impairments`` (and of ChannelSim / semcom_channel, which pass them on)
IMPAIRMENT_KEYS = ("clip", "rapp_p", "phase_noise_hz", "iq_gain_db", "iq_phase_deg", "dc_dbc", "dc_phase_deg",
                   "adc_bits", "adc_full_scale")


def check_finite(name: str, value) -> float:
    """``value`` as a float; ValueError naming ``name`` unless it is a finite number."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(v):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return v


def check_positive(name: str, value) -> float:
    """``value`` as a float; ValueError naming ``name`` unless it is finite and > 0."""
    v = check_finite(name, value)
    if v <= 0:
        raise ValueError(f"{name} must be > 0, got {value!r}")
    return v


def check_nonnegative(name: str, value) -> float:
    """``value`` as a float; ValueError naming ``name`` unless it is finite and >= 0."""
    v = check_finite(name, value)
    if v < 0:
        raise ValueError(f"{name} must be >= 0, got {value!r}")
    return v


def _off(value) -> bool:
    """None or -inf switches off an impairment given in dB."""
    return value is None or (isinstance(value, (int, float)) and value == -math.inf)


@dataclass(frozen=True)
class Impairments:
    """Front-end impairments (module docstring for the models). Off unless set:

    * ``clip``: PA saturation in multiples of the nominal RMS sqrt(signal_power), > 0; None: a
      linear PA. ``rapp_p``: Rapp smoothness p > 0; None: an ideal clipper at ``clip``.
    * ``phase_noise_hz``: Wiener phase-noise 3 dB linewidth in Hz (>= 0; 0: none), at the
      channel's sample rate.
    * ``iq_gain_db`` (|.| <= 6 dB), ``iq_phase_deg`` (|.| < 45 degrees): receive IQ imbalance.
    * ``dc_dbc``: DC offset power in dB relative to the signal power (<= 0; None or -inf: none),
      ``dc_phase_deg`` its phase.
    * ``adc_bits``: ADC resolution per axis (integer 1..24; None or 0: no quantization),
      ``adc_full_scale`` (> 0) its full scale per axis.
    """

    clip: float | None = None
    rapp_p: float | None = None
    phase_noise_hz: float = 0.0
    iq_gain_db: float = 0.0
    iq_phase_deg: float = 0.0
    dc_dbc: float | None = None
    dc_phase_deg: float = 45.0
    adc_bits: int | None = None
    adc_full_scale: float = 4.0

    def __post_init__(self):
        put = object.__setattr__
        put(self, "clip", None if self.clip is None or self.clip == 0 else check_positive("clip", self.clip))
        if self.rapp_p is not None:
            put(self, "rapp_p", check_positive("rapp_p", self.rapp_p))
            if self.clip is None:
                raise ValueError("rapp_p needs clip, the saturation level of the Rapp model")
        put(self, "phase_noise_hz", check_nonnegative("phase_noise_hz", self.phase_noise_hz))
        g = check_finite("iq_gain_db", self.iq_gain_db)
        if abs(g) > 6:
            raise ValueError(f"iq_gain_db must be within +-6 dB, got {self.iq_gain_db!r}")
        ph = check_finite("iq_phase_deg", self.iq_phase_deg)
        if abs(ph) >= 45:
            raise ValueError(f"iq_phase_deg must be within +-45 degrees, got {self.iq_phase_deg!r}")
        put(self, "iq_gain_db", g)
        put(self, "iq_phase_deg", ph)
        if _off(self.dc_dbc):
            put(self, "dc_dbc", None)
        else:
            dc = check_finite("dc_dbc", self.dc_dbc)
            if dc > 0:
                raise ValueError(f"dc_dbc must be <= 0 dBc (None or -inf: no DC offset), got {self.dc_dbc!r}")
            put(self, "dc_dbc", dc)
        put(self, "dc_phase_deg", check_finite("dc_phase_deg", self.dc_phase_deg))
        if self.adc_bits is None or self.adc_bits == 0:
            put(self, "adc_bits", None)
        elif isinstance(self.adc_bits, bool) or int(self.adc_bits) != self.adc_bits or not 1 <= self.adc_bits <= 24:
            raise ValueError(f"adc_bits must be an integer in 1..24 (None or 0: no ADC), got {self.adc_bits!r}")
        else:
            put(self, "adc_bits", int(self.adc_bits))
        put(self, "adc_full_scale", check_positive("adc_full_scale", self.adc_full_scale))

    @classmethod
    def from_kwargs(cls, **kwargs) -> Impairments:
        """An ``Impairments`` from the keyword arguments of ``IMPAIRMENT_KEYS`` (others: TypeError)."""
        unknown = set(kwargs) - set(IMPAIRMENT_KEYS)
        if unknown:
            raise TypeError(f"unknown impairment arguments {sorted(unknown)}")
        return cls(**kwargs)

    def as_dict(self) -> dict:
        return asdict(self)

    @property
    def has_tx(self) -> bool:
        """Whether ``tx`` changes anything (a PA model is set)."""
        return self.clip is not None

    @property
    def has_rx(self) -> bool:
        """Whether ``rx`` changes anything."""
        return (self.phase_noise_hz > 0 or self.iq_gain_db != 0 or self.iq_phase_deg != 0
                or self.dc_dbc is not None or self.adc_bits is not None)

    def tx(self, x: np.ndarray, signal_power: float = 1.0) -> np.ndarray:
        """The PA applied to transmitted samples ``x`` (complex128 out; ``x`` if there is none)."""
        if self.clip is None:
            return x
        return pa_compress(x, self.clip * math.sqrt(signal_power), self.rapp_p)

    def rx(self, y: np.ndarray, rng: np.random.Generator | None = None, sample_rate: float = 1.0,
           signal_power: float = 1.0, phase0: float = 0.0) -> tuple[np.ndarray, float]:
        """Phase noise, IQ imbalance, DC offset and ADC on received samples ``y``.

        ``rng`` draws the phase-noise increments (needed when ``phase_noise_hz`` > 0),
        ``sample_rate`` in Hz, ``phase0`` the oscillator phase (radians) before the first sample
        (a stream passes the returned phase on to its next call). Returns (samples complex128,
        phase after the last sample).
        """
        y = np.asarray(y)
        phase = float(phase0)
        if self.phase_noise_hz > 0 and y.size:
            if rng is None:
                raise ValueError("phase noise needs a random generator")
            phi = wiener_phase(y.size, self.phase_noise_hz, sample_rate, rng, phase)
            phase = float(np.mod(phi[-1], 2 * np.pi))
            y = y * np.exp(1j * phi)
        if self.iq_gain_db != 0 or self.iq_phase_deg != 0:
            y = iq_imbalance(y, self.iq_gain_db, self.iq_phase_deg)
        if self.dc_dbc is not None:
            y = y + dc_offset_value(self.dc_dbc, self.dc_phase_deg, signal_power)
        if self.adc_bits is not None:
            y = quantize(y, self.adc_bits, self.adc_full_scale)
        return np.asarray(y, dtype=np.complex128), phase


def pa_compress(x: np.ndarray, saturation: float, rapp_p: float | None = None) -> np.ndarray:
    """AM/AM compression of complex samples, phase kept (module docstring): an ideal clipper at
    amplitude ``saturation`` (rapp_p None) or Rapp's model of smoothness ``rapp_p``."""
    a = check_positive("saturation", saturation)
    x = np.asarray(x, dtype=np.complex128)
    r = np.abs(x)
    if rapp_p is None:
        gain = np.minimum(1.0, a / np.maximum(r, 1e-300))
    else:
        p = check_positive("rapp_p", rapp_p)
        gain = (1.0 + (r / a) ** (2 * p)) ** (-1.0 / (2 * p))
    return x * gain


def wiener_phase(n: int, linewidth_hz: float, sample_rate: float, rng: np.random.Generator,
                 phase0: float = 0.0) -> np.ndarray:
    """(n,) float64 Wiener phase (radians) after ``phase0``: phi[i] = phase0 + sum_{m<=i} w[m],
    w ~ N(0, 2 pi linewidth_hz / sample_rate) (linewidth and sample rate in Hz)."""
    lw = check_nonnegative("linewidth_hz", linewidth_hz)
    fs = check_positive("sample_rate", sample_rate)
    step = math.sqrt(2 * math.pi * lw / fs)
    return phase0 + np.cumsum(rng.standard_normal(int(n)) * step)


def iq_coefficients(gain_db: float, phase_deg: float) -> tuple[complex, complex]:
    """(mu, nu) of y = mu x + nu conj(x) for an amplitude imbalance ``gain_db`` (dB) and a phase
    imbalance ``phase_deg`` (degrees) of the Q branch (module docstring)."""
    g = 10 ** (check_finite("iq_gain_db", gain_db) / 20)
    phi = math.radians(check_finite("iq_phase_deg", phase_deg))
    return (1 + g * complex(math.cos(phi), -math.sin(phi))) / 2, (1 - g * complex(math.cos(phi), math.sin(phi))) / 2


def iq_imbalance(x: np.ndarray, gain_db: float, phase_deg: float) -> np.ndarray:
    """y = mu x + nu conj(x) (``iq_coefficients``), complex128."""
    mu, nu = iq_coefficients(gain_db, phase_deg)
    x = np.asarray(x, dtype=np.complex128)
    return mu * x + nu * np.conj(x)


def image_rejection_db(gain_db: float, phase_deg: float) -> float:
    """Image rejection ratio 10 log10(|mu|^2 / |nu|^2) in dB (inf without imbalance)."""
    mu, nu = iq_coefficients(gain_db, phase_deg)
    return math.inf if nu == 0 else 10 * math.log10(abs(mu) ** 2 / abs(nu) ** 2)


def dc_offset_value(dc_dbc: float, phase_deg: float = 45.0, signal_power: float = 1.0) -> complex:
    """The DC term c: |c|^2 = signal_power 10^(dc_dbc / 10), angle ``phase_deg`` degrees."""
    amp = math.sqrt(check_positive("signal_power", signal_power) * 10 ** (check_finite("dc_dbc", dc_dbc) / 10))
    phi = math.radians(check_finite("dc_phase_deg", phase_deg))
    return amp * complex(math.cos(phi), math.sin(phi))


def quantize(x: np.ndarray, bits: int, full_scale: float = 4.0) -> np.ndarray:
    """I and Q each through a ``bits``-bit mid-rise quantizer over [-full_scale, full_scale]
    (levels (i + 1/2) step, step = 2 full_scale / 2^bits, saturating), complex128."""
    if int(bits) != bits or not 1 <= int(bits) <= 24:
        raise ValueError(f"bits must be an integer in 1..24, got {bits!r}")
    fs = check_positive("full_scale", full_scale)
    step = 2 * fs / 2 ** int(bits)
    top = fs - step / 2
    x = np.asarray(x, dtype=np.complex128)

    def q(v):
        return np.clip((np.floor(v / step) + 0.5) * step, -top, top)

    return q(x.real) + 1j * q(x.imag)
