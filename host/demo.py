"""`semcom demo` until the end-to-end issue lands: a video description over the coded link.

GVSC sends a clip's text description through turbo code R = 1/3 + 4-QAM; VQ-DeepVSC's digital
units go through LDPC 648. This demo sends a description (UTF-8, CRC-32) through both, as PDUs
through a running GNU Radio flowgraph (semcom_blocks.fec_loopback: the FEC blocks around
complex AWGN) at a range of Es/N0 (dB, per 4-QAM symbol), many transmissions per point, and
reports packet and bit errors, CRC verdicts, the text as received, a plot and report.json. The
description is a sidecar caption (host/data/demo_caption.txt) until the captioning models
arrive.
"""
from __future__ import annotations

import json
import time
from importlib import resources
from pathlib import Path

import numpy as np

from semcom_blocks.phy.fec import PayloadCoder

DEFAULT_SNRS = (-4.0, -3.0, -2.0, -1.0, 0.0, 1.0, 2.0, 4.0)
#: link name -> coding parameters of the FEC blocks
LINKS = {
    "turbo R1/3 + 4-QAM (GVSC text)": {"fec": "turbo", "modulation": "qpsk", "crc": "crc32"},
    "LDPC 648 R1/2 + QPSK": {"fec": "ldpc", "n": 648, "rate": "1/2", "modulation": "qpsk", "crc": "crc32"},
}


def default_caption() -> str:
    return resources.files("semcom_host").joinpath("data", "demo_caption.txt").read_text().strip()


def send_text(text: str, coding: dict, esn0_db: float, trials: int, seed: int) -> dict:
    """``trials`` transmissions of ``text`` through the GNU Radio loopback; error counts."""
    try:
        from semcom_blocks.fec_loopback import FecAwgnLoopback
    except ImportError as exc:
        raise RuntimeError(f"GNU Radio is not importable ({exc}); run `make setup` and use .venv/bin/semcom") from exc
    payload = text.encode("utf-8")
    received = FecAwgnLoopback(esn0_db, seed=seed, quiet=True, **coding).transmit([payload] * trials)
    ref_bits = np.unpackbits(np.frombuffer(payload, np.uint8))
    bit_errors = [int(np.count_nonzero(np.unpackbits(np.frombuffer(data, np.uint8)) != ref_bits))
                  for _, data in received]
    crc_ok = [bool(meta["crc_ok"]) for meta, _ in received]
    return {"esn0_db": esn0_db, "trials": trials, "symbols": PayloadCoder(**coding).n_symbols(len(payload)),
            "packet_errors": sum(e > 0 for e in bit_errors), "per": sum(e > 0 for e in bit_errors) / trials,
            "crc_failures": crc_ok.count(False),
            "undetected_errors": sum(e > 0 and ok for e, ok in zip(bit_errors, crc_ok)),
            "bit_errors": sum(bit_errors), "ber": sum(bit_errors) / (trials * ref_bits.size),
            "received_example": received[0][1].decode("utf-8", errors="replace"), "received_crc_ok": crc_ok[0]}


def run_demo(out_dir: Path, text: str | None = None, snrs=DEFAULT_SNRS, trials: int = 200, seed: int = 7777,
             log=print) -> dict:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    text = text or default_caption()
    report = {"text": text, "bytes": len(text.encode("utf-8")), "seed": seed, "links": {}}
    t0 = time.perf_counter()
    for li, (name, coding) in enumerate(LINKS.items()):
        rows = []
        log(f"\n{name}: {report['bytes']} bytes -> {PayloadCoder(**coding).n_symbols(report['bytes'])} symbols "
            f"({trials} transmissions per point)")
        log(f"{'Es/N0 dB':>9} {'PER':>8} {'BER':>9} {'CRC fail':>9}  received (first transmission)")
        for si, snr in enumerate(snrs):
            row = send_text(text, coding, snr, trials, seed + 1000 * li + si)
            rows.append(row)
            shown = row["received_example"][:60].replace("\n", " ")
            log(f"{snr:9.1f} {row['per']:8.3f} {row['ber']:9.2e} {row['crc_failures']:9d}  {shown!r}")
        report["links"][name] = rows
    report["seconds"] = round(time.perf_counter() - t0, 2)
    _plot(report, out_dir / "text_link_per.png")
    (out_dir / "report.json").write_text(json.dumps(report, indent=2))
    log(f"\nwrote {out_dir / 'report.json'} and {out_dir / 'text_link_per.png'} in {report['seconds']} s")
    return report


def _plot(report: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4))
    for name, rows in report["links"].items():
        per = [r["per"] if r["per"] > 0 else np.nan for r in rows]
        ax.semilogy([r["esn0_db"] for r in rows], per, "o-", label=name)
    ax.set_xlabel("Es/N0 per 4-QAM symbol (dB)")
    ax.set_ylabel("packet error rate (description)")
    ax.set_title(f"{report['bytes']}-byte video description over AWGN", fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
