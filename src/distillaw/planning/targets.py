"""Targets: what the planner learns about, as per-draw values.

A :class:`Target` is made by one of its named constructors and evaluated on the planner's
draws (so it lines up with the candidates' outcomes):

- :meth:`Target.allocation`: the log student loss at the allocation
  :func:`distillaw.decision.allocate` chooses now for a final budget (or at a given
  ``Allocation``, held fixed);
- :meth:`Target.teacher`: the log optimal teacher size for a student;
- :meth:`Target.points`: the log loss at a set of expensive points (a "target region").

:func:`as_target` turns whatever ``plan(target=...)`` accepts (these, ``"allocation"``,
``"teacher"``, a DataFrame or path of points, an ``Allocation``) into one of them, once.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from ..draws import interval
from ..errors import DecisionError, PlanningError
from ..laws.capacity_gap import optimal_teacher_size_from_law
from ..laws.compute import DEFAULT_FLOPS, FlopsModel
from ..posterior import Posterior
from .pools import read_points
from .settings import CI, TARGETS

# Teacher sizes searched by the "teacher" target (as in optimal_teacher_size_from_law).
TEACHER_BOUNDS = (1e6, 1e14)


@dataclass
class Target:
    """What the planner learns about: per-draw values (log scale), shape ``(S, P)``.

    ``kind`` is ``allocation``, ``teacher`` or ``points``; ``description`` says it in words;
    ``inputs`` holds the inputs at which it is evaluated (the chosen allocation, the student,
    or the target region); ``chosen`` the ``Allocation`` an allocation target sits at.
    ``draws`` is ``None`` until the target is evaluated on the planner's draws
    (:meth:`evaluate`); ``settings`` keeps what a named constructor needs to do that.

    Example
    -------
    >>> t = Target.teacher(1e9)
    >>> t.kind, t.evaluated
    ('teacher', False)
    """

    kind: str
    draws: np.ndarray | None
    description: str = ""
    inputs: pd.DataFrame | None = None
    chosen: object | None = None
    scale: str = "log"
    settings: dict = field(default_factory=dict, repr=False)
    warnings: list = field(default_factory=list)

    # ------------------------------------------------------------------ named constructors
    @classmethod
    def allocation(cls, at=None, *, budget: float | None = None, student: float | None = None,
                   scenario: str = "best-case", risk: str = "mean",
                   allocate_kwargs: Mapping | None = None) -> Target:
        """Log student loss at an allocation: at the ``Allocation`` ``at`` (held fixed), or
        at the one :func:`~distillaw.decision.allocate` chooses on the planner's draws for
        the final training ``budget`` (with ``student``, ``scenario``, ``risk``)."""
        if at is not None:
            return cls("allocation", None, "", chosen=at)
        if budget is None or not np.isfinite(budget) or budget <= 0:
            raise PlanningError("target 'allocation' needs the final training budget "
                                "(alloc_budget / --alloc-budget, FLOPs > 0)")
        return cls("allocation", None, "", settings={
            "budget": float(budget), "student": student, "scenario": scenario, "risk": risk,
            "allocate_kwargs": dict(allocate_kwargs or {})})

    @classmethod
    def teacher(cls, student: float | None, *, student_tokens: float | None = None,
                tokens_per_param: float = 20.0,
                bounds: tuple[float, float] = TEACHER_BOUNDS) -> Target:
        """Log optimal teacher size for a student of ``student`` parameters trained on
        ``student_tokens`` (default ``tokens_per_param * student``), teachers trained on
        ``tokens_per_param`` tokens per parameter and searched within ``bounds``
        (:func:`distillaw.laws.optimal_teacher_size_from_law`). When the optimum sits on a
        bound for many draws, :attr:`warnings` says so."""
        lo, hi = (float(b) for b in bounds)
        if not 0 < lo < hi < np.inf:
            raise PlanningError(f"teacher size bounds must satisfy 0 < low < high, got "
                                f"{bounds!r}")
        return cls("teacher", None, "", settings={
            "student": student, "student_tokens": student_tokens,
            "tokens_per_param": float(tokens_per_param), "bounds": (lo, hi)})

    @classmethod
    def points(cls, points) -> Target:
        """Log loss at target points: a DataFrame or a CSV/Parquet path
        (:func:`~distillaw.planning.read_points`)."""
        if isinstance(points, str):
            if Path(points).suffix.lower() not in (".csv", ".parquet", ".pq"):
                raise PlanningError(f"unknown target {points!r}; use allocation, teacher, or a "
                                    "CSV of target points")
            if not Path(points).is_file():
                raise PlanningError(f"target points file not found: {points}")
        pts = read_points(points)
        return cls("points", None, f"log loss at {len(pts)} target points", inputs=pts)

    # ------------------------------------------------------------------ evaluation
    @property
    def evaluated(self) -> bool:
        return self.draws is not None

    def evaluate(self, posterior: Posterior, params: Mapping[str, np.ndarray], *,
                 group: str | None = None, flops_model: FlopsModel = DEFAULT_FLOPS,
                 seed: int = 0) -> Target:
        """The target's draws on ``params`` (the planner's draws of ``posterior``)."""
        S = next(iter(params.values())).shape[0]
        if self.evaluated:
            if self.draws.shape[0] != S:
                raise PlanningError("the Target's draws do not line up with the planner's draws")
            return self
        if self.kind == "points":
            if posterior.law == "supervised" and (self.inputs["kind"] == "distillation").any():
                raise PlanningError("target points include distillation runs but the posterior "
                                    "is a supervised law")
            return replace(self, draws=np.log(posterior.loss_draws(self.inputs, params=params)))
        if self.kind == "teacher":
            return _teacher_target(posterior, params, **self.settings)
        if self.chosen is not None:
            return _target_from_allocation(posterior, self.chosen, params)
        if posterior.law not in ("supervised", "distillation"):
            raise PlanningError(f"target 'allocation' needs a supervised or distillation "
                                f"posterior, not {posterior.law}")
        s = self.settings
        kw = {"regret": False, "frontier": False, "flops_model": flops_model, "max_draws": S,
              "seed": seed, **s["allocate_kwargs"]}
        alloc = _allocate(posterior, s["budget"], student=s["student"],
                          scenario=s["scenario"], risk=s["risk"], group=group, **kw)
        return _target_from_allocation(posterior, alloc, params)

    def summary(self) -> dict:
        if not self.evaluated:
            raise PlanningError("the target has no draws yet: evaluate it on a posterior first")
        m, lo, hi = interval(np.exp(self.draws), CI, axis=0)
        return {"kind": self.kind, "description": self.description, "n_points":
                int(self.draws.shape[1]), "median": m.tolist(), "lower": lo.tolist(),
                "upper": hi.tolist(), "log_sd": np.std(self.draws, axis=0).tolist()}


def as_target(target, *, student: float | None = None, student_tokens: float | None = None,
              alloc_budget: float | None = None, scenario: str = "best-case",
              risk: str = "mean", tokens_per_param: float = 20.0,
              allocate_kwargs: Mapping | None = None,
              teacher_bounds: tuple[float, float] = TEACHER_BOUNDS) -> Target:
    """What ``plan(target=...)`` accepts, as a :class:`Target`: a ``Target`` as it is; an
    ``Allocation``; ``"allocation"`` or ``"teacher"`` with the keyword settings; a DataFrame
    or a CSV/Parquet path of points."""
    if isinstance(target, Target):
        return target
    if hasattr(target, "loss_draws") and hasattr(target, "N_S"):  # an Allocation
        return Target.allocation(target)
    if isinstance(target, str) and target == "allocation":
        return Target.allocation(budget=alloc_budget, student=student, scenario=scenario,
                                 risk=risk, allocate_kwargs=allocate_kwargs)
    if isinstance(target, str) and target == "teacher":
        return Target.teacher(student, student_tokens=student_tokens,
                              tokens_per_param=tokens_per_param, bounds=teacher_bounds)
    if isinstance(target, (pd.DataFrame, os.PathLike, str)):
        return Target.points(target)
    raise PlanningError(f"unknown target {target!r}; use {', '.join(TARGETS)}, points "
                        "(DataFrame or CSV), an Allocation or a Target")


def make_target(posterior: Posterior, target, params: Mapping[str, np.ndarray], *,
                group: str | None = None, student: float | None = None,
                student_tokens: float | None = None, alloc_budget: float | None = None,
                scenario: str = "best-case", risk: str = "mean",
                flops_model: FlopsModel = DEFAULT_FLOPS, tokens_per_param: float = 20.0,
                allocate_kwargs: Mapping | None = None, seed: int = 0) -> Target:
    """Build the :class:`Target` draws for ``target`` on the given parameter draws.

    ``target`` is ``"allocation"``, ``"teacher"``, a DataFrame / CSV path of points, an
    ``Allocation`` from :func:`distillaw.decision.allocate`, or a :class:`Target`.
    """
    t = as_target(target, student=student, student_tokens=student_tokens,
                  alloc_budget=alloc_budget, scenario=scenario, risk=risk,
                  tokens_per_param=tokens_per_param, allocate_kwargs=allocate_kwargs)
    return t.evaluate(posterior, params, group=group, flops_model=flops_model, seed=seed)


def _teacher_target(posterior: Posterior, params, *, student, student_tokens,
                    tokens_per_param, bounds=TEACHER_BOUNDS) -> Target:
    if posterior.law != "distillation":
        raise PlanningError("target 'teacher' needs a distillation posterior")
    if student is None:
        raise PlanningError("target 'teacher' needs the student size (student=N_S)")
    D_S = student_tokens if student_tokens is not None else tokens_per_param * student
    NT, _, _ = optimal_teacher_size_from_law(np.array([student]), np.array([D_S]),
                                             params, tokens_per_param=tokens_per_param,
                                             bounds=bounds)
    draws = np.log(np.asarray(NT, float).reshape(-1, 1))
    pts = pd.DataFrame({"N": [student], "D": [D_S]})
    return Target("teacher", draws,
                  f"log optimal teacher size for N_S={student:.3g}, D_S={D_S:.3g} "
                  f"(teachers at {tokens_per_param:g} tokens/parameter, searched in "
                  f"[{bounds[0]:.3g}, {bounds[1]:.3g}])", inputs=pts,
                  warnings=_teacher_bound_warnings(draws[:, 0], bounds))


def _teacher_bound_warnings(log_nt: np.ndarray, bounds) -> list[str]:
    """Say when the optimal teacher sits on a search bound for some draws: there the
    target is the bound, not the law's optimum."""
    out = []
    for side, b in (("lower", bounds[0]), ("upper", bounds[1])):
        n = int(np.sum(np.abs(log_nt - np.log(b)) < 1e-3))
        if n:
            med = "; the median sits there" if n > len(log_nt) / 2 else ""
            out.append(f"the optimal teacher sits on the {side} search bound ({b:.3g} "
                       f"parameters) for {n} of {len(log_nt)} draws{med}: the law's optimum "
                       f"may lie {'below' if side == 'lower' else 'above'} it, and the target "
                       f"is then the bound, not the optimum (widen the teacher range with "
                       f"--bounds N_T=LOW:HIGH / bounds=)")
    return out


def _allocate(posterior, budget, **kw):
    from ..decision import allocate  # imported here: decision pulls in its own helpers

    try:
        return allocate(posterior, budget, **kw)
    except DecisionError as exc:
        raise PlanningError(f"allocation target: {exc}") from None


def _alloc_attr(alloc, *names):
    for n in names:
        v = getattr(alloc, n, None)
        if v is not None:
            return float(v)
    return None


def _target_from_allocation(posterior: Posterior, alloc, params) -> Target:
    """Target draws at an :class:`~distillaw.decision.Allocation`'s chosen point, evaluated
    on the planner's own draws (so they line up with the candidates' outcomes)."""
    N_S = _alloc_attr(alloc, "N_S")
    D_S = _alloc_attr(alloc, "D_S")
    if N_S is None or D_S is None:
        raise PlanningError("the allocation lacks N_S and D_S")
    if getattr(alloc, "kind", None) == "supervised":
        pts = pd.DataFrame({"kind": ["supervised"], "N": [N_S], "D": [D_S]})
        draws = np.log(posterior.loss_draws(pts, params=params))
        return Target("allocation", draws,
                      f"log loss of the supervised allocation for C={alloc.budget:.3g} FLOPs "
                      f"(N={N_S:.3g}, D={D_S:.3g}, risk {alloc.risk})", inputs=pts,
                      chosen=alloc)
    if posterior.law != "distillation":
        raise PlanningError("a distillation allocation needs a distillation posterior")
    N_T = _alloc_attr(alloc, "N_T")
    D_T = _alloc_attr(alloc, "D_T")
    L_T = _alloc_attr(alloc, "L_T")
    if L_T is None and (N_T is None or D_T is None):
        raise PlanningError("the allocation lacks the teacher (N_T and D_T, or L_T)")
    row = {"kind": "distillation", "N": N_S, "D": D_S}
    if N_T is not None and D_T is not None:
        row.update(N_T=N_T, D_T=D_T)
    else:
        row["L_T"] = L_T
    pts = pd.DataFrame([row])
    draws = np.log(posterior.loss_draws(pts, params=params))
    scen = getattr(alloc, "scenario", None)
    desc = (f"log student loss at the chosen allocation (N_S={N_S:.3g}, D_S={D_S:.3g}, "
            + (f"N_T={N_T:.3g}, D_T={D_T:.3g}" if N_T is not None and D_T is not None
               else f"L_T={L_T:.3g}") + (f", {scen}" if scen else "") + ")")
    return Target("allocation", draws, desc, inputs=pts, chosen=alloc,
                  warnings=[f"allocation target: {w}" for w in getattr(alloc, "warnings", [])])
