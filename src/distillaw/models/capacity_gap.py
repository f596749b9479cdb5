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
from ..priors import CAPACITY_GAP_GROUP_PARAMS, resolve_priors
from ._common import (
    Built,
    create,
    exp_det,
    geometric_mean,
    group_labels,
    likelihood,
    noise_vars,
)
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
    coords_group, gidx_student = None, None
    if spec.group is not None:
        labels = group_labels(rows, spec.group)
        # A student configuration distilled in two families is two U-curves.
        key = labels + "|" + key
    order = rows.groupby(key)["N"].first().sort_values(kind="stable")
    students = list(order.index)
    sidx = pd.Categorical(key, categories=students).codes.astype(np.int64)
    NS = rows.groupby(key)["N"].first().loc[students].to_numpy(float)
    group_params: tuple[str, ...] = ()
    if spec.group is not None:
        coords_group = sorted(labels.unique())
        gidx_student = pd.Categorical(labels.groupby(key).first().loc[students],
                                      categories=coords_group).codes.astype(np.int64)
        group_params = (spec.group_params if spec.group_params is not None
                        else CAPACITY_GAP_GROUP_PARAMS)
    ref = {"N": geometric_mean(NS), **(spec.reference or {})}
    ref.pop("D", None)
    scale = {"N_ref": ref["N"], "L_ref": float(np.median(rows["L"]))}
    priors = resolve_priors("capacity-gap", spec.form, spec.priors, likelihood=spec.likelihood,
                            scale=scale, error=spec.error, group_params=group_params)
    names = [f"N={n:.4g},D={d:.4g}" for n, d in
             zip(NS, rows.groupby(key)["D"].first().loc[students].to_numpy(float), strict=True)]
    if spec.group is not None:
        names = [f"{g}:{n}" for g, n in zip(labels.groupby(key).first().loc[students], names,
                                            strict=True)]
    coords = {"student": names, "run": rows["run_id"].astype(str).to_numpy()}
    if coords_group is not None:
        coords["group"] = coords_group
    lNref = np.log(ref["N"])
    gdim = "group" if coords_group is not None else None
    # Per-row group index (through the row's student) for group-level s and log_k_ref.
    gidx = None if gidx_student is None else gidx_student[sidx]
    with pm.Model(coords=coords) as model:
        log_k_ref, log_k_ref_row = create(priors, "log_k_ref", gidx, gdim)
        s, s_row = create(priors, "s", gidx, gdim)
        _, log_L_min = create(priors, "log_L_min", sidx, "student")
        _, log_curv = create(priors, "log_curvature", sidx, "student")
        k_dims = gdim if _has_group(priors, "log_k_ref") or _has_group(priors, "s") else None
        if k_dims is not None:
            # k per group even when only one of (s, log_k_ref) varies by group.
            s_g = s if _has_group(priors, "s") else pt.ones(len(coords_group)) * s
            lk_g = (log_k_ref if _has_group(priors, "log_k_ref")
                    else pt.ones(len(coords_group)) * log_k_ref)
            exp_det("k", lk_g + (1.0 - s_g) * lNref, dims=k_dims)
        else:
            exp_det("k", log_k_ref + (1.0 - s) * lNref)
        log_k = log_k_ref_row + (1.0 - s_row) * lNref
        s = s_row
        mu = log_capacity_gap_curve(np.log(rows["N_T"].to_numpy(float)),
                                    np.log(rows["N"].to_numpy(float)), log_k=log_k, s=s,
                                    log_L_min=log_L_min, curvature=pt.exp(log_curv))
        pm.Deterministic("L_min", pt.exp(model["log_L_min"]), dims="student")
        pm.Deterministic("curvature", pt.exp(model["log_curvature"]), dims="student")
        likelihood("log_L_S", mu, np.log(rows["L"].to_numpy(float)), spec,
                   noise_vars(priors, spec), "run")
    return Built(model, spec, priors, ref, rows, notes)


def _has_group(priors: dict, name: str) -> bool:
    return tuple(getattr(priors[name], "dims", None) or ()) == ("group",)
