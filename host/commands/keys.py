"""`semcom keys`: CURVE key pairs for the service and its clients (docs/service.md).

The options and the runner live with the service (:mod:`semcom_host.service.cli`), which
``python -m semcom_host.service keys`` uses too."""
from __future__ import annotations


def register(sub) -> None:
    from semcom_host.service.cli import add_keys_arguments

    p = sub.add_parser("keys", help="make CURVE keys for the service",
                       description="Generate the service's and clients' CURVE key pairs (docs/service.md).")
    add_keys_arguments(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from semcom_host.service.cli import run_keys

    return run_keys(args)
