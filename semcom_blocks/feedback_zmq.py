"""GNU Radio blocks: the receiver -> transmitter report link between two hosts, over ZeroMQ.

The out-of-band twin of SemCom Feedback Link (:mod:`.feedback_link`) for two radios: on the
receiving host :class:`feedback_zmq_sink` takes OFDM Burst RX's ``out`` PDUs and sends one small
report per burst; on the transmitting host :class:`feedback_zmq_source` receives them and posts,
on ``out``, the dict OFDM Burst TX's ``feedback`` port takes (``{"snr_est_db": float}``, plus
``cfo``, ``crc_ok`` and ``seq`` when the report has them). A lost report changes nothing: the
transmitter keeps coding for the last SNR it heard.

The wire: a ZeroMQ PUSH socket (the sink) CONNECTS to a PULL socket (the source) that BINDS;
each report is one single-part message, a msgpack map (:data:`WIRE_VERSION` 1) of

* ``v``: 1; ``sender``: a random 63-bit id drawn when the sink was made; ``n``: the report
  counter, 1, 2, ... (never repeats for one sender; reports dropped before sending leave gaps);
  ``t``: send time, Unix seconds (float);
* ``snr_est_db``: the SNR the transmitter should design for, dB (finite, -50..100): the burst's
  effective SNR where OFDM Burst RX gives one (``snr_eff_db``), else its mean Es/N0;
* optional ``cfo`` (carrier offset, subcarrier spacings, finite), ``crc_ok`` (bool: every digital
  unit passed), ``seq`` (the burst's sequence number, int >= 0).

Security follows :mod:`semcom_client.keys`: without ``keys_dir`` only loopback (or ipc)
addresses are accepted; with it the link is CURVE-encrypted and the source admits only the
client keys in ``<keys_dir>/authorized/`` (ZAP). The sink reads ``<key_name>.key_secret`` and
``server.key`` of its keys directory, the source ``server.key_secret`` and ``authorized/``.

Limits. The sink never blocks the flowgraph: ``zmq.NOBLOCK`` with a send queue of
:data:`SEND_HWM` reports; a report that cannot be queued is dropped and counted. The source
checks every message before using it: one part of at most :data:`MAX_REPORT_BYTES` bytes, the
msgpack structure (:mod:`.phy.msgpack_safe`, a flat map), the version and every field's type and
range; anything else is counted as malformed and dropped (libzmq itself disconnects a peer that
sends more than :data:`MAX_WIRE_BYTES`). A report whose counter is not above the last one from
the same sender (same CURVE key and sender id) is dropped as out of order; with ``max_age_s`` >
0, one sent longer ago than that (by its send time: the hosts' clocks must agree, NTP) too.

Ending. The sink is an ordinary message block: it finishes when its upstream (OFDM Burst RX)
does. The source has no end of its own (the transmitter's data path decides when a run is over)
and a message-only block that no one tells to finish keeps a flowgraph running forever, so it
has an optional input ``end_with``: it finishes as soon as a block connected there finishes (GNU
Radio then posts ("done" . 1) to this block's ``system`` port) or the symbol ``done`` arrives on
it; other messages there are ignored. In the USRP video TX flowgraph a Probe Rate on OFDM Burst
TX's output feeds it, so the feedback link ends when the last burst has left the transmitter.
Unconnected, the source runs until the flowgraph is stopped (as Message Strobe does).
"""
from __future__ import annotations

import math
import secrets
import threading
import time
from collections import OrderedDict

import msgpack
import pmt
import zmq
from gnuradio import gr

from semcom_client.keys import KeysError, handshake_failures, is_local_address, load_client_keys, load_server_keys

from .pdu_util import declare_done
from .phy import msgpack_safe
from .phy.link_adapt import link_snr

__all__ = ["feedback_zmq_sink", "feedback_zmq_source", "WIRE_VERSION", "DEFAULT_ADDRESS", "MAX_REPORT_BYTES",
           "MAX_WIRE_BYTES", "SEND_HWM", "SNR_RANGE_DB", "pack_report", "parse_report", "report_from_meta"]

WIRE_VERSION = 1
DEFAULT_ADDRESS = "tcp://127.0.0.1:5601"
#: a report larger than this is malformed (a real one is about 80 bytes)
MAX_REPORT_BYTES = 4096
#: libzmq drops the connection of a peer sending a larger message (never reaches the block)
MAX_WIRE_BYTES = 65536
#: reports the sink queues while the link is slow or down; more are dropped
SEND_HWM = 16
RECV_HWM = 256
SNR_RANGE_DB = (-50.0, 100.0)
#: the ZAP domain of the source socket
ZAP_DOMAIN = "semcom-feedback"
#: the receiver thread's poll period: the longest stop() waits for it
POLL_MS = 100
#: senders whose last counter is remembered (least recently heard forgotten first)
MAX_SENDERS = 256
#: how long closing the sink waits for queued reports to leave
SINK_LINGER_MS = 200
LOG_BURST = 10

_IN, _OUT, _END_WITH = pmt.intern("in"), pmt.intern("out"), pmt.intern("end_with")
_DONE = pmt.intern("done")
_MAX_INT = 1 << 63
def _number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _count(x, lo: int = 0) -> bool:
    return isinstance(x, int) and not isinstance(x, bool) and lo <= x < _MAX_INT


def _check_address(address: str, keys_dir: str | None, what: str) -> str:
    """The address if it may be used; KeysError where it needs keys, ValueError if it is no endpoint."""
    if not isinstance(address, str) or not address:
        raise ValueError(f"{what}: address must be tcp://HOST:PORT or ipc://PATH, got {address!r}")
    if not is_local_address(address) and keys_dir is None:
        raise KeysError(f"{what}: refusing {address} without CURVE keys: only loopback and ipc addresses may run "
                        f"unauthenticated (make keys with `semcom keys --dir DIR` and set the keys directory)")
    return address


def report_from_meta(meta) -> dict:
    """The report fields of a received burst's PDU metadata: ``snr_est_db`` (the SNR to design
    for: the effective one where the receiver gives it, :func:`.phy.link_adapt.link_snr`; ValueError when it is
    missing or not finite), and ``cfo``, ``crc_ok``, ``seq`` where present and valid."""
    snr = link_snr(meta) if isinstance(meta, dict) else None
    if not _number(snr):
        raise ValueError("not a received-burst PDU with a finite snr_est_db")
    out = {"snr_est_db": float(snr)}
    if _number(meta.get("cfo")):
        out["cfo"] = float(meta["cfo"])
    if isinstance(meta.get("crc_ok"), bool):
        out["crc_ok"] = meta["crc_ok"]
    if _count(meta.get("seq")):
        out["seq"] = int(meta["seq"])
    return out


def pack_report(sender: int, n: int, fields: dict, t: float | None = None) -> bytes:
    """One report on the wire (see the module docstring); ``fields`` as :func:`report_from_meta` gives."""
    msg = {"v": WIRE_VERSION, "sender": int(sender), "n": int(n), "t": float(time.time() if t is None else t)}
    msg.update(fields)
    return msgpack.packb(msg, use_bin_type=True)


def parse_report(raw) -> dict:
    """The checked report in ``raw`` (bytes); ValueError (msgpack_safe.MsgpackRejected included) for
    anything that is not a well-formed version-1 report within the limits. Unknown keys are ignored."""
    if len(raw) > MAX_REPORT_BYTES:
        raise ValueError(f"report of {len(raw)} bytes (limit {MAX_REPORT_BYTES})")
    msg = msgpack_safe.unpackb(raw, max_depth=1)
    if not isinstance(msg, dict):
        raise ValueError("a report is a msgpack map")
    if msg.get("v") != WIRE_VERSION or isinstance(msg.get("v"), bool):
        raise ValueError(f"report version {msg.get('v')!r} (this block reads {WIRE_VERSION})")
    if not (_count(msg.get("sender")) and _count(msg.get("n"), 1)):
        raise ValueError("a report needs an integer sender and a counter n >= 1")
    if not (_number(msg.get("t")) and msg["t"] > 0):
        raise ValueError("a report needs a send time t (Unix seconds)")
    snr = msg.get("snr_est_db")
    if not (_number(snr) and SNR_RANGE_DB[0] <= snr <= SNR_RANGE_DB[1]):
        raise ValueError(f"snr_est_db must be a finite number in {SNR_RANGE_DB} dB, got {snr!r}")
    out = {"sender": msg["sender"], "n": msg["n"], "t": float(msg["t"]), "snr_est_db": float(snr)}
    if "cfo" in msg:
        if not _number(msg["cfo"]):
            raise ValueError("cfo must be a finite number")
        out["cfo"] = float(msg["cfo"])
    if "crc_ok" in msg:
        if not isinstance(msg["crc_ok"], bool):
            raise ValueError("crc_ok must be a bool")
        out["crc_ok"] = msg["crc_ok"]
    if "seq" in msg:
        if not _count(msg["seq"]):
            raise ValueError("seq must be an integer >= 0")
        out["seq"] = msg["seq"]
    return out


class feedback_zmq_sink(gr.basic_block):
    """Receiving host: OFDM Burst RX's PDUs in (port ``in``), one report per burst out over ZeroMQ
    (PUSH, connects to ``address``). ``address`` '' disables the link (reports are counted as
    dropped). ``keys_dir``: CURVE keys (``key_name``.key_secret and server.key); '' = none, loopback only.
    See the module docstring."""

    COUNTERS = ("reports", "sent", "dropped", "malformed")

    def __init__(self, address: str = DEFAULT_ADDRESS, keys_dir: str = "", key_name: str = "client"):
        gr.basic_block.__init__(self, name="semcom_feedback_zmq_sink", in_sig=None, out_sig=None)
        self.keys_dir = keys_dir or None
        self.address = _check_address(address, self.keys_dir, "feedback sink") if address else ""
        self._keys = load_client_keys(self.keys_dir, key_name) if self.keys_dir and self.address else None
        self.sender = secrets.randbits(63)
        self._n = 0
        self._stats = dict.fromkeys(self.COUNTERS, 0)
        self._ctx = self._sock = None
        self._logged = 0
        self.message_port_register_in(_IN)
        self.set_msg_handler(_IN, self._on_pdu)
        self._open()

    def stats(self) -> dict:
        return dict(self._stats)

    def _open(self) -> None:
        if self._sock is not None or not self.address:
            return
        ctx = zmq.Context()
        try:
            sock = ctx.socket(zmq.PUSH)
            sock.linger = SINK_LINGER_MS
            sock.sndhwm = SEND_HWM
            if self._keys is not None:
                public, secret, server_public = self._keys
                sock.curve_publickey, sock.curve_secretkey, sock.curve_serverkey = public, secret, server_public
            sock.connect(self.address)
        except Exception:
            ctx.destroy(linger=0)
            raise
        self._ctx, self._sock = ctx, sock

    def close(self) -> None:
        """Close the socket (reports still queued get ``SINK_LINGER_MS`` to leave)."""
        sock, ctx, self._sock, self._ctx = self._sock, self._ctx, None, None
        if sock is not None:
            sock.close()
            ctx.term()

    def _warn(self, text: str) -> None:
        self._logged += 1
        if self._logged <= LOG_BURST:
            self.logger.warn(text + (" (no more such messages)" if self._logged == LOG_BURST else ""))

    def _on_pdu(self, msg) -> None:
        try:
            meta = pmt.to_python(pmt.car(msg)) if pmt.is_pair(msg) else None
            fields = report_from_meta(meta)
        except Exception:  # noqa: BLE001 - anything else is counted and dropped
            self._stats["malformed"] += 1
            return
        self._stats["reports"] += 1
        self._n += 1
        if self._sock is None:
            self._stats["dropped"] += 1
            return
        try:
            self._sock.send(pack_report(self.sender, self._n, fields), zmq.NOBLOCK)
        except zmq.Again:  # the send queue is full (the link is down or slow): this report is lost
            self._stats["dropped"] += 1
        except zmq.ZMQError as err:
            self._stats["dropped"] += 1
            self._warn(f"feedback report not sent: {err}")
        else:
            self._stats["sent"] += 1

    def start(self) -> bool:
        self._open()
        return True

    def stop(self) -> bool:
        self.close()
        self.logger.info(f"stats: {self.stats()}")
        return True


class feedback_zmq_source(gr.basic_block):
    """Transmitting host: reports in over ZeroMQ (PULL, binds ``address``), ``{"snr_est_db": ...}``
    dicts out (port ``out``) for OFDM Burst TX's ``feedback`` port. ``address`` '' disables the link
    (nothing is bound, nothing posted). ``keys_dir``: CURVE server keys ('' = none, loopback only).
    ``max_age_s`` > 0 drops reports sent longer ago than that. Ends with the block connected to
    ``end_with`` (see the module docstring). ``endpoint`` is the bound address (port resolved)."""

    COUNTERS = ("received", "delivered", "malformed", "out_of_order", "too_old", "auth_failures",
                "handshake_failures")

    def __init__(self, address: str = DEFAULT_ADDRESS, keys_dir: str = "", max_age_s: float = 0.0):
        gr.basic_block.__init__(self, name="semcom_feedback_zmq_source", in_sig=None, out_sig=None)
        if not (isinstance(max_age_s, (int, float)) and max_age_s >= 0 and math.isfinite(max_age_s)):
            raise ValueError(f"max_age_s must be >= 0 seconds (0 = off), got {max_age_s!r}")
        self.keys_dir = keys_dir or None
        self.address = _check_address(address, self.keys_dir, "feedback source") if address else ""
        self._keys = load_server_keys(self.keys_dir) if self.keys_dir and self.address else None
        self.max_age_s = float(max_age_s)
        self.endpoint = ""
        self._stats = dict.fromkeys(self.COUNTERS, 0)
        self._lock = threading.Lock()
        self._last: OrderedDict[tuple, int] = OrderedDict()
        self._ctx = self._sock = self._monitor = self._auth = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._logged = 0
        self.message_port_register_out(_OUT)
        self.message_port_register_in(_END_WITH)
        self.set_msg_handler(_END_WITH, self._on_end_with)
        self._open()

    def stats(self) -> dict:
        with self._lock:
            return dict(self._stats)

    def is_running(self) -> bool:
        """Whether the receiver thread runs (between start() and the block's end or stop())."""
        return self._thread is not None and self._thread.is_alive()

    def _count(self, key: str) -> None:
        with self._lock:
            self._stats[key] += 1

    # -- sockets ---------------------------------------------------------------------------
    def _open(self) -> None:
        if self._sock is not None or not self.address:
            return
        ctx = zmq.Context()
        auth = None
        try:
            sock = ctx.socket(zmq.PULL)
            sock.linger = 0
            sock.rcvhwm = RECV_HWM
            sock.setsockopt(zmq.MAXMSGSIZE, MAX_WIRE_BYTES)
            if self._keys is not None:
                from zmq.auth.thread import ThreadAuthenticator

                public, secret, authorized = self._keys
                auth = ThreadAuthenticator(ctx)
                auth.start()
                auth.configure_curve(domain=ZAP_DOMAIN, location=str(authorized))
                sock.curve_secretkey, sock.curve_publickey, sock.curve_server = secret, public, True
                sock.zap_domain = ZAP_DOMAIN.encode()
            monitor = sock.get_monitor_socket(
                zmq.EVENT_HANDSHAKE_FAILED_AUTH | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL
                | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL)
            try:
                sock.bind(self.address)
            except zmq.ZMQError as err:
                raise OSError(f"feedback source cannot bind {self.address}: {err}") from None
        except Exception:
            if auth is not None:
                auth.stop()
            ctx.destroy(linger=0)
            raise
        self._ctx, self._sock, self._monitor, self._auth = ctx, sock, monitor, auth
        self.endpoint = sock.getsockopt_string(zmq.LAST_ENDPOINT)

    def close(self) -> None:
        """Stop the receiver thread (within about POLL_MS) and close the sockets."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(2.0)
            self._thread = None
        sock, monitor, auth, ctx = self._sock, self._monitor, self._auth, self._ctx
        self._sock = self._monitor = self._auth = self._ctx = None
        if sock is not None:
            try:
                sock.disable_monitor()
            except zmq.ZMQError:
                pass
            monitor.close(linger=0)
            sock.close(linger=0)
            if auth is not None:
                auth.stop()
            ctx.term()

    # -- the end ---------------------------------------------------------------------------
    def _on_end_with(self, msg) -> None:
        if pmt.is_symbol(msg) and pmt.eq(msg, _DONE):
            declare_done(self)

    # -- receiving (background thread) ------------------------------------------------------
    def _warn(self, text: str) -> None:
        self._logged += 1
        if self._logged <= LOG_BURST:
            self.logger.warn(text + (" (no more such messages)" if self._logged == LOG_BURST else ""))

    def _run(self) -> None:
        poller = zmq.Poller()
        poller.register(self._sock, zmq.POLLIN)
        poller.register(self._monitor, zmq.POLLIN)
        while not self._stop.is_set():
            try:
                ready = dict(poller.poll(POLL_MS))
                if self._monitor in ready:
                    self._drain_monitor()
                if self._sock in ready:
                    for _ in range(RECV_HWM):
                        if self._stop.is_set() or not self._receive_one():
                            break
            except Exception as err:  # noqa: BLE001 - the thread must outlive anything a peer sends
                self._warn(f"feedback receiver: {type(err).__name__}: {str(err)[:200]}")
                self._stop.wait(POLL_MS / 1000)

    def _drain_monitor(self) -> None:
        for key, why, _ in handshake_failures(self._monitor):
            self._count(key)
            self._warn(f"feedback peer refused: {why}")

    def _receive_one(self) -> bool:
        """One message off the socket, checked and delivered; False when none was waiting."""
        try:
            frame = self._sock.recv(zmq.NOBLOCK, copy=False)
        except zmq.Again:
            return False
        self._count("received")
        if frame.more:  # a report is one part: drop the whole message
            while self._sock.getsockopt(zmq.RCVMORE):
                self._sock.recv(copy=False)
            self._count("malformed")
            self._warn("dropping a multi-part feedback message")
            return True
        try:
            report = parse_report(frame.bytes)
        except ValueError as err:
            self._count("malformed")
            self._warn(f"dropping a malformed feedback report: {str(err)[:200]}")
            return True
        user = ""
        if self._keys is not None:
            try:
                user = frame.get("User-Id") or ""
            except zmq.ZMQError:
                user = ""
        if self.max_age_s and time.time() - report["t"] > self.max_age_s:
            self._count("too_old")
            return True
        key = (user, report["sender"])
        with self._lock:
            last = self._last.get(key, 0)
            if report["n"] <= last:
                self._stats["out_of_order"] += 1
                return True
            self._last[key] = report["n"]
            self._last.move_to_end(key)
            while len(self._last) > MAX_SENDERS:
                self._last.popitem(last=False)
            self._stats["delivered"] += 1
        out = {k: report[k] for k in ("snr_est_db", "cfo", "crc_ok", "seq") if k in report}
        self.message_port_pub(_OUT, pmt.to_pmt(out))
        return True

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> bool:
        self._open()
        self._stop.clear()
        if self._sock is not None:
            self._thread = threading.Thread(target=self._run, name="feedback_zmq_source", daemon=True)
            self._thread.start()
        return True

    def stop(self) -> bool:
        self.close()
        self.logger.info(f"stats: {self.stats()}")
        return True
