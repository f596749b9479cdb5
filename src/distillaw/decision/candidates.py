"""Scoring explicit candidate allocations, the budget surface's grid, and the choice among
existing teachers (:func:`choose_teacher`)."""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import pandas as pd

from ..draws import interval
from ..errors import DecisionError
from ..extrapolation import extrapolation
from ..laws.compute import (
    DEFAULT_FLOPS,
    FlopsModel,
    scenario_deltas,
)
from ..laws.distillation import log_distillation_loss
from ..risk import Risk, parse_risk
from .draws import _collect_draws, _Params, sup_log_loss
from .geometry import _infeasible_message, _Surface
from .result import TeacherChoice
from .scoring import _pool, _precision, _Scorer
from .search import _distillation_scores
from .settings import CI, _bounds, check_budget


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


# ============================================================================ existing teachers
def choose_teacher(posterior, budget: float, teachers, *, student: float | None = None,
                   scenario: str = "best-case", risk: str | Risk = "mean", new=None,
                   flops_model: FlopsModel = DEFAULT_FLOPS, supervised=None,
                   group: str | None = None, max_draws: int | None = 4000, seed: int = 0,
                   columns: Mapping[str, str] | None = None, ci: float = CI) -> TeacherChoice:
    """Choose among existing teachers (checkpoints already trained) under the posterior.

    Every teacher is already trained, so its pretraining is never charged; its logits on
    the distillation tokens are charged when the ``scenario`` charges teacher inference
    (``teacher-inference``, ``teacher-pretraining+inference``): ``D_S`` is what the budget
    leaves, ``C = 3 F(N_S) D_S + [inference] F(N_T) D_S``. A teacher's loss is its measured
    ``L_T`` when the table gives one (taken as exact: the same on every draw), else the
    supervised law's ``L(N_T, D_T)`` on each draw. The student's loss draws follow from the
    distillation law; the teachers are ranked by the ``risk`` measure (lower is better).

    Parameters
    ----------
    posterior : Posterior or mapping
        A distillation posterior (as for :func:`allocate`).
    budget : float
        Total FLOPs for the student's training (and the teacher's logits where charged).
    teachers : path or DataFrame
        Existing teachers, read by :func:`distillaw.loaders.load_teachers` (columns
        ``N_T``, ``D_T`` and/or ``L_T``, optional ``teacher_id``; ``columns=`` names them).
    student : float, optional
        Student size N_S; ``None`` takes the student of ``new`` (required then).
    new : Allocation, optional
        The allocation with a new (invented) teacher under the same posterior, budget,
        scenario, risk and draws (``max_draws``, ``seed``, ``group``, ``supervised``): the
        result then says what a new teacher would add (the difference in risk score and
        P(new beats the best existing teacher), paired draw by draw).
    scenario, risk, flops_model, supervised, group, max_draws, seed
        As for :func:`allocate`.

    Returns
    -------
    TeacherChoice

    Example
    -------
    >>> from distillaw import published
    >>> from distillaw.posterior import Posterior
    >>> post = Posterior.from_params("distillation", published("busbridge2025").point())
    >>> tc = choose_teacher(post, 1e21, pd.DataFrame({"N_T": [1e9, 7e9], "D_T": [2e10, 1.4e11]}),
    ...                     student=1e9, scenario="teacher-inference")
    >>> tc.best
    'teacher-2'
    """
    from ..posterior import Posterior

    C = check_budget(budget)
    risk_obj = parse_risk(risk)
    table = read_teachers(teachers, scenario, columns=columns)
    if isinstance(posterior, Posterior) and posterior.law != "distillation":
        raise DecisionError(f"choosing a teacher needs a distillation posterior, not "
                            f"{posterior.law}")
    if student is None:
        if new is None:
            raise DecisionError("choosing among existing teachers needs the student size "
                                "(student=, --student)")
        student = new.N_S
    student = float(student)
    if not (np.isfinite(student) and student > 0):
        raise DecisionError(f"student size must be a positive number, got {student!r}")
    law, draws = _collect_draws(posterior, supervised, group, max_draws, seed)
    if law != "distillation":
        raise DecisionError("choosing a teacher needs a distillation posterior")
    charged = bool(scenario_deltas(scenario)[0])  # (delta_lgt, delta_pre)
    NT = table["N_T"].to_numpy(float)
    F_S = float(flops_model.forward(student))
    F_T = np.where(np.isnan(NT), 0.0, flops_model.forward(np.where(np.isnan(NT), 1.0, NT)))
    D_S = C / (3.0 * F_S + (F_T if charged else np.zeros_like(F_T)))  # one per teacher
    params = _Params(draws)
    sup, dis = params.view(None, 1)
    lNS = math.log(student)
    lDS = np.log(D_S)[None, :]
    measured = ~table["L_T"].isna().to_numpy()
    with np.errstate(invalid="ignore", divide="ignore"):
        lLT_law = sup_log_loss(sup, np.log(NT)[None, :],
                               np.log(table["D_T"].to_numpy(float))[None, :])
    lLT = np.where(measured[None, :], np.log(table["L_T"].to_numpy(float))[None, :], lLT_law)
    lLt = sup_log_loss(sup, lNS, lDS)
    loss = np.exp(log_distillation_loss(lNS, lDS, lLT, lLt, **dis))        # (S, K)
    score = np.asarray(risk_obj(loss), float)
    D_sup = C / (3.0 * F_S)
    sup_loss = np.exp(sup_log_loss(sup, lNS, math.log(D_sup)))[:, 0]
    best = int(np.argmin(score))
    rows = []
    for k in range(len(table)):
        med, lo, hi = interval(loss[:, k], ci)
        lt = np.exp(lLT[:, k])
        rows.append({"teacher_id": table["teacher_id"].iloc[k], "N_T": _num(NT[k]),
                     "D_T": _num(table["D_T"].iloc[k]),
                     "L_T": float(np.median(lt)), "L_T_source": "measured" if measured[k]
                     else "law", "D_S": float(D_S[k]), "loss_median": med, "loss_lower": lo,
                     "loss_upper": hi, "score": float(score[k]),
                     "p_beats_supervised": float(np.mean(loss[:, k] < sup_loss))})
    ranked = pd.DataFrame(rows).sort_values("score", kind="stable").reset_index(drop=True)
    comparison = None
    if new is not None:
        comparison = _new_teacher_comparison(new, loss[:, best], score[best], risk_obj, student,
                                             C, scenario, params.S)
    warnings = []
    if isinstance(posterior, Posterior):
        # How far the chosen teacher's distillation lies outside the fitted data.
        b = ranked.iloc[0]
        query = {"kind": "distillation", "N_S": student, "D_S": b["D_S"],
                 "N_T": b["N_T"], "L_T": b["L_T"], "supervised_N": student,
                 "supervised_D": D_sup}
        warnings = [f"{b['teacher_id']}: {f.message}" for f in
                    extrapolation(posterior, query, supervised=supervised
                                  if isinstance(supervised, Posterior) else None)]
    return TeacherChoice(
        student=student, budget=C, scenario=scenario, risk=risk_obj.spec,
        risk_label=risk_obj.label, ci=ci, inference_charged=charged, table=ranked,
        best=str(table["teacher_id"].iloc[best]), best_loss_draws=loss[:, best],
        supervised_D=D_sup, supervised_loss_draws=sup_loss, new=comparison,
        n_draws=params.S, warnings=warnings)


def read_teachers(teachers, scenario: str = "best-case", *,
                  columns: Mapping[str, str] | None = None) -> pd.DataFrame:
    """The table of existing teachers (:func:`distillaw.loaders.load_teachers`), checked for
    ``scenario``: where it charges the teachers' logits every teacher needs its size N_T.
    Cheap; :func:`choose_teacher` and the report call it before any work."""
    from ..loaders import load_teachers

    scenario_deltas(scenario)                     # raises with the list of scenarios
    table = load_teachers(teachers, columns=columns)
    NT = table["N_T"].to_numpy(float)
    if scenario_deltas(scenario)[0] and np.isnan(NT).any():
        i = int(np.flatnonzero(np.isnan(NT))[0])
        raise DecisionError(f"teacher {table['teacher_id'].iloc[i]!r} has no size N_T: the "
                            f"{scenario} scenario charges its logits, which need it")
    return table


def _num(x) -> float | None:
    x = float(x)
    return None if math.isnan(x) else x


def _new_teacher_comparison(new, best_loss: np.ndarray, best_score: float, risk_obj: Risk,
                            student: float, C: float, scenario: str, S: int) -> dict:
    """What the new teacher of allocation ``new`` adds over the best existing one, draw by
    draw on the same draws."""
    if new.kind != "distillation" or new.N_T is None:
        raise DecisionError("new= must be a distillation allocation (with a new teacher)")
    if new.budget != C or new.scenario != scenario or new.risk != risk_obj.spec:
        raise DecisionError("new= must be allocated with the same budget, scenario and risk")
    if not math.isclose(new.N_S, student, rel_tol=1e-9) or len(new.loss_draws) != S:
        raise DecisionError("new= must be allocated for the same student on the same draws "
                            "(max_draws, seed, group, supervised)")
    new_score = float(risk_obj(new.loss_draws[:, None])[0])
    pretrain = new.flops.get("teacher_pretraining") or new.flops.get(
        "teacher_pretraining_uncharged", 0.0)
    return {"N_T": new.N_T, "D_T": new.D_T, "D_S": new.D_S,
            "L_T_median": float(np.median(new.teacher_loss_draws)),
            "score": new_score, "score_gain": best_score - new_score,
            "p_new_beats_best": float(np.mean(new.loss_draws < best_loss)),
            "pretraining_flops": float(pretrain),
            "pretraining_charged": bool(new.flops.get("teacher_pretraining", 0.0) > 0)}
