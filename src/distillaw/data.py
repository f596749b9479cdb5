"""The run table: one schema for every data point, validation, CSV/Parquet IO, atomic append.

One row is one finished (or, in a plan, one proposed) training run. Units: raw counts for
parameters and tokens, nats for losses, FLOPs for compute.

==============  ========  =====================================================================
column          required  meaning
==============  ========  =====================================================================
run_id          yes       unique id (appends are idempotent by run id)
kind            yes       ``supervised`` or ``distillation``
N               yes       non-embedding parameters of the trained model (the student for
                          distillation rows)
D               yes       tokens it was trained on (distillation tokens D_S for students)
L               yes       its held-out cross-entropy in nats (L_S for students); may be empty
                          in a plan (``require_loss=False``)
N_T, D_T        no        teacher size and pretraining tokens, where known
L_T             dist.     teacher cross-entropy; required on distillation rows of results
group           no        family / dataset / configuration for hierarchical models
                          (default ``"default"``)
teacher_id      no        id of the teacher run, so shared teachers are visible
seed            no        integer seed
flops           no        compute of the run (see :mod:`distillaw.laws.compute`)
source          no        where the row came from (file, paper, runner)
==============  ========  =====================================================================

Any other column is kept as is (the runner adds wall time, device, version, commit, ...).

Errors name the file, the row (1-based data row; CSV files also give the line) and the
column, and are raised as :class:`~distillaw.errors.RunTableError`.
"""

from __future__ import annotations

import csv
import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ._io import atomic_write, atomic_write_bytes, check_output_file, file_lock, storage_errors
from .errors import RunTableError

KINDS = ("supervised", "distillation")
REQUIRED = ("run_id", "kind", "N", "D", "L")
POSITIVE = ("N", "D", "L", "N_T", "D_T", "L_T", "flops")
NUMERIC_OPTIONAL = ("N_T", "D_T", "L_T", "flops", "seed")
TEXT_OPTIONAL = ("group", "teacher_id", "source")
CANONICAL = ("run_id", "kind", "group", "N", "D", "L", "N_T", "D_T", "L_T", "teacher_id",
             "seed", "flops", "source")
DEFAULT_GROUP = "default"
# Columns that define a run's result; used for the data hash recorded with a posterior.
HASHED = ("run_id", "kind", "group", "N", "D", "L", "N_T", "D_T", "L_T")
_NAN_TEXT = {"nan", "+nan", "-nan"}
# DataFrame.attrs key under which read_table records each data row's line in the CSV file.
LINES_ATTR = "distillaw_csv_lines"


@dataclass
class _Where:
    """Formats row references: CSV files report the line too (header is line 1)."""

    file: str | None
    is_csv: bool
    lines: list[int] | None = None

    def error(self, msg: str, i: int | None = None, column: str | None = None) -> RunTableError:
        line = None
        if i is not None and self.is_csv:
            line = self.lines[i] if self.lines is not None and i < len(self.lines) else i + 2
        return RunTableError(msg, file=self.file, row=None if i is None else i + 1,
                             column=column, line=line)


def _parse_numeric(series: pd.Series, col: str, where: _Where, required: bool) -> np.ndarray:
    """Parse a column to float64, raising on text, NaN in required columns, and inf."""
    if pd.api.types.is_bool_dtype(series):
        raise where.error("expected numbers, got booleans", 0, col)
    if pd.api.types.is_numeric_dtype(series):
        values = series.to_numpy(dtype=float, na_value=np.nan)
        missing = np.isnan(values)
        literal_nan = np.zeros(len(values), bool)
    else:
        text = series.astype("string").str.strip()
        empty = text.isna() | (text == "")
        values = pd.to_numeric(text.where(~empty, None), errors="coerce").to_numpy(
            dtype=float, na_value=np.nan)
        literal_nan = (text.str.lower().isin(_NAN_TEXT)).fillna(False).to_numpy(bool)
        bad = np.isnan(values) & ~empty.to_numpy(bool) & ~literal_nan
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise where.error(f"expected a number, got {text.iloc[i]!r}", i, col)
        missing = np.isnan(values)
    if np.isinf(values).any():
        i = int(np.flatnonzero(np.isinf(values))[0])
        raise where.error(f"value must be finite, got {values[i]}", i, col)
    if required and missing.any():
        i = int(np.flatnonzero(missing)[0])
        what = "NaN" if literal_nan[i] or pd.api.types.is_numeric_dtype(series) else "empty"
        raise where.error(f"missing value ({what})", i, col)
    return values


def _text(series: pd.Series) -> pd.Series:
    s = series.astype("string").str.strip()
    return s.mask(s.str.lower().isin(_NAN_TEXT), pd.NA).replace("", pd.NA)


def validate_runs(df: pd.DataFrame, *, file: str | os.PathLike | None = None,
                  require_loss: bool = True, is_csv: bool | None = None) -> pd.DataFrame:
    """Validate a run table and return it typed, in canonical column order.

    Parameters
    ----------
    df : DataFrame
        Raw table (strings are fine: numbers are parsed here).
    file : path, optional
        Named in error messages.
    require_loss : bool
        ``False`` for plans: ``L`` (and ``L_T`` of teachers still to be trained) may be empty,
        but then a distillation row needs ``N_T`` and ``D_T``.

    Raises
    ------
    RunTableError
        Missing column, non-numeric value, NaN/inf, N/D/loss <= 0, unknown kind, empty or
        duplicate run id, or teacher loss missing on a distillation row.

    Example
    -------
    >>> t = validate_runs(pd.DataFrame({"run_id": ["a"], "kind": ["supervised"],
    ...                                 "N": [1e8], "D": [2e9], "L": [3.1]}))
    >>> t.loc[0, "group"]
    'default'
    """
    fname = None if file is None else str(file)
    if is_csv is None:
        is_csv = fname is not None and fname.lower().endswith(".csv")
    if not isinstance(df, pd.DataFrame):
        raise RunTableError(f"expected a pandas DataFrame, got {type(df).__name__}", file=fname)
    # Physical CSV line of each data row, recorded by read_table (blank lines skipped by the
    # reader must not shift the lines errors report).
    lines = df.attrs.get(LINES_ATTR)
    if lines is not None and len(lines) != len(df):
        lines = None
    where = _Where(fname, is_csv, None if lines is None else list(lines))
    dup_cols = pd.Index(map(str, df.columns))
    if dup_cols.duplicated().any():
        name = dup_cols[dup_cols.duplicated()][0]
        raise RunTableError(f"duplicate column {name!r} in the header", file=fname,
                            column=name, line=1 if is_csv else None)
    df = df.reset_index(drop=True)
    for col in REQUIRED:
        if col not in df.columns:
            raise RunTableError(
                f"missing column (required: {', '.join(REQUIRED)}; found: "
                f"{', '.join(map(str, df.columns)) or 'none'})", file=fname, column=col)
    out = pd.DataFrame(index=df.index)

    run_id = _text(df["run_id"])
    if run_id.isna().any():
        raise where.error("empty run id", int(np.flatnonzero(run_id.isna())[0]), "run_id")
    dup = run_id.duplicated()
    if dup.any():
        i = int(np.flatnonzero(dup)[0])
        first = int(np.flatnonzero(run_id == run_id.iloc[i])[0])
        raise where.error(f"duplicate run id {run_id.iloc[i]!r} (first at row {first + 1})",
                          i, "run_id")
    out["run_id"] = run_id.astype(str)

    kind = _text(df["kind"]).str.lower()
    bad_kind = ~kind.isin(KINDS).fillna(False)
    if bad_kind.any():
        i = int(np.flatnonzero(bad_kind)[0])
        raise where.error(f"kind must be one of {', '.join(KINDS)}, got {df['kind'].iloc[i]!r}",
                          i, "kind")
    out["kind"] = kind.astype(str)
    is_dist = (out["kind"] == "distillation").to_numpy()

    group = _text(df["group"]) if "group" in df.columns else pd.Series(pd.NA, index=df.index)
    out["group"] = group.fillna(DEFAULT_GROUP).astype(str)

    numeric: dict[str, np.ndarray] = {}
    for col in ("N", "D", "L", "N_T", "D_T", "L_T", "flops", "seed"):
        if col in df.columns:
            required = col in ("N", "D") or (col == "L" and require_loss)
            numeric[col] = _parse_numeric(df[col], col, where, required)
        else:
            numeric[col] = np.full(len(df), np.nan)
    for col in POSITIVE:
        v = numeric[col]
        bad = ~np.isnan(v) & (v <= 0)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            noun = "loss" if col.startswith("L") else ("compute" if col == "flops" else col)
            raise where.error(f"{noun} must be > 0, got {v[i]:g}", i, col)
    seed = numeric["seed"]
    frac = ~np.isnan(seed) & (seed != np.round(seed))
    if frac.any():
        i = int(np.flatnonzero(frac)[0])
        raise where.error(f"seed must be an integer, got {seed[i]:g}", i, "seed")

    if is_dist.any():
        LT = numeric["L_T"]
        if require_loss:
            if "L_T" not in df.columns:
                raise where.error("missing column, required because distillation rows are "
                                  f"present (first at row {int(np.flatnonzero(is_dist)[0]) + 1})",
                                  None, "L_T")
            miss = is_dist & np.isnan(LT)
            if miss.any():
                raise where.error("teacher loss missing on a distillation row",
                                  int(np.flatnonzero(miss)[0]), "L_T")
        else:
            # A planned distillation with an unknown teacher loss must say which teacher to train.
            for col in ("N_T", "D_T"):
                miss = is_dist & np.isnan(LT) & np.isnan(numeric[col])
                if miss.any():
                    raise where.error(f"{col} needed on a planned distillation row whose teacher "
                                      "loss L_T is unknown", int(np.flatnonzero(miss)[0]), col)

    for col in ("N", "D", "L", "N_T", "D_T", "L_T"):
        out[col] = numeric[col]
    out["teacher_id"] = (_text(df["teacher_id"]) if "teacher_id" in df.columns
                         else pd.Series(pd.NA, index=df.index, dtype="string"))
    out["seed"] = pd.array(np.where(np.isnan(seed), 0, seed).astype(np.int64), dtype="Int64")
    out.loc[np.isnan(seed), "seed"] = pd.NA
    out["flops"] = numeric["flops"]
    out["source"] = (_text(df["source"]) if "source" in df.columns
                     else pd.Series(pd.NA, index=df.index, dtype="string"))
    extras = [c for c in df.columns if c not in CANONICAL]
    for c in extras:
        out[c] = _extra_column(df[c])
    return out


def _extra_column(col: pd.Series):
    """A column the schema does not name (the runner's ``train_ce``, ``mfu``, a user's
    notes), as written. CSV files are read as text (so the schema's own columns get exact
    row/column errors); a text column whose every non-blank value is a number is read back
    as numbers, so a table written and read again keeps its dtypes."""
    if col.dtype != object and not pd.api.types.is_string_dtype(col.dtype):
        return col.to_numpy()
    text = col.astype("string").str.strip()
    blank = text.isna() | (text == "")
    num = pd.to_numeric(text.where(~blank), errors="coerce")
    if (~blank).any() and not (num.isna() & ~blank).any():
        return num.to_numpy(float)
    return col.to_numpy()


def empty_runs() -> pd.DataFrame:
    """An empty, typed run table."""
    return validate_runs(pd.DataFrame({c: [] for c in REQUIRED}))


def _format_of(path: Path, format: str | None = None) -> str:
    if format is not None:
        return format
    suf = path.suffix.lower()
    if suf == ".csv":
        return "csv"
    if suf in (".parquet", ".pq"):
        return "parquet"
    raise RunTableError(f"unknown file type {suf!r}: use .csv or .parquet", file=str(path))


def read_table(path: str | os.PathLike) -> pd.DataFrame:
    """Read a CSV (all cells as text, so validation can quote them) or a Parquet file."""
    path = Path(path)
    if not path.exists():
        raise RunTableError("file not found", file=str(path))
    if path.is_dir():
        raise RunTableError("is a directory, expected a .csv or .parquet file", file=str(path))
    fmt = _format_of(path)
    try:
        if fmt == "csv":
            return _read_csv(path)
        return pd.read_parquet(path)
    except RunTableError:
        raise
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, OSError,
            ValueError, TypeError, KeyError, IndexError, OverflowError,
            MemoryError, csv.Error) as exc:
        # Parquet files from elsewhere can fail deep inside pyarrow with any of these; the
        # reader's contract is "a valid table or a RunTableError", never another exception.
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise RunTableError(f"cannot parse {fmt.upper()}: {reason}", file=str(path)) from None


def _read_csv(path: Path) -> pd.DataFrame:
    """All cells as text; duplicate header names are an error (pandas would rename the
    second ``L`` to ``L.1``); blank lines are dropped but each row keeps its file line."""
    import csv
    import io

    text = path.read_bytes().decode("utf-8-sig")
    header = next(csv.reader(io.StringIO(text)), None)
    if header is not None:
        names = [h.strip() for h in header]
        seen: set[str] = set()
        for h in names:
            if h in seen and h:
                raise RunTableError(f"duplicate column {h!r} in the header", file=str(path),
                                    column=h, line=1)
            seen.add(h)
    df = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, na_values=[],
                     skip_blank_lines=False)
    # Every data row is one physical line unless a quoted cell spans lines; a blank line
    # reads as a row with every cell empty (or NaN).
    blank = df.apply(lambda c: c.isna() | (c.astype(str).str.strip() == "")).all(axis=1)
    df = df.loc[~blank.to_numpy()].reset_index(drop=True)
    df.attrs[LINES_ATTR] = [int(i) + 2 for i in np.flatnonzero(~blank.to_numpy())]
    return df


def read_runs(path: str | os.PathLike, *, require_loss: bool = True) -> pd.DataFrame:
    """Read and validate a run table from CSV or Parquet."""
    path = Path(path)
    return validate_runs(read_table(path), file=path, require_loss=require_loss)


def _atomic_write(df: pd.DataFrame, path: Path) -> None:
    """Write a table through :func:`distillaw._io.atomic_write` (CSV or Parquet by suffix)."""
    if _format_of(path) == "csv":
        atomic_write_bytes(path, df.to_csv(index=False).encode())
    else:
        atomic_write(path, lambda fh: df.to_parquet(fh, index=False))


def write_runs(df: pd.DataFrame, path: str | os.PathLike, *, require_loss: bool = True) -> Path:
    """Validate and write a run table atomically (CSV or Parquet by suffix)."""
    path = Path(path)
    table = validate_runs(df, file=path, require_loss=require_loss)
    _atomic_write(table, path)
    return path


@dataclass
class AppendResult:
    """What :func:`append_runs` did."""

    path: Path
    added: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    total: int = 0


def append_runs(path: str | os.PathLike, rows: pd.DataFrame | list[dict] | dict, *,
                timeout: float | None = None) -> AppendResult:
    """Append finished runs to a run table: atomic, idempotent by run id, process-safe.

    Rows whose ``run_id`` is already in the table are skipped (a re-run of a finished run
    never duplicates it). The new rows are validated before anything is touched; the table
    is rewritten through a temporary file and ``os.replace`` while holding a file lock
    (``<path>.lock``), so two processes appending at once both land. The lock wait is
    bounded (``timeout`` seconds, default :data:`distillaw._io.LOCK_TIMEOUT`) and ends in a
    :class:`~distillaw.errors.StorageError` that says so.

    Example
    -------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "runs.csv"
    >>> row = {"run_id": "r1", "kind": "supervised", "N": 1e6, "D": 2e7, "L": 3.0}
    >>> append_runs(p, [row]).added, append_runs(p, [row]).skipped
    (['r1'], ['r1'])
    """
    path = Path(path)
    if isinstance(rows, dict):
        rows = [rows]
    new = pd.DataFrame(rows) if not isinstance(rows, pd.DataFrame) else rows
    new = validate_runs(new, file="<new rows>")
    check_output_file(path)  # before taking the lock: a read-only folder fails at once
    with storage_errors(path):
        path.parent.mkdir(parents=True, exist_ok=True)
    with file_lock(str(path) + ".lock", timeout, "run table"):
        old = read_runs(path) if path.exists() else None
        known = set() if old is None else set(old["run_id"])
        keep = ~new["run_id"].isin(known)
        result = AppendResult(path=path, added=list(new.loc[keep, "run_id"]),
                              skipped=list(new.loc[~keep, "run_id"]))
        if keep.any():
            combined = new[keep] if old is None else pd.concat([old, new[keep]],
                                                               ignore_index=True)
            combined = validate_runs(combined, file=path)
            _atomic_write(combined, path)
            result.total = len(combined)
        else:
            result.total = 0 if old is None else len(old)
    return result


def data_hash(df: pd.DataFrame) -> str:
    """SHA-256 of the result-defining columns, recorded with every posterior."""
    cols = [c for c in HASHED if c in df.columns]
    canon = df[cols].copy()
    for c in ("N", "D", "L", "N_T", "D_T", "L_T"):
        if c in canon:
            canon[c] = canon[c].map(lambda v: "" if pd.isna(v) else repr(float(v)))
    return hashlib.sha256(canon.to_csv(index=False).encode()).hexdigest()


def summarise_runs(df: pd.DataFrame) -> dict:
    """A small JSON-able summary: counts by kind and group, ranges of N, D, L."""
    out: dict = {"rows": int(len(df)),
                 "kinds": {k: int(v) for k, v in df["kind"].value_counts().items()},
                 "groups": {k: int(v) for k, v in df["group"].value_counts().items()}}
    for col in ("N", "D", "L", "L_T"):
        v = df[col].dropna()
        if len(v):
            out[col] = {"min": float(v.min()), "max": float(v.max())}
    return out
