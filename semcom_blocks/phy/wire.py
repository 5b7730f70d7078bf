"""The seam between semantics and transport as bytes: transmissions and received frames in msgpack.

A message is a msgpack map with ``"v": WIRE_VERSION`` and ``"type"``: ``"transmission"`` (what the
semantic layer asks the transport to send) or ``"received"`` (what the receiver got). Bulk data
travels as msgpack binary: digital unit bytes as they are, analog symbols as little-endian
complex64. No pickle anywhere; every field is checked on the way in and anything malformed is a
ValueError naming the field (the GNU Radio blocks count and drop such messages); the
structure is checked before it is unpacked (:mod:`.msgpack_safe`: nesting at most 32 levels).

transmission::

    {"v": 1, "type": "transmission", "seq": int, "frame_type": int, "meta": {...},
     "units": [{"name": str, "kind": "digital", "data": bin, "fec": "ldpc", "n": 648,
                "rate": "1/2", "modulation": "qpsk", "crc": "crc32"},
               {"name": str, "kind": "analog", "data": bin (complex64)}]}

received::

    {"v": 1, "type": "received", "seq", "frame_type", "start", "end", "cfo", "snr_est_db",
     "snr_eff_db" (optional: the effective SNR), "noise_var",
     "units": [{"name", "kind", "data": bin, "crc_ok": bool | None,
                             "noise_var": bin (float32, one per symbol; analog only),
                             "copies": int (digital only, when > 1: receptions combined)}]}
"""
from __future__ import annotations

import msgpack
import numpy as np

from . import msgpack_safe
from .fec import PayloadCoder
from .frame import Transmission, Unit
from .receiver import ReceivedFrame, ReceivedUnit

__all__ = ["WIRE_VERSION", "MAX_MESSAGE_BYTES", "pack_transmission", "unpack_transmission", "pack_received",
           "unpack_received"]

WIRE_VERSION = 1
#: largest message accepted (bytes): a 64-MiB unit is far beyond any frame of this PHY
MAX_MESSAGE_BYTES = 64 << 20


def _coder_fields(coder: PayloadCoder) -> dict:
    return {"fec": coder.fec, "n": int(coder.n), "rate": str(coder.rate), "modulation": coder.modulation,
            "crc": coder.crc or "none"}


def pack_transmission(tx: Transmission) -> bytes:
    units = []
    for u in tx.units:
        if u.kind == "digital":
            units.append({"name": u.name, "kind": "digital", "data": u.data, **_coder_fields(u.coder)})
        else:
            units.append({"name": u.name, "kind": "analog", "data": np.asarray(u.data, "<c8").tobytes()})
    return msgpack.packb({"v": WIRE_VERSION, "type": "transmission", "seq": int(tx.seq),
                          "frame_type": int(tx.frame_type), "meta": tx.meta, "units": units}, use_bin_type=True)


def _load(raw, kind: str) -> dict:
    if not isinstance(raw, (bytes, bytearray, memoryview)):
        raise ValueError(f"{kind}: expected bytes, got {type(raw).__name__}")
    if len(raw) > MAX_MESSAGE_BYTES:
        raise ValueError(f"{kind}: message of {len(raw)} bytes exceeds {MAX_MESSAGE_BYTES}")
    try:
        msg = msgpack_safe.unpackb(raw)
    except msgpack_safe.MsgpackRejected as exc:
        raise ValueError(f"{kind}: {exc}") from None
    if not isinstance(msg, dict):
        raise ValueError(f"{kind}: expected a map")
    if msg.get("v") != WIRE_VERSION:
        raise ValueError(f"{kind}: unsupported version {msg.get('v')!r} (this side speaks {WIRE_VERSION})")
    if msg.get("type") != kind:
        raise ValueError(f"{kind}: message type is {msg.get('type')!r}")
    if not isinstance(msg.get("units"), list):
        raise ValueError(f"{kind}: 'units' must be a list")
    return msg


def _unit_maps(msg: dict, kind: str):
    """(description for errors, unit map) of each unit of a loaded message."""
    for i, u in enumerate(msg["units"]):
        what = f"{kind} unit {i}"
        if not isinstance(u, dict):
            raise ValueError(f"{what}: expected a map")
        yield what, u


def _field(d: dict, key: str, types, what: str):
    if key not in d or not isinstance(d[key], types):
        raise ValueError(f"{what}: field {key!r} missing or of the wrong type")
    return d[key]


def _complex(raw, what: str) -> np.ndarray:
    if not isinstance(raw, bytes) or len(raw) % 8:
        raise ValueError(f"{what}: analog data must be complex64 bytes")
    return np.frombuffer(raw, "<c8").astype(np.complex64)


def unpack_transmission(raw) -> Transmission:
    msg = _load(raw, "transmission")
    units = []
    for what, u in _unit_maps(msg, "transmission"):
        name = _field(u, "name", str, what)
        kind = _field(u, "kind", str, what)
        if kind == "digital":
            crc = _field(u, "crc", str, what)
            coder = PayloadCoder(_field(u, "fec", str, what), int(_field(u, "n", int, what)),
                                 _field(u, "rate", str, what), _field(u, "modulation", str, what),
                                 None if crc == "none" else crc)
            units.append(Unit(name, "digital", _field(u, "data", bytes, what), coder))
        elif kind == "analog":
            units.append(Unit(name, "analog", _complex(u.get("data"), what)))
        else:
            raise ValueError(f"{what}: kind must be 'digital' or 'analog'")
    meta = msg.get("meta") or {}
    if not isinstance(meta, dict):
        raise ValueError("transmission: 'meta' must be a map")
    return Transmission(units, seq=int(_field(msg, "seq", int, "transmission")),
                        frame_type=int(_field(msg, "frame_type", int, "transmission")), meta=meta)


def pack_received(frame: ReceivedFrame) -> bytes:
    units = []
    for u in frame.units:
        entry = {"name": u.name, "kind": u.kind, "crc_ok": u.crc_ok}
        if u.kind == "digital":
            entry["data"] = u.data
            if u.copies > 1:
                entry["copies"] = int(u.copies)
        else:
            entry["data"] = np.asarray(u.data, "<c8").tobytes()
            entry["noise_var"] = np.asarray(u.noise_var, "<f4").tobytes()
        units.append(entry)
    return msgpack.packb({"v": WIRE_VERSION, "type": "received", "seq": frame.seq, "frame_type": frame.frame_type,
                          "start": int(frame.start), "end": int(frame.end), "cfo": float(frame.cfo),
                          "snr_est_db": float(frame.snr_est_db), "noise_var": float(frame.noise_var),
                          **({} if frame.snr_eff_db is None else {"snr_eff_db": float(frame.snr_eff_db)}),
                          "units": units}, use_bin_type=True)


def unpack_received(raw) -> ReceivedFrame:
    msg = _load(raw, "received")
    units = []
    for what, u in _unit_maps(msg, "received"):
        kind = _field(u, "kind", str, what)
        if kind == "digital":
            copies = u.get("copies", 1)
            if not isinstance(copies, int) or isinstance(copies, bool) or not 1 <= copies <= 1 << 16:
                raise ValueError(f"{what}: copies must be an integer in 1..65536")
            units.append(ReceivedUnit(_field(u, "name", str, what), kind, _field(u, "data", bytes, what),
                                      bool(_field(u, "crc_ok", bool, what)), np.zeros(0, np.float32), copies=copies))
        elif kind == "analog":
            nv = _field(u, "noise_var", bytes, what)
            if len(nv) % 4:
                raise ValueError(f"{what}: noise_var must be float32 bytes")
            units.append(ReceivedUnit(_field(u, "name", str, what), kind, _complex(u.get("data"), what), None,
                                      np.frombuffer(nv, "<f4").copy()))
        else:
            raise ValueError(f"{what}: kind must be 'digital' or 'analog'")
    num = (int, float)
    eff = msg.get("snr_eff_db")
    if eff is not None and (isinstance(eff, bool) or not isinstance(eff, num)):
        raise ValueError("received: snr_eff_db must be a number")
    return ReceivedFrame(int(_field(msg, "frame_type", int, "received")), int(_field(msg, "seq", int, "received")),
                         units, int(_field(msg, "start", int, "received")), int(_field(msg, "end", int, "received")),
                         float(_field(msg, "cfo", num, "received")), float(_field(msg, "snr_est_db", num, "received")),
                         float(_field(msg, "noise_var", num, "received")), None if eff is None else float(eff))
