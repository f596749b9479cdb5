"""Candidate pools: grids of runs, reading pools and target points, their FLOP costs."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from ..data import validate_runs
from ..errors import PlanningError, RunTableError
from ..laws.compute import DEFAULT_FLOPS, FlopsModel, distillation_flops, supervised_flops
from ..posterior import Posterior


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
    from ..loaders import load

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
    from ..loaders import load

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
