"""``distillaw plan``: choose the next runs from a pool, write a plan the runner executes."""

from __future__ import annotations

from pathlib import Path

import typer

from ._app import app
from ._common import CLIError, emit_json, info

_TARGET_HELP = ("allocation (student loss at the allocation distillaw would choose for "
                "--alloc-budget), teacher (optimal teacher size for --student), or a CSV of "
                "target points (run table, digitised Busbridge table, or columns N, D[, N_T, "
                "D_T | L_T]).")


@app.command("plan")
def plan_command(
    model_dir: Path = typer.Argument(..., help="saved posterior (distillaw fit --out DIR)."),
    pool: Path | None = typer.Option(None, "--pool", help="CSV of candidate runs (run-table "
                                     "schema, L empty)."),
    ranges: str | None = typer.Option(None, "--ranges", help="candidate grid, e.g. "
                                      "'N=1e8:1e10:5; M=10,20,40' or 'N=1e8:1e9:4; M=20; "
                                      "N_T=3e8:1e10:5; M_T=20' (lo:hi:n is log-spaced)."),
    target: str = typer.Option("allocation", "--target", help=_TARGET_HELP),
    k: int = typer.Option(..., "--k", help="maximum number of runs in the plan (> 0)."),
    budget: float = typer.Option(..., "--budget", help="FLOPs the plan may spend in total, "
                                 "new teachers' pretraining included (> 0)."),
    out: Path = typer.Option(..., "--out", help="plan CSV to write (atomically)."),
    seed: int = typer.Option(0, "--seed", help="seed: draw subset, fantasy outcomes, random "
                             "baseline."),
    method: str = typer.Option("active", "--method", help="active | random | log-grid | "
                               "d-optimal."),
    criterion: str = typer.Option("auto", "--criterion", help="gain estimator: auto "
                                  "(mse when the law's misfit applies, else re-weighted "
                                  "draws while they suffice, else Gaussian) | importance | "
                                  "linear | mse (expected squared error, misfit bias "
                                  "included)."),
    student: float | None = typer.Option(None, "--student", help="student size N_S (needed "
                                         "by --target teacher; fixes N_S for allocation)."),
    student_tokens: float | None = typer.Option(None, "--student-tokens", help="D_S for "
                                                "--target teacher (default 20 N_S)."),
    alloc_budget: float | None = typer.Option(None, "--alloc-budget", help="final training "
                                              "budget in FLOPs for --target allocation."),
    scenario: str = typer.Option("best-case", "--scenario", help="compute scenario of the "
                                 "allocation: best-case | teacher-inference | "
                                 "teacher-pretraining | teacher-pretraining+inference."),
    risk: str = typer.Option("mean", "--risk", help="risk measure of the allocation: mean | "
                             "quantile:Q | cvar:A | mean-sd:L."),
    group: str | None = typer.Option(None, "--group", help="group of a hierarchical "
                                     "posterior (target, and pool rows without a group)."),
    bounds: str | None = typer.Option(None, "--bounds", help="search ranges of the target, "
                                      "e.g. 'N_T=1e8:1e12,D_T=1e9:1e13' (keys N_S, N_T, D_T, "
                                      "D_S, M_S as in report --bounds; N_T also bounds "
                                      "--target teacher, default 1e6:1e14)."),
    draws: int = typer.Option(1000, "--draws", help="posterior draws used."),
    fantasies: int = typer.Option(64, "--fantasies", help="fantasy scenarios (importance "
                                  "criterion)."),
    cost: str = typer.Option("flops", "--cost", help="FLOPs model: flops (Busbridge F(N) "
                             "with context/vocabulary) | 6nd."),
    n_ctx: int | None = typer.Option(None, "--n-ctx", help="context length of the FLOPs "
                                     "model (default 4096; the runner's own is smaller)."),
    n_vocab: int | None = typer.Option(None, "--n-vocab", help="vocabulary of the FLOPs "
                                       "model (default 32768)."),
    existing: Path | None = typer.Option(None, "--existing", help="finished runs (run table); "
                                         "log-grid fills the gaps around them."),
    observed: Path | None = typer.Option(None, "--observed", help="finished runs not yet in "
                                         "the model (run table, L measured): folded in "
                                         "first by re-weighting the draws, or a NUTS refit "
                                         "when the effective sample size drops below "
                                         "--ess-min (distillaw.refit.update)."),
    ess_min: float = typer.Option(200.0, "--ess-min", help="effective sample size below "
                                  "which --observed refits instead of re-weighting."),
    updated_out: Path | None = typer.Option(None, "--updated-out", help="save the posterior "
                                            "updated with --observed here (the next "
                                            "round's MODEL_DIR)."),
    cost_power: str = typer.Option("auto", "--cost-power", help="greedy score gain / "
                                   "cost^P: auto (look-ahead over P = 1, 0.5, 0.25, 0; keeps "
                                   "the batch with the largest total gain) or a number in "
                                   "[0, 1]."),
    drift: str = typer.Option("auto", "--drift", help="the law's extrapolation discrepancy, "
                              "sd of log loss per sqrt(e-fold of compute) beyond the fitted "
                              "data: auto (the posterior's tau_rw, else 0.02), a number, or "
                              "none."),
    json_out: bool = typer.Option(False, "--json", help="print the plan as JSON on stdout."),
) -> None:
    """Plan the next runs: most expected uncertainty reduction of the target per FLOP.

    Writes OUT in the run-table schema (L empty) with predicted loss, expected gain and
    cost per run; `distillaw run OUT` executes it.

    Example: distillaw plan models/supervised --ranges 'N=1e8:1e10:5; M=10,20,40'
    --target allocation --alloc-budget 1e23 --k 4 --budget 1e21 --out plan.csv

    Example: distillaw plan models/distillation --ranges 'N=1e7; M=20; N_T=1e8:1e9:3;
    M_T=20' --target teacher --student 1e7 --bounds N_T=1e7:1e12 --k 2 --budget 1e20
    --draws 200 --out plan-teacher.csv
    """
    from ..loaders import load
    from ..planning import candidate_grid, plan
    from ..posterior import Posterior
    from .ranges import parse_bounds, parse_ranges

    if (pool is None) == (ranges is None):
        raise CLIError("give exactly one of --pool FILE.csv or --ranges SPEC")
    if k <= 0:
        raise CLIError(f"--k must be > 0, got {k}")
    if not budget > 0:
        raise CLIError(f"--budget must be > 0 FLOPs, got {budget:g}")
    if out.suffix.lower() != ".csv":
        raise CLIError(f"--out {out}: the plan is written as a .csv file")
    from .._io import check_output_file
    from ..guards import check_candidates, grid_size

    check_output_file(out, f"--out {out}")  # before the search
    if target not in ("allocation", "teacher") and not target.lower().endswith(
            (".csv", ".parquet", ".pq")):
        raise CLIError(f"unknown --target {target!r}; use allocation, teacher or a CSV file")
    if cost not in ("flops", "6nd"):
        raise CLIError(f"unknown --cost {cost!r}; use flops or 6nd")
    cost_model = cost
    if n_ctx is not None or n_vocab is not None:
        if cost != "flops":
            raise CLIError("--n-ctx/--n-vocab apply to --cost flops only")
        if (n_ctx is not None and n_ctx <= 0) or (n_vocab is not None and n_vocab <= 0):
            raise CLIError("--n-ctx and --n-vocab must be > 0")
        from ..laws.compute import FlopsModel

        cost_model = FlopsModel(n_ctx=4096 if n_ctx is None else n_ctx,
                                n_vocab=32768 if n_vocab is None else n_vocab)
    cp = _number_or("--cost-power", cost_power, ("auto",))
    dr = _number_or("--drift", drift, ("auto", "none"))
    dr = None if dr == "none" else dr
    if observed is None and updated_out is not None:
        raise CLIError("--updated-out needs --observed")
    if not ess_min > 0:
        raise CLIError(f"--ess-min must be > 0, got {ess_min:g}")
    bounds_kw = parse_bounds(bounds) if bounds is not None else None
    parsed = parse_ranges(ranges) if ranges is not None else None
    if parsed is not None:  # the size of the grid before building it
        check_candidates(grid_size(parsed), min(draws, 10 ** 9), error=CLIError,
                         hint="use a coarser --ranges grid")
    post = Posterior.load(model_dir)
    if observed is not None:
        from ..refit import update
        from ..sampling.groups import one_shot

        new_runs = load(observed)
        with one_shot():  # a NUTS refit here is this process's one fit (no C module index)
            upd = update(post, new_runs, ess_min=ess_min, seed=seed)
        post = upd.posterior
        info(f"folded {len(new_runs)} finished run(s) into the posterior by {upd.method} "
             f"(importance ESS {upd.ess:.0f})")
        if updated_out is not None:
            post.save(updated_out)
            info(f"saved the updated posterior to {updated_out}")
    if parsed is not None:
        candidates = candidate_grid(**parsed)
    else:
        candidates = pool
    runs = load(existing) if existing is not None else None
    result = plan(post, candidates, target=target, k=k, budget=budget, cost=cost_model, seed=seed,
                  method=method, criterion=criterion, group=group, student=student,
                  student_tokens=student_tokens, alloc_budget=alloc_budget, scenario=scenario,
                  risk=risk, draws=draws, n_fantasies=fantasies, existing=runs,
                  bounds=bounds_kw, cost_power=cp, drift=dr)
    result.to_csv(out)
    warning = result.info.get("warning")
    if warning:
        info(f"warning: {warning}")
    for w in result.info.get("warnings", []):
        info(f"warning: {w}")
    if json_out:
        emit_json({**result.to_dict(), "out": str(out)})
        return
    info(result.summary())
    info(f"wrote {len(result)} run(s) to {out}")


def _number_or(flag: str, value: str, words: tuple[str, ...]):
    """A flag that takes a number or one of ``words``."""
    if value.lower() in words:
        return value.lower()
    try:
        return float(value)
    except ValueError:
        raise CLIError(f"{flag} takes a number or {' / '.join(words)}, got {value!r}") from None
