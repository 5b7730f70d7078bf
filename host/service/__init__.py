"""The semantic service: semantic encode/decode over ZeroMQ for the GNU Radio blocks.

* :func:`serve` / :class:`Server`: the service (ROUTER socket, worker threads), see server.py;
* :class:`ServiceClient`: its client (DEALER socket, heartbeats, reconnects), see client.py;
* :func:`register_scheme`: how schemes plug in, see registry.py; built in: "raw-analog";
* :func:`generate_keys`: CURVE keys for non-loopback use, see keys.py;
* the wire protocol: protocol.py and docs/service.md.

Importing this package is light (zmq, msgpack, numpy); the PHY and the models load when a
request needs them.
"""
from semcom_client.client import (
                     AuthenticationFailed,
                     DecodeResult,
                     EncodeResult,
                     RemoteError,
                     ServiceClient,
                     ServiceError,
                     ServiceTimeout,
                     ServiceUnavailable,
)
from semcom_client.keys import KeysError, generate_keys, is_local_address
from semcom_client.protocol import IDEMPOTENT_OPS, OPS, PROTOCOL_VERSION, Limits, ProtocolError

from .registry import get_scheme, received_to_dict, register_scheme, scheme_names, unregister_scheme
from .server import DEFAULT_ADDRESS, Server, serve

__all__ = ["serve", "Server", "DEFAULT_ADDRESS", "ServiceClient", "ServiceError", "ServiceTimeout",
           "ServiceUnavailable", "AuthenticationFailed", "RemoteError", "EncodeResult", "DecodeResult",
           "register_scheme", "unregister_scheme", "get_scheme", "scheme_names", "received_to_dict",
           "generate_keys", "is_local_address", "KeysError", "Limits", "ProtocolError", "PROTOCOL_VERSION", "OPS",
           "IDEMPOTENT_OPS"]
