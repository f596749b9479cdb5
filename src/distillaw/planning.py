r"""Active sampling: which runs to do next to learn most about a decision, per FLOP.

Given a :class:`~distillaw.posterior.Posterior`, a *pool* of runnable candidate experiments
and a *target* quantity, :func:`plan` picks a batch of at most ``k`` runs, costing at most
``budget`` FLOPs in total, that is expected to shrink the target's posterior uncertainty the
most per FLOP spent.

Targets (each a function of the parameters, evaluated on every posterior draw)
-------------------------------------------------------------------------------
``"allocation"``
    log student loss at the allocation :func:`distillaw.decision.allocate` would choose now
    for the final training budget ``alloc_budget`` (with its ``student``, ``scenario`` and
    ``risk``): the decision-relevant number. For a supervised posterior ``allocate`` returns
    the compute-optimal (N, D) and the target is the log loss there. The chosen point is
    held fixed and the target evaluated on the planner's own draws.
``"teacher"``
    log of the optimal teacher size N_T* for a given student (N_S, D_S) under the
    distillation law with teachers trained on 20 tokens per parameter
    (:func:`distillaw.laws.optimal_teacher_size_from_law`).
points (DataFrame or CSV path)
    log loss at a set of expensive points (a "target region"); the criterion averages over
    the points.

Criterion: expected variance reduction by importance re-weighting of draws
--------------------------------------------------------------------------
For a candidate batch B the gain is ``Var[T] - E_y[Var[T | y_B]]`` (averaged over target
points), with T the target on the log scale. It is estimated from the S posterior draws by
nested Monte Carlo with *fantasy* outcomes:

1. draw J scenarios; scenario j takes a reference draw ``theta_(s_j)`` and simulates the
   log-loss of every observable (each candidate run, and each new teacher's own supervised
   run) as ``log f(x; theta_(s_j)) + sigma_(s_j) eps`` with Normal or, when the posterior has
   ``nu``, Student-t noise (the fit's likelihood, from :meth:`Posterior.noise_draws`);
2. in scenario j, each draw s gets weight ``w_js ∝ prod_(b in B) p(y_jb | theta_s)``
   (the same likelihood), excluding the reference draw itself so inner and outer samples
   are independent (leave-one-out);
3. ``E_y[Var[T | y_B]] ≈ mean_j Var_(w_j)[T]``.

Why this and not a linearised Gaussian: scaling-law posteriors are curved (power laws with
uncertain exponents, an irreducible loss near a floor, the sharp broken power law of the
distillation law with a barely identified c1), so the relation between a run's outcome and
the target is nonlinear and the outcome's predictive distribution skewed. Re-weighting the
posterior's own draws needs no Jacobians, respects these shapes and the Student-t noise, and
becomes exact Gaussian conditioning in the linear-Gaussian case (tested against the conjugate
formula). Its cost is O(candidates x J x S) per greedy step in vectorised NumPy.

Its weakness: importance weights degenerate when a batch is far more informative than the
posterior has draws for (early in a study, when the posterior is still close to the prior).
The default ``criterion="auto"`` therefore uses the importance estimate while the median
effective sample size after a candidate stays at least ``ess_min`` (25 draws), and from the
first step where it does not, the linear-Gaussian estimate (condition the joint Gaussian of
target and outcomes, moments taken over the draws: exact for linear-Gaussian models, a lower
bound on the gain otherwise, never degenerate) for the rest of the batch. Which estimator
scored each run is in its ``reason`` and in ``Plan.info["criterion_per_run"]``;
``criterion="importance"`` or ``"linear"`` forces one.

Selection: greedy with fantasies, divided by cost
-------------------------------------------------
Each step adds the affordable candidate with the largest *marginal* gain per FLOP given the
runs already chosen; the scenario weights carry the chosen runs' fantasy outcomes, so a
second run that would tell us what the first already does gets little credit (no redundant
runs). A candidate is affordable when its marginal cost fits in what is left of ``budget``;
the batch never exceeds ``budget`` and never holds a pool candidate twice. Selection stops
at ``k`` runs, when nothing affordable remains, or when no candidate has a positive gain.

Cost model (FLOPs, :mod:`distillaw.laws.compute`)
-------------------------------------------------
- supervised run: ``3 F(N) D``;
- distillation: student training ``3 F(N_S) D_S`` plus teacher logits ``F(N_T) D_S``
  (the runner computes them on the fly; not charged when N_T is unknown, as in the digitised
  Busbridge data where only the teacher's loss is known);
- a *new* teacher (row without ``L_T``, with ``N_T`` and ``D_T``) adds its pretraining
  ``3 F(N_T) D_T``, **paid once per batch**: teachers are keyed by ``teacher_id`` (or by
  N_T, D_T) and the runner trains each teacher once and reuses it for every student in the
  plan. The first planned run using a teacher carries its pretraining in ``cost``; later ones
  only their own. A new teacher's run also yields its own supervised loss, which counts as a
  second observation (once per teacher) in the criterion. Teachers with a known ``L_T`` exist
  already and cost no pretraining.

Plan columns: the run-table schema with ``L`` empty (``flops`` = the run's own compute:
student training + teacher logits), plus ``cost`` (marginal FLOPs charged to the budget,
including a new teacher's pretraining the first time), ``predicted_median/lower/upper``
(90% credible interval of the law's loss, nats), ``expected_gain`` (marginal expected
reduction of the target's variance on the log scale), ``gain_share`` (that gain as a share of
the target's current variance), ``rank`` and ``reason``.

Baselines (same pool, budget, k and cost model)
-----------------------------------------------
``random``     affordable candidates in a random order (seeded);
``log-grid``   space filling in log inputs: greedy maximin over standardised
               ``log N, log D`` (and ``log N_T, log D_T`` or ``L_T``), starting from the
               cheapest candidate (or from the ``existing`` runs when given);
``d-optimal``  pseudo-Bayesian D-optimal design on the linearised model: finite-difference
               Jacobians of the log-loss in log-parameters at a subset of draws, Fisher
               information averaged over those draws, greedy gain in
               ``log det(Sigma_post^-1 + sum Fisher)`` per FLOP. It learns all parameters,
               not the target.

Every method's batch is reported with the same gain estimator, so plans compare.
Everything runs on posterior draws in NumPy; no PyMC. Deterministic for a seed.

Evidence: ``bench/active_loop.py`` (closed loop on simulated truths and the digitised
Busbridge pool/target protocol).

Example
-------
>>> import numpy as np
>>> from distillaw.posterior import Posterior
>>> rng = np.random.default_rng(0)
>>> post = Posterior.from_params("supervised", {
...     "E": rng.normal(1.7, 0.05, 300), "A": np.exp(rng.normal(6, 0.2, 300)),
...     "B": np.exp(rng.normal(6, 0.2, 300)), "alpha": rng.normal(0.34, 0.02, 300),
...     "beta": rng.normal(0.28, 0.02, 300), "sigma": np.full(300, 0.01)})
>>> pool = candidate_grid(N=[1e7, 1e8, 1e9], M=[10, 20, 40])
>>> p = plan(post, pool, target="allocation", alloc_budget=1e22, k=3, budget=1e20)
>>> len(p.runs) <= 3 and p.total_cost <= 1e20
True
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.special import gammaln

from .data import validate_runs, write_runs
from .errors import DecisionError, PlanningError, PosteriorError, RunTableError
from .laws.capacity_gap import optimal_teacher_size_from_law
from .laws.compute import DEFAULT_FLOPS, FlopsModel, distillation_flops, supervised_flops
from .posterior import Posterior

METHODS = ("active", "random", "log-grid", "d-optimal")
CRITERIA = ("auto", "importance", "linear")
TARGETS = ("allocation", "teacher")
CI = 0.9
DEFAULT_DRAWS = 1000
DEFAULT_FANTASIES = 64
# Elements per chunk of the (candidates x scenarios x draws) weight tensor (~32 MB float64).
_CHUNK_ELEMS = 4_000_000
# Cache all observables' log-likelihoods when they fit in this many bytes (float32).
_CACHE_BYTES = 300_000_000

__all__ = ["CRITERIA", "METHODS", "Plan", "Target", "candidate_grid", "expected_variance_reduction",
           "make_target", "parse_ranges", "plan", "pool_costs", "read_points", "read_pool"]


# ============================================================================ pools
_RANGE_KEYS = ("N", "D", "M", "N_T", "D_T", "M_T", "L_T", "kind", "teacher_ratio", "group")
_NUM = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"


def _parse_values(key: str, text: str) -> list[float]:
    text = text.strip()
    m = re.fullmatch(rf"({_NUM}):({_NUM}):(\d+)", text)
    if m:
        lo, hi, n = float(m.group(1)), float(m.group(2)), int(m.group(3))
        if lo <= 0 or hi <= 0 or n < 1 or hi < lo:
            raise PlanningError(f"--ranges: {key}={text}: need 0 < lo <= hi and n >= 1 "
                                "(lo:hi:n gives n log-spaced values)")
        return [float(x) for x in np.geomspace(lo, hi, n)] if n > 1 else [lo]
    vals = []
    for part in text.split(","):
        part = part.strip()
        if not re.fullmatch(_NUM, part):
            raise PlanningError(f"--ranges: {key}={text}: {part!r} is not a number "
                                "(use lo:hi:n or v1,v2,...)")
        v = float(part)
        if v <= 0:
            raise PlanningError(f"--ranges: {key}={text}: values must be > 0")
        vals.append(v)
    return vals


def parse_ranges(spec: str) -> dict:
    """Parse a ``--ranges`` spec into keyword arguments of :func:`candidate_grid`.

    Grammar: ``KEY=VALUES`` items separated by ``;`` or spaces. ``VALUES`` is ``lo:hi:n``
    (n log-spaced values, inclusive) or a comma list. Keys: ``N`` (model or student size),
    ``D`` (tokens) or ``M`` (tokens per parameter), ``N_T`` with ``D_T`` or ``M_T`` (new
    teachers to train), ``L_T`` (existing teachers of known loss), ``teacher_ratio=lo:hi``
    (keep pairs with lo <= N_T/N <= hi), ``kind=supervised|distillation|both``, ``group=G``.

    Example
    -------
    >>> kw = parse_ranges("N=1e8:1e9:3; M=20,80")
    >>> [round(x / 1e8, 3) for x in kw["N"]], kw["M"]
    ([1.0, 3.162, 10.0], [20.0, 80.0])
    """
    if not isinstance(spec, str) or not spec.strip():
        raise PlanningError("--ranges: empty spec (e.g. 'N=1e8:1e10:5; M=10,20,40')")
    out: dict = {}
    for item in re.split(r"[;\s]+", spec.strip()):
        if not item:
            continue
        if "=" not in item:
            raise PlanningError(f"--ranges: {item!r} is not KEY=VALUES "
                                f"(keys: {', '.join(_RANGE_KEYS)})")
        key, val = item.split("=", 1)
        key = key.strip()
        if key not in _RANGE_KEYS:
            raise PlanningError(f"--ranges: unknown key {key!r}; use {', '.join(_RANGE_KEYS)}")
        if key in out:
            raise PlanningError(f"--ranges: key {key!r} given twice")
        if key in ("kind", "group"):
            out[key] = val.strip()
        elif key == "teacher_ratio":
            m = re.fullmatch(rf"({_NUM}):({_NUM})", val.strip())
            if not m or not 0 < float(m.group(1)) <= float(m.group(2)):
                raise PlanningError(f"--ranges: teacher_ratio={val}: use lo:hi with 0 < lo <= hi")
            out[key] = (float(m.group(1)), float(m.group(2)))
        else:
            out[key] = _parse_values(key, val)
    if "N" not in out:
        raise PlanningError("--ranges: key N (model or student sizes) is required")
    return out


def candidate_grid(*, N: Sequence[float], D: Sequence[float] | None = None,
                   M: Sequence[float] | None = None, N_T: Sequence[float] | None = None,
                   D_T: Sequence[float] | None = None, M_T: Sequence[float] | None = None,
                   L_T: Sequence[float] | None = None, kind: str | None = None,
                   teacher_ratio: tuple[float, float] | None = None,
                   group: str | None = None) -> pd.DataFrame:
    """A pool of candidate runs on a grid, in the run-table schema (``L`` empty).

    Parameters
    ----------
    N : sizes (students for distillation).
    D, M : tokens, or tokens per parameter (``D = M N``); exactly one.
    N_T with D_T or M_T : new teachers to pretrain (every combination).
    L_T : existing teachers of known loss (no pretraining, no teacher size).
    kind : ``supervised`` (default without teachers), ``distillation`` (default with
        teachers) or ``both`` (distillations plus supervised runs at the student settings).
    teacher_ratio : keep only pairs with ``lo <= N_T / N <= hi``.

    Example
    -------
    >>> pool = candidate_grid(N=[1e8, 3e8], M=[20], N_T=[1e9], M_T=[20])
    >>> list(pool["kind"]), list(pool["N_T"])
    (['distillation', 'distillation'], [1000000000.0, 1000000000.0])
    """
    def _pos(name, v):
        if v is None:
            return None
        a = np.atleast_1d(np.asarray(v, float))
        if a.size == 0 or not np.all(np.isfinite(a)) or np.any(a <= 0):
            raise PlanningError(f"candidate grid: {name} must be positive finite numbers")
        return a

    N = _pos("N", N)
    if N is None:
        raise PlanningError("candidate grid: N is required")
    D, M, N_T, D_T, M_T, L_T = (_pos(n, v) for n, v in
                                (("D", D), ("M", M), ("N_T", N_T), ("D_T", D_T), ("M_T", M_T),
                                 ("L_T", L_T)))
    if (D is None) == (M is None):
        raise PlanningError("candidate grid: give exactly one of D (tokens) or M "
                            "(tokens per parameter)")
    if N_T is not None and (D_T is None) == (M_T is None):
        raise PlanningError("candidate grid: new teachers N_T need exactly one of D_T or M_T")
    if N_T is None and (D_T is not None or M_T is not None):
        raise PlanningError("candidate grid: D_T/M_T given without teacher sizes N_T")
    has_teachers = N_T is not None or L_T is not None
    kind = kind or ("distillation" if has_teachers else "supervised")
    if kind not in ("supervised", "distillation", "both"):
        raise PlanningError(f"candidate grid: kind must be supervised, distillation or both, "
                            f"got {kind!r}")
    if kind != "supervised" and not has_teachers:
        raise PlanningError("candidate grid: distillation candidates need teachers (N_T with "
                            "D_T/M_T, or L_T)")
    students = [(n, d) for n in N for d in (D if D is not None else M * n)]
    rows = []
    if kind in ("supervised", "both"):
        rows += [{"kind": "supervised", "N": n, "D": d} for n, d in students]
    if kind in ("distillation", "both"):
        teachers = []
        if N_T is not None:
            teachers += [{"N_T": nt, "D_T": dt} for nt in N_T
                         for dt in (D_T if D_T is not None else M_T * nt)]
        if L_T is not None:
            teachers += [{"L_T": lt} for lt in L_T]
        for n, d in students:
            for t in teachers:
                if teacher_ratio is not None and "N_T" in t and not (
                        teacher_ratio[0] <= t["N_T"] / n <= teacher_ratio[1]):
                    continue
                rows.append({"kind": "distillation", "N": n, "D": d, **t})
    if not rows:
        raise PlanningError("candidate grid is empty (teacher_ratio excludes every pair?)")
    df = pd.DataFrame(rows)
    df.insert(0, "run_id", [f"cand-{i:04d}" for i in range(len(df))])
    df["L"] = np.nan
    if group is not None:
        df["group"] = group
    return validate_runs(df, require_loss=False)


def read_pool(path: str | os.PathLike) -> pd.DataFrame:
    """Read a pool of runnable configurations (any table :func:`distillaw.loaders.load`
    reads, ``L`` empty or absent).

    Errors name the file, row and column (:class:`~distillaw.errors.RunTableError`).
    """
    from .loaders import load

    path = Path(path)
    pool = load(path, require_loss=False)
    done = pool["L"].notna().to_numpy()
    if done.any():
        i = int(np.flatnonzero(done)[0])
        raise RunTableError("a pool lists runs still to do: L must be empty (this row looks "
                            "like a finished run)", file=str(path), row=i + 1, column="L",
                            line=i + 2 if path.suffix.lower() == ".csv" else None)
    return pool


def read_points(path_or_df) -> pd.DataFrame:
    """Target points: a run table (L may be empty), a public table (e.g. the digitised
    Busbridge split: NS, DS, LT, LS), or any table with columns ``N, D`` (or their common
    names; plus ``N_T, D_T`` or ``L_T`` for distillation points), read by the one reader
    :func:`distillaw.loaders.load`."""
    from .loaders import load

    return load(path_or_df, require_loss=False)


def _teacher_keys(pool: pd.DataFrame) -> np.ndarray:
    """Key of each row's *new* teacher (None where the teacher exists or there is none)."""
    keys = np.full(len(pool), None, dtype=object)
    dist = (pool["kind"] == "distillation").to_numpy()
    new = dist & pool["L_T"].isna().to_numpy()
    tid = pool["teacher_id"] if "teacher_id" in pool.columns else pd.Series(pd.NA, index=pool.index)
    for i in np.flatnonzero(new):
        t = tid.iloc[i]
        keys[i] = (str(t) if not pd.isna(t)
                   else f"teacher-N{pool['N_T'].iloc[i]:.4g}-D{pool['D_T'].iloc[i]:.4g}")
    return keys


def pool_costs(pool: pd.DataFrame, flops_model: FlopsModel = DEFAULT_FLOPS, *,
               teacher_inference: bool = True) -> dict:
    """Cost parts of each candidate, FLOPs: ``run`` (student training + teacher logits),
    ``teacher`` (pretraining of its new teacher, 0 if none) and ``teacher_key``.

    Example
    -------
    >>> pool = candidate_grid(N=[1e8], M=[20], N_T=[1e9], M_T=[20])
    >>> c = pool_costs(pool, FlopsModel.plain())
    >>> float(c["run"][0]) == 6 * 1e8 * 2e9 + 2 * 1e9 * 2e9, float(c["teacher"][0]) == 6 * 1e9 * 2e10
    (True, True)
    """
    N = pool["N"].to_numpy(float)
    D = pool["D"].to_numpy(float)
    NT = pool["N_T"].to_numpy(float)
    DT = pool["D_T"].to_numpy(float)
    dist = (pool["kind"] == "distillation").to_numpy()
    # Student training + teacher logits = Eq. 9 in the teacher-inference scenario; rows
    # without a known teacher size pay the student's training only.
    logits = dist & ~np.isnan(NT) & teacher_inference
    safe_NT = np.where(logits, NT, 1.0)
    run = np.where(logits,
                   distillation_flops(N, D, safe_NT, np.ones_like(N), "teacher-inference",
                                      flops_model),
                   supervised_flops(N, D, flops_model))
    keys = _teacher_keys(pool)
    new = np.array([k is not None for k in keys])
    teacher = np.where(new, supervised_flops(np.where(new, NT, 1.0), np.where(new, DT, 1.0),
                                             flops_model), 0.0)
    return {"run": run, "teacher": teacher, "teacher_key": keys}


def _config_key(pool: pd.DataFrame) -> list[tuple]:
    def r(v):
        return None if pd.isna(v) else float(f"{float(v):.6g}")
    return [(k, g, r(n), r(d), r(nt), r(dt), r(lt)) for k, g, n, d, nt, dt, lt in zip(
        pool["kind"], pool["group"], pool["N"], pool["D"], pool["N_T"], pool["D_T"],
        pool["L_T"], strict=True)]


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
    from .decision import allocate  # imported here: decision pulls in its own helpers

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


# ============================================================================ criterion
def _loglik(y: np.ndarray, mu: np.ndarray, sigma: np.ndarray, nu: np.ndarray | None,
            const: np.ndarray) -> np.ndarray:
    """Log-likelihood of outcomes ``y`` (..., J, 1) under draws ``mu`` (..., 1, S)."""
    z = (y - mu) / sigma
    if nu is None:
        return const - 0.5 * z * z
    return const - 0.5 * (nu + 1.0) * np.log1p(z * z / nu)


def _ll_const(sigma: np.ndarray, nu: np.ndarray | None) -> np.ndarray:
    if nu is None:
        return -np.log(sigma) - 0.5 * np.log(2 * np.pi)
    return (gammaln((nu + 1) / 2) - gammaln(nu / 2) - 0.5 * np.log(nu * np.pi) - np.log(sigma))


class _Fantasies:
    """Scenario outcomes of every observable and their log-likelihood under every draw."""

    def __init__(self, mu_obs: np.ndarray, sigma: np.ndarray, nu: np.ndarray | None,
                 n_fantasies: int, rng: np.random.Generator):
        S, O = mu_obs.shape
        J = int(n_fantasies)
        self.S, self.O, self.J = S, O, J
        self.ref = rng.choice(S, J, replace=J > S)
        eps = (rng.standard_normal((J, O)) if nu is None
               else rng.standard_t(nu[self.ref][:, None], (J, O)))
        self.y = mu_obs[self.ref] + sigma[self.ref][:, None] * eps  # (J, O)
        self.mu = mu_obs
        self.sigma = sigma
        self.nu = nu
        self.const = _ll_const(sigma, nu)
        self._cache = None
        if O * J * S * 4 <= _CACHE_BYTES:
            self._cache = np.stack([self._compute(o) for o in range(O)]).astype(np.float32)

    def _compute(self, o: int) -> np.ndarray:
        nu = None if self.nu is None else self.nu[None, :]
        return _loglik(self.y[:, o][:, None], self.mu[None, :, o], self.sigma[None, :], nu,
                       self.const[None, :])

    def ll(self, o: int) -> np.ndarray:
        """(J, S) log-likelihood of observable ``o``'s fantasy outcomes."""
        if self._cache is not None:
            return self._cache[o]
        return self._compute(o)

    def initial_logw(self) -> np.ndarray:
        logw = np.zeros((self.J, self.S))
        # Leave the reference draw out of its own scenario: independent inner/outer samples.
        if self.S > 1:
            logw[np.arange(self.J), self.ref] = -np.inf
        return logw


def _normalised(logw: np.ndarray) -> np.ndarray:
    lw = logw - logw.max(axis=-1, keepdims=True)
    # Weights below e^-40 of the largest change no sum; their denormal exponentials would
    # slow every later operation on the array by two orders of magnitude.
    w = np.exp(lw, out=np.zeros_like(lw), where=lw > -40.0)
    w /= w.sum(axis=-1, keepdims=True)
    return w


def _weighted_var(logw: np.ndarray, Tc: np.ndarray, Tc2: np.ndarray,
                  with_ess: bool = False):
    """Mean over scenarios and target points of the weighted variance; logw (..., J, S).

    With ``with_ess`` also the median over scenarios of the effective sample size."""
    w = _normalised(logw)
    # One 2-D GEMM: stacked (..., J, S) @ (S, P) matmuls are far slower in NumPy.
    flat = w.reshape(-1, w.shape[-1])
    shape = w.shape[:-1] + (Tc.shape[1],)
    m1 = (flat @ Tc).reshape(shape)
    m2 = (flat @ Tc2).reshape(shape)
    var = np.maximum(m2 - m1 * m1, 0.0).mean(axis=(-2, -1))
    if with_ess:
        return var, np.median(1.0 / (w * w).sum(axis=-1), axis=-1)
    return var


def _ess(logw: np.ndarray) -> np.ndarray:
    w = _normalised(logw)
    return 1.0 / (w * w).sum(axis=-1)


def expected_variance_reduction(mu: np.ndarray, target: np.ndarray, sigma, nu=None, *,
                                batch: Sequence[int] = (), n_fantasies: int = 256,
                                seed: int = 0) -> np.ndarray:
    """Expected reduction of the target's variance from observing each candidate, given
    ``batch`` already observed, by importance re-weighting of draws (see module docstring).

    Parameters
    ----------
    mu : (S, C) per-draw mean outcome of each candidate (log-loss).
    target : (S,) or (S, P) per-draw target.
    sigma, nu : noise scale and Student-t degrees of freedom, scalars or (S,); ``nu=None``
        for Normal noise.

    Returns
    -------
    (C,) expected variance reduction (averaged over target points).

    Example
    -------
    >>> rng = np.random.default_rng(1)
    >>> th = rng.standard_normal(2000)
    >>> g = expected_variance_reduction(np.c_[th, 0 * th], th, 1.0)
    >>> bool(abs(g[0] - 0.5) < 0.1), bool(abs(g[1]) < 0.02)
    (True, True)
    """
    mu = np.asarray(mu, float)
    S, C = mu.shape
    T = np.asarray(target, float).reshape(S, -1)
    sig = np.broadcast_to(np.asarray(sigma, float), (S,)).copy()
    nu_a = None if nu is None else np.broadcast_to(np.asarray(nu, float), (S,)).copy()
    fan = _Fantasies(mu, sig, nu_a, n_fantasies, np.random.default_rng(seed))
    Tc = T - T.mean(axis=0)
    Tc2 = Tc * Tc
    logw = fan.initial_logw()
    for b in batch:
        logw = logw + fan.ll(int(b))
    base = _weighted_var(logw, Tc, Tc2)
    return np.array([base - _weighted_var(logw + fan.ll(c), Tc, Tc2) for c in range(C)])


# ============================================================================ plan object
@dataclass
class Plan:
    """A batch of runs to do next.

    ``runs`` is a run-table DataFrame (``L`` empty) with the extra columns described in the
    module docstring; :meth:`to_csv` writes exactly what ``distillaw run PLAN.csv`` reads.
    """

    runs: pd.DataFrame
    method: str
    target: dict
    budget: float
    k: int
    total_cost: float
    info: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.runs)

    def to_csv(self, path: str | os.PathLike) -> Path:
        """Validate and write the plan atomically (temp file + ``os.replace``)."""
        path = Path(path)
        if path.suffix.lower() != ".csv":
            raise PlanningError(f"{path}: a plan is written as .csv")
        return write_runs(self.runs, path, require_loss=False)

    def to_dict(self) -> dict:
        """JSON-able summary (what ``distillaw plan --json`` prints)."""
        cols = ["rank", "run_id", "kind", "group", "N", "D", "N_T", "D_T", "L_T", "teacher_id",
                "flops", "cost", "predicted_median", "predicted_lower", "predicted_upper",
                "expected_gain", "gain_share", "reason"]
        rows = []
        for rec in self.runs[[c for c in cols if c in self.runs.columns]].to_dict("records"):
            rows.append({k: (None if (not isinstance(v, str) and pd.isna(v)) else
                             (float(v) if isinstance(v, (float, np.floating)) else
                              int(v) if isinstance(v, (int, np.integer)) else str(v)))
                         for k, v in rec.items()})
        return {"method": self.method, "budget": self.budget, "k": self.k,
                "total_cost": self.total_cost, "n_runs": len(self.runs), "target": self.target,
                "info": self.info, "runs": rows}

    def summary(self) -> str:
        """A short human-readable table."""
        lines = [f"plan ({self.method}): {len(self.runs)} run(s), {self.total_cost:.3g} of "
                 f"{self.budget:.3g} FLOPs; target: {self.target.get('description', '')}"]
        if "sd_before" in self.info:
            lines.append(f"target log-sd {self.info['sd_before']:.4g} -> expected "
                         f"{self.info.get('sd_after', float('nan')):.4g}")
        for r in self.runs.itertuples():
            teacher = ""
            if r.kind == "distillation":
                teacher = (f" teacher N_T={r.N_T:.3g} D_T={r.D_T:.3g}" if not pd.isna(r.N_T)
                           else f" teacher L_T={r.L_T:.4g}")
            lines.append(f"{r.rank:>3} {r.run_id}  {r.kind:<12} N={r.N:.3g} D={r.D:.3g}"
                         f"{teacher}  cost={r.cost:.3g}  L~{r.predicted_median:.4g} "
                         f"[{r.predicted_lower:.4g}, {r.predicted_upper:.4g}]  "
                         f"gain={r.expected_gain:.3g}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return (f"Plan(method={self.method!r}, runs={len(self.runs)}, "
                f"total_cost={self.total_cost:.3g}, budget={self.budget:.3g})")


# ============================================================================ selection
class _Budget:
    """Marginal costs with teachers paid once per batch."""

    def __init__(self, costs: dict, budget: float):
        self.run = np.asarray(costs["run"], float)
        self.teacher = np.asarray(costs["teacher"], float)
        self.key = costs["teacher_key"]
        self.budget = float(budget)
        self.spent = 0.0
        self.paid: set = set()

    def marginal(self) -> np.ndarray:
        paid = np.array([k is not None and k in self.paid for k in self.key], bool)
        return self.run + np.where(paid, 0.0, self.teacher)

    def affordable(self, chosen: np.ndarray) -> np.ndarray:
        # Compared as spent + cost, the same float sum the plan reports: never over budget.
        return (~chosen) & (self.spent + self.marginal() <= self.budget)

    def take(self, c: int) -> float:
        cost = float(self.marginal()[c])
        self.spent += cost
        if self.key[c] is not None:
            self.paid.add(self.key[c])
        return cost


def _greedy(score_fn, update_fn, budget: _Budget, k: int, per_flop: bool):
    """Generic greedy: ``score_fn(cands) -> gains``; ``update_fn(c)`` after taking c."""
    C = len(budget.run)
    chosen = np.zeros(C, bool)
    order, gains, costs, n_aff = [], [], [], []
    for _ in range(k):
        aff = budget.affordable(chosen)
        if not aff.any():
            break
        cands = np.flatnonzero(aff)
        g = score_fn(cands)
        marg = budget.marginal()[cands]
        score = g / marg if per_flop else g
        # Deterministic tie-break: the cheaper candidate, then pool order.
        best = np.lexsort((cands, marg, -score))[0]
        if not g[best] > 0:
            break
        c = int(cands[best])
        costs.append(budget.take(c))
        chosen[c] = True
        order.append(c)
        gains.append(float(g[best]))
        n_aff.append(len(cands))
        update_fn(c)
    return order, gains, costs, n_aff


class _ImportanceState:
    def __init__(self, fan: _Fantasies, T: np.ndarray, cand_obs: list[list[int]]):
        self.fan = fan
        self.Tc = T - T.mean(axis=0)
        self.Tc2 = self.Tc * self.Tc
        self.cand_obs = cand_obs
        self.logw = fan.initial_logw()
        self.observed: set[int] = set()
        self.var0 = float(_weighted_var(self.logw, self.Tc, self.Tc2))
        self.current = self.var0

    def _new_obs(self, c: int) -> list[int]:
        return [o for o in self.cand_obs[c] if o not in self.observed]

    def scores(self, cands: np.ndarray) -> np.ndarray:
        J, S = self.logw.shape
        chunk = max(1, _CHUNK_ELEMS // (J * S))
        out = np.empty(len(cands))
        self.last_ess = np.empty(len(cands))
        for i in range(0, len(cands), chunk):
            sub = cands[i:i + chunk]
            lw = np.empty((len(sub), J, S))
            for m, c in enumerate(sub):
                lw[m] = self.logw
                for o in self._new_obs(int(c)):
                    lw[m] += self.fan.ll(o)
            var, ess = _weighted_var(lw, self.Tc, self.Tc2, with_ess=True)
            out[i:i + chunk] = self.current - var
            self.last_ess[i:i + chunk] = ess
        return out

    def update(self, c: int) -> None:
        for o in self._new_obs(c):
            self.logw = self.logw + self.fan.ll(o)
            self.observed.add(o)
        self.current = float(_weighted_var(self.logw, self.Tc, self.Tc2))


class _LinearState:
    """Gaussian conditioning of (target, outcomes) with moments from the draws."""

    def __init__(self, mu_obs: np.ndarray, T: np.ndarray, noise_var: float,
                 cand_obs: list[list[int]]):
        P = T.shape[1]
        Z = np.concatenate([T, mu_obs], axis=1)
        cov = np.cov(Z, rowvar=False).reshape(Z.shape[1], Z.shape[1])
        cov[P:, P:] += np.eye(mu_obs.shape[1]) * noise_var
        self.cov = cov
        self.P = P
        self.cand_obs = cand_obs
        self.observed: set[int] = set()
        self.var0 = float(np.trace(cov[:P, :P]) / P)
        self.current = self.var0

    def _gain(self, obs: list[int]) -> float:
        idx = [self.P + o for o in obs if o not in self.observed]
        if not idx:
            return 0.0
        Soo = self.cov[np.ix_(idx, idx)]
        Sto = self.cov[:self.P, idx]
        sol = np.linalg.solve(Soo + 1e-15 * np.eye(len(idx)), Sto.T)
        return float(np.einsum("pi,ip->", Sto, sol) / self.P)

    def scores(self, cands: np.ndarray) -> np.ndarray:
        return np.array([self._gain(self.cand_obs[int(c)]) for c in cands])

    def update(self, c: int) -> None:
        for o in self.cand_obs[c]:
            if o in self.observed:
                continue
            i = self.P + o
            col = self.cov[:, i].copy()
            self.cov = self.cov - np.outer(col, col) / max(col[i], 1e-300)
            self.observed.add(o)
        self.current = float(np.trace(self.cov[:self.P, :self.P]) / self.P)


class _AutoState:
    """Importance estimate while the draws support it, else the linear-Gaussian one.

    At each greedy step the importance gains are used when the median (over candidates) of
    the scenario-median effective sample size after adding a candidate is at least
    ``ess_min``; otherwise this step and all later ones use Gaussian conditioning (sticky,
    so one batch does not flip between estimators). ``modes`` records the choice per step.
    """

    def __init__(self, imp: _ImportanceState | None, lin: _LinearState | None, ess_min: float):
        self.imp, self.lin, self.ess_min = imp, lin, ess_min
        self.mode = "importance" if imp is not None else "linear"
        self.modes: list[str] = []

    def scores(self, cands: np.ndarray) -> np.ndarray:
        if self.mode == "importance":
            g = self.imp.scores(cands)
            if self.lin is None or np.median(self.imp.last_ess) >= self.ess_min:
                self.modes.append("importance")
                return g
            self.mode = "linear"
        self.modes.append("linear")
        return self.lin.scores(cands)

    def update(self, c: int) -> None:
        for st in (self.imp, self.lin):
            if st is not None:
                st.update(c)

    @property
    def var0(self) -> float:
        return (self.imp or self.lin).var0

    @property
    def current(self) -> float:
        return (self.imp if self.mode == "importance" else self.lin).current


class _DOptState:
    """Pseudo-Bayesian D-optimality on finite-difference Jacobians over a subset of draws."""

    def __init__(self, jac: np.ndarray, noise_var: float, prior_prec: np.ndarray,
                 cand_obs: list[list[int]]):
        # jac: (O, R, p) Jacobians of each observable at R draws.
        self.fisher = np.einsum("orp,orq->opq", jac, jac) / (jac.shape[1] * noise_var)
        self.A = prior_prec
        self.cand_obs = cand_obs
        self.observed: set[int] = set()

    def scores(self, cands: np.ndarray) -> np.ndarray:
        _, ld0 = np.linalg.slogdet(self.A)
        Ms = np.stack([self.A + sum((self.fisher[o] for o in self.cand_obs[int(c)]
                                     if o not in self.observed), np.zeros_like(self.A))
                       for c in cands])
        _, ld = np.linalg.slogdet(Ms)
        return 0.5 * (ld - ld0)

    def update(self, c: int) -> None:
        for o in self.cand_obs[c]:
            if o not in self.observed:
                self.A = self.A + self.fisher[o]
                self.observed.add(o)


def _log_grid_order(pool: pd.DataFrame, budget: _Budget, k: int,
                    existing: pd.DataFrame | None):
    """Greedy maximin in standardised log inputs (a space-filling 'log grid' on the pool)."""
    def feats(df):
        cols = [np.log(df["N"].to_numpy(float)), np.log(df["D"].to_numpy(float))]
        if (pool["kind"] == "distillation").any():
            NT = df["N_T"].to_numpy(float) if "N_T" in df else np.full(len(df), np.nan)
            DT = df["D_T"].to_numpy(float) if "D_T" in df else np.full(len(df), np.nan)
            LT = df["L_T"].to_numpy(float) if "L_T" in df else np.full(len(df), np.nan)
            if np.isfinite(pool["N_T"].to_numpy(float)).any():
                cols += [np.log(NT), np.log(DT)]
            else:
                cols += [np.log(LT)]
        return np.column_stack(cols)

    X = feats(pool)
    mu = np.nanmean(X, axis=0)
    sd = np.nanstd(X, axis=0)
    sd = np.where(sd > 0, sd, 1.0)
    Xs = np.nan_to_num((X - mu) / sd)
    chosen = np.zeros(len(pool), bool)
    ref = None
    if existing is not None and len(existing):
        ref = np.nan_to_num((feats(existing) - mu) / sd)
    order, costs = [], []
    for _ in range(k):
        aff = budget.affordable(chosen)
        if not aff.any():
            break
        cands = np.flatnonzero(aff)
        marg = budget.marginal()[cands]
        if ref is None:
            best = int(np.lexsort((cands, marg))[0])  # start from the cheapest run
        else:
            d = np.sqrt(((Xs[cands][:, None, :] - ref[None, :, :]) ** 2).sum(-1)).min(axis=1)
            best = int(np.lexsort((cands, marg, -np.round(d, 9)))[0])
        c = int(cands[best])
        costs.append(budget.take(c))
        chosen[c] = True
        order.append(c)
        ref = Xs[[c]] if ref is None else np.vstack([ref, Xs[[c]]])
    return order, costs


# ============================================================================ plan()
def _observables(posterior: Posterior, pool: pd.DataFrame, params_by_group: dict,
                 keys: np.ndarray):
    """Per-draw log means of every observable: candidates, then each new teacher's own run."""
    S = next(iter(next(iter(params_by_group.values())).values())).shape[0]
    mu_c = np.empty((S, len(pool)))
    for g, p in params_by_group.items():
        rows = np.flatnonzero(pool["_pgroup"].to_numpy() == g)
        if len(rows):
            mu_c[:, rows] = np.log(posterior.loss_draws(pool.iloc[rows], params=p))
    teachers = list(dict.fromkeys(k for k in keys if k is not None))
    mu_t = np.empty((S, len(teachers)))
    for j, key in enumerate(teachers):
        i = int(np.flatnonzero(keys == key)[0])
        row = pool.iloc[[i]]
        pts = pd.DataFrame({"kind": ["supervised"], "N": row["N_T"].to_numpy(float),
                            "D": row["D_T"].to_numpy(float)})
        mu_t[:, j] = np.log(posterior.loss_draws(pts, params=params_by_group[
            row["_pgroup"].iloc[0]]))[:, 0]
    tindex = {k: len(pool) + j for j, k in enumerate(teachers)}
    cand_obs = [[c] + ([tindex[keys[c]]] if keys[c] is not None else []) for c in range(len(pool))]
    return np.concatenate([mu_c, mu_t], axis=1), cand_obs, teachers


def _jacobians(posterior: Posterior, pool: pd.DataFrame, params_by_group: dict,
               keys: np.ndarray, rows: np.ndarray):
    """Finite-difference d log f / d log theta for every observable at draws ``rows``."""
    g0 = next(iter(params_by_group))
    names = [n for n, v in params_by_group[g0].items()
             if np.all(v > 0) and np.std(np.log(v)) > 1e-10]
    if not names:
        raise PlanningError("d-optimal: the posterior has no varying parameters")
    sub = {g: {n: v[rows] for n, v in p.items()} for g, p in params_by_group.items()}
    base, _, _ = _observables(posterior, pool, sub, keys)
    h = 1e-4
    jac = np.empty((base.shape[1], len(rows), len(names)))
    for i, n in enumerate(names):
        pert = {g: {**p, n: p[n] * np.exp(h)} for g, p in sub.items()}
        up, _, _ = _observables(posterior, pool, pert, keys)
        jac[:, :, i] = ((up - base) / h).T
    logs = np.log(np.column_stack([params_by_group[g0][n] for n in names]))
    cov = np.atleast_2d(np.cov(logs, rowvar=False))
    cov = cov + np.eye(len(names)) * 1e-10 * max(np.trace(cov), 1e-12)
    return np.nan_to_num(jac), np.linalg.inv(cov)


def _prepare_pool(pool, posterior: Posterior, group: str | None) -> pd.DataFrame:
    if isinstance(pool, (str, os.PathLike)):
        pool = read_pool(pool)
    elif isinstance(pool, pd.DataFrame):
        pool = validate_runs(pool if "L" in pool.columns else pool.assign(L=np.nan),
                             require_loss=False)
        if pool["L"].notna().any():
            i = int(np.flatnonzero(pool["L"].notna().to_numpy())[0])
            raise RunTableError("a pool lists runs still to do: L must be empty", row=i + 1,
                                column="L")
    else:
        raise PlanningError(f"pool must be a DataFrame or a CSV path, got {type(pool).__name__}")
    if len(pool) == 0:
        raise PlanningError("the candidate pool is empty")
    if posterior.law == "capacity-gap":
        raise PlanningError("a capacity-gap posterior does not predict run outcomes; plan with "
                            "a supervised or distillation posterior")
    if posterior.law == "supervised" and (pool["kind"] == "distillation").any():
        i = int(np.flatnonzero((pool["kind"] == "distillation").to_numpy())[0])
        raise PlanningError(f"pool row {i + 1} is a distillation run but the posterior is a "
                            "supervised law")
    # Identical configurations are one candidate: a batch never holds the same run twice.
    keys = _config_key(pool)
    keep = ~pd.Series(keys).duplicated().to_numpy()
    pool = pool[keep].reset_index(drop=True)
    groups = posterior.groups
    pg = pool["group"].astype(str).to_numpy().copy()
    # Rows without a group get the target's group, or the posterior's only group, so the
    # runs land in the group the next fit pools them with.
    fill = group if group is not None else (groups[0] if len(groups) == 1 else None)
    if fill is not None:
        pg = np.where(pg == "default", fill, pg)
        pool["group"] = pg
    if len(groups) > 1:
        bad = ~np.isin(pg, groups)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise PlanningError(f"pool row {i + 1}: group {pg[i]!r} is not in the posterior "
                                f"(groups: {', '.join(groups)}); pass group= for rows without "
                                "one")
        pool["_pgroup"] = pg
    else:
        pool["_pgroup"] = "__single__"
    return pool


def plan(posterior: Posterior, pool, *, target="allocation", k: int, budget: float,
         cost: str | FlopsModel = "flops", seed: int = 0, method: str = "active",
         criterion: str = "auto", ess_min: float = 25.0, group: str | None = None,
         student: float | None = None, student_tokens: float | None = None,
         alloc_budget: float | None = None, scenario: str = "best-case", risk: str = "mean",
         draws: int = DEFAULT_DRAWS, n_fantasies: int = DEFAULT_FANTASIES,
         per_flop: bool = True, teacher_inference: bool = True,
         existing: pd.DataFrame | None = None, run_prefix: str | None = None,
         allocate_kwargs: Mapping | None = None) -> Plan:
    """Choose up to ``k`` runs from ``pool`` within ``budget`` FLOPs.

    Parameters
    ----------
    posterior : Posterior
        Supervised or distillation posterior with observation noise (``sigma``, ``nu``).
    pool : DataFrame or path
        Candidate runs in the run-table schema with ``L`` empty
        (:func:`candidate_grid`, :func:`read_pool`).
    target : ``"allocation"``, ``"teacher"``, points (DataFrame/CSV), an ``Allocation`` or
        a :class:`Target`.
    k : maximum number of runs (> 0).
    budget : maximum total FLOPs of the batch (> 0), teachers' pretraining included.
    cost : ``"flops"`` (Busbridge F(N) with context/vocabulary terms), ``"6nd"`` (F = 2N) or
        a :class:`~distillaw.laws.compute.FlopsModel`.
    seed : seeds the draw subset, the fantasy outcomes and the random baseline.
    method : ``active`` (default), ``random``, ``log-grid`` or ``d-optimal``.
    criterion : gain estimator: ``auto`` (default: importance re-weighting while the draws
        support it, i.e. median effective sample size >= ``ess_min``, then Gaussian
        conditioning for the rest of the batch), ``importance`` or ``linear``. Used to select
        (``active``) and to report every method's expected gains.
    ess_min : effective sample size (draws) below which ``auto`` switches to ``linear``.
    group : group of a hierarchical posterior used for the target and for pool rows whose
        group is ``default`` (a posterior with a single group gives its group to such rows).
    student, student_tokens, alloc_budget, scenario, risk : target settings (student size
        N_S and tokens D_S for ``teacher``, default D_S = 20 N_S; final budget, compute
        scenario and risk measure for ``allocation``, passed to
        :func:`distillaw.decision.allocate`).
    draws : posterior draws used (thinned with ``seed``).
    n_fantasies : fantasy scenarios J of the importance criterion.
    per_flop : divide gains by marginal cost (default); ``False`` maximises gain per run.
    teacher_inference : charge teacher logits ``F(N_T) D_S`` on distillation runs.
    existing : finished runs (run table), used by ``log-grid`` to fill gaps around them.
    run_prefix : prefix of the plan's run ids (default from the posterior's data hash
        and the seed, so a new round gets new ids and re-planning is idempotent).

    Returns
    -------
    Plan

    Raises
    ------
    PlanningError, RunTableError
        Bad pool, target, budget, k or method; a posterior without noise draws.

    Example
    -------
    >>> post = Posterior.from_params("supervised", {"E": [1.6, 1.8], "A": 400.0, "B": 400.0,
    ...     "alpha": 0.34, "beta": 0.28, "sigma": 0.01})
    >>> p = plan(post, candidate_grid(N=[1e7, 1e8], M=[20]), target="allocation",
    ...          alloc_budget=1e21, k=1, budget=1e19, draws=2, n_fantasies=8)
    >>> p.total_cost <= 1e19
    True
    """
    if method not in METHODS:
        raise PlanningError(f"unknown method {method!r}; use {', '.join(METHODS)}")
    if criterion not in CRITERIA:
        raise PlanningError(f"unknown criterion {criterion!r}; use {', '.join(CRITERIA)}")
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k <= 0:
        raise PlanningError(f"k must be a positive integer, got {k!r}")
    try:
        budget = float(budget)
    except (TypeError, ValueError):
        raise PlanningError(f"budget must be a number of FLOPs, got {budget!r}") from None
    if not np.isfinite(budget) or budget <= 0:
        raise PlanningError(f"budget must be > 0 FLOPs, got {budget:g}")
    if draws < 2 or n_fantasies < 1 or not ess_min > 0:
        raise PlanningError("draws must be >= 2, n_fantasies >= 1 and ess_min > 0")
    if isinstance(cost, FlopsModel):
        fm = cost
    elif cost == "flops":
        fm = DEFAULT_FLOPS
    elif cost == "6nd":
        fm = FlopsModel.plain()
    else:
        raise PlanningError(f"unknown cost model {cost!r}; use 'flops', '6nd' or a FlopsModel")
    if not isinstance(posterior, Posterior):
        raise PlanningError(f"posterior must be a distillaw Posterior, got "
                            f"{type(posterior).__name__}")
    groups = posterior.groups
    if len(groups) > 1 and group is None:
        raise PlanningError(f"the posterior has groups ({', '.join(groups)}): pass group= for "
                            "the target")
    pool = _prepare_pool(pool, posterior, group)

    # ---- draws (aligned across groups: same thinning for the same seed)
    n_use = min(int(draws), posterior.n_draws)
    try:
        noise = posterior.noise_draws(max_draws=n_use, seed=seed)
        params_t = posterior.param_draws(group, max_draws=n_use, seed=seed)
        if len(groups) > 1:
            params_by_group = {g: posterior.param_draws(g, max_draws=n_use, seed=seed)
                               for g in sorted(set(pool["_pgroup"]))}
        else:
            params_by_group = {"__single__": params_t}
    except PosteriorError as exc:
        raise PlanningError(f"posterior: {exc}") from None
    S = next(iter(params_t.values())).shape[0]
    sigma = noise["sigma"]
    nu = noise.get("nu")
    if sigma.shape[0] != S:
        raise PlanningError("posterior noise draws do not line up with its parameter draws")

    tgt = make_target(posterior, target, params_t, group=group, student=student,
                      student_tokens=student_tokens, alloc_budget=alloc_budget,
                      scenario=scenario, risk=risk, flops_model=fm,
                      allocate_kwargs=allocate_kwargs, seed=seed)
    T = np.asarray(tgt.draws, float).reshape(S, -1)
    if not np.all(np.isfinite(T)):
        raise PlanningError("the target is not finite on every posterior draw")

    costs = pool_costs(pool, fm, teacher_inference=teacher_inference)
    keys = costs["teacher_key"]
    mu_obs, cand_obs, teachers = _observables(posterior, pool, params_by_group, keys)
    if not np.all(np.isfinite(mu_obs)):
        bad = int(np.flatnonzero(~np.isfinite(mu_obs).all(axis=0))[0])
        raise PlanningError(f"the law is not finite for pool row {min(bad, len(pool) - 1) + 1}")
    bud = _Budget(costs, budget)
    rng = np.random.default_rng(seed)
    noise_var = float(np.mean(sigma ** 2))
    info: dict = {"draws": S, "pool_size": len(pool), "new_teachers": len(teachers),
                  "cost_model": fm.to_dict(), "teacher_inference": teacher_inference,
                  "per_flop": per_flop}

    def estimator(crit: str) -> _AutoState:
        # Same draws and fantasy seed for selection and reporting: reproducible numbers.
        imp = lin = None
        if crit in ("auto", "importance"):
            fan = _Fantasies(mu_obs, sigma, nu, n_fantasies, np.random.default_rng(seed + 1))
            imp = _ImportanceState(fan, T, cand_obs)
        if crit in ("auto", "linear"):
            lin = _LinearState(mu_obs, T, noise_var, cand_obs)
        return _AutoState(imp, lin, ess_min)

    if method == "active":
        state = estimator(criterion)
        order, gains, paid, n_aff = _greedy(state.scores, state.update, bud, k, per_flop)
        reasons = [f"active ({mode}): best expected {'gain/FLOP' if per_flop else 'gain'} "
                   f"of {n} affordable" for mode, n in zip(state.modes, n_aff, strict=False)]
    else:
        if method == "d-optimal":
            R = min(S, 48)
            rows = np.sort(np.random.default_rng(seed + 2).choice(S, R, replace=False))
            jac, prec = _jacobians(posterior, pool, params_by_group, keys, rows)
            dstate = _DOptState(jac, noise_var, prec, cand_obs)
            order, dgain, paid, n_aff = _greedy(dstate.scores, dstate.update, bud, k, per_flop)
            info["d_gain"] = dgain
            reasons = [f"d-optimal: best log-det gain{'/FLOP' if per_flop else ''} of {n} "
                       "affordable" for n in n_aff]
        elif method == "random":
            order, paid = [], []
            chosen = np.zeros(len(pool), bool)
            for c in rng.permutation(len(pool)):
                if len(order) >= k:
                    break
                if bud.affordable(chosen)[c]:
                    paid.append(bud.take(int(c)))
                    chosen[c] = True
                    order.append(int(c))
            reasons = ["random (seeded) affordable candidate"] * len(order)
        else:  # log-grid
            order, paid = _log_grid_order(pool, bud, k, existing)
            reasons = ["log-grid: farthest (maximin, standardised log inputs) affordable "
                       "candidate"] * len(order)
        # Report every method's batch with the same estimator (marginal gains in order).
        state = estimator(criterion)
        gains = []
        for c in order:
            gains.append(float(state.scores(np.array([c]))[0]))
            state.update(c)
        reasons = [f"{r}; gain by {m}" for r, m in zip(reasons, state.modes, strict=True)]
    info["criterion"] = criterion
    info["criterion_per_run"] = list(state.modes)
    info["sd_before"] = float(np.sqrt(state.var0))
    info["sd_after"] = float(np.sqrt(max(state.current, 0.0)))
    if state.imp is not None:
        info["n_fantasies"] = int(n_fantasies)
        ess = _ess(state.imp.logw)
        info["ess_min"] = float(ess.min())
        info["ess_median"] = float(np.median(ess))
        if order and criterion == "importance" and info["ess_median"] < ess_min:
            info["warning"] = (f"importance weights are degenerate (median ESS "
                               f"{info['ess_median']:.1f} of {S} draws after the batch): "
                               "expected gains are rough; use more draws or criterion "
                               "'auto'/'linear'")

    total = float(sum(paid))
    if total > budget:  # the budget is a hard constraint
        raise PlanningError(f"internal error: plan costs {total:g} > budget {budget:g}")
    runs = _plan_table(posterior, pool, order, paid, gains, reasons, state.var0, costs,
                       params_by_group, seed, run_prefix)
    tsum = tgt.summary()
    return Plan(runs=runs, method=method, target=tsum, budget=budget, k=int(k),
                total_cost=total, info=info)


def _plan_table(posterior, pool, order, paid, gains, reasons, var0, costs, params_by_group,
                seed, run_prefix) -> pd.DataFrame:
    cols = ["run_id", "kind", "group", "N", "D", "L", "N_T", "D_T", "L_T", "teacher_id", "seed",
            "flops", "source", "cost", "predicted_median", "predicted_lower",
            "predicted_upper", "expected_gain", "gain_share", "rank", "reason"]
    if not order:
        return validate_runs(pd.DataFrame({c: pd.Series([], dtype=object) for c in cols})
                             .assign(N=pd.Series([], dtype=float), D=pd.Series([], dtype=float),
                                     L=pd.Series([], dtype=float)), require_loss=False)
    sel = pool.iloc[order].reset_index(drop=True)
    prefix = run_prefix or f"plan-{(posterior.data_hash or 'nohash')[:8]}-s{seed}"
    keys = costs["teacher_key"]
    rows = []
    for r, c in enumerate(order):
        row = sel.iloc[r]
        g = row["_pgroup"]
        loss = posterior.loss_draws(pool.iloc[[c]], params=params_by_group[g])[:, 0]
        q = np.quantile(loss, [0.5, (1 - CI) / 2, (1 + CI) / 2])
        tid = row["teacher_id"]
        if keys[c] is not None:
            tid = keys[c]
        tag = "s" if row["kind"] == "supervised" else "d"
        rows.append({
            "run_id": f"{prefix}-{r + 1:02d}{tag}", "kind": row["kind"], "group": row["group"],
            "N": row["N"], "D": row["D"], "L": np.nan, "N_T": row["N_T"], "D_T": row["D_T"],
            "L_T": row["L_T"], "teacher_id": tid, "seed": int(seed),
            "flops": float(costs["run"][c]), "source": "distillaw plan",
            "cost": float(paid[r]), "predicted_median": q[0], "predicted_lower": q[1],
            "predicted_upper": q[2],
            "expected_gain": gains[r] if r < len(gains) else np.nan,
            "gain_share": (gains[r] / var0 if r < len(gains) and var0 > 0 else np.nan),
            "rank": r + 1, "reason": reasons[r] + (
                "; pays its teacher's pretraining" if paid[r] > costs["run"][c] * (1 + 1e-12)
                else ""),
        })
    return validate_runs(pd.DataFrame(rows), require_loss=False)

