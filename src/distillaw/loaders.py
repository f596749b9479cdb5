"""Loaders for public scaling-law tables, read from a path the user gives.

Formats (auto-detected by their columns; pass ``format=`` to force one):

=================  =======================================================  =====================
format             columns                                                   source
=================  =======================================================  =====================
``runs``           distillaw run table (see :mod:`distillaw.data`)          this package
``epoch-raw``      x, y, color, Model Size, Training FLOP, hex_color, loss  Epoch AI, digitised
                                                                             Chinchilla Fig. 4
``epoch-tidy``     N_params, D_tokens, C_flops, loss                        the same, tidied
``busbridge``      NS, DS, LT, LS                                           digitised Busbridge
                                                                             et al. 2025 figures
``porian``         source_file, config_index, dataset, hparams, ..., loss  Porian et al. 2024
                                                                             IsoFLOP points
=================  =======================================================  =====================

Every loader returns a validated run table. The public files themselves are not shipped
with distillaw: point the loader at your copy (tests read ``../shared/data``).

Example
-------
>>> from distillaw.loaders import load                                   # doctest: +SKIP
>>> table = load("shared/data/epoch_chinchilla/svg_extracted_data.csv",   # doctest: +SKIP
...              drop_highest_loss=5)
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from .data import read_table, validate_runs
from .errors import FormatError, RunTableError

SIGNATURES: dict[str, tuple[str, ...]] = {
    "epoch-raw": ("Model Size", "Training FLOP", "loss"),
    "epoch-tidy": ("N_params", "D_tokens", "C_flops", "loss"),
    "busbridge": ("NS", "DS", "LT", "LS"),
    "porian": ("config_index", "dataset", "hparams", "warmup", "decay", "param_count",
               "loss_split", "params", "tokens", "loss"),
    "runs": ("run_id", "kind", "N", "D", "L"),
}
FORMATS = tuple(SIGNATURES)
PORIAN_GROUP_COLUMNS = ("dataset", "hparams", "warmup", "decay", "param_count", "loss_split")


def detect_format(columns, file: str | None = None) -> str:
    """Name of the format whose signature columns are all present."""
    cols = set(map(str, columns))
    if {"run_id", "kind"} & cols:
        # Our own schema, possibly with a column missing: validation will name it.
        return "runs"
    hits = [name for name, sig in SIGNATURES.items() if set(sig) <= cols]
    if not hits:
        raise FormatError(
            f"{file + ': ' if file else ''}cannot recognise the table format from its columns "
            f"({', '.join(sorted(cols))}); known formats: {', '.join(FORMATS)} "
            "(use --format to force one)")
    # 'runs' wins when a file is already in our own schema.
    return "runs" if "runs" in hits else hits[0]


def _require(raw: pd.DataFrame, fmt: str, file: str) -> None:
    for col in SIGNATURES[fmt]:
        if col not in raw.columns:
            raise RunTableError(f"missing column for format '{fmt}'", file=file, column=col)


def _numeric(raw: pd.DataFrame, col: str, file: str) -> np.ndarray:
    """Parse one public column with the same checks and messages as the run table."""
    probe = pd.DataFrame({"run_id": [str(i) for i in range(len(raw))], "kind": "supervised",
                          "N": 1.0, "D": 1.0, "L": raw[col].to_numpy()})
    try:
        return validate_runs(probe, file=file).loc[:, "L"].to_numpy(float)
    except RunTableError as exc:
        raise RunTableError(exc.reason.replace("loss", "value"), file=file, row=exc.row,
                            column=col, line=exc.line) from None


def _epoch_raw(raw, file, drop_highest_loss=0):
    N = _numeric(raw, "Model Size", file)
    C = _numeric(raw, "Training FLOP", file)
    L = _numeric(raw, "loss", file)
    return _epoch(N, C, L, file, drop_highest_loss)


def _epoch_tidy(raw, file, drop_highest_loss=0):
    N = _numeric(raw, "N_params", file)
    C = _numeric(raw, "C_flops", file)
    L = _numeric(raw, "loss", file)
    return _epoch(N, C, L, file, drop_highest_loss)


def _epoch(N, C, L, file, drop_highest_loss):
    df = pd.DataFrame({
        "run_id": [f"epoch-{i:03d}" for i in range(len(N))], "kind": "supervised",
        "group": "chinchilla", "N": N, "D": C / (6.0 * N), "L": L, "flops": C,
        "source": f"epoch_chinchilla:{Path(file).name}",
    })
    if drop_highest_loss >= len(df):
        raise FormatError(f"{file}: drop_highest_loss={drop_highest_loss} would drop all "
                          f"{len(df)} rows")
    if drop_highest_loss:
        # Epoch AI exclude the 5 highest-loss points before fitting (n = 240).
        df = df.drop(index=df["L"].nlargest(drop_highest_loss).index)
    return df


def _busbridge(raw, file):
    NS, DS = _numeric(raw, "NS", file), _numeric(raw, "DS", file)
    LT, LS = _numeric(raw, "LT", file), _numeric(raw, "LS", file)
    return pd.DataFrame({
        "run_id": [f"busbridge-{Path(file).stem.split('-')[0]}-{i:03d}" for i in range(len(NS))],
        "kind": "distillation", "group": "busbridge2025", "N": NS, "D": DS, "L": LS, "L_T": LT,
        "source": f"busbridge_distillation_digitized:{Path(file).name}",
    })


def _porian(raw, file):
    N = _numeric(raw, "params", file)
    D = _numeric(raw, "tokens", file)
    L = _numeric(raw, "loss", file)
    flops = _numeric(raw, "flops", file) if "flops" in raw.columns else 6.0 * N * D
    group = raw[list(PORIAN_GROUP_COLUMNS)].astype(str).agg("/".join, axis=1)
    return pd.DataFrame({
        "run_id": [f"porian-{i:04d}" for i in range(len(N))], "kind": "supervised",
        "group": group.to_numpy(), "N": N, "D": D, "L": L, "flops": flops,
        "source": f"porian2024:{Path(file).name}",
        **{c: raw[c].to_numpy() for c in PORIAN_GROUP_COLUMNS},
    })


_CONVERTERS: dict[str, Callable] = {
    "epoch-raw": _epoch_raw, "epoch-tidy": _epoch_tidy, "busbridge": _busbridge,
    "porian": _porian,
}


def load(path: str | os.PathLike, format: str | None = None, *,
         drop_highest_loss: int = 0) -> pd.DataFrame:
    """Load a public table or a run table from ``path`` as a validated run table.

    Parameters
    ----------
    path : path
        CSV or Parquet file.
    format : str, optional
        One of :data:`FORMATS`; auto-detected from the columns when omitted.
    drop_highest_loss : int
        Epoch formats only: drop this many highest-loss rows (Epoch AI drop 5).
    """
    path = Path(path)
    raw = read_table(path)
    file = str(path)
    if format is None:
        format = detect_format(raw.columns, file)
    elif format not in SIGNATURES:
        raise FormatError(f"unknown format {format!r}; choose one of {', '.join(FORMATS)}")
    if drop_highest_loss and not format.startswith("epoch"):  # never silently ignored
        raise FormatError("drop_highest_loss applies only to the Epoch formats")
    if format == "runs":
        return validate_runs(raw, file=file)
    _require(raw, format, file)
    conv = _CONVERTERS[format]
    df = conv(raw, file, drop_highest_loss) if format.startswith("epoch") else conv(raw, file)
    return validate_runs(df.reset_index(drop=True), file=file, is_csv=False)
