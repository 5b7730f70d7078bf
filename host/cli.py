"""The `semcom` command line. `semcom COMMAND --help` documents each command.

Each command is a module of :mod:`semcom_host.commands` (``register(subparsers)`` and
``run(args)``); this module only builds the parser from them and dispatches."""
from __future__ import annotations

import argparse
import importlib
import os
import sys

from . import __version__
from .commands import COMMANDS
from .commands.common import parse_param, print_json

__all__ = ["build_parser", "main", "parse_param", "print_json"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="semcom", description="gr-semcom: generative video semantic "
                                     "communication over GNU Radio. Run `semcom COMMAND --help`.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"{__package__}.commands.{name}").register(sub)
    return parser


def main(argv=None) -> int:
    # GNU Radio logs to stdout by default (Debian's gnuradio-runtime.conf); stdout is for results
    # (tables, --json), so block logs go to stderr unless the user configured otherwise.
    os.environ.setdefault("GR_CONF_LOG_LOG_FILE", "stderr")
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except ValueError as exc:  # bad user input: a clear message, not a traceback
        print(f"semcom {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
