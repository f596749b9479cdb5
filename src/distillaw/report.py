"""The allocation report: what to do with a compute budget, in plain words, and how sure we are.

:func:`build_report` runs the decision module on a distillation posterior
(:func:`distillaw.decision.allocate` for the chosen risk measure, the same problem under the
standard risk measures, and a sweep of budgets for the distil-vs-supervised crossover) and
draws the figures (:mod:`distillaw.plots`). :meth:`Report.write` puts into one folder:

- ``report.html`` -- self-contained (figures embedded as base64 PNG, inline CSS);
- ``report.md`` -- the same text, figures linked as files;
- ``teacher_frontier.png``, ``token_frontier.png``, ``loss_distributions.png``,
  ``risk_comparison.png``, ``crossover.png``;
- ``allocation.json`` -- every number of the report (machine-readable).

Everything is built in a temporary folder next to the target and swapped into place
(:func:`distillaw._io.atomic_dir`), so an interrupted run never leaves a half-written report.

Example
-------
>>> from distillaw import published
>>> from distillaw.posterior import Posterior
>>> post = Posterior.from_params("distillation", published("busbridge2025").point())
>>> rep = build_report(post, budget=1e21, student=1e9, scenario="teacher-pretraining")
>>> rep.allocation.recommendation
'supervised'
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from ._io import atomic_dir, to_json
from ._version import __version__
from .decision import (
    Allocation,
    TeacherChoice,
    allocate,
    choose_teacher,
    crossover,
    crossover_budget,
    read_teachers,
)
from .decision.settings import check_budget
from .draws import interval
from .errors import DecisionError, PosteriorError
from .laws.compute import DEFAULT_FLOPS, SCENARIOS, FlopsModel
from .presentation import fmt_count, fmt_flops, fmt_small, near_optimal_words, render
from .risk import STANDARD, parse_risk

SCENARIO_WORDS = {
    "best-case": ("the teacher already exists and is shared by many students: neither its "
                  "training nor its logits are charged to this budget"),
    "teacher-inference": ("the teacher already exists (or is served anyway): its training is "
                          "free, but computing its logits on the distillation tokens is charged"),
    "teacher-pretraining": ("the teacher has to be trained for this; its logits are stored and "
                            "reused, so its training is charged but not its inference"),
    "teacher-pretraining+inference": ("one teacher trained for one student: both its training "
                                      "and its logits are charged (the worst case)"),
}

FIGURES = ("teacher_frontier", "token_frontier", "loss_distributions", "risk_comparison",
           "crossover")
OUTPUTS = ("report.html", "report.md", "allocation.json") + tuple(f"{f}.png" for f in FIGURES)


@dataclass
class Report:
    """A built report: the allocations, the sweep, the figures (PNG bytes) and metadata."""

    allocation: Allocation
    risks: dict[str, Allocation]
    sweep: pd.DataFrame
    figures: dict[str, bytes] = field(repr=False)
    captions: dict[str, str]
    info: dict
    existing: TeacherChoice | None = None   # the choice among existing teachers, if given

    # ------------------------------------------------------------------ numbers
    @property
    def crossover_budget(self) -> float | None:
        return crossover_budget(self.sweep)

    def crossover_sentence(self) -> str:
        df = self.sweep[self.sweep["adv_median"].notna()]
        if df.empty:
            return "No budget in the sweep was feasible for this scenario."
        lo, hi = df["budget"].min(), df["budget"].max()
        cross = self.crossover_budget
        wins = df["adv_median"] > 0
        if cross is not None:
            return (f"Distillation beats supervised training below about {cross:.2g} FLOPs; "
                    f"beyond that supervised training catches up (sweep {lo:.0e}-{hi:.0e} "
                    f"FLOPs, median of the paired difference).")
        if wins.all():
            return (f"Distillation beats supervised training at every budget from {lo:.0e} to "
                    f"{hi:.0e} FLOPs.")
        if not wins.any():
            return (f"Supervised training is at least as good as distillation at every budget "
                    f"from {lo:.0e} to {hi:.0e} FLOPs.")
        first = df.loc[wins, "budget"].min()
        return (f"Supervised training wins at small budgets and distillation from about "
                f"{first:.2g} FLOPs (sweep {lo:.0e}-{hi:.0e}).")

    def key_rows(self) -> list[tuple[str, str, str]]:
        """(quantity, distillation, supervised) rows of the main table."""
        a = self.allocation
        ci = int(round(100 * a.ci))
        s, sv = a.loss, a.supervised_loss
        f = a.flops
        split = (f"student {_pct(f['student_training'], a.budget)}, teacher logits "
                 f"{_pct(f['teacher_inference'], a.budget)}, teacher training "
                 f"{_pct(f['teacher_pretraining'], a.budget)}")
        teacher = (f"{fmt_count(a.N_T)} parameters on {fmt_count(a.D_T)} tokens "
                   f"({a.D_T / a.N_T:.3g} tokens/param); loss {a.L_T:.3f}")
        if f.get("teacher_pretraining_uncharged"):
            teacher += f"; training {fmt_flops(f['teacher_pretraining_uncharged'])} (not charged)"
        rows = [
            ("student", f"{fmt_count(a.N_S)} parameters on {fmt_count(a.D_S)} distillation "
                        f"tokens ({a.D_S / a.N_S:.3g} tokens/param)",
             f"{fmt_count(a.supervised_N)} parameters on {fmt_count(a.supervised_D)} tokens "
             f"({a.supervised_D / a.supervised_N:.3g} tokens/param)"),
            ("teacher", teacher, "none"),
            ("compute split", split, "student 100%"),
            (f"student loss (median, {ci}% {interval_kind(a)})",
             f"{s['median']:.3f} ({s['lower']:.3f}-{s['upper']:.3f}) nats",
             f"{sv['median']:.3f} ({sv['lower']:.3f}-{sv['upper']:.3f}) nats"),
        ]
        near = near_optimal_words(a)
        if near:
            rows.append((f"near-optimal set (within {a.optimal_tol:g} nats)", near,
                         "n/a" if a.student_fixed else "(not searched)"))
        return rows

    def columns(self) -> tuple[str, str]:
        """Headers of the two columns of the main table: the recommended one is "chosen"."""
        if self.allocation.recommendation == "distil":
            return "distil (chosen)", "supervised alternative"
        return "best distillation found (not chosen)", "supervised (chosen)"

    def sureness(self) -> list[str]:
        """Bullet points: how sure we are."""
        a = self.allocation
        ci = int(round(100 * a.ci))
        adv = a.advantage
        out = [f"P(distillation beats supervised at this budget) = {a.p_beats_supervised:.2f}; "
               f"supervised minus distilled loss: {adv['median']:+.4f} nats ({ci}% interval "
               f"{adv['lower']:+.4f} to {adv['upper']:+.4f}). Losses, intervals and this "
               f"probability are {a.uncertainty_label}."]
        if a.uncertainty == "predictive":
            law_p = float(np.mean(a.loss_draws < a.supervised_loss_draws))
            out.append(f"On the law's value alone (parameter uncertainty, no run-to-run "
                       f"error) the probability would be {law_p:.2f}.")
        if a.regret_draws is not None:
            out.append(f"Expected regret of this allocation against each posterior draw's own "
                       f"optimum: {fmt_small(a.expected_regret)} nats; it is optimal (within "
                       f"{a.optimal_tol:g} nats) for {100 * a.p_optimal:.0f}% of the draws.")
        if a.draw_optima is not None and a.n_draws > 1:
            nt = interval(a.draw_optima["N_T"], a.ci)
            lt = interval(a.draw_optima["L_T"], a.ci)
            out.append(f"Each posterior draw has its own best teacher: size median "
                       f"{fmt_count(nt[0])} ({ci}% interval {fmt_count(nt[1])}-{fmt_count(nt[2])}),"
                       f" loss median {lt[0]:.3f} ({lt[1]:.3f}-{lt[2]:.3f}); the recommendation "
                       f"is {fmt_count(a.N_T)} with loss {a.L_T:.3f}.")
        out.append(self.crossover_sentence())
        if a.n_draws == 1:
            out.append("The posterior is a single point (e.g. published coefficients): the "
                       "intervals are zero-width and the probabilities are 0 or 1. Fit a "
                       "posterior to see the real uncertainty.")
        return out

    def risk_table(self) -> list[tuple[str, ...]]:
        rows = []
        for name, r in self.risks.items():
            s = r.loss
            rows.append((name, r.risk_label, fmt_count(r.N_T), fmt_count(r.D_T),
                         fmt_count(r.D_S), f"{s['median']:.3f} ({s['lower']:.3f}-"
                         f"{s['upper']:.3f})", f"{r.p_beats_supervised:.2f}"))
        return rows

    def to_dict(self) -> dict:
        a = self.allocation
        d = {
            "distillaw_version": __version__, **self.info,
            "headline": a.headline(),
            "allocation": a.to_dict(),
            "risk_comparison": {k: {"N_T": r.N_T, "D_T": r.D_T, "D_S": r.D_S, "N_S": r.N_S,
                                    "student_loss": r.loss, "risk_score": r.score,
                                    "p_beats_supervised": r.p_beats_supervised}
                                for k, r in self.risks.items()},
            "crossover": {"budget": self.crossover_budget, "sentence": self.crossover_sentence(),
                          "sweep": _records(self.sweep)},
            "figures": {k: f"{k}.png" for k in self.figures},
            "existing_teachers": None if self.existing is None else self.existing.to_dict(),
        }
        # plain JSON types (NaN/inf -> None) through the one encoder
        return json.loads(to_json(d, indent=None, allow_nan=True))

    # ------------------------------------------------------------------ text
    def _title(self) -> str:
        a = self.allocation
        who = f"{fmt_count(a.N_S)} student" if a.student_fixed else "free student size"
        return f"Compute allocation: {who}, {a.budget:.3g} FLOPs, {a.scenario}"

    def _context(self) -> str:
        a, i = self.allocation, self.info
        src = i.get("posterior_name") or i.get("model_dir")
        return (("Posterior " + (f"{src} " if src else "")) + f"({i.get('law')}, {a.n_draws} "
                f"draw{'s' if a.n_draws != 1 else ''} used"
                + (f", data {i['data_hash'][:12]}" if i.get("data_hash") else "") + "). "
                f"Scenario {a.scenario}: {SCENARIO_WORDS[a.scenario]}. Risk measure "
                f"{a.risk} ({a.risk_label}). FLOPs model: "
                f"{_flops_words(a.flops_model)}.")

    def template_context(self) -> dict:
        """Everything the templates show, as text (``report.html.j2``, ``report.md.j2``)."""
        a = self.allocation
        return {
            "title": self._title(), "headline": a.headline(), "context": self._context(),
            "verdict": "distil" if a.recommendation == "distil" else "supervised",
            "columns": self.columns(), "key_rows": self.key_rows(),
            "sureness": self.sureness(), "warnings": list(a.warnings or ()),
            "figures": [{"title": self.captions[k][0], "caption": self.captions[k][1],
                         "file": f"{k}.png", "png_base64": base64.b64encode(png).decode()}
                        for k, png in self.figures.items()],
            "risk_rows": self.risk_table(), "ci": int(round(100 * a.ci)),
            "interval_kind": interval_kind(a),
            "method": self.method(), "version": __version__,
            "created": str(self.info.get("created")), "command": self.info.get("command"),
            **self.existing_context(),
        }

    def existing_context(self) -> dict:
        """The templates' "Existing teachers" section (empty without ``teachers=``)."""
        e = self.existing
        if e is None:
            return {"existing_headline": None, "existing_rows": [], "existing_note": None,
                    "existing_warnings": []}
        ci = int(round(100 * e.ci))
        rows = [(r["teacher_id"], "n/a" if r["N_T"] is None or pd.isna(r["N_T"])
                 else fmt_count(r["N_T"]),
                 "n/a" if r["D_T"] is None or pd.isna(r["D_T"]) else fmt_count(r["D_T"]),
                 f"{r['L_T']:.3f} ({r['L_T_source']})", fmt_count(r["D_S"]),
                 f"{r['loss_median']:.3f} ({r['loss_lower']:.3f}-{r['loss_upper']:.3f})",
                 f"{r['score']:.4f}", f"{r['p_beats_supervised']:.2f}")
                for r in e.table.to_dict(orient="records")]
        note = (f"Existing teachers are already trained: their pretraining is never charged; "
                f"their logits on the distillation tokens are "
                f"{'charged' if e.inference_charged else 'not charged'} in the {e.scenario} "
                f"scenario. Teacher loss: measured where the table gives it, else the "
                f"supervised law's median at (N_T, D_T). Student loss: median and {ci}% "
                f"interval; score: {e.risk} ({e.risk_label}), lower is better.")
        return {"existing_headline": e.headline(), "existing_rows": rows,
                "existing_note": note, "existing_warnings": list(e.warnings)}

    def markdown(self) -> str:
        return render("report.md.j2", **self.template_context())

    def html(self) -> str:
        return render("report.html.j2", **self.template_context())

    def method(self) -> str:
        """The Method paragraph, written from the result (bounds, tolerances, draws)."""
        text = method_text(self.allocation)
        disc = self.info.get("extrapolation_discrepancy")
        if disc:
            text += (" Predictive intervals also carry the posterior's " + disc + ": fitted on "
                     "all but the largest runs, how far the law missed them, as a function of "
                     "their distance from the runs it was fitted on.")
        return text

    # ------------------------------------------------------------------ files
    def write(self, out_dir: str | os.PathLike) -> dict[str, Path]:
        """Write every output into ``out_dir`` atomically (:func:`distillaw._io.atomic_dir`:
        the new folder is filled beside the old one and swapped in). Files of an existing
        folder that are not report outputs (the user's notes) are copied into the new one."""
        out = Path(out_dir)
        if out.exists() and not out.is_dir():
            raise DecisionError(f"--out {out} exists and is not a directory")
        files = {"report.html": self.html().encode(), "report.md": self.markdown().encode(),
                 "allocation.json": (to_json(self.to_dict(), allow_nan=True) + "\n").encode()}
        files.update({f"{k}.png": png for k, png in self.figures.items()})

        def fill(new: Path) -> None:
            if out.is_dir():
                for p in out.iterdir():
                    if p.name in files:
                        continue
                    if p.is_dir() and not p.is_symlink():
                        shutil.copytree(p, new / p.name, symlinks=True)
                    else:
                        shutil.copy2(p, new / p.name, follow_symlinks=False)
            for name, data in files.items():
                (new / name).write_bytes(data)

        atomic_dir(out, fill)
        return {name: out / name for name in files}


def _pct(x: float, total: float) -> str:
    p = 100.0 * x / total
    return "0%" if p == 0 else "<1%" if p < 1 else f"{p:.0f}%"


def _flops_words(fm: Mapping) -> str:
    if fm.get("n_ctx") is None and fm.get("n_vocab") is None:
        return "F(N) = 2N (6ND training)"
    return (f"Busbridge F(N) with context {fm.get('n_ctx'):g} and vocabulary "
            f"{fm.get('n_vocab'):g}")


def _records(df: pd.DataFrame) -> list[dict]:
    return df.to_dict(orient="records")


def method_text(a: Allocation) -> str:
    """How the numbers of an allocation were found, from the allocation itself: the law,
    the scenario's charges, the search and its resolution, the bounds actually used, the
    tie and optimality tolerances, the draws."""
    from .decision import DEFAULT_BOUNDS, FREE_DRAWS

    b = a.bounds
    names = {"N_S": "student size", "N_T": "teacher size", "D_T": "teacher tokens",
             "D_S": "distillation tokens"}
    keys = ["N_T", "D_T", "D_S"] + ([] if a.student_fixed else ["N_S"])
    spans = "; ".join(f"{names[k]} {k} in [{b[k][0]:.3g}, {b[k][1]:.3g}]" for k in keys)
    paper = all(tuple(b[k]) == DEFAULT_BOUNDS[k] for k in keys)
    res = a.resolution
    grid = (f"a grid of {res.n_outer} teacher compute values and {res.n_inner} teacher sizes "
            f"each, refined by {res.it_outer} and {res.it_inner} golden-section steps"
            if res is not None else "a coarse grid and golden-section refinement")
    student = ("The student size is fixed." if a.student_fixed else
               f"The student size is searched too ({res.n_student if res else 'a'}-point grid, "
               f"on a random subset of at most {FREE_DRAWS} draws), with at least "
               f"{b['M_S'][0]:g} and at most {b['M_S'][1]:g} tokens per parameter.")
    tie = (f"Risk scores within {a.tie_tol:g} nats count as ties, and the cheapest teacher "
           "(least pretraining compute) among them is chosen. "
           if a.tie_tol and "pretraining" not in a.scenario else "")
    n = a.n_draws
    text = (
        f"Student loss is the distillation scaling law (Busbridge et al. 2025, Eq. 8) evaluated "
        f"on {n} posterior draw{'s' if n != 1 else ''}, with the teacher's loss from the "
        f"supervised law at its size and tokens (so no teacher is better than its own "
        f"irreducible loss). The budget of {a.budget:.3g} FLOPs is charged as in their Eq. 9 "
        f"for the {a.scenario} scenario; the distillation tokens are what the budget leaves, "
        f"so the budget holds exactly (relative error {a.budget_check():.1g}). The teacher's "
        f"size and training compute are searched by {grid}, scoring every candidate on all "
        f"draws with the {a.risk} risk measure ({a.risk_label}). {student} {tie}"
        f"The supervised alternative trains the student alone on the whole budget. "
        f"The near-optimal set is every teacher (for the chosen student) whose risk score is "
        f"within {a.optimal_tol:g} nats of the best, found on a grid over teacher compute and "
        f"size. ")
    if a.regret_draws is not None:
        text += (f"Regret compares the chosen allocation with each draw's own optimum "
                 f"(P(optimal) counts regrets within {a.optimal_tol:g} nats). ")
    text += (f"Search bounds: {spans}" + (" (the defaults, as in the paper)." if paper else
                                         " (set with bounds= / --bounds)."))
    return text


# ============================================================================ build
def check_request(posterior, *, budget, student=None, scenario="best-case", risk="mean") -> None:
    """Validate a report request before any work (raises DistillawError subclasses)."""
    check_budget(budget)
    if scenario not in SCENARIOS:
        raise DecisionError(f"unknown compute scenario {scenario!r}; choose one of "
                            f"{', '.join(SCENARIOS)}")
    parse_risk(risk)
    if student is not None and not (np.isfinite(float(student)) and float(student) > 0):
        raise DecisionError(f"student size must be a positive number of parameters, "
                            f"got {student!r}")
    law = getattr(posterior, "law", None)
    if law != "distillation":
        raise PosteriorError(f"the allocation report needs a distillation posterior, got a "
                             f"{law or type(posterior).__name__} one")


def build_report(posterior, *, budget: float, student: float | None = None,
                 scenario: str = "best-case", risk: str = "mean",
                 flops_model: FlopsModel = DEFAULT_FLOPS, supervised=None,
                 group: str | None = None, max_draws: int | None = 4000, seed: int = 0,
                 bounds: Mapping | None = None, compare: Sequence[str] = STANDARD, sweep: Sequence[float] | None = None,
                 sweep_draws: int = 500, progress: Callable[[str], None] | None = None,
                 info: Mapping | None = None, uncertainty: str = "predictive",
                 teachers=None, teacher_columns: Mapping[str, str] | None = None) -> Report:
    """Compute everything the report shows (no files written; see :meth:`Report.write`).

    ``sweep`` lists the budgets of the crossover figure (default: 13 budgets from
    budget/1e3, or the budget that gives a fixed student one token per parameter if that
    is larger, to budget x 1e3); ``sweep_draws`` thins the draws used there. ``progress``
    receives one line per step (the CLI prints them on stderr). ``bounds`` overrides the
    search ranges of every allocation (see :func:`distillaw.decision.allocate`), e.g. for
    laws fitted on small models. ``uncertainty`` (``"predictive"`` or ``"law"``) says what
    the losses and probabilities describe (see :func:`distillaw.decision.allocate`).
    ``teachers`` (a path or DataFrame of existing checkpoints,
    :func:`distillaw.loaders.load_teachers`; ``teacher_columns`` names its columns) adds the
    choice among them and what a new teacher would add
    (:func:`distillaw.decision.choose_teacher`).
    """
    check_request(posterior, budget=budget, student=student, scenario=scenario, risk=risk)
    if teachers is not None:  # read and checked before any work
        teachers = read_teachers(teachers, scenario, columns=teacher_columns)
    say = progress or (lambda msg: None)
    common = dict(student=student, scenario=scenario, flops_model=flops_model,
                  supervised=supervised, group=group, seed=seed, bounds=bounds,
                  uncertainty=uncertainty)
    t0 = time.perf_counter()
    n = min(posterior.n_draws, max_draws or posterior.n_draws)
    say(f"[1/4] allocation under {parse_risk(risk).spec} on {n} draws (with each draw's own "
        f"optimum and the frontiers)...")
    main = allocate(posterior, budget, risk=risk, max_draws=max_draws, **common)
    say(f"      done in {time.perf_counter() - t0:.1f} s")
    t1 = time.perf_counter()
    names = [parse_risk(r).spec for r in compare]
    say(f"[2/4] the same under {len(names)} risk measures...")
    risks = {}
    for r in dict.fromkeys(names + [main.risk]):
        risks[r] = main if r == main.risk else allocate(
            posterior, budget, risk=r, max_draws=max_draws, regret=False, frontier=False,
            **common)
    say(f"      done in {time.perf_counter() - t1:.1f} s")
    t2 = time.perf_counter()
    if sweep is not None:
        budgets = np.asarray(sweep, float)
    else:
        # budget/1e3 .. budget x 1e3, but not below the budget at which a fixed student would
        # see a single token per parameter (the laws say little about less).
        lo = float(budget) / 1e3
        if student is not None:
            lo = max(lo, float(3.0 * flops_model.forward(student) * student))
        budgets = np.exp(np.linspace(np.log(min(lo, float(budget))), np.log(float(budget) * 1e3),
                                     13))
    say(f"[3/4] distillation vs supervised over {len(budgets)} budgets...")
    sw = crossover(posterior, budgets, risk=risk, max_draws=sweep_draws, skip_infeasible=True,
                   **common)
    say(f"      done in {time.perf_counter() - t2:.1f} s")
    existing = None
    if teachers is not None:
        existing = choose_teacher(posterior, budget, teachers, risk=risk, new=main,
                                  max_draws=max_draws, **_teacher_settings(common))
    say("[4/4] figures...")
    figures, captions = _figures(main, risks, sw)
    meta = {"law": posterior.law, "posterior_name": getattr(posterior, "name", None),
            "data_hash": getattr(posterior, "data_hash", None),
            "posterior_draws": posterior.n_draws,
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "seconds": round(time.perf_counter() - t0, 2), **dict(info or {})}
    disc = getattr(posterior, "discrepancy", None)
    if disc is not None and main.uncertainty == "predictive":
        meta["extrapolation_discrepancy"] = disc.summary()
    return Report(allocation=main, risks=risks, sweep=sw, figures=figures, captions=captions,
                  info=meta, existing=existing)


def _teacher_settings(common: Mapping) -> dict:
    """The allocation's settings that :func:`choose_teacher` shares (not the bounds: an
    existing teacher is not searched)."""
    return {k: v for k, v in common.items() if k not in ("bounds", "uncertainty")}


def _figures(main: Allocation, risks: dict, sweep: pd.DataFrame):
    from . import plots  # matplotlib only when drawing

    ci = int(round(100 * main.ci))
    figs, caps = {}, {}

    def add(name, fig, title, text):
        figs[name] = plots.to_png(fig)
        caps[name] = (title, text)

    add("teacher_frontier", plots.plot_teacher_frontier(main),
        "Student loss vs teacher size",
        f"Median and {ci}% band of the student loss at this budget for each teacher size "
        f"({main.frontier_teacher.attrs.get('teacher_tokens')}). The star is the chosen teacher "
        "(the capacity-gap optimum under the risk measure); the dotted line is Zhang et al.'s "
        "2.5x rule; orange is the supervised alternative at the same compute.")
    add("token_frontier", plots.plot_token_frontier(main),
        "Student loss vs distillation tokens",
        "For each number of distillation tokens the teacher gets what the student leaves of "
        "the budget (as the scenario charges it) and is re-optimised. The star is the choice.")
    add("loss_distributions", plots.plot_loss_distributions(main),
        "Distilled vs supervised loss at the budget",
        "Posterior distribution of the student loss under the chosen allocation and under "
        "supervised training at the same compute (left), and of their paired difference "
        "(right; blue = distillation better).")
    add("risk_comparison", plots.plot_risk_comparison(risks, highlight=main.risk),
        "Allocation under each risk measure",
        "Teacher size, teacher tokens and distillation tokens chosen by each risk measure, "
        f"and the student loss there ({ci}% interval). The measure used for the "
        "recommendation is in red.")
    add("crossover", plots.plot_crossover(sweep, budget=main.budget),
        "Distillation vs supervised across budgets",
        f"Student loss (median, {ci}% band) of the best distillation allocation and of "
        "supervised training at each budget; the bottom panel is P(distillation beats "
        "supervised). The vertical line is your budget; the dotted line the crossover.")
    return figs, caps


def interval_kind(a) -> str:
    """What the printed loss intervals are: a measured run's (predictive) or the law's."""
    return ("predictive interval of a measured run" if a.uncertainty == "predictive"
            else "interval of the law's value")


def write_report(posterior, out_dir: str | os.PathLike, **kw) -> Report:
    """:func:`build_report` then :meth:`Report.write` into ``out_dir``; returns the report."""
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise DecisionError(f"output {out} exists and is not a directory")
    rep = build_report(posterior, **kw)
    rep.write(out)
    return rep
