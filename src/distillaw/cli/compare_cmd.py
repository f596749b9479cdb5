"""``distillaw compare``: rank saved fits of the same data by PSIS-LOO (``az.compare``)."""

from __future__ import annotations

from pathlib import Path

import typer

from ._app import app
from ._common import CLIError, emit_json, info


@app.command("compare")
def compare_command(
    posts: list[Path] = typer.Argument(..., metavar="POST...",
                                       help="Two or more folders of saved posteriors "
                                            "(distillaw fit --out), fitted on the same data."),
    names: str = typer.Option(None, "--names", help="Comma-separated labels, one per POST "
                              "(default: the folder names)."),
    method: str = typer.Option("stacking", "--method", help="Weights: stacking | "
                               "BB-pseudo-BMA | pseudo-BMA."),
    as_json: bool = typer.Option(False, "--json", help="Print the table as JSON."),
):
    """Rank fits by leave-one-out predictive accuracy (PSIS-LOO) with stacking weights.

    elpd_loo: expected log predictive density of a left-out run (log-loss scale; higher is
    better); d_loo: its difference to the best fit, with its standard error dse; p_loo: the
    effective number of parameters; weight: the stacking weight of each fit.

    Fit one table twice (e.g. --form chinchilla and --form busbridge, each with --out),
    then: distillaw compare FIT_A FIT_B --names chinchilla,busbridge. Posteriors saved
    before distillaw stored the pointwise log-likelihood are refused: refit them.
    """
    if len(posts) < 2:
        raise CLIError("compare needs at least two posterior folders")
    for p in posts:
        if not p.is_dir():
            raise CLIError(f"{p}: no such posterior folder")
    labels = [p.name or str(p) for p in posts]
    if names is not None:
        labels = [n.strip() for n in names.split(",")]
        if len(labels) != len(posts) or not all(labels):
            raise CLIError(f"--names {names!r}: give one non-empty label per POST "
                           f"({len(posts)})")
    if method not in ("stacking", "BB-pseudo-BMA", "pseudo-BMA"):
        raise CLIError(f"--method {method!r}: choose stacking, BB-pseudo-BMA or pseudo-BMA")
    from ..comparing import PARETO_K_BAD, compare
    from ..posterior import Posterior

    fits = [Posterior.load(p) for p in posts]
    table = compare(*fits, names=labels, method=method)
    rows = []
    for name, r in table.iterrows():
        rows.append({"fit": str(name), "rank": int(r["rank"]), "elpd_loo": float(r["elpd_loo"]),
                     "se": float(r["se"]), "d_loo": float(r["elpd_diff"]),
                     "dse": float(r["dse"]), "weight": float(r["weight"]),
                     "p_loo": float(r["p_loo"]), "pareto_k_max": float(r["pareto_k_max"]),
                     "n_pareto_k_bad": int(r["n_pareto_k_bad"])})
    warnings = [f"{r['fit']}: {r['n_pareto_k_bad']} rows with Pareto k > {PARETO_K_BAD} "
                "(their LOO terms are unreliable; refit with a robust likelihood or check "
                "those runs)" for r in rows if r["n_pareto_k_bad"]]
    if as_json:
        emit_json({"method": method, "ic": "loo", "scale": "log", "fits": rows,
                   "folders": {lab: str(p) for lab, p in zip(labels, posts, strict=True)},
                   "warnings": warnings})
        return 0
    width = max(len(r["fit"]) for r in rows + [{"fit": "fit"}])
    typer.echo(f"PSIS-LOO on {len(table.index)} fits (log score: higher elpd is better; "
               f"{method} weights)")
    typer.echo(f"{'fit':<{width}}  {'elpd_loo':>9} {'se':>7} {'d_loo':>8} {'dse':>7} "
               f"{'weight':>6} {'p_loo':>6} {'k>0.7':>5}")
    for r in rows:
        typer.echo(f"{r['fit']:<{width}}  {r['elpd_loo']:9.2f} {r['se']:7.2f} "
                   f"{r['d_loo']:8.2f} {r['dse']:7.2f} {r['weight']:6.3f} {r['p_loo']:6.2f} "
                   f"{r['n_pareto_k_bad']:5d}")
    for w in warnings:
        info(f"warning: {w}")
    return 0
