"""Scoring explicit candidate allocations and the budget surface's grid."""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import pandas as pd

from ..errors import DecisionError
from ..laws.compute import (
    DEFAULT_FLOPS,
    FlopsModel,
)
from ..risk import Risk, parse_risk
from .draws import _collect_draws, _Params
from .geometry import _infeasible_message, _Surface
from .scoring import _pool, _precision, _Scorer
from .search import _distillation_scores
from .settings import _bounds


# ============================================================================ scoring API
def score_allocations(posterior, candidates, *, risk: str | Risk = "mean",
                      supervised=None, group: str | None = None,
                      max_draws: int | None = 4000, seed: int = 0, threads: int | None = None,
                      precision: str = "float64", return_draws: bool = False):
    """Score explicit candidate allocations on the posterior draws (lower is better).

    ``candidates`` is a DataFrame or mapping with columns ``N_S, D_S`` and, for
    distillation, ``N_T, D_T`` (a supervised candidate has no teacher columns, or NaN
    there). Returns the risk score of each candidate, shape ``(K,)``, and with
    ``return_draws`` also the loss draws ``(S, K)``. No budget is imposed here: this is the
    scoring kernel the search uses, exposed for custom candidate sets. ``precision=
    "float32"`` scores in single precision (several times faster, ~1e-6 nats rounding);
    the loss draws returned are always float64.

    Example
    -------
    >>> from distillaw import published
    >>> from distillaw.posterior import Posterior
    >>> post = Posterior.from_params("distillation", published("busbridge2025").point())
    >>> cands = {"N_S": [0.546e9], "D_S": [20 * 0.546e9], "N_T": [1.821e9],
    ...          "D_T": [20 * 1.821e9]}
    >>> round(float(score_allocations(post, cands)[0]), 4)
    2.4238
    """
    df = pd.DataFrame({k: np.atleast_1d(np.asarray(v, float)) for k, v in dict(candidates).items()}
                      ) if not isinstance(candidates, pd.DataFrame) else candidates
    for col in ("N_S", "D_S"):
        if col not in df.columns:
            raise DecisionError(f"candidates need a column {col!r}")
    law, draws = _collect_draws(posterior, supervised, group, max_draws, seed)
    teacher = {"N_T", "D_T"} <= set(df.columns) and law == "distillation"
    vals = {c: pd.to_numeric(df[c], errors="coerce").to_numpy(float)
            for c in ("N_S", "D_S", "N_T", "D_T") if c in df.columns}
    for c, v in vals.items():
        if c in ("N_S", "D_S") and not np.all(v > 0):
            raise DecisionError(f"candidates: {c} must be positive numbers")
    with _pool(threads) as pool:
        scorer = _Scorer(_Params(draws), parse_risk(risk), pool, _precision(precision))
        args = [np.log(vals["N_S"])[None, :], np.log(vals["D_S"])[None, :]]
        if teacher:
            with np.errstate(invalid="ignore", divide="ignore"):
                args += [np.log(vals["N_T"])[None, :], np.log(vals["D_T"])[None, :]]
            sup_rows = ~(np.isfinite(args[2]) & np.isfinite(args[3]))[0]
            if sup_rows.any():      # rows without a teacher are supervised candidates
                args[2] = np.where(sup_rows, np.nan, args[2])
        score = scorer(*args)[0]
        if teacher and sup_rows.any():
            score[sup_rows] = scorer(args[0][:, sup_rows], args[1][:, sup_rows])[0]
        if not return_draws:
            return score
        if teacher:
            loss = scorer.draws(*(a[0] for a in args))
            if sup_rows.any():
                loss[:, sup_rows] = scorer.draws(args[0][0, sup_rows], args[1][0, sup_rows])
        else:
            loss = scorer.draws(args[0][0], args[1][0])
        return score, loss


def budget_surface(posterior, budget: float, *, student: float,
                   scenario: str = "best-case", risk: str | Risk = "mean", n_compute: int = 100,
                   n_size: int = 100, flops_model: FlopsModel = DEFAULT_FLOPS,
                   bounds: Mapping | None = None, supervised=None, group: str | None = None,
                   max_draws: int | None = 4000, seed: int = 0,
                   threads: int | None = None, precision: str = "mixed") -> pd.DataFrame:
    """Score a ``n_compute x n_size`` grid of allocations on the budget surface.

    Rows: the teacher's pretraining FLOPs (log-spaced over its feasible range) x teacher
    sizes (log-spaced over the sizes feasible at that compute); ``D_T`` and ``D_S`` follow
    from the budget. This is the coarse grid of the search, exposed for plots and checks
    (scored in float32 like the search's grids unless ``precision="float64"``).
    Returns a DataFrame with ``teacher_flops, N_T, D_T, D_S, score`` (``inf`` = infeasible).

    Example
    -------
    >>> from distillaw import published
    >>> from distillaw.posterior import Posterior
    >>> post = Posterior.from_params("distillation", published("busbridge2025").point())
    >>> df = budget_surface(post, 1e21, student=1e9, scenario="teacher-pretraining",
    ...                     n_compute=20, n_size=20)
    >>> len(df), bool(df["score"].min() < 2.3)
    (400, True)
    """
    risk_obj = parse_risk(risk)
    law, draws = _collect_draws(posterior, supervised, group, max_draws, seed)
    if law != "distillation":
        raise DecisionError("budget_surface needs a distillation posterior")
    surface = _Surface(float(budget), scenario, flops_model, _bounds(bounds))
    lNS = np.full(n_compute, math.log(student))
    tlo, thi = surface.t_range(lNS[:1])
    if not tlo[0] <= thi[0]:
        raise DecisionError(_infeasible_message(surface, student))
    t = np.linspace(tlo[0], thi[0], n_compute)
    ulo, uhi = surface.u_range(lNS, t)
    ok = ulo <= uhi
    ulo, uhi = np.where(ok, ulo, 0.0), np.where(ok, uhi, 0.0)
    u = ulo[:, None] + (uhi - ulo)[:, None] * np.linspace(0.0, 1.0, n_size)[None, :]
    with _pool(threads) as pool:
        scorer = _Scorer(_Params(draws), risk_obj, pool, _precision(precision))
        f = _distillation_scores(surface, scorer, False)
        score = f(None, lNS[:, None], t[:, None], u)
    score[~ok] = np.inf
    F_T = flops_model.forward(np.exp(u))
    lDS = (surface.lDS(lNS[:, None], t[:, None], u, F_T) if surface.d_lgt
           else np.broadcast_to(surface.lDS(lNS[:, None], t[:, None]), u.shape))
    return pd.DataFrame({"teacher_flops": np.repeat(np.exp(t), n_size),
                         "N_T": np.exp(u).ravel(),
                         "D_T": (np.exp(t)[:, None] / (3.0 * F_T)).ravel(),
                         "D_S": np.exp(lDS).ravel(), "score": score.ravel()})
