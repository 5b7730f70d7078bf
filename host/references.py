"""Published error-rate figures the FEC library is held to (from shared/reference/anchors.md).

All Eb/N0 in dB, AWGN, BPSK or Gray QPSK. Used to overlay reference points on `semcom ber`
plots and by the statistical tests' documentation; the numbers are facts from the sources
named, not results of this project.
"""
from __future__ import annotations

#: IEEE 802.11n LDPC N=648, sum-product, <= 50 iterations: Eb/N0 where FER = 1e-2 (+-0.2 dB).
LDPC648_FER1E2_EBN0 = {"1/2": 1.89, "2/3": 2.66, "3/4": 3.19, "5/6": 3.91}

#: AFF3CT reference curve for (648, 540) layered SPA: (Eb/N0, FER).
AFF3CT_LDPC648_R56 = [(3.5, 6.5e-2), (3.75, 2.0e-2), (4.0, 4.4e-3), (4.25, 7.2e-4)]

#: LTE turbo code, rate 1/3: block size K -> Eb/N0 where FER = 1e-2.
TURBO_FER1E2_EBN0 = {
    1024: 0.82,  # max-log-MAP, extrinsic scaling 0.75, 8 iterations (+-0.15)
    6144: 0.66,  # max-log-MAP, 6 iterations (AFF3CT reference)
}


def reference_points(code: str, n: int | None = None, rate: str | None = None, k: int | None = None):
    """[(label, [(ebn0_db, fer), ...])] of published points for a code, or [] if none apply."""
    out = []
    if code == "ldpc" and n == 648 and rate in LDPC648_FER1E2_EBN0:
        out.append((f"802.11n 648 R{rate} SPA: FER 1e-2 (anchors)", [(LDPC648_FER1E2_EBN0[rate], 1e-2)]))
        if rate == "5/6":
            out.append(("AFF3CT (648,540) layered SPA", AFF3CT_LDPC648_R56))
    if code == "turbo" and k in TURBO_FER1E2_EBN0:
        out.append((f"LTE turbo K={k}: FER 1e-2 (anchors)", [(TURBO_FER1E2_EBN0[k], 1e-2)]))
    return out
