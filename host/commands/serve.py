"""`semcom serve`: the semantic encode/decode service over ZeroMQ (docs/service.md).

The options and the runner live with the service (:mod:`semcom_host.service.cli`), which
``python -m semcom_host.service serve`` uses too."""
from __future__ import annotations


def register(sub) -> None:
    from semcom_host.service.cli import add_serve_arguments

    p = sub.add_parser("serve", help="the semantic encode/decode service (ZeroMQ)",
                       description="Serve semantic encode/decode requests over ZeroMQ (docs/service.md). Binds to "
                                   "127.0.0.1 by default; any other address requires CURVE keys.")
    add_serve_arguments(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from semcom_host.service.cli import run_serve

    return run_serve(args)
