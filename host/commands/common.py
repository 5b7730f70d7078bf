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


#: command-line options for single radio impairments: (option, keyword of scenario_settings, type, help)
IMPAIRMENT_OPTIONS = (
    ("--dc-dbc", "dc_dbc", float, "DC offset (LO leakage), dB below the signal power, e.g. -20"),
    ("--iq-gain-db", "iq_gain_db", float, "receive IQ amplitude imbalance, dB (|.| <= 6)"),
    ("--iq-phase-deg", "iq_phase_deg", float, "receive IQ phase imbalance, degrees (|.| < 45)"),
    ("--phase-noise-hz", "phase_noise_hz", float, "Wiener phase-noise linewidth, Hz at the scenario's sample rate"),
    ("--clip", "clip", float, "PA saturation, multiples of the RMS amplitude (ideal clipper unless --rapp-p)"),
    ("--rapp-p", "rapp_p", float, "Rapp PA smoothness p (with --clip)"),
    ("--adc-bits", "adc_bits", int, "ADC bits per axis (1..24)"),
    ("--adc-full-scale", "adc_full_scale", float, "ADC full scale per axis, in units of the unit-RMS samples "
                                                  "(default 4)"),
    ("--sro-ppm", "sro_ppm", float, "sample-rate offset, ppm"),
)


def add_impairment_arguments(parser) -> None:
    """The single radio impairments as options of ``parser`` (a group "radio impairments")."""
    radio = parser.add_argument_group("radio impairments", "added to, or replacing, those of the --channel scenario")
    for option, dest, kind, text in IMPAIRMENT_OPTIONS:
        radio.add_argument(option, dest=dest, type=kind, default=None, help=text)


def impairments_of(args) -> dict:
    """The impairments given on the command line (scenario_settings keywords; None: not given)."""
    return {dest: getattr(args, dest) for _, dest, _, _ in IMPAIRMENT_OPTIONS if getattr(args, dest) is not None}
