"""``distillaw report``: the risk-aware compute allocation report for a distillation posterior.

Every argument is checked, and the posterior loaded, before any work starts: bad input exits
with one line and code 2 and writes nothing. The report folder is written atomically.
"""

from __future__ import annotations

from pathlib import Path

import typer

from ._app import app
from ._common import CLIError, emit_json, info, parse_columns

SCENARIO_HELP = ("best-case | teacher-inference | teacher-pretraining | "
                 "teacher-pretraining+inference (what the budget pays for; Busbridge Eq. 9).")
RISK_HELP = "mean | quantile:Q | cvar:A | mean-sd:L (lower student loss is better)."


@app.command("report")
def report_command(
    model_dir: Path = typer.Argument(..., help="saved distillation posterior "
                                     "(distillaw fit --out DIR)."),
    budget: float = typer.Option(..., "--budget", help="total compute in FLOPs (> 0)."),
    student: float | None = typer.Option(None, "--student", help="student size N_S in "
                                         "parameters (fixed by deployment); omit to choose "
                                         "it too."),
    scenario: str = typer.Option("best-case", "--scenario", help=SCENARIO_HELP),
    risk: str = typer.Option("mean", "--risk", help=RISK_HELP),
    out: Path = typer.Option(..., "--out", help="folder for report.html, report.md, the PNG "
                             "figures and allocation.json (written atomically)."),
    json_out: bool = typer.Option(False, "--json", help="also print allocation.json on "
                                  "stdout."),
    draws: int = typer.Option(4000, "--draws", help="posterior draws used (a fixed random "
                              "subset for --seed)."),
    seed: int = typer.Option(0, "--seed", help="seed of the draw subset."),
    flops: str = typer.Option("busbridge", "--flops", help="FLOPs model: busbridge (F(N) with "
                              "context 4096 and vocabulary 32768) | 6nd."),
    group: str | None = typer.Option(None, "--group", help="group of a hierarchical "
                                     "posterior."),
    bounds: str | None = typer.Option(None, "--bounds", help="search ranges, e.g. "
                                      "'N_T=1e8:1e12,D_T=1e9:1e13' (keys N_S, N_T, D_T, D_S, "
                                      "and M_S = tokens per parameter of a free student; "
                                      "default [1e6, 1e17] each, M_S [1, 1e6])."),
    supervised: str | None = typer.Option(None, "--supervised", help="supervised-law "
                                          "parameters to use instead of the posterior's own: "
                                          "a saved posterior folder or a published name "
                                          "(e.g. busbridge2025)."),
    uncertainty: str = typer.Option("predictive", "--uncertainty", help="predictive: losses, "
                                    "risk scores and P(beats) of runs you would train and "
                                    "measure (law x the posterior's error model) | law: the "
                                    "law's value only (parameter uncertainty)."),
    teachers: Path | None = typer.Option(None, "--teachers", help="table of existing "
                                         "teachers (CSV/Parquet; columns N_T, D_T and/or "
                                         "measured L_T, optional teacher_id): choose among "
                                         "them and say what a new teacher would add."),
    teachers_columns: str | None = typer.Option(None, "--teachers-columns", help="source "
                                                "column of each teacher column, e.g. "
                                                "'N_T=params,L_T=val_loss'."),
) -> None:
    """Write the compute-allocation report: distil or train supervised, how, and how sure.

    Example: distillaw report models/distillation --budget 1e21 --student 1e9
    --scenario teacher-pretraining --risk cvar:0.9 --draws 500 --out out/report

    Example (choose among your checkpoints): distillaw report models/distillation --budget
    1e21 --student 1e9 --scenario teacher-inference --teachers data/examples/teachers.csv
    --draws 500 --out out/report-teachers
    """
    from ..errors import DistillawError
    from ..laws.compute import DEFAULT_FLOPS, SCENARIOS, FlopsModel
    from ..risk import parse_risk

    # ---- cheap checks first: nothing is loaded or written on bad input
    if not 0 < budget < float("inf"):
        raise CLIError(f"--budget must be a positive number of FLOPs, got {budget:g}")
    if scenario not in SCENARIOS:
        raise CLIError(f"unknown --scenario {scenario!r}; choose one of {', '.join(SCENARIOS)}")
    try:
        parse_risk(risk)
    except DistillawError as exc:
        raise CLIError(f"--risk: {exc}") from None
    if student is not None and not 0 < student < float("inf"):
        raise CLIError(f"--student must be a positive number of parameters, got {student:g}")
    if draws < 1:
        raise CLIError(f"--draws must be >= 1, got {draws}")
    if uncertainty not in ("predictive", "law"):
        raise CLIError(f"unknown --uncertainty {uncertainty!r}; choose predictive or law")
    if flops not in ("busbridge", "6nd"):
        raise CLIError(f"unknown --flops {flops!r}; choose busbridge or 6nd")
    from .ranges import parse_bounds

    bounds_kw = parse_bounds(bounds) if bounds is not None else None
    teacher_table = None
    if teachers is not None:  # read and checked before any work
        from ..decision import read_teachers

        teacher_table = read_teachers(teachers, scenario,
                                      columns=parse_columns(teachers_columns))
    elif teachers_columns is not None:
        raise CLIError("--teachers-columns needs --teachers FILE")
    from .._io import check_output_dir

    check_output_dir(out, f"--out {out}")  # before any work: never throw a report away
    if not model_dir.is_dir():
        raise CLIError(f"model directory not found: {model_dir}")

    from ..posterior import Posterior
    from ..report import write_report

    post = Posterior.load(model_dir)
    if post.law != "distillation":
        raise CLIError(f"{model_dir}: the report needs a distillation posterior, this one is "
                       f"{post.law}")
    sup = None
    if supervised is not None:
        if Path(supervised).is_dir():
            sup = Posterior.load(supervised)
        else:
            from ..published import published

            sup = published(supervised)
    fm = FlopsModel.plain() if flops == "6nd" else DEFAULT_FLOPS
    command = " ".join(["distillaw report", str(model_dir), "--budget", f"{budget:g}"]
                       + (["--student", f"{student:g}"] if student is not None else [])
                       + ["--scenario", scenario, "--risk", risk]
                       + (["--bounds", bounds] if bounds is not None else [])
                       + (["--uncertainty", uncertainty] if uncertainty != "predictive" else [])
                       + (["--teachers", str(teachers)] if teachers is not None else [])
                       + ["--out", str(out)])
    info(f"distillaw report: {post!r} from {model_dir}")
    rep = write_report(post, out, budget=budget, student=student, scenario=scenario, risk=risk,
                       flops_model=fm, supervised=sup, group=group, max_draws=draws, seed=seed,
                       bounds=bounds_kw, progress=info, uncertainty=uncertainty,
                       teachers=teacher_table,
                       info={"model_dir": str(model_dir), "command": command})
    info(rep.allocation.headline())
    for w in rep.allocation.warnings:
        info(f"warning: {w}")
    if rep.existing is not None:
        info(rep.existing.headline())
        for w in rep.existing.warnings:
            info(f"warning: {w}")
    info(f"wrote {out}/report.html, report.md, allocation.json and "
         f"{len(rep.figures)} figures in {rep.info['seconds']:.1f} s")
    if json_out:
        emit_json(rep.to_dict())
