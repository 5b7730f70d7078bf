"""VQ-DeepVSC's adjustable index selector and restorer, the bitstream b = [b_s, b_p, b_v], its BCR.

A clip has N frames; M of them are coded (the key frames of AKEI or any selection: ``b_s``,
N bits, 1 = coded). Each coded frame is L_s codebook indices of B bits (MSVQ: groups x h x w,
flattened row-major). The first coded frame is sent whole. For every later coded frame the
selector compares, position by position, the codeword it would send with the codeword the
receiver already holds there (from the previous coded frame, as restored) by cosine similarity:

    index p is sent  <=>  eta >= 1  or  cos(e[new_p], e[held_p]) < eta          (eta in [-1, 1])

so eta = 1 sends every index, eta = -1 sends none (the receiver repeats what it holds), and
values in between trade bits for fidelity. ``b_p`` holds one L_s-bit position mask per later
coded frame (1 = sent), ``b_v`` the sent indices in order (frame, then position), B bits each,
MSB first. The restorer rebuilds every coded frame's indices from the bits alone.

Bit-channel ratio (VQ-DeepVSC):  BCR = (N + L_eta B + L_s (M - 1)) / (C H W 8 N), with L_eta the
number of indices sent in the clip (the first coded frame's L_s included), for C x H x W frames.

Bytes: ``pack`` writes b_s, b_p, b_v one after the other, MSB first, zero-padded to whole bytes;
``unpack`` needs (N, L_s, B) and checks the length and the padding exactly.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Bitstream", "bcr", "codeword_cosine", "select_indices", "restore_indices", "pack", "unpack"]


@dataclass
class Bitstream:
    """b_s: bool N; b_p: bool (M-1) x L_s; b_v: int64 L_eta; with the sizes needed to parse it."""

    b_s: np.ndarray
    b_p: np.ndarray
    b_v: np.ndarray
    indices_per_frame: int          # L_s
    bits_per_index: int             # B

    @property
    def n_frames(self) -> int:
        return int(self.b_s.size)

    @property
    def n_coded(self) -> int:
        return int(self.b_s.sum())

    @property
    def n_sent(self) -> int:
        """L_eta: indices carried by b_v."""
        return int(self.b_v.size)

    @property
    def n_bits(self) -> int:
        """len(b) = N + L_s (M - 1) + L_eta B (before padding to bytes)."""
        return self.n_frames + self.b_p.size + self.n_sent * self.bits_per_index

    def bcr(self, channels: int = 3, height: int = 256, width: int = 256) -> float:
        return bcr(self.n_frames, self.n_sent, self.bits_per_index, self.indices_per_frame, self.n_coded,
                   channels, height, width)


def bcr(n_frames: int, l_eta: int, bits_per_index: int, l_s: int, m: int, channels: int = 3,
        height: int = 256, width: int = 256) -> float:
    """VQ-DeepVSC's BCR = (N + L_eta B + L_s (M - 1)) / (C H W 8 N) (see module note)."""
    if n_frames < 1 or m < 0 or m > n_frames or l_eta < 0:
        raise ValueError(f"need N >= 1, 0 <= M <= N, L_eta >= 0; got N={n_frames} M={m} L_eta={l_eta}")
    bits = n_frames + l_eta * bits_per_index + l_s * max(m - 1, 0)
    return bits / (channels * height * width * 8 * n_frames)


def codeword_cosine(codebook: np.ndarray) -> np.ndarray:
    """L x L cosine similarities of the codebook's entries (float64; zero vectors: 1 with
    themselves, 0 with the others)."""
    e = np.asarray(codebook, dtype=np.float64)
    if e.ndim != 2:
        raise ValueError(f"codebook must be L x d, got {e.shape}")
    norm = np.linalg.norm(e, axis=1)
    safe = np.where(norm > 0, norm, 1.0)
    cos = (e @ e.T) / safe[:, None] / safe[None, :]
    np.fill_diagonal(cos, 1.0)
    return np.clip(cos, -1.0, 1.0)


def _bits_for(codebook_size: int) -> int:
    b = int(codebook_size - 1).bit_length()
    if 1 << b != codebook_size:
        raise ValueError(f"codebook size must be a power of two, got {codebook_size}")
    return max(b, 1)


def select_indices(indices: np.ndarray, keyframes, codebook: np.ndarray, eta: float) -> Bitstream:
    """Index selector. indices: int N x L_s (every frame's indices; rows of frames that are not
    coded are ignored) or M x L_s (coded frames only, when len(keyframes) == N and the rows
    count the True entries). keyframes: bool N (b_s). codebook: L x d. eta: threshold in [-1, 1]."""
    b_s = np.asarray(keyframes, dtype=bool).reshape(-1)
    idx = np.asarray(indices)
    if idx.ndim != 2 or not np.issubdtype(idx.dtype, np.integer):
        raise ValueError(f"indices must be an integer frames x L_s array, got {idx.dtype} {idx.shape}")
    if not -1.0 <= float(eta) <= 1.0:
        raise ValueError(f"eta must be in [-1, 1], got {eta}")
    if idx.shape[0] == b_s.size:
        idx = idx[b_s]
    elif idx.shape[0] != b_s.sum():
        raise ValueError(f"{idx.shape[0]} index rows fit neither N = {b_s.size} frames nor M = {b_s.sum()} coded ones")
    cos = codeword_cosine(codebook)
    l_size = cos.shape[0]
    if idx.size and (idx.min() < 0 or idx.max() >= l_size):
        raise ValueError(f"indices must lie in [0, {l_size})")
    m, l_s = idx.shape
    masks = np.zeros((max(m - 1, 0), l_s), dtype=bool)
    values = [idx[0]] if m else []
    held = idx[0].copy() if m else None
    for j in range(1, m):
        new = idx[j]
        send = np.ones(l_s, bool) if eta >= 1.0 else cos[new, held] < eta
        masks[j - 1] = send
        values.append(new[send])
        held = np.where(send, new, held)
    b_v = np.concatenate(values).astype(np.int64) if values else np.zeros(0, np.int64)
    return Bitstream(b_s, masks, b_v, l_s, _bits_for(l_size))


def restore_indices(bs: Bitstream) -> np.ndarray:
    """Index restorer: int64 M x L_s indices of the coded frames, rebuilt from the bitstream."""
    m, l_s = bs.n_coded, bs.indices_per_frame
    out = np.zeros((m, l_s), dtype=np.int64)
    if m == 0:
        return out
    if bs.b_p.shape != (m - 1, l_s):
        raise ValueError(f"position masks have shape {bs.b_p.shape}, expected {(m - 1, l_s)}")
    need = l_s + int(bs.b_p.sum())
    if bs.b_v.size != need:
        raise ValueError(f"b_v holds {bs.b_v.size} indices, the masks call for {need}")
    out[0] = bs.b_v[:l_s]
    pos = l_s
    for j in range(1, m):
        mask = bs.b_p[j - 1]
        k = int(mask.sum())
        out[j] = out[j - 1]
        out[j, mask] = bs.b_v[pos:pos + k]
        pos += k
    return out


def pack(bs: Bitstream) -> bytes:
    """b = [b_s, b_p, b_v] as bytes (MSB first, zero-padded to a whole byte)."""
    b = bs.bits_per_index
    if bs.b_v.size and (bs.b_v.min() < 0 or bs.b_v.max() >= 1 << b):
        raise ValueError(f"index values must fit in {b} bits")
    shifts = np.arange(b - 1, -1, -1, dtype=np.int64)
    v_bits = ((bs.b_v[:, None] >> shifts[None, :]) & 1).astype(np.uint8).reshape(-1)
    bits = np.concatenate([bs.b_s.astype(np.uint8), bs.b_p.astype(np.uint8).reshape(-1), v_bits])
    return np.packbits(bits).tobytes()


def unpack(data: bytes, n_frames: int, indices_per_frame: int, bits_per_index: int) -> Bitstream:
    """Parse bytes written by :func:`pack` for a clip of ``n_frames`` frames of
    ``indices_per_frame`` indices of ``bits_per_index`` bits. Raises ValueError when the length
    or the padding does not match exactly (e.g. a corrupted b_s or b_p)."""
    bits = np.unpackbits(np.frombuffer(bytes(data), dtype=np.uint8))
    n, l_s, b = int(n_frames), int(indices_per_frame), int(bits_per_index)
    if bits.size < n:
        raise ValueError(f"{len(data)} bytes cannot hold the {n}-bit frame flags")
    b_s = bits[:n].astype(bool)
    m = int(b_s.sum())
    pos = n
    n_mask = max(m - 1, 0) * l_s
    if bits.size < pos + n_mask:
        raise ValueError(f"{len(data)} bytes are too short for {m} coded frames' position masks")
    b_p = bits[pos:pos + n_mask].astype(bool).reshape(max(m - 1, 0), l_s)
    pos += n_mask
    l_eta = (l_s + int(b_p.sum())) if m else 0
    total = pos + l_eta * b
    if len(data) != -(-total // 8):
        raise ValueError(f"bitstream is {len(data)} bytes; its flags and masks call for {-(-total // 8)}")
    if bits[total:].any():
        raise ValueError("non-zero padding after the last index")
    v = bits[pos:total].reshape(l_eta, b).astype(np.int64)
    b_v = (v << np.arange(b - 1, -1, -1, dtype=np.int64)[None, :]).sum(axis=1) if l_eta else np.zeros(0, np.int64)
    return Bitstream(b_s, b_p, b_v, l_s, b)
