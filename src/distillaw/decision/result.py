"""The result of an allocation: :class:`Allocation`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..presentation import _confidence, fmt_count, fmt_flops, fmt_small
from .settings import CI


# ============================================================================ result
def _summ(x: np.ndarray, ci: float = CI) -> dict:
    x = np.asarray(x, float)
    q = np.quantile(x, [0.5, (1 - ci) / 2, (1 + ci) / 2])
    return {"median": float(q[0]), "lower": float(q[1]), "upper": float(q[2]),
            "mean": float(x.mean()), "sd": float(x.std())}


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

    # ------------------------------------------------------------------ derived numbers
    @property
    def L_T(self) -> float | None:
        """Median teacher loss (nats) of the chosen teacher."""
        if self.teacher_loss_draws is None:
            return None
        return float(np.median(self.teacher_loss_draws))

    @property
    def loss(self) -> dict:
        """Student loss at the allocation: median, lower, upper, mean, sd."""
        return _summ(self.loss_draws, self.ci)

    @property
    def supervised_loss(self) -> dict:
        return _summ(self.supervised_loss_draws, self.ci)

    @property
    def p_beats_supervised(self) -> float | None:
        """P(student loss < supervised loss at the same compute), over draws."""
        if self.kind != "distillation":
            return None
        return float(np.mean(self.loss_draws < self.supervised_loss_draws))

    @property
    def advantage(self) -> dict | None:
        """Supervised loss minus distilled loss (positive = distillation better)."""
        if self.kind != "distillation":
            return None
        return _summ(self.supervised_loss_draws - self.loss_draws, self.ci)

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
            "student_loss": self.loss, "risk_score": self.score,
            "teacher_loss": (None if self.teacher_loss_draws is None
                             else _summ(self.teacher_loss_draws, self.ci)),
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
        }
        if self.regret_draws is not None:
            d["regret"] = _summ(self.regret_draws, self.ci)
        if self.draw_optima is not None:
            d["draw_optima"] = {c: _summ(self.draw_optima[c].to_numpy(), self.ci)
                                for c in self.draw_optima.columns}
        for name in ("frontier_teacher", "frontier_tokens"):
            df = getattr(self, name)
            d[name] = None if df is None else _records(df)
        if self.frontier_teacher is not None:
            d["frontier_teacher_tokens"] = self.frontier_teacher.attrs.get("teacher_tokens")
        if draws:
            d["draws"] = {"student_loss": self.loss_draws.tolist(),
                          "supervised_loss": self.supervised_loss_draws.tolist()}
            if self.teacher_loss_draws is not None:
                d["draws"]["teacher_loss"] = self.teacher_loss_draws.tolist()
            if self.regret_draws is not None:
                d["draws"]["regret"] = self.regret_draws.tolist()
        return _jsonable(d)

    def headline(self) -> str:
        """One sentence: what to do."""
        s = self.loss
        if self.kind == "supervised":
            return (f"Train supervised: a {fmt_count(self.N_S)}-parameter model on "
                    f"{fmt_count(self.D_S)} tokens (loss {s['median']:.3f} nats).")
        if self.recommendation == "supervised":
            p = self.p_beats_supervised
            who = (f"the {fmt_count(self.supervised_N)} student" if self.student_fixed else
                   f"a {fmt_count(self.supervised_N)} model")
            why = ("distillation is very unlikely to beat it here" if p < 0.05 else
                   "distillation is unlikely to beat it here" if p < 0.2 else
                   "distillation beats it less often than not" if p < 0.45 else
                   "distillation is a toss-up here and supervised training is simpler")
            return (f"Train {who} supervised on {fmt_count(self.supervised_D)} tokens: {why} "
                    f"(P(distillation beats supervised) = {p:.2f}).")
        if self.scenario == "best-case":
            teacher = (f"use an existing teacher of loss {self.L_T:.3f} nats "
                       f"(e.g. {fmt_count(self.N_T)} parameters trained on "
                       f"{fmt_count(self.D_T)} tokens)")
        elif self.scenario == "teacher-inference":
            teacher = (f"use a {fmt_count(self.N_T)} teacher trained on {fmt_count(self.D_T)} "
                       f"tokens (its training not charged)")
        else:
            teacher = f"train a {fmt_count(self.N_T)} teacher on {fmt_count(self.D_T)} tokens"
        student = ("the" if self.student_fixed else "a") + f" {fmt_count(self.N_S)} student"
        return (f"Distil: {teacher}, then distil {student} on {fmt_count(self.D_S)} tokens; "
                f"P(beats supervised) = {self.p_beats_supervised:.2f}.")

    def summary(self) -> str:
        """Plain-words summary: what to do, what loss to expect, how sure we are."""
        s, ci = self.loss, int(round(100 * self.ci))
        lines = [self.headline(), ""]
        lines.append(f"Budget {fmt_flops(self.budget)}, scenario {self.scenario or 'supervised'}"
                     f", risk measure {self.risk} ({self.risk_label}), {self.n_draws} "
                     f"posterior draws.")
        if self.kind == "distillation":
            f = self.flops
            lines.append(
                f"Compute: student training {100 * f['student_training'] / self.budget:.0f}%, "
                f"teacher logits {100 * f['teacher_inference'] / self.budget:.0f}%, teacher "
                f"pretraining {100 * f['teacher_pretraining'] / self.budget:.0f}% of the budget"
                + (" (teacher pretraining not charged: "
                   f"{fmt_flops(f['teacher_pretraining_uncharged'])})"
                   if f.get("teacher_pretraining_uncharged") else "") + ".")
            lines.append(f"Distilled student loss: {s['median']:.3f} nats ({ci}% interval "
                         f"{s['lower']:.3f}-{s['upper']:.3f}); teacher loss "
                         f"{self.L_T:.3f}.")
            sv = self.supervised_loss
            lines.append(f"Supervised alternative ({fmt_count(self.supervised_N)} on "
                         f"{fmt_count(self.supervised_D)} tokens, same compute): "
                         f"{sv['median']:.3f} nats ({sv['lower']:.3f}-{sv['upper']:.3f}).")
            adv = self.advantage
            lines.append(f"Distillation is better by {adv['median']:+.4f} nats ({ci}% interval "
                         f"{adv['lower']:+.4f} to {adv['upper']:+.4f}); P(distillation beats "
                         f"supervised) = {self.p_beats_supervised:.2f} "
                         f"({_confidence(self.p_beats_supervised)}).")
        else:
            lines.append(f"Loss: {s['median']:.3f} nats ({ci}% interval {s['lower']:.3f}-"
                         f"{s['upper']:.3f}).")
        if self.regret_draws is not None:
            lines.append(f"Expected regret against each draw's own optimum: "
                         f"{fmt_small(self.expected_regret)} nats; P(chosen allocation "
                         f"optimal, within {self.optimal_tol:g} nats) = {self.p_optimal:.2f}.")
        lines += [f"Note: {w}" for w in self.warnings]
        return "\n".join(lines)

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
