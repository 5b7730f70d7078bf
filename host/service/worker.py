"""The scheme worker process (``python -m semcom_host.service.worker``), started by
:class:`~.isolation.WorkerProcess`; not a command for users.

Its stdin and stdout carry :func:`~.isolation.write_message` frames, nothing else: the first
message in is the configuration (JSON: limits, video path policy, instance token, scheme
modules), the first out is ``{"schemes": [...]}`` once they are loaded. Then each message in is
one request's raw parts, validated again here; each out is ``[{"code", "message"} JSON, *reply
parts]``. Whatever a library prints goes to stderr (file descriptor 1 is pointed there), so it
cannot corrupt the frames. The process exits at end of input.
"""
from __future__ import annotations

import importlib
import json
import logging
import os
import sys

from semcom_client.protocol import Limits, ProtocolError, parse_request

from .handlers import PathPolicy, answer, error_parts
from .isolation import read_message, write_message
from .registry import load_builtin_schemes, scheme_names


def _protocol_files():
    """(in, out) binary files on the original stdin/stdout; fds 0 and 1 become /dev/null and stderr."""
    fin = os.fdopen(os.dup(0), "rb", buffering=0)
    fout = os.fdopen(os.dup(1), "wb", buffering=1 << 20)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return fin, fout


def main() -> int:
    fin, fout = _protocol_files()
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s semcom.worker[%(process)d]: %(message)s")
    log = logging.getLogger("semcom.service.worker")
    first = read_message(fin, 1, 1 << 20)
    if first is None:
        return 1
    config = json.loads(first[0])
    limits = Limits(**config["limits"])
    policy = PathPolicy(config["video_root"], allow_any=config["allow_any"])
    instance = config["instance"]
    load_builtin_schemes()
    for mod in config["scheme_modules"]:
        importlib.import_module(mod)
    write_message(fout, [json.dumps({"schemes": sorted(scheme_names())}).encode()])
    max_parts = limits.max_buffers + 1
    max_bytes = limits.max_message_bytes + limits.max_header_bytes
    while True:
        try:
            parts = read_message(fin, max_parts, max_bytes)
        except ValueError as exc:  # the service sent what its own limits forbid: give up on the stream
            log.error("unreadable request from the service: %s", exc)
            return 2
        if parts is None:
            return 0
        try:
            req = parse_request(parts, limits)
        except ProtocolError as err:
            reply, code, msg = error_parts(instance, None, None, err), err.code, err.message
        else:
            reply, code, msg = answer(req, limits, policy, instance, log)
        write_message(fout, [json.dumps({"code": code, "message": msg}).encode(), *reply])


if __name__ == "__main__":
    sys.exit(main())
