"""Targets: what the planner learns about, as per-draw values."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import DecisionError, PlanningError
from ..laws.capacity_gap import optimal_teacher_size_from_law
from ..laws.compute import DEFAULT_FLOPS, FlopsModel
from ..posterior import Posterior
from .pools import read_points
from .settings import CI, TARGETS


# ============================================================================ targets
@dataclass
class Target:
    """What the planner learns about: per-draw values (log scale), shape ``(S, P)``.

    ``kind`` is ``allocation``, ``teacher`` or ``points``; ``description`` says it in words;
    ``points`` holds the inputs at which it is evaluated (the chosen allocation, the student,
    or the target region).
    """

    kind: str
    draws: np.ndarray
    description: str
    points: pd.DataFrame | None = None
    allocation: object | None = None
    scale: str = "log"

    def summary(self) -> dict:
        v = np.exp(self.draws)
        q = np.quantile(v, [0.5, (1 - CI) / 2, (1 + CI) / 2], axis=0)
        return {"kind": self.kind, "description": self.description, "n_points":
                int(self.draws.shape[1]), "median": q[0].tolist(), "lower": q[1].tolist(),
                "upper": q[2].tolist(), "log_sd": np.std(self.draws, axis=0).tolist()}


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
    if hasattr(target, "loss_draws") and hasattr(target, "N_S"):  # an Allocation
        return _target_from_allocation(posterior, target, params)
    if isinstance(target, Target):
        if target.draws.shape[0] != next(iter(params.values())).shape[0]:
            raise PlanningError("the Target's draws do not line up with the planner's draws")
        return target
    if isinstance(target, str) and target not in TARGETS:
        if Path(target).suffix.lower() not in (".csv", ".parquet", ".pq"):
            raise PlanningError(f"unknown target {target!r}; use allocation, teacher, or a "
                                "CSV of target points")
        if not Path(target).is_file():
            raise PlanningError(f"target points file not found: {target}")
    if isinstance(target, (pd.DataFrame, os.PathLike)) or (
            isinstance(target, str) and target not in TARGETS):
        pts = read_points(target)
        if posterior.law == "supervised" and (pts["kind"] == "distillation").any():
            raise PlanningError("target points include distillation runs but the posterior is "
                                "a supervised law")
        draws = np.log(posterior.loss_draws(pts, params=params))
        return Target("points", draws, f"log loss at {len(pts)} target points", points=pts)
    if target == "teacher":
        if posterior.law != "distillation":
            raise PlanningError("target 'teacher' needs a distillation posterior")
        if student is None:
            raise PlanningError("target 'teacher' needs the student size (student=N_S)")
        D_S = student_tokens if student_tokens is not None else tokens_per_param * student
        NT, _, _ = optimal_teacher_size_from_law(np.array([student]), np.array([D_S]),
                                                 params, tokens_per_param=tokens_per_param)
        draws = np.log(np.asarray(NT, float).reshape(-1, 1))
        pts = pd.DataFrame({"N": [student], "D": [D_S]})
        return Target("teacher", draws,
                      f"log optimal teacher size for N_S={student:.3g}, D_S={D_S:.3g} "
                      f"(teachers at {tokens_per_param:g} tokens/parameter)", points=pts)
    # allocation
    if alloc_budget is None or not np.isfinite(alloc_budget) or alloc_budget <= 0:
        raise PlanningError("target 'allocation' needs the final training budget "
                            "(alloc_budget / --alloc-budget, FLOPs > 0)")
    if posterior.law not in ("supervised", "distillation"):
        raise PlanningError(f"target 'allocation' needs a supervised or distillation "
                            f"posterior, not {posterior.law}")
    S = next(iter(params.values())).shape[0]
    kw = {"regret": False, "frontier": False, "flops_model": flops_model, "max_draws": S,
          "seed": seed, **dict(allocate_kwargs or {})}
    alloc = _allocate(posterior, alloc_budget, student=student, scenario=scenario, risk=risk,
                      group=group, **kw)
    return _target_from_allocation(posterior, alloc, params)


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
                      f"(N={N_S:.3g}, D={D_S:.3g}, risk {alloc.risk})", points=pts,
                      allocation=alloc)
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
    return Target("allocation", draws, desc, points=pts, allocation=alloc)
