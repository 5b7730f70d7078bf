"""Command-line arguments of `semcom serve` and `semcom keys` (used by
:mod:`semcom_host.commands.serve` and :mod:`semcom_host.commands.keys`).

``python -m semcom_host.service serve|keys ...`` runs the same functions.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys

from semcom_client.protocol import Limits

from .server import DEFAULT_ADDRESS

__all__ = ["add_serve_arguments", "run_serve", "add_keys_arguments", "run_keys", "main"]


def add_serve_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--address", default=DEFAULT_ADDRESS,
                   help=f"endpoint to bind, tcp://HOST:PORT or ipc://PATH (default {DEFAULT_ADDRESS}); any "
                        "non-loopback address needs --keys")
    p.add_argument("--keys", metavar="DIR", help="CURVE keys directory (made by `semcom keys`): server.key_secret "
                                                 "and authorized/*.key")
    p.add_argument("--require-curve", action="store_true", help="refuse to start without --keys even on loopback")
    p.add_argument("--workers", type=int, default=1, help="worker threads for encode/decode (default 1)")
    p.add_argument("--no-isolate", dest="isolate", action="store_false",
                   help="run schemes on the worker threads of the service's own process (default: in worker "
                        "processes, so that a crash inside a codec costs one reply, not the service)")
    p.add_argument("--video-root", metavar="DIR", help="encode-by-path requests may only read videos under DIR "
                                                       "(without it: any path on loopback, none otherwise)")
    p.add_argument("--scheme-module", action="append", default=[], metavar="MODULE",
                   help="import MODULE before serving (it registers schemes); repeatable")
    p.add_argument("--max-message-mb", type=int, default=Limits.max_message_bytes >> 20,
                   help=f"largest request, all parts together, MiB (default {Limits.max_message_bytes >> 20})")
    p.add_argument("--max-frames", type=int, default=Limits.max_frames,
                   help=f"most frames per request or video (default {Limits.max_frames})")
    p.add_argument("--max-pending", type=int, help="encode/decode requests waiting or running before 'busy' "
                                                   "(default 4 x workers)")
    p.add_argument("--log-level", default="INFO", choices=("DEBUG", "INFO", "WARNING", "ERROR"))
    p.add_argument("--json", action="store_true", help="print the final counters as one JSON object on exit")


def run_serve(args) -> int:
    from .server import serve

    logging.basicConfig(level=getattr(logging, args.log_level), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    limits = Limits(max_message_bytes=args.max_message_mb << 20, max_frames=args.max_frames)

    def ready(endpoint):
        print(f"semcom service listening on {endpoint}", flush=True)

    stats = serve(args.address, keys_dir=args.keys, workers=args.workers, require_curve=args.require_curve,
                  limits=limits, video_root=args.video_root, scheme_modules=args.scheme_module,
                  max_pending=args.max_pending, isolate=args.isolate, on_ready=ready)
    if args.json:
        print(json.dumps(stats), flush=True)
    return 0


def add_keys_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dir", required=True, metavar="DIR", help="keys directory to create or complete")
    p.add_argument("--client", action="append", metavar="NAME",
                   help="client key pair to make and authorise (repeatable; default: one named 'client')")
    p.add_argument("--force", action="store_true", help="replace existing key pairs")
    p.add_argument("--json", action="store_true", help="print the files written as JSON")


def run_keys(args) -> int:
    from semcom_client.keys import generate_keys

    out = generate_keys(args.dir, clients=args.client or ["client"], force=args.force)
    if args.json:
        print(json.dumps(out))
    else:
        print(f"server public key: {out['server']} (give it to clients)")
        for name, path in out["clients"].items():
            print(f"client {name!r}: secret key {path} (give it to that client only)")
        print(f"authorised client keys: {out['authorized']}")
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m semcom_host.service",
                                     description="semantic encode/decode service over ZeroMQ")
    sub = parser.add_subparsers(dest="command", required=True)
    add_serve_arguments(sub.add_parser("serve", help="run the service"))
    add_keys_arguments(sub.add_parser("keys", help="make CURVE keys"))
    args = parser.parse_args(argv)
    try:
        return run_serve(args) if args.command == "serve" else run_keys(args)
    except ValueError as exc:  # KeysError and bad limits: a clear message, no traceback
        print(f"error: {exc}", file=sys.stderr)
        return 2
