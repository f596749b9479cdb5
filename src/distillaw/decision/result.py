"""The result of an allocation: :class:`Allocation`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..draws import summarize
from ..presentation import (
    allocation_headline,
    allocation_summary,
    teacher_choice_headline,
    teacher_choice_summary,
)
from .settings import CI

# ============================================================================ result


@dataclass(frozen=True)
class _OwnOptima:
    """Each draw's own optimum, found by the same search run on that draw alone.

    ``best``: the loss there, one per draw; ``table``: the optimum's sizes per draw (``None``
    for a fixed student trained supervised: there is nothing to choose); ``draws``: the
    indices of the draws they belong to (``None``: all draws).
    """

    best: np.ndarray
    table: pd.DataFrame | None
    draws: np.ndarray | None = None

    def regret(self, loss: np.ndarray) -> np.ndarray:
        """Regret of the chosen allocation (its ``loss`` draws) against each draw's own
        optimum; that optimum can be no worse than the choice, so it is clipped at 0."""
        chosen = loss if self.draws is None else loss[self.draws]
        return np.maximum(chosen - self.best, 0.0)


@dataclass(frozen=True)
class _Choice:
    """What the search found: the allocation, its loss draws and the supervised alternative
    at the same compute. Teacher fields are ``None`` for a supervised allocation."""

    N_S: float
    D_S: float
    loss: np.ndarray
    score: float
    flops: dict
    sup_N: float
    sup_D: float
    sup_loss: np.ndarray
    N_T: float | None = None
    D_T: float | None = None
    L_T: np.ndarray | None = None
    own: _OwnOptima | None = None


@dataclass
class Allocation:
    """The chosen allocation, its loss distribution and how sure we are.

    Sizes are raw counts, losses nats, compute FLOPs. ``N_T``/``D_T`` are ``None`` for a
    supervised allocation. Loss summaries are medians with the central ``ci`` interval.
    ``regret_draws`` (and ``draw_optima``) cover every draw for a fixed student, and a
    random subset of at most ``FREE_DRAWS`` draws when the student size is searched too.
    """

    kind: str
    scenario: str | None
    risk: str
    budget: float
    student_fixed: bool
    N_S: float
    D_S: float
    N_T: float | None
    D_T: float | None
    flops: dict
    loss_draws: np.ndarray = field(repr=False)
    teacher_loss_draws: np.ndarray | None = field(repr=False)
    score: float
    supervised_N: float
    supervised_D: float
    supervised_loss_draws: np.ndarray = field(repr=False)
    regret_draws: np.ndarray | None = field(repr=False)
    optimal_tol: float
    draw_optima: pd.DataFrame | None = field(repr=False)
    frontier_teacher: pd.DataFrame | None = field(repr=False)
    frontier_tokens: pd.DataFrame | None = field(repr=False)
    flops_model: dict = field(repr=False)
    bounds: dict = field(repr=False)
    n_draws: int
    seed: int
    tie_tol: float = 0.0
    ci: float = CI
    risk_label: str = ""
    n_evaluations: int = 0
    warnings: list = field(default_factory=list)
    near_optimal: dict | None = field(default=None, repr=False)
    resolution: object | None = field(default=None, repr=False)
    # What the reported loss intervals, risk score and P(beats) describe: "law" (the law's
    # value: parameter uncertainty only) or "predictive" (a run you train and measure: the
    # law times the posterior's error model; see decision/predictive.py). The law's draws
    # stay in loss_draws / supervised_loss_draws (regret and the search use them).
    uncertainty: str = "law"
    uncertainty_label: str = "law only (parameter uncertainty)"
    predictive_loss_draws: np.ndarray | None = field(default=None, repr=False)
    predictive_supervised_loss_draws: np.ndarray | None = field(default=None, repr=False)
    law_score: float | None = None

    # ------------------------------------------------------------------ derived numbers
    @property
    def L_T(self) -> float | None:
        """Median teacher loss (nats) of the chosen teacher."""
        if self.teacher_loss_draws is None:
            return None
        return float(np.median(self.teacher_loss_draws))

    @property
    def reported_loss_draws(self) -> np.ndarray:
        """The student-loss draws the reported numbers use (predictive where available)."""
        return self.loss_draws if self.predictive_loss_draws is None else self.predictive_loss_draws

    @property
    def reported_supervised_loss_draws(self) -> np.ndarray:
        return (self.supervised_loss_draws if self.predictive_supervised_loss_draws is None
                else self.predictive_supervised_loss_draws)

    @property
    def loss(self) -> dict:
        """Student loss at the allocation: median, lower, upper, mean, sd (of a measured run
        when ``uncertainty == "predictive"``, else of the law's value)."""
        return summarize(self.reported_loss_draws, self.ci)

    @property
    def law_loss(self) -> dict:
        """The law's value of the student loss (parameter uncertainty only)."""
        return summarize(self.loss_draws, self.ci)

    @property
    def supervised_loss(self) -> dict:
        return summarize(self.reported_supervised_loss_draws, self.ci)

    @property
    def p_beats_supervised(self) -> float | None:
        """P(student loss < supervised loss at the same compute), over draws (of measured
        runs when ``uncertainty == "predictive"``)."""
        if self.kind != "distillation":
            return None
        return float(np.mean(self.reported_loss_draws < self.reported_supervised_loss_draws))

    @property
    def advantage(self) -> dict | None:
        """Supervised loss minus distilled loss (positive = distillation better)."""
        if self.kind != "distillation":
            return None
        return summarize(self.reported_supervised_loss_draws - self.reported_loss_draws,
                         self.ci)

    @property
    def expected_regret(self) -> float | None:
        return None if self.regret_draws is None else float(np.mean(self.regret_draws))

    @property
    def p_optimal(self) -> float | None:
        """P(the chosen allocation is within ``optimal_tol`` nats of the draw's own optimum)."""
        if self.regret_draws is None:
            return None
        return float(np.mean(self.regret_draws <= self.optimal_tol))

    @property
    def recommendation(self) -> str:
        """``"distil"`` when distillation more likely than not beats supervised, else
        ``"supervised"``."""
        if self.kind != "distillation":
            return "supervised"
        return "distil" if self.p_beats_supervised > 0.5 else "supervised"

    def budget_check(self) -> float:
        """Relative difference between the charged FLOPs and the budget (should be ~0)."""
        return abs(self.flops["total"] - self.budget) / self.budget

    # ------------------------------------------------------------------ output
    def to_dict(self, draws: bool = False) -> dict:
        """JSON-able summary (numbers, summaries, frontiers; draws only if asked)."""
        d = {
            "kind": self.kind, "scenario": self.scenario, "risk": self.risk,
            "risk_label": self.risk_label, "budget_flops": self.budget,
            "student_fixed": self.student_fixed, "recommendation": self.recommendation,
            "allocation": {"N_S": self.N_S, "D_S": self.D_S, "N_T": self.N_T, "D_T": self.D_T,
                           "tokens_per_param_student": self.D_S / self.N_S,
                           "tokens_per_param_teacher": (self.D_T / self.N_T
                                                        if self.N_T else None)},
            "flops": dict(self.flops),
            "uncertainty": self.uncertainty, "uncertainty_label": self.uncertainty_label,
            "student_loss": self.loss, "student_loss_law": self.law_loss,
            "risk_score": self.score, "risk_score_law": self.law_score,
            "teacher_loss": (None if self.teacher_loss_draws is None
                             else summarize(self.teacher_loss_draws, self.ci)),
            "supervised": {"N": self.supervised_N, "D": self.supervised_D,
                           "loss": self.supervised_loss},
            "p_beats_supervised": self.p_beats_supervised,
            "advantage_over_supervised": self.advantage,
            "expected_regret": self.expected_regret, "p_optimal": self.p_optimal,
            "optimal_tol": self.optimal_tol, "tie_tol": self.tie_tol,
            "ci": self.ci, "n_draws": self.n_draws, "seed": self.seed,
            "flops_model": self.flops_model, "bounds": {k: list(v) for k, v in
                                                        self.bounds.items()},
            "budget_relative_error": self.budget_check(),
            "warnings": list(self.warnings),
            "near_optimal": self.near_optimal_dict(),
        }
        if self.regret_draws is not None:
            d["regret"] = summarize(self.regret_draws, self.ci)
        if self.draw_optima is not None:
            d["draw_optima"] = {c: summarize(self.draw_optima[c].to_numpy(), self.ci)
                                for c in self.draw_optima.columns}
        for name in ("frontier_teacher", "frontier_tokens"):
            df = getattr(self, name)
            d[name] = None if df is None else _records(df)
        if self.frontier_teacher is not None:
            d["frontier_teacher_tokens"] = self.frontier_teacher.attrs.get("teacher_tokens")
        if draws:
            d["draws"] = {"student_loss": self.loss_draws.tolist(),
                          "supervised_loss": self.supervised_loss_draws.tolist()}
            if self.predictive_loss_draws is not None:
                d["draws"]["student_loss_predictive"] = self.predictive_loss_draws.tolist()
                d["draws"]["supervised_loss_predictive"] = (
                    self.predictive_supervised_loss_draws.tolist())
            if self.teacher_loss_draws is not None:
                d["draws"]["teacher_loss"] = self.teacher_loss_draws.tolist()
            if self.regret_draws is not None:
                d["draws"]["regret"] = self.regret_draws.tolist()
        return _jsonable(d)

    def near_optimal_dict(self) -> dict | None:
        """The set of allocations within ``optimal_tol`` nats of the best risk score, as
        ranges ``{"N_T": [low, high], ...}`` (``None`` when there is nothing to choose)."""
        n = self.near_optimal
        if not n:
            return None
        return {"tol_nats": n["tol"], "student": n["student"],
                "ranges": {k: list(v) for k, v in n["ranges"].items()},
                "reaches_bound": list(n["reaches_bound"])}

    def headline(self) -> str:
        """One sentence: what to do (written by :mod:`distillaw.presentation`)."""
        return allocation_headline(self)

    def summary(self) -> str:
        """Plain-words summary: what to do, what loss to expect, how sure we are (written by
        :mod:`distillaw.presentation`)."""
        return allocation_summary(self)

    def __str__(self) -> str:
        return self.summary()


@dataclass
class TeacherChoice:
    """The choice among existing teachers (:func:`~distillaw.decision.choose_teacher`).

    ``table``: one row per teacher, best first: ``teacher_id, N_T, D_T, L_T`` (median;
    ``L_T_source`` ``measured`` or ``law``), ``D_S`` (what the budget leaves), the student's
    loss ``loss_median/lower/upper`` (central ``ci`` interval), the risk ``score`` and
    ``p_beats_supervised`` (the same student trained supervised on the whole budget).
    ``new``: what a new (invented) teacher would add, or ``None``: its ``N_T, D_T, D_S``,
    ``score``, ``score_gain`` (best existing score minus the new one, nats: positive = the
    new teacher is better), ``p_new_beats_best`` (paired draws), ``pretraining_flops`` and
    whether the scenario charges them. ``warnings``: how far the chosen teacher's run lies
    outside the data the posterior was fitted on.
    """

    student: float
    budget: float
    scenario: str
    risk: str
    risk_label: str
    ci: float
    inference_charged: bool
    table: pd.DataFrame
    best: str
    best_loss_draws: np.ndarray = field(repr=False)
    supervised_D: float
    supervised_loss_draws: np.ndarray = field(repr=False)
    new: dict | None
    n_draws: int
    warnings: list = field(default_factory=list)  # extrapolation of the chosen teacher's run

    @property
    def best_row(self) -> dict:
        """The best teacher's row of ``table``."""
        return self.table.iloc[0].to_dict()

    @property
    def p_beats_supervised(self) -> float:
        return float(np.mean(self.best_loss_draws < self.supervised_loss_draws))

    def to_dict(self) -> dict:
        """JSON-able summary (``existing_teachers`` in allocation.json)."""
        return _jsonable({
            "student": self.student, "budget_flops": self.budget, "scenario": self.scenario,
            "risk": self.risk, "risk_label": self.risk_label, "ci": self.ci,
            "teacher_inference_charged": self.inference_charged,
            "teacher_pretraining_charged": False, "best": self.best,
            "p_beats_supervised": self.p_beats_supervised,
            "supervised": {"N": self.student, "D": self.supervised_D,
                           "loss": summarize(self.supervised_loss_draws, self.ci)},
            "teachers": _records(self.table), "new_teacher": self.new,
            "n_draws": self.n_draws, "headline": self.headline(),
            "warnings": list(self.warnings),
        })

    def headline(self) -> str:
        """One sentence: which existing teacher, and what a new one would add (written by
        :mod:`distillaw.presentation`)."""
        return teacher_choice_headline(self)

    def summary(self) -> str:
        return teacher_choice_summary(self)

    def __str__(self) -> str:
        return self.summary()


def _records(df: pd.DataFrame) -> list[dict]:
    return _jsonable(df.to_dict(orient="records"))


def _jsonable(o):
    """Plain Python for JSON: NaN/inf -> None, numpy scalars/arrays -> Python."""
    if isinstance(o, Mapping):
        return {str(k): _jsonable(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_jsonable(v) for v in o]
    if isinstance(o, np.ndarray):
        return _jsonable(o.tolist())
    if isinstance(o, (bool, np.bool_)):
        return bool(o)
    if isinstance(o, (int, np.integer)):
        return int(o)
    if isinstance(o, (float, np.floating)):
        return float(o) if np.isfinite(o) else None
    return o
