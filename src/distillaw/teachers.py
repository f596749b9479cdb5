"""The optimal teacher, from a posterior's draws: its size and loss per student, and the
capacity-gap line (``N_T* = k N_S^s``) a distillation posterior implies.

Split from :mod:`distillaw.posterior` (which keeps ``Posterior.optimal_teacher`` as the
entry point): the searches live in :mod:`distillaw.laws.capacity_gap`; this module runs
them per draw and holds the result.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from .errors import PosteriorError
from .laws.capacity_gap import optimal_teacher_loss, optimal_teacher_size_from_law


def optimal_teacher(posterior, N_S, D_S=None, *, tokens_per_param: float | None = 20.0,
                    D_T=None, bounds=None, ci: float = 0.9, max_draws: int | None = 1000,
                    seed: int = 0) -> OptimalTeacher:
    """Distribution of the optimal teacher for students ``(N_S, D_S)``.

    - distillation posterior: per draw, the teacher loss ``L_T*`` minimising the
      student loss (:func:`distillaw.laws.optimal_teacher_loss`, searched over
      ``bounds`` in nats) and the teacher size ``N_T*`` whose supervised loss minimises
      it when the teacher is trained on ``tokens_per_param * N_T`` (or ``D_T``) tokens
      (:func:`distillaw.laws.optimal_teacher_size_from_law`); ``D_S`` is required;
    - capacity-gap posterior: ``N_T* = k N_S^s`` per draw (no losses).

    Returns an :class:`OptimalTeacher` (draws of shape ``(S, P)`` and ``summary()``).

    Example
    -------
    >>> from distillaw import Posterior, published
    >>> post = Posterior.from_params("distillation", published("busbridge2025").point())
    >>> ot = optimal_teacher(post, [1e9], [2e10])
    >>> round(float(ot.draws["L_T"][0, 0]), 3)
    1.723
    """
    if not 0.0 < ci < 1.0:
        raise PosteriorError(f"ci must be in (0, 1), got {ci}")
    NS = np.atleast_1d(np.asarray(N_S, float))
    if np.any(~np.isfinite(NS)) or np.any(NS <= 0):
        raise PosteriorError("N_S must be positive")
    if posterior.law == "supervised":
        raise PosteriorError("a supervised posterior has no teacher: fit the distillation "
                             "or capacity-gap law")
    p = posterior.param_draws(max_draws=max_draws, seed=seed)
    if posterior.law == "capacity-gap":
        NT = posterior.loss_draws({"N": NS}, params=p)
        return OptimalTeacher(NS, None, {"N_T": NT}, ci)
    if D_S is None:
        raise PosteriorError("the distillation law needs the student's tokens D_S")
    DS = np.broadcast_to(np.atleast_1d(np.asarray(D_S, float)), NS.shape)
    if np.any(~np.isfinite(DS)) or np.any(DS <= 0):
        raise PosteriorError("D_S must be positive")
    LT, LS = optimal_teacher_loss(NS, DS, p, bounds=bounds)
    kw = {"tokens_per_param": None, "D_T": D_T} if D_T is not None else {
        "tokens_per_param": tokens_per_param}
    NT, LT_size, LS_size = optimal_teacher_size_from_law(NS, DS, p, **kw)
    draws = {"L_T": np.atleast_2d(LT), "L_S": np.atleast_2d(LS), "N_T": np.atleast_2d(NT),
             "L_T_of_N_T": np.atleast_2d(LT_size), "L_S_of_N_T": np.atleast_2d(LS_size)}
    return OptimalTeacher(NS, DS, draws, ci)


class OptimalTeacher:
    """Posterior distribution of the optimal teacher for a set of students.

    ``draws`` maps names to arrays of shape ``(S, P)`` (draws x students):
    ``N_T`` (optimal teacher size) and, for a distillation posterior, ``L_T`` / ``L_S``
    (optimal teacher loss and the student loss it gives) and ``L_T_of_N_T`` /
    ``L_S_of_N_T`` (teacher and student loss at the optimal *size* under the teacher
    tokens rule).
    """

    def __init__(self, N_S, D_S, draws: Mapping[str, np.ndarray], ci: float = 0.9):
        self.N_S = np.asarray(N_S, float)
        self.D_S = None if D_S is None else np.asarray(D_S, float)
        self.draws = {k: np.asarray(v, float) for k, v in draws.items()}
        self.ci = ci

    def summary(self, ci: float | None = None) -> pd.DataFrame:
        """One row per student: median, lower, upper of each quantity."""
        ci = self.ci if ci is None else ci
        qs = [0.5, (1 - ci) / 2, (1 + ci) / 2]
        out = pd.DataFrame({"N_S": self.N_S})
        if self.D_S is not None:
            out["D_S"] = self.D_S
        for k, v in self.draws.items():
            q = np.quantile(v, qs, axis=0)
            out[f"{k}_median"], out[f"{k}_lower"], out[f"{k}_upper"] = q[0], q[1], q[2]
        return out

    def __repr__(self) -> str:
        return (f"OptimalTeacher(students={self.N_S.size}, draws="
                f"{next(iter(self.draws.values())).shape[0]}, quantities={list(self.draws)})")


def capacity_gap_from_distillation(posterior, N_S, *, D_S=None,
                                   student_tokens_per_param: float | None = None,
                                   teacher_tokens_per_param: float | None = 20.0, D_T=None,
                                   bounds=(1e6, 1e14), max_draws: int | None = 1000,
                                   seed: int = 0):
    """A capacity-gap posterior (k, s per draw) implied by a distillation posterior.

    For each draw, the optimal teacher size ``N_T*`` of every student in ``N_S`` is found
    numerically from Eq. 8 with the teacher's loss from the supervised law
    (:func:`distillaw.laws.optimal_teacher_size_from_law`); then ``log N_T* = log k +
    s log N_S`` is fitted by least squares across the students. This is how Busbridge et al.
    recover Zhang's line as a special case.

    Parameters
    ----------
    posterior : Posterior
        A distillation posterior.
    N_S : array_like
        Student sizes (at least two distinct values), e.g. ``np.geomspace(1e8, 1e10, 8)``.
    D_S, student_tokens_per_param
        Student distillation tokens: fixed ``D_S`` (scalar or per student) or
        ``student_tokens_per_param * N_S``. Exactly one.
    teacher_tokens_per_param, D_T
        Teacher training tokens: ``teacher_tokens_per_param * N_T`` (default 20) or fixed
        ``D_T``. Exactly one.
    bounds : (lo, hi)
        Teacher sizes searched. Draws whose optimum sits on a bound for any student are
        counted in ``spec["at_bound_fraction"]`` (their line is then censored).

    Example
    -------
    >>> from distillaw import Posterior, published
    >>> post = Posterior.from_params("distillation", published("busbridge2025").point())
    >>> cg = capacity_gap_from_distillation(post, np.geomspace(1e8, 1e9, 4),
    ...                                     student_tokens_per_param=20)
    >>> round(float(cg.param_draws()["s"][0]), 2)
    0.87
    """
    if posterior.law != "distillation":
        raise PosteriorError(f"needs a distillation posterior, got {posterior.law}")
    NS = np.atleast_1d(np.asarray(N_S, float))
    if NS.ndim != 1 or np.unique(NS).size < 2 or np.any(NS <= 0):
        raise PosteriorError("N_S must hold at least two distinct positive student sizes")
    if (D_S is None) == (student_tokens_per_param is None):
        raise PosteriorError("give exactly one of D_S or student_tokens_per_param")
    if (D_T is None) == (teacher_tokens_per_param is None):
        raise PosteriorError("give exactly one of D_T or teacher_tokens_per_param")
    DS = (student_tokens_per_param * NS if D_S is None
          else np.broadcast_to(np.asarray(D_S, float), NS.shape))
    p = posterior.param_draws(max_draws=max_draws, seed=seed)
    kw = {"tokens_per_param": None, "D_T": D_T} if D_T is not None else {
        "tokens_per_param": teacher_tokens_per_param}
    NT, _, _ = optimal_teacher_size_from_law(NS, DS, p, bounds=bounds, **kw)
    NT = np.atleast_2d(NT)
    x = np.log(NS)
    y = np.log(NT)
    xc = x - x.mean()
    s = (y - y.mean(axis=1, keepdims=True)) @ xc / (xc @ xc)
    log_k = y.mean(axis=1) - s * x.mean()
    lo, hi = np.log(bounds[0]), np.log(bounds[1])
    at_bound = np.any((y <= lo + 1e-3) | (y >= hi - 1e-3), axis=1)
    spec = {"source": "capacity_gap_from_distillation", "N_S": NS.tolist(),
            "D_S": DS.tolist(), "teacher_tokens_per_param": teacher_tokens_per_param,
            "D_T": D_T, "at_bound_fraction": float(at_bound.mean()),
            "parent": {"law": posterior.law, "data_hash": posterior.data_hash}}
    # type(posterior): the capacity-gap posterior is the same class (this module sits below
    # posterior.py in the layers and does not import it)
    return type(posterior).from_params("capacity-gap", {"k": np.exp(log_k), "s": s}, spec=spec)


__all__ = ["OptimalTeacher", "capacity_gap_from_distillation", "optimal_teacher"]
