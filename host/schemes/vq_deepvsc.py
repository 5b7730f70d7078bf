"""VQ-DeepVSC: AKEI keyframes, MSVQ indices with the adjustable index selector, LDPC + QAM over
OFDM; the receiver interpolates between the keyframes.

Transmitter:

1. AKEI (semcom_models.keyframes.select_akei) keeps M = round(r T) keyframes (first and last
   always): r from the SNR -> ratio polynomial ``ratio_coeffs`` (:func:`ratio_polynomial`: by
   default the calibration shipped in semcom_models/weights/akei_ratio.json, measured by
   `semcom calibrate akei`; [] for none), else ``keyframe_ratio``, which is also the configured clip whose
   symbols are the budget (step 5). The top-M frames by importance, as in the paper;
   ``uniform_share`` spreads that share of the keyframes evenly first (docs/semantics.md).
2. The shipped MSVQ model (``msvq_g8_l16``: 8 groups x 32 x 32 positions, 16-entry codebook,
   4 bits per index at 256 x 256) turns each keyframe into L_s indices.
3. The index selector (semcom_models.index_selector, threshold ``eta``) sends the first
   keyframe's indices whole and, for each later keyframe, only the positions whose codeword
   moved (cosine < eta), with a position mask.
4. One digital unit per keyframe, ``kf<frame>``: the first keyframe's L_s indices, or a later
   keyframe's mask (L_s bits) and sent indices (B bits each), MSB first, zero-padded to bytes;
   LDPC 648 rate ``ldpc_rate`` (3/4) + CRC-32, ``modulation`` QPSK or 16-QAM. The keyframe
   indices (b_s) travel in the manifest.
5. Link adaptation (``link_adaptation``, on by default; :func:`adapt_link`): by the SNR the
   transmitter was told (in `semcom run`: the receiver's estimate of probe bursts), the most
   efficient LDPC rate + modulation that SNR supports replaces ``ldpc_rate`` + ``modulation``,
   and the number of keyframes (and, when even two do not fit, their coding size) is chosen so
   that the clip keeps the symbol budget of the configured one (``keyframe_ratio`` at the
   configured MCS): below the configured MCS's threshold fewer keyframes, each better protected,
   instead of every keyframe lost at once (the cliff). Each unit's coding travels with it; the
   report gives the decision.
6. Cliff mitigation: AKEI's polynomial (``ratio_coeffs``) caps the keyframes at its M for the
   SNR, and below ``protect_first_below_db`` (default: the reach of the most robust MCS, its
   threshold plus ``mcs_margin_db``, 1.04 dB: the link's edge) a copy of the first keyframe is
   planned into the budget (every later keyframe is rebuilt against it: its loss loses the
   clip); the budget left goes to ``protection``: ``"repeat"`` sends the most
   important keyframes again (the first keyframe, then by AKEI score; each at most
   ``max_copies`` times in all; :func:`plan_repeats`) in transmissions after the originals, which
   the receiver combines with the originals' LLRs when neither decodes alone
   (semcom_blocks.phy.combining); ``"rate"`` codes every keyframe at a lower LDPC rate or
   modulation instead. docs/schemes.md, "VQ-DeepVSC cliff mitigation", compares the two.

Receiver: keyframes in order; a keyframe whose unit arrived updates the held indices at its
sent positions; a lost unit leaves them as they were (the next keyframe is then rebuilt against
stale indices where it sent nothing: an error the selector's threshold bounds). A keyframe is
rebuilt only when every position has been received at least once (so not before the first
keyframe has arrived). MSVQ decodes the rebuilt keyframes; the interpolating decoder (or a
configured generative one) fills the rest.

CBR: ``bcr_paper`` is the paper's BCR = (N + L_eta B + L_s (M - 1)) / (3 H W 8 N) at 256 x 256,
``cbr_paper`` the same bits as LDPC-coded QAM symbols per real source value of the clip as given.
"""
from __future__ import annotations

import numpy as np

from semcom_blocks.phy.fec import PayloadCoder
from semcom_blocks.phy.frame import Unit
from semcom_blocks.phy.modulation import bits_per_symbol
from semcom_models.decoders.base import Conditioning

from . import common as C
from .base import Scheme
from .reconstruct import reconstruct

__all__ = ["SCHEMES", "NAME", "FRAME_TYPE", "encode", "decode", "pack_keyframe", "unpack_keyframe"]

NAME = "vq-deepvsc"
FRAME_TYPE = 0x22
PREFERENCES = ("wan2.1-vace", "ltx-video", "wan2.1-flf2v")
DEFAULTS = {**C.COMMON_DEFAULTS, "keyframe_ratio": 0.1, "ratio_coeffs": None, "uniform_share": 0.0, "eta": 0.9,
            "ldpc_rate": "3/4", "modulation": "qpsk", "model": "msvq_g8_l16", "link_adaptation": True,
            "mcs_margin_db": 2.0, "protection": "repeat", "max_copies": 4, "protect_first_below_db": None}


def _bits(values: np.ndarray, width: int) -> np.ndarray:
    shifts = np.arange(width - 1, -1, -1, dtype=np.int64)
    return ((np.asarray(values, np.int64)[:, None] >> shifts) & 1).astype(np.uint8).reshape(-1)


def pack_keyframe(mask: np.ndarray | None, values: np.ndarray, bits_per_index: int) -> bytes:
    """A keyframe's unit: [mask (L_s bits, absent for the first keyframe)] + values (B bits each)."""
    parts = ([np.asarray(mask, np.uint8)] if mask is not None else []) + [_bits(values, bits_per_index)]
    return np.packbits(np.concatenate(parts)).tobytes()


def unpack_keyframe(data: bytes, first: bool, l_s: int, bits_per_index: int) -> tuple[np.ndarray, np.ndarray]:
    """(mask bool L_s, values int64) of a keyframe unit; ValueError when the length does not fit."""
    bits = np.unpackbits(np.frombuffer(bytes(data), np.uint8))
    mask = np.ones(l_s, bool) if first else bits[:l_s].astype(bool)
    pos = 0 if first else l_s
    n = int(mask.sum())
    if len(data) != -(-(pos + n * bits_per_index) // 8) or bits[pos + n * bits_per_index:].any():
        raise ValueError("keyframe unit length does not match its mask")
    v = bits[pos:pos + n * bits_per_index].reshape(n, bits_per_index).astype(np.int64)
    values = (v << np.arange(bits_per_index - 1, -1, -1, dtype=np.int64)).sum(axis=1) if n else np.zeros(0, np.int64)
    return mask, values


def _coder(params: dict) -> PayloadCoder:
    return PayloadCoder("ldpc", 648, str(params["ldpc_rate"]), str(params["modulation"]), "crc32")


#: how the budget left by fewer keyframes protects them: copies in later transmissions, combined
#: by the receiver (semcom_blocks.phy.combining), or a lower LDPC rate / modulation
PROTECTIONS = ("repeat", "rate")
#: the adapted clip may use this much more than the configured clip's symbols (the budget)
BUDGET_SLACK = 1.1
#: side (pixels) of the frames the transmitter compares plans at (_Planner.preview_psnr)
PREVIEW = 64


class _Planner:
    """Keyframes, MSVQ indices and the index selector for one clip, at a given keyframe count and
    coding size; scores and resized frames computed once."""

    def __init__(self, frames: np.ndarray, params: dict, model):
        from semcom_models.keyframes import akei_scores

        self.frames, self.params, self.model = frames, params, model
        self.t = frames.shape[0]
        self._small: dict[int, np.ndarray] = {}
        self._idx: dict[int, dict[int, np.ndarray]] = {}  # size -> frame -> its MSVQ indices
        self.scores = akei_scores(self.small(int(params["image_size"])))
        self.codebook = model.codebook.embedding.numpy()

    def small(self, size: int) -> np.ndarray:
        if size not in self._small:
            self._small[size] = C.resize_frames(self.frames, (size, size))
        return self._small[size]

    def keyframes(self, m: int) -> list[int]:
        from semcom_models.keyframes import select_top, uniform_indices

        share = float(self.params["uniform_share"])
        base = uniform_indices(self.t, round(share * m)) if share > 0 else ()
        return [int(k) for k in select_top(self.scores, m, base)]

    def plan(self, m: int, size: int):
        """(keyframes, index selection) of ``m`` keyframes coded at ``size`` x ``size``."""
        from semcom_models.index_selector import select_indices

        keys = self.keyframes(m)
        b_s = np.zeros(self.t, bool)
        b_s[keys] = True
        return keys, select_indices(self.indices(keys, size), b_s, self.codebook, float(self.params["eta"]))

    def indices(self, keys: list[int], size: int) -> np.ndarray:
        """MSVQ indices (len(keys) x L_s) of frames ``keys`` coded at ``size``, each frame encoded once."""
        cache = self._idx.setdefault(size, {})
        todo = [k for k in keys if k not in cache]
        if todo:
            for k, row in zip(todo, self.model.encode_frames(self.small(size)[todo])):
                cache[k] = row.reshape(-1)
        return np.stack([cache[k] for k in keys])

    def preview_psnr(self, keys: list[int], bs, size: int) -> float:
        """PSNR (dB, at PREVIEW x PREVIEW pixels) of the clip the receiver would rebuild from this
        plan with every unit received: each keyframe from the indices it would hold (the sent
        ones, the earlier values elsewhere), the frames between blended linearly. The
        transmitter's analysis by synthesis of a plan, cheap enough to compare a few."""
        cfg = self.model.cfg
        held = np.zeros(bs.indices_per_frame, np.int64)
        rows, pos = [], 0
        for j in range(len(keys)):
            mask = np.ones(bs.indices_per_frame, bool) if j == 0 else np.asarray(bs.b_p[j - 1], bool)
            n = int(mask.sum())
            held[mask] = bs.b_v[pos:pos + n]
            pos += n
            rows.append(held.copy())
        grid = (len(keys), cfg.groups, size // 8, size // 8)
        imgs = C.resize_frames(self.model.decode_frames(np.stack(rows).reshape(grid)), (PREVIEW, PREVIEW))
        imgs = imgs.astype(np.float64)
        ref = self.small(PREVIEW).astype(np.float64)
        order = np.argsort(keys)
        k = np.asarray(keys)[order]
        imgs = imgs[order]
        t = np.arange(self.t)
        hi = np.clip(np.searchsorted(k, t), 1, len(k) - 1) if len(k) > 1 else np.zeros(self.t, int)
        lo = np.maximum(hi - 1, 0)
        span = np.maximum(k[hi] - k[lo], 1)
        w = np.clip((t - k[lo]) / span, 0.0, 1.0)[:, None, None, None]
        est = (1 - w) * imgs[lo] + w * imgs[hi]
        mse = float(np.mean((est - ref) ** 2))
        return 10 * np.log10(255.0 ** 2 / max(mse, 1e-10))


def _symbols(bs, coder: PayloadCoder) -> float:
    return bs.n_bits / (coder_rate(coder) * bits_per_symbol(coder.modulation))


def adapt_link(planner: _Planner, params: dict, m_ref: int, m_cap: int | None = None):
    """(keyframes, selection, coder, coded size, keyframes to send again, what was decided) for the
    SNR the transmitter was told (the module docstring, steps 5 and 6). ``m_ref``: the configured
    clip's keyframes (``keyframe_ratio``), whose symbols at the configured ``ldpc_rate`` +
    ``modulation`` are the budget; ``m_cap``: the keyframes AKEI's
    SNR -> ratio polynomial allows (None without one).

    Without ``link_adaptation``: the configured MCS and ``m_cap`` (else ``m_ref``) keyframes at
    ``image_size``. With it: the most efficient MCS that SNR supports (semcom_blocks.phy.mcs), then
    the most keyframes up to ``m_cap`` whose coded symbols stay within ``BUDGET_SLACK`` of the
    budget, at ``image_size`` or at half of it, whichever plan the receiver would rebuild better
    with every unit received (:meth:`_Planner.preview_psnr`: fewer large keyframes against more
    small ones): at low SNR fewer, better protected keyframes (AKEI's cliff mitigation holding
    the symbol budget), at high SNR more. What the budget has left goes to ``protection``: copies
    (:func:`plan_repeats`, the first keyframe's planned in below ``protect_first_below_db``) or a
    lower rate (:func:`_lowest_rate_within`)."""
    from semcom_blocks.phy.mcs import MCS_TABLE, pick_mcs

    size = int(params["image_size"])
    base = _coder(params)
    keys, bs = planner.plan(m_ref, size)
    if params["protection"] not in PROTECTIONS:
        raise ValueError(f"protection must be one of {PROTECTIONS}, got {params['protection']!r}")
    if not params["link_adaptation"]:
        if m_cap is not None and m_cap != m_ref:
            keys, bs = planner.plan(m_cap, size)
        return keys, bs, base, size, [], {"adapted": False}
    budget = BUDGET_SLACK * _symbols(bs, base)
    mcs = pick_mcs(float(params["snr_db"]), float(params["mcs_margin_db"]))
    coder = PayloadCoder("ldpc", 648, mcs.rate, mcs.modulation, "crc32")
    floor = min(2, planner.t)
    top = planner.t if m_cap is None else max(floor, min(int(m_cap), planner.t))
    sizes = [size] + ([size // 2] if size // 2 >= 64 and (size // 2) % 8 == 0 else [])
    # below protect_first_below_db a copy of the first keyframe (the one every later keyframe is
    # rebuilt against: losing it loses the clip) is planned into the budget; by default below the
    # reach of every MCS (its threshold plus the margin), where the link is at its edge
    edge = params["protect_first_below_db"]
    if edge is None:
        edge = min(m.esn0_db for m in MCS_TABLE) + float(params["mcs_margin_db"])
    protect = params["protection"] == "repeat" and float(params["snr_db"]) < float(edge)
    fits = {}  # coded size -> the plan with the most keyframes within the budget
    for sz in sizes:
        for m in range(floor, top + 1):
            k, b = planner.plan(m, sz)
            if _symbols(b, coder) + (_unit_symbols(b, coder)[0] if protect else 0.0) > budget:
                break
            fits[sz] = (k, b, sz)
    # fewer large keyframes or more small ones: the one whose error-free rebuild is better
    if fits:
        choice = max(fits.values(), key=lambda c: (planner.preview_psnr(*c), c[2]))
    else:  # not even two keyframes at the smallest size fit: the most robust try
        choice = (*planner.plan(floor, sizes[-1]), sizes[-1])
    keys, bs, sz = choice
    repeats: list[int] = []
    if m_cap is not None and params["protection"] == "rate":
        coder, mcs = _lowest_rate_within(bs, coder, mcs, budget)
    elif m_cap is not None or protect:
        repeats = plan_repeats(planner.scores, keys, _unit_symbols(bs, coder), budget - _symbols(bs, coder),
                               int(params["max_copies"]))
    sent = _symbols(bs, coder) + sum(_unit_symbols(bs, coder)[keys.index(k)] for k in repeats)
    return keys, bs, coder, sz, repeats, {
        "adapted": True, "modulation": mcs.modulation, "ldpc_rate": mcs.rate, "threshold_db": mcs.esn0_db,
        "keyframes_configured": m_ref, "keyframes_allowed": m_cap, "keyframes": len(keys), "coded_size": sz,
        "protection": params["protection"] if m_cap is not None or protect else None, "first_protected": protect,
        "repeats": list(repeats),
        "symbols_budget": round(budget), "symbols": round(sent)}


def _unit_symbols(bs, coder: PayloadCoder) -> list[float]:
    """Coded symbols of each keyframe's unit (as :func:`_symbols` counts them): the first keyframe
    sends all L_s indices, a later one its position mask and the indices that moved."""
    per_bit = 1.0 / (coder_rate(coder) * bits_per_symbol(coder.modulation))
    l_s, b = bs.indices_per_frame, bs.bits_per_index
    bits = [l_s * b] + [l_s + int(np.sum(m)) * b for m in bs.b_p]
    return [x * per_bit for x in bits]


def plan_repeats(scores, keys: list[int], unit_symbols: list[float], room: float, max_copies: int) -> list[int]:
    """Keyframes to send again, in order, within ``room`` symbols: the first keyframe (it carries
    every index the later ones are differences against), then the others by AKEI importance
    (``scores``, highest first); round after round, each keyframe at most ``max_copies`` times in
    all. A keyframe whose copy does not fit is skipped for a smaller one."""
    order = [0] + sorted(range(1, len(keys)), key=lambda j: -float(scores[keys[j]]))
    out: list[int] = []
    for _ in range(max(0, int(max_copies) - 1)):
        added = False
        for j in order:
            if unit_symbols[j] <= room:
                out.append(keys[j])
                room -= unit_symbols[j]
                added = True
        if not added:
            break
    return out


def _lowest_rate_within(bs, coder: PayloadCoder, mcs, budget: float):
    """(coder, MCS): the most robust entry of the MCS table, no less robust than ``mcs``, whose
    coding of the keyframes stays within ``budget`` symbols (the spare budget spent on a lower
    code rate instead of copies)."""
    from semcom_blocks.phy.mcs import MCS_TABLE

    for cand in sorted(MCS_TABLE, key=lambda m: m.esn0_db):
        if cand.esn0_db > mcs.esn0_db:
            break
        c = PayloadCoder("ldpc", 648, cand.rate, cand.modulation, "crc32")
        if _symbols(bs, c) <= budget:
            return c, cand
    return coder, mcs


def encode(frames: np.ndarray, params: dict):
    from semcom_models.keyframes import KeyframeRatioPolynomial, num_keyframes_for_ratio
    from semcom_models.video_io import check_frames

    frames = check_frames(frames)
    t, h, w, _ = frames.shape
    size, snr = int(params["image_size"]), float(params["snr_db"])
    model = C.msvq_model(str(params["model"]))
    watch = C.Stopwatch()
    ratio_ref = float(params["keyframe_ratio"])
    if not 0 < ratio_ref <= 1:
        raise ValueError(f"keyframe_ratio must be in (0, 1], got {ratio_ref}")
    coeffs, min_ratio = ratio_polynomial(params["ratio_coeffs"])
    ratio = KeyframeRatioPolynomial(np.asarray(coeffs, float), min_ratio)(snr) if coeffs else ratio_ref
    with watch("keyframes"):
        planner = _Planner(frames, params, model)
    with watch("msvq_encode"):
        keys, bs, coder, size, repeats, link = adapt_link(
            planner, params, num_keyframes_for_ratio(ratio_ref, t),
            num_keyframes_for_ratio(ratio, t) if coeffs else None)
    bits = bs.bits_per_index
    units, pos = [], 0
    l_s = bs.indices_per_frame
    for j, k in enumerate(keys):
        mask = None if j == 0 else bs.b_p[j - 1]
        n = l_s if j == 0 else int(mask.sum())
        units.append(Unit(f"kf{k}", "digital", pack_keyframe(mask, bs.b_v[pos:pos + n], bits), coder))
        pos += n
    fps = float(params.get("fps", 25.0))
    man = C.manifest_body(NAME, t, h, w, fps, size=size, keys=keys, model=str(params["model"]))
    manifest, room = C.manifest_unit(man), int(params["max_symbols_per_transmission"])
    txs = C.pack_transmissions(units, manifest, room, FRAME_TYPE, int(params["seq0"]), NAME)
    if repeats:  # the copies in transmissions of their own: another fading realisation each
        by_key = {k: u for k, u in zip(keys, units)}
        txs += C.pack_transmissions([by_key[k] for k in repeats], manifest, room, FRAME_TYPE,
                                    int(params["seq0"]) + len(txs), NAME)
    coded_symbols = _symbols(bs, coder)
    context = {"manifest": man,
               "n_transmissions": len(txs), "keyframe_ratio": ratio, "indices_sent": bs.n_sent,
               "link_adaptation": link, "tx_snr_db": snr,
               "bcr_paper": bs.bcr(3, size, size), "cbr_paper": coded_symbols / C.source_dim(t, h, w),
               "stage_seconds": watch.seconds, **C.cbr_figures(txs, t, h, w)}
    return txs, context


def ratio_polynomial(value) -> tuple[list[float], float]:
    """(coeffs, min_ratio) of the ``ratio_coeffs`` param: None (the default) is the calibration the
    package ships (semcom_models.akei_ratio.SHIPPED; none shipped: no polynomial); a list is the
    coefficients themselves (ascending powers of the SNR in dB, e.g. a calibration's ``coeffs``;
    [] for none: ``keyframe_ratio`` at every SNR)."""
    from semcom_models.akei_ratio import shipped_ratio

    if value is None:
        return shipped_ratio()
    if not isinstance(value, (list, tuple)) or not all(
            isinstance(c, (int, float)) and not isinstance(c, bool) and np.isfinite(c) for c in value):
        raise ValueError(f"ratio_coeffs must be null (the shipped calibration) or a list of numbers, got {value!r}")
    return [float(c) for c in value], 0.02


def coder_rate(coder: PayloadCoder) -> float:
    num, den = str(coder.rate).split("/")
    return int(num) / int(den)


def decode(received: list, context: dict, params: dict):
    man, man_from = C.find_manifest(received, context, NAME)
    t, h, w, size = int(man["T"]), int(man["H"]), int(man["W"]), int(man.get("size", 256))
    keys = sorted(int(k) for k in man.get("keys", []) if 0 <= int(k) < t)
    model = C.msvq_model(str(man.get("model", params["model"])))
    cfg = model.cfg
    l_s, bits = cfg.indices_per_frame(size, size), cfg.bits_per_index
    units = C.units_by_name(received)
    watch = C.Stopwatch()
    held = np.zeros(l_s, np.int64)
    known = np.zeros(l_s, bool)
    rebuilt, lost, malformed = {}, [], 0
    for j, k in enumerate(keys):
        u = units.get(f"kf{k}")
        if u is None:
            lost.append(k)
            continue
        try:
            mask, values = unpack_keyframe(u["data"], j == 0, l_s, bits)
        except ValueError:
            malformed += 1
            lost.append(k)
            continue
        held[mask] = values
        known |= mask
        if known.all():
            rebuilt[k] = held.copy()
    cond = Conditioning(t, h, w, fps=float(man["fps"]))
    if rebuilt:
        grid = (len(rebuilt), cfg.groups, size // 8, size // 8)
        with watch("msvq_decode"):
            imgs = model.decode_frames(np.stack(list(rebuilt.values())).reshape(grid))
        for k, img in zip(rebuilt, C.resize_frames(imgs, (h, w))):
            cond.keyframes[k] = img
    with watch("reconstruct"):
        rec = reconstruct(cond, params, PREFERENCES)
    frames = rec.frames
    report = {"scheme": NAME, **rec.report(cond.fps), "manifest_from": man_from, "keyframes": keys,
              "keyframes_rebuilt": sorted(rebuilt), "keyframe_units_lost": lost, "malformed_units": malformed,
              "link_adaptation": (context or {}).get("link_adaptation"),
              "snr_est_db": C.snr_estimate(received), "stage_seconds": watch.seconds}
    return frames, C.copy_figures(report, context)


#: this module's schemes, collected by the service's registry
SCHEMES = (Scheme(NAME, encode, decode, DEFAULTS,
                  "VQ-DeepVSC: AKEI keyframes, MSVQ indices + index selector, LDPC 648 R3/4 + QPSK/16-QAM"),)
