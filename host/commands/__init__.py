"""The `semcom` subcommands, one module each (as diffusers' CLI does).

Each module named in :data:`COMMANDS` has

- ``register(subparsers)``: adds its parser to the ``semcom`` subparsers and sets ``func``
  (``parser.set_defaults(func=run)``);
- ``run(args) -> int``: runs the command for the parsed arguments and returns the exit status.

:func:`semcom_host.cli.build_parser` registers them in the order of :data:`COMMANDS`, which is
the order `semcom --help` lists them. Shared helpers are in :mod:`.common`. Commands import the
layers below them (experiments, service, ...), never the other way round.
"""
from __future__ import annotations

#: command modules, in the order `semcom --help` lists them
COMMANDS = ("ber", "bench", "link", "run", "demo", "sweep", "serve", "keys", "train", "eval", "calibrate", "models")
