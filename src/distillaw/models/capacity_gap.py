r"""Capacity-gap law as a PyMC model: optimal teacher size ``N_T* = k N_S^s`` (Zhang et al.).

Fitted on runs where several teacher sizes were tried for each student configuration
(same N_S and D_S): the student's loss is U-shaped in log teacher size, modelled locally by
:func:`distillaw.laws.capacity_gap.log_capacity_gap_curve`::

    log L_S,ij = log L_min,j + curvature_j (log N_T,ij - log k - s log N_S,j)^2

with ``L_min_j`` and ``curvature_j`` partially pooled over students (non-centred), and
``log k`` sampled at the reference student size: ``log k_ref = log(N_T*(N_ref) / N_ref)``,
so ``log k = log k_ref + (1 - s) log N_ref`` (removes the log k / s correlation when
N_S ~ 1e9). Priors centred on Zhang's s = 1, k = 2.5.

Students with fewer than three distinct teacher sizes cannot show a minimum and are left
out (noted on the card).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pymc as pm
import pytensor.tensor as pt

from ..errors import ModelError
from ..laws.capacity_gap import log_capacity_gap_curve
from ..priors import resolve_priors
from ._common import Built, create, exp_det, geometric_mean, likelihood, noise_vars
from .spec import ModelSpec

MIN_TEACHERS = 3


def build_capacity_gap(spec: ModelSpec, table: pd.DataFrame) -> Built:
    rows = table[(table["kind"].astype(str) == "distillation") & table["N_T"].notna()]
    if len(rows) == 0:
        raise ModelError("the capacity-gap law needs distillation rows with the teacher size "
                         "N_T (several teachers per student); this table has none")
    key = rows["N"].astype(float).map(repr) + "|" + rows["D"].astype(float).map(repr)
    n_teachers = rows.groupby(key)["N_T"].nunique()
    keep = n_teachers[n_teachers >= MIN_TEACHERS].index
    notes = []
    dropped = int((n_teachers < MIN_TEACHERS).sum())
    if dropped:
        notes.append(f"left out {dropped} student configuration(s) with fewer than "
                     f"{MIN_TEACHERS} teacher sizes")
    if len(keep) == 0:
        raise ModelError(f"the capacity-gap law needs students distilled from at least "
                         f"{MIN_TEACHERS} different teacher sizes; none has")
    rows = rows[key.isin(keep)].reset_index(drop=True)
    key = rows["N"].astype(float).map(repr) + "|" + rows["D"].astype(float).map(repr)
    order = rows.groupby(key)["N"].first().sort_values(kind="stable")
    students = list(order.index)
    sidx = pd.Categorical(key, categories=students).codes.astype(np.int64)
    NS = rows.groupby(key)["N"].first().loc[students].to_numpy(float)
    ref = {"N": geometric_mean(NS), **(spec.reference or {})}
    ref.pop("D", None)
    scale = {"N_ref": ref["N"], "L_ref": float(np.median(rows["L"]))}
    priors = resolve_priors("capacity-gap", spec.form, spec.priors, likelihood=spec.likelihood,
                            scale=scale, error=spec.error)
    labels = [f"N={n:.4g},D={d:.4g}" for n, d in
              zip(NS, rows.groupby(key)["D"].first().loc[students].to_numpy(float), strict=True)]
    coords = {"student": labels, "run": rows["run_id"].astype(str).to_numpy()}
    lNref = np.log(ref["N"])
    with pm.Model(coords=coords) as model:
        log_k_ref = create(priors, "log_k_ref")[0]
        s = create(priors, "s")[0]
        _, log_L_min = create(priors, "log_L_min", sidx, "student")
        _, log_curv = create(priors, "log_curvature", sidx, "student")
        log_k = log_k_ref + (1.0 - s) * lNref
        exp_det("k", log_k)
        mu = log_capacity_gap_curve(np.log(rows["N_T"].to_numpy(float)),
                                    np.log(rows["N"].to_numpy(float)), log_k=log_k, s=s,
                                    log_L_min=log_L_min, curvature=pt.exp(log_curv))
        pm.Deterministic("L_min", pt.exp(model["log_L_min"]), dims="student")
        pm.Deterministic("curvature", pt.exp(model["log_curvature"]), dims="student")
        likelihood("log_L_S", mu, np.log(rows["L"].to_numpy(float)), spec,
                   noise_vars(priors, spec), "run")
    return Built(model, spec, priors, ref, rows, notes)
