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
``plain``          any table with N, D and loss columns under common names   your own logs
                   (see below), or named with ``columns=``
=================  =======================================================  =====================

Plain tables (and run tables) may use these common names; the run-table name wins where both
are present, and two aliases of one column are an error (name one with ``columns=``):

- ``N``: ``params``, ``n_params``, ``model_size``; ``D``: ``tokens``, ``n_tokens``;
- ``L``: ``loss``, ``val_loss``; ``L_T``: ``teacher_loss``; ``N_T``: ``teacher_params``,
  ``teacher_n_params``; ``D_T``: ``teacher_tokens``, ``teacher_n_tokens``; ``group``.

``columns={"L": "val/loss", "N": "params"}`` (CLI ``--columns L=val/loss,N=params``) names
the source column of any run-table column explicitly. Without ``run_id`` each row gets a
stable one (``row-`` + a hash of its values); without ``kind`` a row with a teacher (a
teacher loss, or a teacher size for a plan) is a distillation row, any other supervised.

Every loader returns a validated run table. The public files themselves are not shipped
with distillaw: point the loader at your copy (tests read ``../shared/data``).

Example
-------
>>> from distillaw.loaders import load                                   # doctest: +SKIP
>>> table = load("shared/data/epoch_chinchilla/svg_extracted_data.csv",   # doctest: +SKIP
...              drop_highest_loss=5)
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Mapping
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
FORMATS = (*SIGNATURES, "plain")
# Common names of run-table columns in other people's logs (matched case-insensitively).
ALIASES: dict[str, tuple[str, ...]] = {
    "N": ("params", "n_params", "model_size"),
    "D": ("tokens", "n_tokens"),
    "L": ("loss", "val_loss"),
    "L_T": ("teacher_loss",),
    "N_T": ("teacher_params", "teacher_n_params"),
    "D_T": ("teacher_tokens", "teacher_n_tokens"),
    "group": (),
}
MAPPABLE = ("run_id", "kind", "group", "N", "D", "L", "N_T", "D_T", "L_T", "teacher_id",
            "seed", "flops", "source")
PORIAN_GROUP_COLUMNS = ("dataset", "hparams", "warmup", "decay", "param_count", "loss_split")


def detect_format(columns, file: str | None = None) -> str:
    """Name of the format whose signature columns are all present."""
    cols = set(map(str, columns))
    if {"run_id", "kind"} & cols:
        # Our own schema, possibly with a column missing: validation will name it.
        return "runs"
    hits = [name for name, sig in SIGNATURES.items() if set(sig) <= cols]
    if not hits and _resolve(cols, None, file) is not None:
        return "plain"
    if not hits:
        raise FormatError(
            f"{file + ': ' if file else ''}cannot recognise the table format from its columns "
            f"({', '.join(sorted(cols))}); known formats: {', '.join(FORMATS)}; a plain "
            "table needs N, D and loss columns (e.g. params, tokens, loss) or --columns "
            "L=...,N=...,D=...")
    # 'runs' wins when a file is already in our own schema.
    return "runs" if "runs" in hits else hits[0]


def _explicit_columns(columns: Mapping[str, str] | None, allowed, cols: list[str],
                      file: str | None, what: str) -> dict[str, str]:
    """An explicit ``--columns`` mapping (our name -> source column), checked: an unknown
    name is a :class:`FormatError`, a missing source column a :class:`RunTableError`."""
    out: dict[str, str] = {}
    for key, src in (columns or {}).items():
        if key not in allowed:
            raise FormatError(f"--columns: unknown {what} column {key!r}; choose from "
                              f"{', '.join(allowed)}")
        if src not in cols:
            raise RunTableError(f"--columns {key}={src}: no such column (found: "
                                f"{', '.join(cols)})", file=file, column=src)
        out[key] = src
    return out


def _resolve(cols, columns: Mapping[str, str] | None, file: str | None,
             strict: bool = False) -> dict[str, str] | None:
    """Map run-table names to source columns: explicit ``columns`` first, then the exact
    run-table name, then a common alias (case-insensitive).

    Returns ``None`` when N and D cannot be found (``strict=False``: format detection), and
    raises :class:`RunTableError` naming the column otherwise.
    """
    cols = list(map(str, cols))
    present = set(cols)
    lower: dict[str, list[str]] = {}
    for c in cols:
        lower.setdefault(c.lower(), []).append(c)
    out = _explicit_columns(columns, MAPPABLE, cols, file, "run-table")
    taken = set(out.values())
    for key in MAPPABLE:
        if key in out:
            continue
        if key in present and key not in taken:
            out[key] = key
            continue
        hits = [c for a in ALIASES.get(key, ()) for c in lower.get(a, []) if c not in taken]
        if len(hits) > 1:
            raise RunTableError(f"ambiguous: columns {', '.join(repr(h) for h in hits)} could "
                                f"each be {key!r}; name one with --columns {key}=...",
                                file=file, column=key)
        if hits:
            out[key] = hits[0]
    if not {"N", "D"} <= set(out):
        if not strict:
            return None
        miss = "N" if "N" not in out else "D"
        names = ", ".join((miss, *ALIASES[miss]))
        raise RunTableError(f"missing column (looked for {names}; or name it with --columns "
                            f"{miss}=...)", file=file, column=miss)
    return out


def _row_ids(df: pd.DataFrame) -> list[str]:
    """Stable ids from the row's values (``row-`` + 12 hex of SHA-256); identical rows get
    ``-2``, ``-3``, ... in order, so re-reading the same file gives the same ids."""
    keys = [c for c in ("kind", "group", "N", "D", "L", "N_T", "D_T", "L_T", "seed")
            if c in df.columns]
    seen: dict[str, int] = {}
    out = []
    for vals in df[keys].astype(str).itertuples(index=False):
        h = hashlib.sha256("\x1f".join(f"{k}={v.strip()}" for k, v in zip(keys, vals,
                                                                            strict=True))
                           .encode()).hexdigest()[:12]
        seen[h] = seen.get(h, 0) + 1
        out.append(f"row-{h}" if seen[h] == 1 else f"row-{h}-{seen[h]}")
    return out


def _plain(raw: pd.DataFrame, file: str | None, columns: Mapping[str, str] | None,
           require_loss: bool) -> pd.DataFrame:
    """A table under our names, common aliases or an explicit mapping -> run-table columns.

    Columns not used as a run-table column are kept as they are.
    """
    mapping = _resolve(raw.columns, columns, file, strict=True)
    used = set(mapping.values())
    df = pd.DataFrame({key: raw[src].to_numpy() for key, src in mapping.items()},
                      index=raw.index)
    for c in raw.columns:
        if c not in used and c not in df.columns:
            df[c] = raw[c].to_numpy()
    if "L" not in df.columns:
        if require_loss:
            raise RunTableError(f"missing column (looked for L, {', '.join(ALIASES['L'])}; or "
                                "name it with --columns L=...)", file=file, column="L")
        df["L"] = ""
    if "kind" not in df.columns:
        # A teacher on the row (its measured loss, or for a plan its size) = distillation.
        has = np.zeros(len(df), bool)
        for col in ("L_T",) if require_loss else ("L_T", "N_T"):
            if col in df.columns:
                txt = df[col].astype("string").str.strip()
                has |= (txt.notna() & (txt != "") & ~txt.str.lower().isin(
                    ("nan", "+nan", "-nan"))).fillna(False).to_numpy(bool)
        df.insert(0, "kind", np.where(has, "distillation", "supervised"))
    if "run_id" not in df.columns:
        df.insert(0, "run_id", _row_ids(df))
    return df


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


def load(path: str | os.PathLike | pd.DataFrame, format: str | None = None, *,
         drop_highest_loss: int = 0, columns: Mapping[str, str] | None = None,
         require_loss: bool = True) -> pd.DataFrame:
    """Load a public table, a plain table or a run table as a validated run table.

    This is the one reader every command uses (fit, predict, plan, backtest, data).

    Parameters
    ----------
    path : path or DataFrame
        CSV or Parquet file (or a DataFrame of the same columns).
    format : str, optional
        One of :data:`FORMATS`; auto-detected from the columns when omitted.
    drop_highest_loss : int
        Epoch formats only: drop this many highest-loss rows (Epoch AI drop 5).
    columns : mapping, optional
        Run-table name -> source column, e.g. ``{"L": "val/loss", "N": "params"}``; implies
        the ``plain`` format (our names and common aliases fill in the rest).
    require_loss : bool
        ``False`` for points, pools and plans: the loss may be missing or empty.

    Example
    -------
    >>> import pandas as pd
    >>> t = load(pd.DataFrame({"params": [1e8, 4e8], "tokens": [2e9, 8e9],
    ...                        "val/loss": [3.1, 2.8]}), columns={"L": "val/loss"})
    >>> list(t["kind"]), bool(t["run_id"].str.startswith("row-").all())
    (['supervised', 'supervised'], True)
    """
    if isinstance(path, pd.DataFrame):
        raw, file = path.reset_index(drop=True), None
        is_csv = False
    else:
        path = Path(path)
        raw = read_table(path)
        file = str(path)
        is_csv = path.suffix.lower() == ".csv"
    if format is None:
        format = "plain" if columns else detect_format(raw.columns, file)
    elif format not in FORMATS:
        raise FormatError(f"unknown format {format!r}; choose one of {', '.join(FORMATS)}")
    if columns and format not in ("plain", "runs"):
        raise FormatError(f"columns= applies to plain tables and run tables, not the "
                          f"{format!r} format")
    if drop_highest_loss and not format.startswith("epoch"):
        raise FormatError("drop_highest_loss applies only to the Epoch formats")
    if format in ("runs", "plain"):
        df = _plain(raw, file, columns, require_loss)
        return validate_runs(df, file=file, require_loss=require_loss, is_csv=is_csv)
    if file is None:
        raise FormatError(f"the {format!r} format is read from a file, not a DataFrame")
    _require(raw, format, file)
    conv = _CONVERTERS[format]
    df = conv(raw, file, drop_highest_loss) if format.startswith("epoch") else conv(raw, file)
    return validate_runs(df.reset_index(drop=True), file=file, is_csv=False)


# ---------------------------------------------------------------------------- teachers
TEACHER_COLUMNS = ("teacher_id", "N_T", "D_T", "L_T")
# A table of trained models may also name the teacher's own size, tokens and loss N, D, L
# (e.g. a run table of teachers): used only when the teacher names are absent.
_TEACHER_OWN = {"N_T": "N", "D_T": "D", "L_T": "L"}


def load_teachers(path: str | os.PathLike | pd.DataFrame, *,
                  columns: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Read a table of existing teachers (checkpoints already trained).

    Columns (our names, their common aliases, or named with ``columns=`` as in
    :func:`load`): ``N_T`` (non-embedding parameters), ``D_T`` (pretraining tokens) and/or
    ``L_T`` (measured held-out cross-entropy, nats), plus an optional ``teacher_id`` (or
    ``run_id`` / ``name``). Each row needs ``L_T``, or ``N_T`` and ``D_T`` (then its loss
    is predicted by the supervised law on every posterior draw). Without teacher columns,
    the models' own ``N, D, L`` are read as the teacher's; so are a run table's (a table with
    a ``kind`` column, such as the runner's): its supervised rows, the models trained from
    data, are the teachers.

    Returns a DataFrame with ``teacher_id, N_T, D_T, L_T`` (floats, NaN where unknown).
    Bad input raises :class:`RunTableError` naming the file, row and column.

    Example
    -------
    >>> t = load_teachers(pd.DataFrame({"name": ["t1", "t2"], "N_T": [1e9, 3e9],
    ...                                 "D_T": [2e10, 6e10], "L_T": [2.4, None]}))
    >>> list(t["teacher_id"]), t["L_T"].isna().tolist()
    (['t1', 't2'], [False, True])
    """
    from .data import LINES_ATTR, _parse_numeric, _text, _Where

    if isinstance(path, pd.DataFrame):
        raw, file, is_csv = path.reset_index(drop=True), None, False
    else:
        p = Path(path)
        raw, file, is_csv = read_table(p), str(p), p.suffix.lower() == ".csv"
    where = _Where(file, is_csv, raw.attrs.get(LINES_ATTR))
    cols = [str(c) for c in raw.columns]
    lower: dict[str, list[str]] = {}
    for c in cols:
        lower.setdefault(c.lower(), []).append(c)
    own = {v: k for k, v in _TEACHER_OWN.items()}
    mapping = _explicit_columns({own.get(k, k): v for k, v in (columns or {}).items()},
                                TEACHER_COLUMNS, cols, file, "teacher")

    def find(key: str) -> str | None:
        hits = ([key] if key in cols else []) or [
            c for a in ALIASES.get(key, ()) for c in lower.get(a, [])]
        if len(hits) > 1:
            raise RunTableError(f"ambiguous: columns {', '.join(map(repr, hits))} could each "
                                f"be {key!r}; name one with --columns {key}=...",
                                file=file, column=key)
        return hits[0] if hits else None

    # A run table (it has a kind column) lists trained models under N, D, L, and students'
    # teachers under N_T, D_T, L_T: its supervised rows are the teachers.
    run_table = "kind" in cols and not mapping and find("N") is not None
    if not run_table:
        for key in ("N_T", "D_T", "L_T"):
            if key not in mapping and (src := find(key)) is not None:
                mapping[key] = src
    own = not any(k in mapping for k in ("N_T", "D_T", "L_T"))
    if own:
        for key, alias in _TEACHER_OWN.items():
            if (src := find(alias)) is not None:
                mapping[key] = src
    if not any(k in mapping for k in ("N_T", "D_T", "L_T")):
        raise RunTableError("no teacher columns: give L_T (measured loss) or N_T and D_T "
                            "(size, tokens), or name them with --columns N_T=...",
                            file=file, column="N_T")
    if "teacher_id" not in mapping:
        for c in (("run_id",) if run_table else ("teacher_id", "run_id", "name", "id")):
            if c in cols:
                mapping["teacher_id"] = c
                break
    keep = np.ones(len(raw), bool)
    if own and "kind" in cols:
        # A run table: its distillation rows are students, not models trained from data.
        keep = (_text(raw["kind"]).str.lower() == "supervised").fillna(False).to_numpy(bool)
    if not keep.any():
        raise RunTableError("no teachers in the table (no rows, or no supervised rows)",
                            file=file)
    out = pd.DataFrame(index=raw.index)
    for key in ("N_T", "D_T", "L_T"):
        if key in mapping:
            src = mapping[key]
            vals = _parse_numeric(raw[src], src, where, required=False)
            bad = keep & ~np.isnan(vals) & (vals <= 0)
            if bad.any():
                i = int(np.flatnonzero(bad)[0])
                raise where.error(f"must be positive, got {vals[i]:g}", i, src)
            out[key] = vals
        else:
            out[key] = np.nan
    for i in np.flatnonzero(keep):
        if np.isnan(out["L_T"].iloc[i]) and (np.isnan(out["N_T"].iloc[i])
                                            or np.isnan(out["D_T"].iloc[i])):
            miss = "N_T" if np.isnan(out["N_T"].iloc[i]) else "D_T"
            raise where.error("a teacher needs its measured loss L_T, or its size N_T and "
                              "tokens D_T to predict it", int(i), mapping.get(miss, miss))
    if "teacher_id" in mapping:
        ids = _text(raw[mapping["teacher_id"]])
        ids = [f"teacher-{i + 1}" if pd.isna(v) else str(v) for i, v in enumerate(ids)]
    else:
        ids = [f"teacher-{i + 1}" for i in range(len(raw))]
    out.insert(0, "teacher_id", ids)
    out = out.loc[keep].reset_index(drop=True)
    dup = out["teacher_id"].duplicated()
    if dup.any():
        i = int(np.flatnonzero(dup.to_numpy())[0])
        raise RunTableError(f"duplicate teacher id {out['teacher_id'].iloc[i]!r}", file=file,
                            column=mapping.get("teacher_id", "teacher_id"))
    return out
