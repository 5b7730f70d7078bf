"""Helpers shared by the `semcom` subcommands."""
from __future__ import annotations

import json
import sys


def print_json(record: dict, stream=None) -> None:
    """One JSON object on one line (stdout by default), flushed."""
    print(json.dumps(record), file=stream or sys.stdout, flush=True)


def parse_param(text: str) -> tuple[str, object]:
    """KEY=VALUE with VALUE as JSON when it parses, else as a string."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise SystemExit(f"--param wants KEY=VALUE, got {text!r}")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value
