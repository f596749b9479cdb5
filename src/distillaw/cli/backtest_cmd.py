"""``distillaw backtest``: fit on all but a held-out region, score the predictive intervals."""

from __future__ import annotations

from pathlib import Path

import typer

from ._app import app
from ._common import COLUMNS_HELP, CLIError, emit_json, info, parse_columns

_HOLDOUT_HELP = ("top-compute:K (the K largest compute budgets; 6ND, the student's for "
                 "distillation rows), top-size:K, group:NAME, or a file of rows (rows also in "
                 "DATA are held out of the fit; others are scored as extra test rows).")


@app.command("backtest")
def backtest_command(
    data: Path = typer.Argument(..., metavar="DATA", help="Run table or public table "
                                "(CSV/Parquet)."),
    holdout: str = typer.Option(..., "--holdout", help=_HOLDOUT_HELP),
    law: str = typer.Option("supervised", "--law", help="supervised | distillation"),
    form: str = typer.Option(None, "--form", help="chinchilla | busbridge (default busbridge)"),
    group: str = typer.Option(None, "--group", help="Column to pool over (hierarchical)."),
    error: str = typer.Option(None, "--error", help="Error model passed to fit: iid | "
                              "heteroscedastic | structured | gp."),
    likelihood: str = typer.Option("student_t", "--likelihood", help="student_t | normal"),
    extrapolation: str = typer.Option(None, "--extrapolation", help="auto | calibrate | none: "
                                      "learn how the error grows away from the data by "
                                      "leaving the training rows' largest out (fit's default "
                                      "auto: tables of 50+ rows)."),
    format: str = typer.Option(None, "--format", help="Force the input format."),
    columns: str = typer.Option(None, "--columns", help=COLUMNS_HELP),
    draws: int = typer.Option(500, "--draws", min=1, help="Draws per chain after tuning."),
    tune: int = typer.Option(500, "--tune", min=0, help="Tuning steps per chain."),
    chains: int = typer.Option(4, "--chains", min=1, help="Number of chains."),
    seed: int = typer.Option(0, "--seed", help="Random seed (fit, predictive draws, bootstrap)."),
    sampler: str = typer.Option("nutpie", "--sampler", help="nutpie | pymc | numpyro"),
    peers: bool = typer.Option(True, "--peers/--no-peers", help="Also score Huber + bootstrap."),
    boot: int = typer.Option(1000, "--boot", min=2, help="Bootstrap refits of the peers' method."),
    grid: str = typer.Option("full", "--grid", help="Peers' grid of starts: full | coarse."),
    budget_tol: float = typer.Option(0.05, "--budget-tol", help="Bandwidth in decades that "
                                     "finds the budgets: compute values (or sizes) pile up "
                                     "around each; a budget has 3+ runs."),
    drop_highest_loss: int = typer.Option(0, "--drop-highest-loss", min=0, help="Epoch formats: "
                                          "drop this many highest-loss rows (Epoch drop 5)."),
    as_json: bool = typer.Option(False, "--json", help="Print the scores as JSON."),
):
    """Backtest: how well do the predictive intervals cover held-out runs (vs the peers)?

    Example: distillaw backtest data/simulated/supervised.csv --holdout top-compute:2
    --law supervised --draws 200 --tune 200 --chains 2 --boot 50 --grid coarse
    """
    from .fit_cmd import FORMS, LIKELIHOODS, SAMPLERS, _choice

    _choice(law, ("supervised", "distillation"), "law")
    _choice(form, FORMS, "form")
    _choice(sampler, SAMPLERS, "sampler")
    _choice(likelihood, LIKELIHOODS, "likelihood")
    _choice(grid, ("full", "coarse"), "grid")
    from ..sampling import EXTRAPOLATION

    _choice(extrapolation, EXTRAPOLATION, "extrapolation")
    if not budget_tol > 0:
        raise CLIError(f"--budget-tol must be > 0, got {budget_tol}")
    if not data.is_file():
        raise CLIError(f"{data}: no such data file")
    mapping = parse_columns(columns)

    from ..backtesting import backtest

    if not as_json:
        info(f"backtest of the {law} law on {data}, hold-out {holdout} "
             f"({chains} chains x {draws} draws{', + Huber/bootstrap' if peers else ''})")
    from ..sampling.groups import one_shot

    with one_shot():  # one or two fits in this process: no PyTensor C module index
        res = backtest(data, holdout, law, form=form, group=group, error=error,
                       likelihood=likelihood, sampler=sampler, draws=draws, tune=tune,
                       chains=chains, seed=seed, peers=peers, n_boot=boot, grid=grid,
                       budget_tol=budget_tol, format=format, columns=mapping,
                       drop_highest_loss=drop_highest_loss, extrapolation=extrapolation)
    if as_json:
        emit_json(res.to_dict())
    else:
        typer.echo(res.table())
    return 0
