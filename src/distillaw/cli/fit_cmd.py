"""``distillaw fit`` and ``distillaw predict``.

Heavy modules (PyMC, nutpie) are imported inside the commands so ``distillaw --help``
stays fast. Every input is checked before any work starts, so bad input exits with one
line and code 2 and writes nothing.
"""

from __future__ import annotations

import math
from pathlib import Path

import typer

from .._io import atomic_write_bytes, check_output_file
from ..laws import FORMS, LAWS
from ..priors import ERRORS, LIKELIHOODS
from ..sampling import SAMPLERS
from ._app import app
from ._common import COLUMNS_HELP, CLIError, emit_json, info, parse_columns

JSON_CI = 0.95


def _choice(value: str | None, allowed, what: str) -> None:
    if value is not None and value not in allowed:
        raise CLIError(f"unknown {what} {value!r}; choose one of {', '.join(allowed)}")


def fit_json(post, ci: float = JSON_CI) -> dict:
    """The ``fit --json`` document: law, parameter medians and equal-tailed intervals,
    the interval level and the headline diagnostics.

    Grouped (hierarchical) parameters give the population value (exp of the pooled mean)
    as ``median/lower/upper`` and each group's under ``groups``.
    """

    from ..draws import interval
    from ..posterior import GROUP_DIM, LAW_PARAMS

    post_ds = post.idata.posterior
    def summ(x):
        m, lo, hi = interval(x, ci)
        return {"median": m, "lower": lo, "upper": hi}

    params = {}
    for name in LAW_PARAMS[post.law]:
        if name not in post_ds.data_vars:
            continue
        da = post_ds[name]
        if GROUP_DIM in da.dims:
            entry = {}
            hyper = _population(post_ds, name)
            if hyper is not None:
                entry.update(summ(hyper))
            entry["groups"] = {str(g): summ(da.sel({GROUP_DIM: g}).values)
                               for g in da.coords[GROUP_DIM].values}
            params[name] = entry
        else:
            params[name] = summ(da.values)
    d = post.diagnostics()
    return {"law": post.law, "parameters": params, "ci": ci,
            "diagnostics": {"r_hat_max": d.get("r_hat_max"),
                            "ess_bulk_min": d.get("ess_bulk_min"),
                            "divergences": d.get("divergences")}}


def _population(post_ds, name: str):
    """Population-level draws of a pooled parameter (the group mean on the sampled scale)."""
    import numpy as np

    mu = post_ds.get(f"log_{name}_mu")
    if mu is None:
        return None
    if name in ("A", "B"):  # prefactors are pooled at the reference size: no single value
        return None
    return np.exp(np.asarray(mu.values))


@app.command("fit")
def fit_command(
    data: Path = typer.Argument(..., metavar="DATA",
                                help="Run table or public table (CSV/Parquet)."),
    law: str = typer.Option(..., "--law", help="supervised | distillation | capacity-gap"),
    out: Path = typer.Option(..., "--out", help="Folder to save the posterior and its card."),
    form: str = typer.Option(None, "--form", help="chinchilla | busbridge (default busbridge)"),
    group: str = typer.Option(None, "--group", help="Column to pool over (hierarchical: "
                              "e.g. teacher family or data set; exponents and floors per group "
                              "for the supervised and distillation laws, s and k for the "
                              "capacity gap)."),
    format: str = typer.Option(None, "--format", help="Force the input format (runs, "
                               "epoch-raw, epoch-tidy, busbridge, porian)."),
    draws: int = typer.Option(1000, "--draws", min=1, help="Draws per chain after tuning."),
    tune: int = typer.Option(1000, "--tune", min=0, help="Tuning steps per chain."),
    chains: int = typer.Option(4, "--chains", min=1, help="Number of chains."),
    seed: int = typer.Option(0, "--seed", help="Random seed."),
    sampler: str = typer.Option("nutpie", "--sampler", help="nutpie | pymc | numpyro"),
    mass_matrix: str = typer.Option(None, "--mass-matrix",
                                    help="diag | low-rank (nutpie): NUTS's metric. Default: "
                                         "low-rank for --error gp and for distillation-only "
                                         "tables (target accept 0.98, twice the draws, "
                                         "every second kept, at most 255 leapfrog steps "
                                         "per draw), else diag. low-rank takes "
                                         "far fewer steps on large tables but diverged on "
                                         "small and hierarchical ones; see README."),
    target_accept: float = typer.Option(None, "--target-accept",
                                        help="NUTS target acceptance in [0.5, 1) (default: "
                                             "the engine's; 0.9 under low-rank, 0.98 for a "
                                             "distillation-only table)."),
    likelihood: str = typer.Option(None, "--likelihood",
                                   help="student_t (robust) | normal (default: normal for "
                                        "--error structured, student_t for iid)"),
    error: str = typer.Option(None, "--error",
                              help="heteroscedastic (Student-t noise whose scale changes "
                                   "with compute; the default) | iid (one noise scale) | "
                                   "structured "
                                   "(experimental: curve offsets + a discrepancy growing with "
                                   "distance from the data) | gp (supervised law: "
                                   "heteroscedastic noise + a smooth discrepancy surface in "
                                   "log N, log D)"),
    extrapolation: str = typer.Option("auto", "--extrapolation",
                                      help="auto | calibrate | none: learn how the error "
                                           "grows away from the data by leaving the largest "
                                           "runs out (up to 5 extra smaller fits), and widen "
                                           "predictive intervals with distance from the data "
                                           "(auto: tables of 50+ rows)."),
    drop_highest_loss: int = typer.Option(0, "--drop-highest-loss", min=0,
                                          help="Epoch formats: drop this many highest-loss "
                                               "rows (Epoch drop 5)."),
    columns: str = typer.Option(None, "--columns", help=COLUMNS_HELP),
    name: str = typer.Option(None, "--name", help="Name on the model card."),
    prior: list[str] = typer.Option(None, "--prior", help="Override one prior: "
                                    "NAME=Dist(key=value, ...) or NAME=JSON, e.g. "
                                    "'log_E=Normal(mu=0.22, sigma=0.05)' (repeatable; names "
                                    "as on the model card)."),
    priors_file: Path = typer.Option(None, "--priors", help="JSON file {NAME: prior, ...} "
                                     "(each a Dist(...) string or {\"dist\", \"kwargs\"}); "
                                     "--prior overrides it."),
    as_json: bool = typer.Option(False, "--json", help="Print the parameter summary (95% "
                                 "intervals), the output folder and the model notes as JSON."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Progress bar."),
    ppc: bool = typer.Option(False, "--ppc", help="Also store posterior-predictive replicates "
                             "of the fitted log-losses (for az.plot_ppc; as large as the "
                             "pointwise log-likelihood)."),
):
    """Fit a law's posterior by NUTS and save it (posterior.nc, card.json, card.md).

    Example: distillaw fit data/simulated/supervised.csv --law supervised --out
    fits/sup --draws 200 --tune 200 --chains 2 --prior 'log_E=Normal(mu=0.2, sigma=0.05)'
    """
    _choice(law, LAWS, "law")
    _choice(form, FORMS, "form")
    if form is not None and law == "capacity-gap":
        raise CLIError("--form applies to the supervised and distillation laws")
    _choice(sampler, SAMPLERS, "sampler")
    from ..sampling.engine import MASS_MATRICES

    _choice(mass_matrix, MASS_MATRICES, "mass matrix")
    if target_accept is not None and not 0.5 <= target_accept < 1:
        raise CLIError(f"--target-accept must be in [0.5, 1), got {target_accept}")
    _choice(likelihood, LIKELIHOODS, "likelihood")
    _choice(error, ERRORS, "error")
    from ..sampling import EXTRAPOLATION

    _choice(extrapolation, EXTRAPOLATION, "extrapolation")
    if extrapolation == "calibrate" and law == "capacity-gap":
        raise CLIError("--extrapolation calibrate applies to the supervised and distillation "
                       "laws")
    if not data.is_file():
        raise CLIError(f"{data}: no such data file")
    from ..models import ModelSpec
    from .prior_args import gather_priors

    overrides = gather_priors(priors_file, prior)
    # The API's validation before any work (unknown prior names list the valid ones for this
    # law, form, likelihood and error model).
    ModelSpec(law, form=form, group=group, likelihood=likelihood, priors=overrides, error=error)
    from ..posterior import check_save_target

    check_save_target(out, f"--out {out}")  # before sampling: never throw a fit away

    from ..loaders import load
    from ..sampling import fit

    table = load(data, format, drop_highest_loss=drop_highest_loss,
                 columns=parse_columns(columns))
    if group is not None and group not in table.columns:
        raise CLIError(f"--group {group!r}: no such column in {data}")
    if not as_json:
        info(f"fitting the {law} law on {len(table)} rows of {data} with {sampler} "
             f"({chains} chains x {draws} draws)")
    from ..sampling.groups import one_shot

    with one_shot():  # this process fits once: no PyTensor C module index to load
        post = fit(table, law, form=form, group=group, likelihood=likelihood, error=error,
                   sampler=sampler, priors=overrides, mass_matrix=mass_matrix,
                   target_accept=target_accept, draws=draws, tune=tune, chains=chains,
                   seed=seed, progressbar=progress, name=name or out.name,
                   posterior_predictive=ppc, extrapolation=extrapolation)
    post.model_info["data_file"] = str(data)
    post.save(out)
    d = post.diagnostics()
    from ..errors import DiagnosticsError

    try:
        post.check()
    except DiagnosticsError as exc:  # saved anyway: the card records the diagnostics
        info(f"warning: {exc} (more --draws/--tune may help; see {out / 'card.md'})")
    notes = list((post.model_info or {}).get("notes", []))
    if as_json:
        emit_json({**fit_json(post), "out": str(out), "notes": notes})
    else:
        rhat = "n/a" if d["r_hat_max"] is None else f"{d['r_hat_max']:.3f}"
        info(f"saved {out} (r_hat max {rhat}, min bulk ESS {d['ess_bulk_min']:.0f}, "
             f"{d['divergences']} divergences)")
        for n in notes:
            info(f"note: {n}")
        typer.echo(f"parameters: ArviZ summary, {JSON_CI:.0%} equal-tailed interval (eti_*)")
        summ = post.summary(JSON_CI).drop(columns=["mcse_mean", "mcse_sd"])
        typer.echo(summ.to_string(float_format=lambda v: f"{v:.4g}"))
    return 0


def _finite_positive(value: float | None, flag: str) -> None:
    if value is not None and not (math.isfinite(value) and value > 0):
        raise CLIError(f"--{flag} must be a positive number, got {value}")


@app.command("predict")
def predict_command(
    model_dir: Path = typer.Argument(..., metavar="DIR",
                                     help="Folder of a saved posterior (distillaw fit --out)."),
    points: Path = typer.Option(None, "--points", help="Table of points (any format `fit` "
                                "reads): N, D (students) and L_T or N_T, D_T for a "
                                "distillation posterior."),
    columns: str = typer.Option(None, "--columns", help=COLUMNS_HELP),
    out: Path = typer.Option(None, "--out", help="CSV to write (points + median, lower, upper)."),
    ci: float = typer.Option(0.9, "--ci", help="Interval level, in (0, 1)."),
    predictive: bool = typer.Option(False, "--predictive", help="Interval of a new measured run "
                                    "(the law plus every fitted error term: curve offsets, "
                                    "discrepancy at the point's distance from the data, "
                                    "noise); default: the interval of the law itself."),
    group: str = typer.Option(None, "--group", help="Group of a hierarchical posterior."),
    N: float = typer.Option(None, "--N", help="Single point: (student) parameters."),
    D: float = typer.Option(None, "--D", help="Single point: (student) tokens."),
    L_T: float = typer.Option(None, "--L-T", help="Single point: teacher loss (nats)."),
    N_T: float = typer.Option(None, "--N-T", help="Single point: teacher parameters."),
    D_T: float = typer.Option(None, "--D-T", help="Single point: teacher tokens."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON (single point or summary)."),
    optimal_teacher: bool = typer.Option(False, "--optimal-teacher", help="Distillation "
                                         "posterior: the optimal teacher for the student "
                                         "--N trained on --D tokens (its size N_T* when "
                                         "trained on --teacher-tokens-per-param tokens per "
                                         "parameter, its loss, the student loss)."),
    teacher_tpp: float = typer.Option(20.0, "--teacher-tokens-per-param", help="Tokens per "
                                      "parameter of candidate teachers for --optimal-teacher."),
):
    """Predict loss (or optimal teacher size) with intervals from a saved posterior.

    Example: distillaw predict models/distillation --N 1e9 --D 2e10 --N-T 7e9 --D-T 1.4e11

    Example: distillaw predict models/distillation --N 1e9 --D 2e10 --optimal-teacher
    """
    if not 0.0 < ci < 1.0:
        raise CLIError(f"--ci must be in (0, 1), got {ci}")
    single = any(v is not None for v in (N, D, L_T, N_T, D_T))
    if single and points is not None:
        raise CLIError("give either --points FILE or a single point (--N, --D, ...), not both")
    if not single and points is None:
        raise CLIError("give --points FILE.csv --out FILE.csv, or a single point with --N ...")
    for v, flag in ((N, "N"), (D, "D"), (L_T, "L-T"), (N_T, "N-T"), (D_T, "D-T")):
        _finite_positive(v, flag)
    if points is not None:
        if out is None:
            raise CLIError("--points needs --out FILE.csv")
        if not points.is_file():
            raise CLIError(f"{points}: no such points file")
        if out.parent and not out.parent.is_dir():
            raise CLIError(f"--out {out}: folder {out.parent} does not exist")
        check_output_file(out, f"--out {out}")
    if optimal_teacher:
        if not single or any(v is not None for v in (L_T, N_T, D_T)) or predictive:
            raise CLIError("--optimal-teacher takes a single student (--N, --D) and no "
                           "teacher, --points or --predictive")
        _finite_positive(teacher_tpp, "teacher-tokens-per-param")
    if not model_dir.is_dir():
        raise CLIError(f"{model_dir}: no such model directory")

    import pandas as pd

    from ..posterior import Posterior

    post = Posterior.load(model_dir)
    if optimal_teacher:
        return _optimal_teacher(post, N, D, ci, teacher_tpp, group, as_json)
    if single:
        if N is None:
            raise CLIError("a single point needs --N")
        row = {"N": [N]}
        if post.law != "capacity-gap":
            if D is None:
                raise CLIError("a single point needs --D for a loss law")
            row["D"] = [D]
        if post.law == "distillation":
            if L_T is not None:
                if N_T is not None or D_T is not None:
                    raise CLIError("give the teacher as --L-T or as --N-T and --D-T, not both")
                row["L_T"] = [L_T]
            elif N_T is not None and D_T is not None:
                row["N_T"], row["D_T"] = [N_T], [D_T]
            else:
                raise CLIError("a distillation prediction needs --L-T, or --N-T and --D-T")
        elif any(v is not None for v in (L_T, N_T, D_T)):
            raise CLIError(f"--L-T/--N-T/--D-T apply to a distillation posterior; this one is "
                           f"{post.law}")
        pred = _predict(post, pd.DataFrame(row), ci, group, predictive)
        r = pred.iloc[0]
        result = {"law": post.law, "point": {k: float(v[0]) for k, v in row.items()},
                  "quantity": "N_T_star" if post.law == "capacity-gap" else "loss",
                  "ci": ci, "predictive": predictive, "median": float(r["median"]),
                  "lower": float(r["lower"]), "upper": float(r["upper"])}
        if as_json:
            emit_json(result)
        else:
            what = "predictive (new measured run)" if predictive else "law"
            typer.echo(f"{result['quantity']}: median {result['median']:.6g}, {ci:.0%} {what} "
                       f"interval [{result['lower']:.6g}, {result['upper']:.6g}]")
        return 0
    from ..data import read_table
    from ..loaders import load

    # The one reader of every command (run tables, public formats, plain tables); the
    # output keeps the file's own columns, row for row, and adds the prediction.
    raw = read_table(points)
    if len(raw) == 0:
        raise CLIError(f"{points}: no rows")
    if post.law == "capacity-gap":  # student sizes only: not a run table (no tokens)
        table = raw
    else:
        table = load(points, columns=parse_columns(columns), require_loss=False)
        if "kind" not in raw.columns and post.law == "distillation":
            # Inferred kinds would turn teacher-less rows into supervised predictions; a
            # distillation posterior asked for points without teachers is a mistake.
            table = table.drop(columns="kind")
    _check_points(table, post.law, points)
    pred = _predict(post, table, ci, group, predictive, points)
    for c in ("median", "lower", "upper"):
        raw[c] = pred[c].to_numpy()
    pred = raw
    atomic_write_bytes(out, pred.to_csv(index=False).encode())
    if as_json:
        emit_json({"law": post.law, "ci": ci, "predictive": predictive, "rows": len(pred),
                   "out": str(out)})
    else:
        info(f"wrote {out} ({len(pred)} rows with median and {ci:.0%} interval lower, upper)")
    return 0


# Teacher sizes searched by Posterior.optimal_teacher (optimal_teacher_size_from_law).
_TEACHER_SIZE_BOUNDS = (1e6, 1e14)


def _optimal_teacher(post, N, D, ci: float, tpp: float, group, as_json: bool) -> int:
    """``predict --optimal-teacher``: the optimal teacher's size and loss, with intervals,
    and a warning when the size sits on the searched range's bound."""
    import numpy as np

    if post.law != "distillation":
        raise CLIError(f"--optimal-teacher needs a distillation posterior; this one is "
                       f"{post.law}" + (" (predict --N gives its N_T* directly)"
                                        if post.law == "capacity-gap" else ""))
    if N is None or D is None:
        raise CLIError("--optimal-teacher needs the student's --N and --D")
    if group is not None:
        raise CLIError("--optimal-teacher does not take --group")
    with np.errstate(all="ignore"):
        ot = post.optimal_teacher([N], [D], tokens_per_param=tpp, ci=ci)
    from ..draws import interval
    from ..guards import check_finite

    out = {}
    for key in ("N_T", "L_T_of_N_T", "L_S_of_N_T", "L_T", "L_S"):
        x = ot.draws[key][:, 0]
        check_finite(x, f"the optimal teacher ({key})", error=CLIError)
        m, lo, hi = interval(x, ci)
        out[key] = {"median": float(m), "lower": float(lo), "upper": float(hi)}
    nt = np.log(ot.draws["N_T"][:, 0])
    warnings = []
    for side, b in zip(("lower", "upper"), _TEACHER_SIZE_BOUNDS, strict=True):
        n = int(np.sum(np.abs(nt - np.log(b)) < 1e-3))
        if n:
            warnings.append(f"the optimal teacher size sits on the {side} bound of the "
                            f"searched range ({b:.3g} parameters) for {n} of {nt.size} draws: "
                            f"the law's optimum may lie beyond it")
    result = {"law": post.law, "point": {"N": N, "D": D}, "quantity": "optimal_teacher",
              "ci": ci, "teacher_tokens_per_param": tpp, "draws": int(nt.size),
              "N_T": out["N_T"], "L_T": out["L_T_of_N_T"], "L_S": out["L_S_of_N_T"],
              "optimal_teacher_loss": out["L_T"], "student_loss_at_optimal_teacher_loss":
              out["L_S"],
              "warnings": warnings}
    for w in warnings:
        info(f"warning: {w}")
    if as_json:
        emit_json(result)
        return 0
    lab = f"{ci:.0%} interval"

    def line(name, d, fmt):
        return (f"{name}: median {d['median']:{fmt}}, {lab} [{d['lower']:{fmt}}, "
                f"{d['upper']:{fmt}}]")

    typer.echo(line(f"optimal teacher size N_T* (teachers on {tpp:g} tokens/param)",
                    out["N_T"], ".4g"))
    typer.echo(line("its loss L_T (nats)", out["L_T_of_N_T"], ".4f"))
    typer.echo(line("student loss with it (nats)", out["L_S_of_N_T"], ".4f"))
    typer.echo(line("student-optimal teacher loss L_T* (any teacher size and tokens)",
                    out["L_T"], ".4f"))
    return 0


def _predict(post, table, ci: float, group, predictive: bool, file: Path | None = None):
    """Predict; NaN or inf in the result is an error (e.g. --L-T 1e-300), never a printed
    number. NumPy's overflow warnings are silenced because that check replaces them with
    one line that names the row."""
    import numpy as np

    with np.errstate(all="ignore"):
        pred = post.predict(table, ci, group=group, predictive=predictive)
    _check_prediction(pred, file)
    return pred


def _check_prediction(pred, file: Path | None = None) -> None:
    from ..guards import check_finite

    check_finite(pred[["median", "lower", "upper"]].to_numpy(),
                 f"{file}: the prediction" if file else "the prediction", error=CLIError,
                 rows=file is not None)


def _check_points(table, law: str, file: Path) -> None:
    """Required columns present, numeric and positive; errors name file, row and column.

    Distillation points need a teacher per row: ``L_T``, or ``N_T`` and ``D_T`` (then the
    teacher's loss comes from the supervised law); rows with ``kind == supervised`` need none.
    """
    import numpy as np
    import pandas as pd

    def values(col: str, required: bool) -> np.ndarray:
        if col not in table.columns:
            if required:
                raise CLIError(f"{file}: missing column {col!r}")
            return np.full(len(table), np.nan)
        raw = table[col]
        v = pd.to_numeric(raw, errors="coerce").to_numpy(float)
        bad = (np.isnan(v) & raw.notna().to_numpy()) | np.isinf(v) | (v <= 0)
        if required:
            bad |= np.isnan(v)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise CLIError(f"{file}, row {i + 1} (line {i + 2}), column {col!r}: expected a "
                           f"positive number, got {raw.iloc[i]!r}")
        return v

    for col in (["N"] if law == "capacity-gap" else ["N", "D"]):
        values(col, required=True)
    if law != "distillation":
        return
    LT, NT, DT = (values(c, required=False) for c in ("L_T", "N_T", "D_T"))
    has_teacher = ~np.isnan(LT) | (~np.isnan(NT) & ~np.isnan(DT))
    if "kind" in table.columns:
        has_teacher |= (table["kind"].astype(str) == "supervised").to_numpy()
    if not has_teacher.all():
        i = int(np.flatnonzero(~has_teacher)[0])
        raise CLIError(f"{file}, row {i + 1} (line {i + 2}): a distillation point needs L_T, "
                       "or N_T and D_T")
