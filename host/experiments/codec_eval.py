"""Evaluation of the neural codecs against SNR (``semcom eval codec``), with a separate-coding
reference at the same channel budget.

For a DJSCC model (``djscc_first_frame``, ``djscc_sketch``, ``djscc_rgb``) and each SNR (Es/N0
per complex symbol, dB), the held-out evaluation frames (frames_dataset.eval_frames: bikes.mp4
and sintel_48f.mp4, 256 x 256) are encoded, sent through AWGN (seeded) and decoded; PSNR, SSIM
and MS-SSIM come from models/metrics.py (a sketch, one channel, is compared as a grey RGB
image). The sketch model's source is the XDoG sketch of each frame (models/sketch.py).

Reference (same run, same frames, same number of complex symbols K per frame): the source image
compressed by OpenCV's JPEG encoder, protected by CRC-32 + 802.11n LDPC (n = 648, rate 1/2) +
QPSK with the project's PayloadCoder, through AWGN at the same SNR and decoded by the real LDPC
decoder. The byte budget is the largest payload whose coded symbols fit in K
(``PayloadCoder.n_symbols``); the JPEG quality is the highest that fits (bisection), and when
even quality 1 does not fit at 256 x 256 (the 1,024-symbol budgets: JPEG headers alone are
~300 bytes) the image is first downscaled (192, 128, 96, 64, 48, 32 pixels) and upscaled at the
receiver; per frame the (size, quality) with the best error-free PSNR is used. When no JPEG
fits at all (a 1,024-symbol budget is ~120 bytes, less than a JPEG's headers), OpenCV's WebP
is used the same way and the reference is named webp+... instead. A failed CRC
loses the image: the receiver shows a mid-grey frame (value 128), since the first frame of a
clip has no previous frame to repeat. This is the "cliff" of separate coding.

For an MSVQ model (``msvq_*``) the figures are for 8-frame held-out clips: indices through the
index selector (``eta``), the packed bitstream protected as one payload by CRC-32 + LDPC 648
rate 3/4 + QPSK (VQ-DeepVSC's code), a failed CRC losing the clip (grey frames); the
error-free figure is reported as snr_db = null.

Output: one dict (and JSON line) per codec and SNR with fields model, snr_db, psnr, ssim,
ms_ssim, symbols (complex symbols per frame), bits (payload bits per frame, digital codecs),
cbr (symbols / (3 H W), per RGB frame as the papers count it), ms_per_frame (encode + decode of
one 256 x 256 frame on one CPU thread, median of repeated runs; None for the reference),
lost (fraction of images lost to CRC failures), frames; and a PNG of PSNR and MS-SSIM against SNR.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from semcom_blocks.phy.snr import noise_var_from_esn0
from semcom_models import metrics

__all__ = ["eval_codec", "measure_latency", "jpeg_fit", "reference_payload_bytes", "plot_curves", "msvq_eta_sweep"]

GREY = 128


# -- helpers ---------------------------------------------------------------------------------
def _rgb(images: np.ndarray) -> np.ndarray:
    """uint8 N x H x W (grey) or N x H x W x 3 -> N x H x W x 3."""
    return np.repeat(images[..., None], 3, axis=-1) if images.ndim == 3 else images


def _quality(pred: np.ndarray, target: np.ndarray) -> dict:
    p, t = _rgb(pred), _rgb(target)
    return {"psnr": float(np.mean(metrics.psnr(p, t))), "ssim": float(np.mean(metrics.ssim(p, t))),
            "ms_ssim": float(np.mean(metrics.ms_ssim(p, t)))}


def measure_latency(encode_decode, repeats: int = 20, warmup: int = 3) -> dict:
    """Median and minimum wall time (ms) of ``encode_decode()`` on one torch thread."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with torch.no_grad():
            for _ in range(warmup):
                encode_decode()
            times = []
            for _ in range(repeats):
                t0 = time.perf_counter()
                encode_decode()
                times.append((time.perf_counter() - t0) * 1e3)
    finally:
        torch.set_num_threads(old)
    return {"ms_per_frame": float(np.median(times)), "ms_per_frame_min": float(np.min(times))}


def reference_payload_bytes(coder, symbols: int) -> int:
    """Largest payload (bytes) whose CRC + FEC + modulation fits in ``symbols`` complex symbols."""
    lo, hi = 0, symbols  # a symbol carries at most 8 bits here, so this bounds the answer
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if coder.n_symbols(mid) <= symbols:
            lo = mid
        else:
            hi = mid - 1
    return lo


def _encode_img(img: np.ndarray, q: int, fmt: str = "jpeg") -> bytes:
    """OpenCV JPEG (optimised Huffman tables) or WebP (lossy) at quality q in 1..100."""
    bgr = img if img.ndim == 2 else cv2.cvtColor(img, cv2.COLOR_RGB2BGR)
    if fmt == "jpeg":
        ok, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, int(q), cv2.IMWRITE_JPEG_OPTIMIZE, 1])
    else:
        ok, buf = cv2.imencode(".webp", bgr, [cv2.IMWRITE_WEBP_QUALITY, int(q)])
    if not ok:
        raise RuntimeError(f"OpenCV failed to encode a {fmt} image")
    return buf.tobytes()


def _decode_img(data: bytes, shape: tuple) -> np.ndarray | None:
    flag = cv2.IMREAD_GRAYSCALE if len(shape) == 2 else cv2.IMREAD_COLOR
    img = cv2.imdecode(np.frombuffer(data, np.uint8), flag)
    if img is None:
        return None
    if img.shape[:2] != shape[:2]:
        img = cv2.resize(img, (shape[1], shape[0]), interpolation=cv2.INTER_LINEAR)
    return img if img.ndim == 2 else cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


_SIZES = (256, 192, 128, 96, 64, 48, 32)


def jpeg_fit(img: np.ndarray, budget: int, fmt: str = "jpeg") -> tuple[bytes, int, int] | None:
    """JPEG (or WebP, ``fmt="webp"``) of ``img`` (uint8 H x W x 3 RGB or H x W) in at most
    ``budget`` bytes: for each size in (full, 192, ..., 32 px) the highest fitting quality by
    bisection, keeping the one with the best PSNR after decoding. Returns (bytes, quality,
    side) or None when nothing fits."""
    best, best_psnr = None, -1.0
    h = img.shape[0]
    for side in _SIZES:
        if side > h:
            continue
        small = img if side == h else cv2.resize(img, (side, side), interpolation=cv2.INTER_AREA)
        if len(_encode_img(small, 1, fmt)) > budget:
            continue
        lo, hi = 1, 100
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if len(_encode_img(small, mid, fmt)) <= budget:
                lo = mid
            else:
                hi = mid - 1
        data = _encode_img(small, lo, fmt)
        rec = _decode_img(data, img.shape)
        p = float(metrics.psnr(_rgb(rec[None])[0], _rgb(img[None])[0]))
        if p > best_psnr:
            best, best_psnr = (data, lo, side), p
    return best


def _awgn(symbols: np.ndarray, snr_db: float, rng: np.random.Generator) -> tuple[np.ndarray, float]:
    n0 = noise_var_from_esn0(snr_db)
    noise = (rng.standard_normal(symbols.size) + 1j * rng.standard_normal(symbols.size)) * np.sqrt(n0 / 2)
    return (symbols + noise).astype(np.complex64), n0


# -- DJSCC ------------------------------------------------------------------------------------
def _djscc_sources(model, frames: np.ndarray) -> np.ndarray:
    if model.cfg.in_channels == 3:
        return frames
    from semcom_models.sketch import extract_sketch

    return np.stack([extract_sketch(f, "xdog") for f in frames])


def _eval_djscc(name, snrs, frames, seed, progress, latency_repeats) -> list[dict]:
    from semcom_models.channel_layers import AWGNChannel
    from semcom_models.djscc import load_djscc

    model = load_djscc(name)
    src = _djscc_sources(model, frames)
    h, w = src.shape[1:3]
    k = model.cfg.num_symbols(h, w)
    base = {"model": name, "symbols": k, "bits": None, "cbr": k / (3 * h * w), "frames": len(src)}
    one = model.frames_to_tensor(src[:1])
    lat = measure_latency(lambda: model.decode(model.encode(one, 5.0), 5.0, (h, w)), repeats=latency_repeats)
    rows = []
    x = model.frames_to_tensor(src)
    for snr in snrs:
        gen = torch.Generator().manual_seed(seed + int(round(snr * 100)))
        outs = []
        with torch.no_grad():
            for i in range(0, len(x), 8):
                xb = x[i:i + 8]
                outs.append(model(xb, float(snr), AWGNChannel(), generator=gen))
        x_hat = torch.cat(outs)
        rec = (x_hat * 255 + 0.5).clamp(0, 255).to(torch.uint8)
        rec = rec.permute(0, 2, 3, 1).numpy() if model.cfg.in_channels == 3 else rec[:, 0].numpy()
        rows.append({**base, "snr_db": float(snr), **_quality(rec, src), **lat, "lost": 0.0})
        if progress:
            print(json.dumps(rows[-1]))
    rows += _reference(src, k, snrs, seed, progress)
    return rows


def _reference(src: np.ndarray, k: int, snrs, seed: int, progress: bool) -> list[dict]:
    """JPEG + CRC-32 + LDPC 648 R1/2 + QPSK in K symbols per image, through AWGN (module note)."""
    from semcom_blocks.phy.fec import PayloadCoder

    coder = PayloadCoder("ldpc", n=648, rate="1/2", modulation="qpsk", crc="crc32")
    budget = reference_payload_bytes(coder, k)
    fmt = "jpeg"
    fits = [jpeg_fit(img, budget, fmt) for img in src]
    if not any(fits):       # JPEG's headers do not fit small budgets (1,024 symbols: 120 bytes)
        fmt = "webp"
        fits = [jpeg_fit(img, budget, fmt) for img in src]
    name = f"{fmt}+ldpc648r1/2+qpsk"
    rows = []
    clean = np.stack([_decode_img(f[0], img.shape) if f else np.full_like(img, GREY) for f, img in zip(fits, src)])
    used_bits = float(np.mean([8 * len(f[0]) if f else 0 for f in fits]))
    base = {"model": name, "symbols": k, "bits": used_bits, "cbr": k / (3 * src.shape[1] * src.shape[2]),
            "frames": len(src), "ms_per_frame": None, "payload_budget_bytes": budget,
            "jpeg_quality_mean": float(np.mean([f[1] for f in fits if f] or [0])),
            "jpeg_side_mean": float(np.mean([f[2] for f in fits if f] or [0]))}
    rows.append({**base, "snr_db": None, **_quality(clean, src), "lost": float(np.mean([f is None for f in fits]))})
    for snr in snrs:
        rng = np.random.default_rng(seed + 7919 + int(round(snr * 100)))
        rec, lost = [], 0
        for f, img in zip(fits, src):
            out = None
            if f is not None:
                payload = f[0]
                y, n0 = _awgn(coder.encode(payload), float(snr), rng)
                dec = coder.decode(y, n0, nbytes=len(payload))
                if dec.crc_ok:
                    out = _decode_img(dec.data, img.shape)
            if out is None:
                lost += 1
                out = np.full_like(img, GREY)
            rec.append(out)
        rows.append({**base, "snr_db": float(snr), **_quality(np.stack(rec), src), "lost": lost / len(src)})
        if progress:
            print(json.dumps(rows[-1]))
    return rows


# -- MSVQ -------------------------------------------------------------------------------------
def _eval_msvq(name, snrs, clips, eta, seed, progress, latency_repeats) -> list[dict]:
    from semcom_blocks.phy.fec import PayloadCoder
    from semcom_models.index_selector import pack, restore_indices, select_indices, unpack
    from semcom_models.msvq import load_msvq

    model = load_msvq(name)
    cfg = model.cfg
    coder = PayloadCoder("ldpc", n=648, rate="3/4", modulation="qpsk", crc="crc32")
    codebook = model.codebook.embedding.numpy()
    one = torch.from_numpy(clips[0][:1]).permute(0, 3, 1, 2).float() / 255
    lat = measure_latency(lambda: model.decode(model.encode(one)), repeats=latency_repeats)
    streams = []
    for clip in clips:
        idx = model.encode_frames(clip).reshape(len(clip), -1)
        bs = select_indices(idx, np.ones(len(clip), bool), codebook, eta)
        streams.append((clip, bs, pack(bs)))
    t, h, w = clips[0].shape[:3]
    l_s, b = cfg.indices_per_frame(h, w), cfg.bits_per_index
    shape = (-1, cfg.groups, h // 8, w // 8)

    def rebuild(data):
        return model.decode_frames(restore_indices(unpack(data, t, l_s, b)).reshape(shape))

    n_sym = float(np.mean([coder.n_symbols(len(d)) for _, _, d in streams])) / t
    bits = float(np.mean([bs.n_bits for _, bs, _ in streams])) / t
    base = {"model": name, "eta": eta, "symbols": n_sym, "bits": bits,
            "cbr": n_sym / (3 * h * w), "bcr": float(np.mean([bs.bcr(3, h, w) for _, bs, _ in streams])),
            "frames": t * len(clips), "clips": len(clips), **lat}
    ref = np.concatenate([c for c, _, _ in streams])
    rows = [{**base, "snr_db": None, **_quality(np.concatenate([rebuild(d) for _, _, d in streams]), ref),
             "lost": 0.0}]
    if progress:
        print(json.dumps(rows[-1]))
    for snr in snrs:
        rng = np.random.default_rng(seed + int(round(snr * 100)))
        rec, lost = [], 0
        for clip, _, data in streams:
            y, n0 = _awgn(coder.encode(data), float(snr), rng)
            dec = coder.decode(y, n0, nbytes=len(data))
            if dec.crc_ok:
                rec.append(rebuild(dec.data))
            else:
                lost += 1
                rec.append(np.full_like(clip, GREY))
        rows.append({**base, "snr_db": float(snr), **_quality(np.concatenate(rec), ref), "lost": lost / len(clips)})
        if progress:
            print(json.dumps(rows[-1]))
    return rows


def msvq_eta_sweep(model_name: str, etas, clips: list[np.ndarray] | None = None) -> list[dict]:
    """Error-free MS-SSIM, SSIM, PSNR and BCR of an MSVQ model on 8-frame clips for each index-
    selector threshold eta (every frame coded; the bitstream packed, unpacked and restored)."""
    from semcom_models.index_selector import pack, restore_indices, select_indices, unpack
    from semcom_models.msvq import load_msvq

    if clips is None:
        from semcom_models.frames_dataset import eval_clips

        clips, _ = eval_clips(8, 3)
    model = load_msvq(model_name)
    codebook = model.codebook.embedding.numpy()
    t, h, w = clips[0].shape[:3]
    shape = (-1, model.cfg.groups, h // 8, w // 8)
    encoded = [model.encode_frames(c).reshape(len(c), -1) for c in clips]
    rows = []
    for eta in etas:
        rec, rates, sent = [], [], []
        for clip, idx in zip(clips, encoded):
            bs = select_indices(idx, np.ones(len(clip), bool), codebook, float(eta))
            back = unpack(pack(bs), t, bs.indices_per_frame, bs.bits_per_index)
            rec.append(model.decode_frames(restore_indices(back).reshape(shape)))
            rates.append(bs.bcr(3, h, w))
            sent.append(bs.n_sent / idx.size)
        rows.append({"model": model_name, "eta": float(eta), "bcr": float(np.mean(rates)),
                     "sent_fraction": float(np.mean(sent)), "snr_db": None,
                     **_quality(np.concatenate(rec), np.concatenate(clips))})
    return rows


# -- entry point ----------------------------------------------------------------------------------
def plot_curves(rows: list[dict], path, title: str = "") -> Path:
    """PSNR and MS-SSIM against SNR, one line per codec (error-free points drawn as dashed lines)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for ax, key, label in ((axes[0], "psnr", "PSNR (dB)"), (axes[1], "ms_ssim", "MS-SSIM")):
        for codec in dict.fromkeys(r["model"] for r in rows):
            pts = sorted((r["snr_db"], r[key]) for r in rows if r["model"] == codec and r["snr_db"] is not None)
            if pts:
                line, = ax.plot([p[0] for p in pts], [p[1] for p in pts], "o-", label=codec)
                clean = [r[key] for r in rows if r["model"] == codec and r["snr_db"] is None]
                if clean:
                    ax.axhline(clean[0], ls="--", lw=0.8, color=line.get_color(),
                               label=f"{codec}, error-free")
        ax.set_xlabel("SNR Es/N0 (dB), AWGN"), ax.set_ylabel(label), ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.suptitle(title)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def eval_codec(model_name: str, snrs, json_lines_out=None, png_path=None, *, frames: np.ndarray | None = None,
               per_clip: int = 12, clips: list[np.ndarray] | None = None, eta: float = 1.0, seed: int = 0,
               latency_repeats: int = 20, progress: bool = False) -> list[dict]:
    """Quality against SNR for ``model_name`` and its separate-coding reference (module note).

    snrs: SNRs in dB (e.g. [0, 2, 4, 6, 8, 10]). json_lines_out: path for JSON lines (or None).
    png_path: path of the plot (or None). frames: uint8 N x H x W x 3 evaluation frames
    (default: frames_dataset.eval_frames(per_clip)); clips: list of uint8 T x H x W x 3 clips for
    MSVQ (default: frames_dataset.eval_clips(8, 3)); eta: MSVQ index-selector threshold.
    Returns the rows (dicts) that were written.
    """
    snrs = [float(s) for s in snrs]
    if model_name.startswith("msvq"):
        if clips is None:
            from semcom_models.frames_dataset import eval_clips

            clips, _ = eval_clips(8, 3)
        rows = _eval_msvq(model_name, snrs, clips, eta, seed, progress, latency_repeats)
    else:
        if frames is None:
            from semcom_models.frames_dataset import eval_frames

            frames, _ = eval_frames(per_clip)
        rows = _eval_djscc(model_name, snrs, np.asarray(frames), seed, progress, latency_repeats)
    if json_lines_out:
        p = Path(json_lines_out)
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text("".join(json.dumps(r) + "\n" for r in rows))
    if png_path:
        plot_curves(rows, png_path, f"{model_name} vs separate coding, AWGN")
    return rows
