"""``distillaw data validate|import|simulate``."""

from __future__ import annotations

from pathlib import Path

import typer

from .._io import check_output_dir, check_output_file
from ..data import summarise_runs, validate_runs, write_runs
from ..loaders import FORMATS, load
from ._app import data_app
from ._common import COLUMNS_HELP, CLIError, emit_json, info, parse_columns


def _check_format(fmt: str | None) -> None:
    if fmt is not None and fmt not in FORMATS:
        raise CLIError(f"unknown --format {fmt!r}; choose one of {', '.join(FORMATS)}")


@data_app.command("validate")
def validate(
    file: Path = typer.Argument(..., help="CSV or Parquet file: a run table or a public format."),
    format: str | None = typer.Option(None, "--format", help=f"force a format: {', '.join(FORMATS)}"),
    plan: bool = typer.Option(False, "--plan", help="validate as a plan (losses may be empty)."),
    columns: str | None = typer.Option(None, "--columns", help=COLUMNS_HELP),
    json_out: bool = typer.Option(False, "--json", help="print the summary as JSON."),
) -> None:
    """Validate FILE and print a summary, or a one-line error (exit code 2).

    Example: distillaw data validate data/runs/cpu_sweep.csv
    """
    _check_format(format)
    table = load(file, format=format, columns=parse_columns(columns), require_loss=not plan)
    summary = {"file": str(file), **summarise_runs(table)}
    if json_out:
        emit_json(summary)
        return
    print(f"{file}: {summary['rows']} valid rows")
    for k, v in summary["kinds"].items():
        print(f"  {k}: {v}")
    print(f"  groups: {len(summary['groups'])}" + (
        f" ({', '.join(list(summary['groups'])[:5])}{', ...' if len(summary['groups']) > 5 else ''})"))
    for col in ("N", "D", "L", "L_T"):
        if col in summary:
            print(f"  {col}: {summary[col]['min']:.4g} .. {summary[col]['max']:.4g}")


@data_app.command("import")
def import_(
    file: Path = typer.Argument(..., help="public table to convert (CSV or Parquet)."),
    out: Path = typer.Option(..., "--out", help="run table to write (.csv or .parquet)."),
    format: str | None = typer.Option(None, "--format", help=f"force a format: {', '.join(FORMATS)}"),
    drop_highest_loss: int = typer.Option(0, "--drop-highest-loss",
                                          help="Epoch formats: drop this many highest-loss rows (Epoch drop 5)."),
    columns: str | None = typer.Option(None, "--columns", help=COLUMNS_HELP),
) -> None:
    """Convert a public or plain table into a validated run table at OUT (written atomically)."""
    _check_format(format)
    if drop_highest_loss < 0:
        raise CLIError("--drop-highest-loss must be >= 0")
    check_output_file(out, f"--out {out}")  # before reading and converting
    table = load(file, format=format, drop_highest_loss=drop_highest_loss,
                 columns=parse_columns(columns))
    write_runs(validate_runs(table), out)
    info(f"wrote {len(table)} rows to {out}")


@data_app.command("simulate")
def simulate(
    out_dir: Path = typer.Option(Path("data/simulated"), "--out", help="folder for the shipped sets."),
) -> None:
    """Regenerate the shipped simulated sets (supervised.csv, distillation.csv + truth).

    Example: distillaw data simulate --out simulated
    """
    from ..simulate import write_shipped

    check_output_dir(out_dir, f"--out {out_dir}")

    for p in write_shipped(out_dir):
        info(f"wrote {p}")
