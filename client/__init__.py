"""How a program talks to the semantic service: the wire protocol (protocol.py), the client
(client.py, :class:`ServiceClient`) and CURVE keys (keys.py).

This package sits below both the host (whose service implements the protocol's other side) and
the GNU Radio blocks (which are its clients); it imports only the PHY engine's wire format. See
docs/architecture.md for the layers.
"""
