"""A bare DEALER socket and request builders for talking to the service the way a hostile or
buggy peer would: whatever bytes a test gives it go out unchanged."""
from __future__ import annotations

import msgpack
import zmq

from semcom_client.protocol import PROTOCOL_VERSION


def pack(**header) -> bytes:
    return msgpack.packb(header, use_bin_type=True)


def req(op="ping", rid="r1", **fields) -> bytes:
    return pack(v=PROTOCOL_VERSION, id=rid, op=op, **fields)


def frames_desc(shape, dtype="uint8"):
    return {"kind": "frames", "dtype": dtype, "shape": list(shape)}


class Raw:
    """A bare DEALER socket: sends whatever it is given."""

    def __init__(self, endpoint):
        self.sock = zmq.Context.instance().socket(zmq.DEALER)
        self.sock.linger = 0
        self.sock.connect(endpoint)

    def send(self, parts):
        self.sock.send_multipart(parts)

    def recv(self, timeout_s=5.0):
        if not self.sock.poll(int(timeout_s * 1000)):
            return None
        parts = self.sock.recv_multipart()
        return msgpack.unpackb(parts[0], raw=False), parts[1:]

    def ask(self, parts, timeout_s=5.0):
        self.send(parts)
        return self.recv(timeout_s)

    def close(self):
        self.sock.close()
