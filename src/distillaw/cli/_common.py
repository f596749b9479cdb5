"""Helpers shared by the CLI commands: JSON output, one-line errors, progress."""

from __future__ import annotations

import sys
from typing import Any

from ..errors import DistillawError


class CLIError(DistillawError):
    """Bad command-line input detected by the CLI itself (exit code 2)."""


def emit_json(obj: Any) -> None:
    """Print one JSON document on stdout (machine-readable output of ``--json``)."""
    from .._io import to_json

    # NaN/inf are an error (DistillawError naming the key), never printed as NaN.
    sys.stdout.write(to_json(obj, indent=2) + "\n")
    sys.stdout.flush()


def info(msg: str) -> None:
    """Human-readable progress/info goes to stderr, so stdout stays clean for --json."""
    sys.stderr.write(msg + "\n")
    sys.stderr.flush()


COLUMNS_HELP = ("Source column of each run-table column of a plain table, e.g. "
                "L=val/loss,N=params (common names like params, tokens, loss need none).")


def parse_columns(spec: str | None) -> dict | None:
    """``L=val/loss,N=params`` -> ``{"L": "val/loss", "N": "params"}``."""
    if spec is None:
        return None
    out = {}
    for part in spec.split(","):
        key, sep, col = part.partition("=")
        if not sep or not key.strip() or not col.strip():
            raise CLIError(f"--columns {spec!r}: expected NAME=COLUMN pairs separated by "
                           "commas, e.g. L=val/loss,N=params")
        out[key.strip()] = col.strip()
    return out
