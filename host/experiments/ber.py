"""Monte-Carlo bit and frame error rates of the channel codes over AWGN.

One point = random information bits -> encoder -> Gray mapping (unit symbol energy) -> complex
AWGN with N0 = 1 / (Es/N0) -> exact LLR demapping -> decoder, repeated in batches until
``target_frame_errors`` frame errors or ``max_frames`` frames. Eb/N0 counts Eb per information
bit at the code's true rate k/n (turbo: K / (3K + 12)), so Es/N0 = Eb/N0 + 10 log10(R m).
Every point draws from its own generator seeded by (seed, point index): the same command
gives the same numbers.

``info_mbps`` is the decoder's information throughput: information bits decoded per second of
decoder time alone (not encoding or the channel), on the calling thread.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

from semcom_blocks.phy.ldpc import get_ldpc, parse_rate
from semcom_blocks.phy.modulation import bits_per_symbol, demodulate_llr, modulate
from semcom_blocks.phy.snr import ebn0_to_esn0, esn0_to_ebn0, noise_var_from_esn0

__all__ = ["CodeSpec", "simulate_point", "simulate_curve", "parse_snr_list", "plot_curves", "snr_at_fer"]

CODES = ("ldpc", "turbo", "uncoded")


@dataclass(frozen=True)
class CodeSpec:
    """Which code and decoder to simulate.

    code:      "ldpc" (802.11n, n and rate), "turbo" (LTE, block size k) or "uncoded"
               (k information bits sent as they are: the reference for modulation alone).
    decoder:   LDPC "minsum" | "spa"; turbo "maxlog" | "logmap"; ignored when uncoded.
    max_iter:  LDPC iterations (default 50) or turbo iterations (default 8).
    alpha, offset: min-sum normalization and offset. scaling: turbo extrinsic scaling
               (default 0.75 for max-log, 1.0 for log-MAP).
    """

    code: str = "ldpc"
    n: int = 648
    rate: str = "1/2"
    k: int = 1024
    decoder: str | None = None
    max_iter: int | None = None
    alpha: float = 0.75
    offset: float = 0.0
    scaling: float | None = None

    def __post_init__(self):
        if self.code not in CODES:
            raise ValueError(f"unknown code {self.code!r}; choose from {CODES}")
        if self.code == "ldpc":
            object.__setattr__(self, "rate", parse_rate(self.rate))
            object.__setattr__(self, "decoder", self.decoder or "minsum")
            object.__setattr__(self, "max_iter", self.max_iter or 50)
        elif self.code == "turbo":
            object.__setattr__(self, "decoder", self.decoder or "maxlog")
            object.__setattr__(self, "max_iter", self.max_iter or 8)
        else:
            object.__setattr__(self, "decoder", "hard")
            object.__setattr__(self, "max_iter", 0)

    def build(self):
        """(k, n, encode(info)->codewords, decode(llr)->DecodeResult) for this spec."""
        if self.code == "ldpc":
            c = get_ldpc(self.n, self.rate)

            def decode(llr):
                return c.decode(llr, decoder=self.decoder, max_iter=self.max_iter, alpha=self.alpha, offset=self.offset)

            return c.k, c.n, c.encode, decode
        if self.code == "turbo":
            from semcom_blocks.phy.turbo import TurboCode

            t = TurboCode(self.k)
            kwargs = {"iterations": self.max_iter, "algorithm": self.decoder}
            if self.scaling is not None:
                kwargs["scaling"] = self.scaling

            def decode(llr):
                return t.decode(llr, **kwargs)

            return t.k, t.n, t.encode, decode
        from semcom_blocks.phy.fec_types import DecodeResult

        def decode(llr):
            b = llr.shape[0]
            return DecodeResult((llr < 0).astype(np.uint8), np.zeros(b, np.int32), np.ones(b, bool))

        return self.k, self.k, (lambda u: np.asarray(u, np.uint8)), decode

    @property
    def label(self) -> str:
        if self.code == "ldpc":
            return f"LDPC {self.n} R{self.rate} {self.decoder}"
        if self.code == "turbo":
            return f"turbo K={self.k} {self.decoder}"
        return f"uncoded k={self.k}"


def parse_snr_list(text: str) -> list[float]:
    """"1,1.5,2" or "start:stop:step" (stop included) -> list of dB values."""
    text = str(text).strip()
    try:
        if ":" in text:
            start, stop, step = (float(v) for v in text.split(":"))
            if step <= 0 or stop < start:
                raise ValueError
            count = int(math.floor((stop - start) / step + 1e-9)) + 1
            return [round(start + i * step, 6) for i in range(count)]
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise ValueError(f"bad SNR list {text!r}: use '1,1.5,2' or 'start:stop:step'") from None


def simulate_point(spec: CodeSpec, modulation: str = "bpsk", ebn0_db: float | None = None,
                   esn0_db: float | None = None, target_frame_errors: int = 100, max_frames: int = 100_000,
                   batch: int | None = None, seed: int = 1, point: int = 0, progress=None) -> dict:
    """Simulate one SNR point; returns the JSON-ready record (see module docstring).

    Give exactly one of ``ebn0_db`` / ``esn0_db``. ``progress`` is an optional tqdm bar that is
    advanced by the number of frames simulated.
    """
    if (ebn0_db is None) == (esn0_db is None):
        raise ValueError("give exactly one of ebn0_db and esn0_db")
    if target_frame_errors < 1 or max_frames < 1:
        raise ValueError("target_frame_errors and max_frames must be >= 1")
    k, n, encode, decode = spec.build()
    m = bits_per_symbol(modulation)
    rate = k / n
    if esn0_db is None:
        esn0_db = float(ebn0_to_esn0(ebn0_db, rate, m))
    else:
        ebn0_db = float(esn0_to_ebn0(esn0_db, rate, m))
    n0 = noise_var_from_esn0(esn0_db)
    if batch is None:
        batch = max(8, min(512, 200_000 // n))
    rng = np.random.default_rng([int(seed), int(point)])
    frames = frame_errors = bit_errors = 0
    iterations = 0
    decode_seconds = 0.0
    decode(np.zeros((1, n), np.float32) + 1.0)  # compile / warm up outside the timed region
    while frame_errors < target_frame_errors and frames < max_frames:
        b = min(batch, max_frames - frames)
        info = rng.integers(0, 2, (b, k), dtype=np.uint8)
        bits = encode(info).reshape(-1)
        pad = (-bits.size) % m
        symbols = modulate(np.concatenate([bits, np.zeros(pad, np.uint8)]), modulation)
        noise = rng.standard_normal((2, symbols.size)).astype(np.float32) * np.float32(math.sqrt(n0 / 2))
        received = symbols + (noise[0] + 1j * noise[1])
        llr = demodulate_llr(received, modulation, n0)[: b * n].reshape(b, n)
        t0 = time.perf_counter()
        res = decode(llr)
        decode_seconds += time.perf_counter() - t0
        errors = res.bits != info
        frames += b
        frame_errors += int(errors.any(axis=1).sum())
        bit_errors += int(errors.sum())
        iterations += int(res.iterations.sum())
        if progress is not None:
            progress.update(b)
    return {
        "code": spec.code, "n": n, "k": k, "rate": round(rate, 6), "modulation": modulation,
        "decoder": spec.decoder, "max_iter": spec.max_iter, "ebn0_db": round(float(ebn0_db), 4),
        "esn0_db": round(float(esn0_db), 4), "frames": frames, "frame_errors": frame_errors,
        "bit_errors": bit_errors, "fer": frame_errors / frames, "ber": bit_errors / (frames * k),
        "iterations_mean": iterations / frames,
        "info_mbps": (frames * k / decode_seconds / 1e6) if decode_seconds > 0 else None,
        "seed": seed,
    }


def simulate_curve(spec: CodeSpec, snrs: list[float], modulation: str = "bpsk", snr_kind: str = "ebn0",
                   target_frame_errors: int = 100, max_frames: int = 100_000, seed: int = 1,
                   show_progress: bool = True, on_point=None) -> list[dict]:
    """Simulate every SNR in ``snrs`` (dB; Eb/N0 or Es/N0 per ``snr_kind``); a tqdm bar per point
    on stderr; ``on_point(record)`` is called as each point finishes (for streaming output)."""
    from tqdm import tqdm

    if snr_kind not in ("ebn0", "esn0"):
        raise ValueError("snr_kind must be 'ebn0' or 'esn0'")
    records = []
    for i, snr in enumerate(snrs):
        desc = f"{spec.label} {modulation} {snr_kind[:2].capitalize()}/N0={snr:g} dB"
        with tqdm(total=max_frames, desc=desc, unit="fr", leave=False, disable=not show_progress,
                  mininterval=0.5) as bar:
            kw = {"ebn0_db": snr} if snr_kind == "ebn0" else {"esn0_db": snr}
            rec = simulate_point(spec, modulation, target_frame_errors=target_frame_errors,
                                 max_frames=max_frames, seed=seed, point=i, progress=bar, **kw)
        records.append(rec)
        if on_point is not None:
            on_point(rec)
    return records


def snr_at_fer(records: list[dict], target: float = 1e-2, key: str = "ebn0_db") -> float | None:
    """SNR (``key``) where the FER crosses ``target``, interpolated linearly in log FER between
    the two simulated points around it; None if the points do not bracket the target."""
    pts = sorted((r[key], r["fer"]) for r in records if r["fer"] > 0)
    for (x0, f0), (x1, f1) in zip(pts, pts[1:]):
        if f0 >= target >= f1 and f0 > f1:
            return x0 + (x1 - x0) * math.log(f0 / target) / math.log(f0 / f1)
    return None


def plot_curves(records: list[dict], path, title: str | None = None, references=()) -> None:
    """FER and BER against Eb/N0 (log scale) with published reference points overlaid."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    x = [r["ebn0_db"] for r in records]
    for key, style in (("fer", "o-"), ("ber", "s--")):
        y = [r[key] if r[key] > 0 else np.nan for r in records]
        ax.semilogy(x, y, style, label=key.upper())
    for (label, points), marker in zip(references, ("k*", "kD", "k^", "kv")):
        ax.semilogy([p[0] for p in points], [p[1] for p in points], marker, markersize=9, label=label)
    ax.set_xlabel("Eb/N0 (dB)")
    ax.set_ylabel("error rate")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
