r"""Supervised scaling law as a PyMC model (Chinchilla and Busbridge forms, optionally hierarchical).

Likelihood on log-loss (robust Student-t by default)::

    log L_i ~ StudentT(nu, mu_i, sigma),
    mu_i = LSE(log E, gamma * LSE(log A_ref - alpha (log N_i - log N_ref),
                                   log B_ref - beta  (log D_i - log D_ref)))

which is :func:`distillaw.laws.log_supervised_loss` evaluated on centred log sizes (the
formula is not written again here). ``A = A_ref N_ref^alpha``, ``B = B_ref D_ref^beta``.

Hierarchical fits (``group=``) give every parameter in ``group_params`` a group dimension
with partial pooling, non-centred: ``x_g = mu + tau z_g``. Non-centred was chosen by
measurement on Porian et al.'s 15 configurations (8 runs each, one cut to 3; 2 chains x 300
draws): centred gave 30 divergences and r_hat 1.08 (funnels in tau), non-centred none and
r_hat 1.03.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pymc as pm
import pytensor.tensor as pt

from .. import hsgp
from .._xp import namespace
from ..errors import ModelError
from ..laws.supervised import log_supervised_loss
from ..priors import DEFAULT_GROUP_PARAMS, resolve_priors
from ._common import (
    Built,
    create,
    dim_of,
    exp_det,
    geometric_mean,
    likelihood,
    noise_vars,
    weight_name,
)
from .spec import ModelSpec


def supervised_rows(table: pd.DataFrame) -> pd.DataFrame:
    return table[table["kind"].astype(str) == "supervised"].reset_index(drop=True)


def reference_sizes(spec: ModelSpec, N, D) -> dict:
    ref = {"N": geometric_mean(N), "D": geometric_mean(D)}
    ref.update(spec.reference or {})
    return ref


def build_supervised(spec: ModelSpec, table: pd.DataFrame, *,
                     fold_weights: bool = False) -> Built:
    rows = supervised_rows(table)
    notes = []
    if len(rows) == 0:
        raise ModelError("the supervised law needs rows with kind == 'supervised'; this table "
                         "has none")
    if len(rows) < len(table):
        notes.append(f"ignored {len(table) - len(rows)} non-supervised rows")
    ref = reference_sizes(spec, rows["N"], rows["D"])
    scale = {"N_ref": ref["N"], "D_ref": ref["D"], "L_ref": float(np.median(rows["L"]))}
    coords: dict = {"run": rows["run_id"].astype(str).to_numpy()}
    gidx = None
    group_params: tuple[str, ...] = ()
    if spec.group is not None:
        if spec.group not in rows.columns:
            raise ModelError(f"group column {spec.group!r} not in the table (columns: "
                             f"{', '.join(map(str, rows.columns))})")
        if rows[spec.group].isna().any():
            i = int(np.flatnonzero(rows[spec.group].isna().to_numpy())[0])
            raise ModelError(f"group column {spec.group!r} is empty in run "
                             f"{rows['run_id'].iloc[i]!r}")
        labels = rows[spec.group].astype(str)
        levels = sorted(labels.unique())
        if len(levels) < 2:
            raise ModelError(f"group column {spec.group!r} has a single value "
                             f"({levels[0]!r}); fit without group=")
        coords["group"] = levels
        gidx = pd.Categorical(labels, categories=levels).codes.astype(np.int64)
        group_params = (spec.group_params if spec.group_params is not None
                        else DEFAULT_GROUP_PARAMS)
    priors = resolve_priors("supervised", spec.form, spec.priors, likelihood=spec.likelihood,
                            scale=scale, group_params=group_params, error=spec.error)
    lN = np.log(rows["N"].to_numpy(float)) - np.log(ref["N"])
    lD = np.log(rows["D"].to_numpy(float)) - np.log(ref["D"])
    y = np.log(rows["L"].to_numpy(float))
    with pm.Model(coords=coords) as model:
        params, per_row = {}, {}
        names = ["log_E", "log_A_ref", "log_B_ref", "log_alpha", "log_beta"]
        if spec.form == "busbridge":
            names.append("log_gamma")
        for name in names:
            params[name], per_row[name] = create(priors, name, gidx,
                                                 "group" if gidx is not None else None)
        mu = sup_log_loss(per_row, lN, lD)
        natural(params, priors, ref, spec.form)
        if spec.error == "gp":
            gp_box = hsgp.box(rows["N"], rows["D"])
            # A hierarchical table gets the gradient at the pooled fit alone: the pooled
            # fit's Laplace region is no group's plausible region (its noise is the spread
            # between the groups' laws), and its ridge points swapped part of the fit's own
            # directions for ones from far outside it. Measured on Porian's first 3
            # configurations (bench/extrapolation_holdout.py --split porian --errors gp
            # --porian-configs 3): 400 divergences and r_hat 2.29 with the ridge, 6 and
            # 1.10 without it.
            dirs = law_directions(priors, names, lN, lD, y,
                                  ridge_sd=RIDGE_SD if gidx is None else 0.0)
            mu = mu + gp_term(priors, gp_box, rows["N"], rows["D"], dirs)
        if spec.error == "structured":
            from .error import marginal_likelihood

            marginal_likelihood("log_L", mu, y, rows, "supervised", spec.group, priors)
        else:
            likelihood("log_L", mu, y, spec, noise_vars(priors, spec), "run",
                       log_compute=lN + lD, weights=fold_weights)
    built = Built(model, spec, priors, ref, rows, notes)
    if fold_weights:
        built.fold_rows[weight_name("log_L")] = coords["run"]
    if spec.error == "gp":
        built.extra["gp"] = gp_box
    return built


def gp_term(priors: dict, gp_box: dict, N, D, dirs: np.ndarray):
    """The GP discrepancy ``f(log10 N, log10 D)`` at the fitted rows (:mod:`distillaw.hsgp`),
    non-centred (``z ~ Normal(0, 1)`` per basis function) and orthogonal over the fitted
    rows to the law's directions ``dirs`` (``(P, r)``, :func:`law_directions`; see
    :func:`distillaw.hsgp.orthogonal_weights`). The
    weights are stored as ``gp_weights`` so that a prediction needs only them and the box."""
    model = pm.modelcontext(None)
    M = hsgp.n_basis(gp_box)
    model.add_coord("gp_basis", np.arange(M))
    eta = create(priors, "gp_eta")[0]
    ls_N = create(priors, "gp_ls_N")[0]
    ls_D = create(priors, "gp_ls_D")[0]
    z = pm.Normal("gp_z", 0.0, 1.0, dims="gp_basis")
    phi = hsgp.basis(N, D, gp_box)  # constants: the data's own coordinates
    s = hsgp.sqrt_spectral(eta, ls_N, ls_D, gp_box)
    C = pt.as_tensor_variable(dirs.T @ phi)  # (r, M): the law's directions in weight space
    w = pm.Deterministic("gp_weights", hsgp.orthogonal_weights(s * z, s ** 2, C),
                         dims="gp_basis")
    return pt.dot(pt.as_tensor_variable(phi), w)


# The law's directions the GP must stay orthogonal to (law_directions): the gradients at the
# law's robust fit and at RIDGE_SD Laplace sds either side of it along each principal axis,
# reduced to the singular directions above RIDGE_RTOL of the largest. Why not the gradient at
# the fit alone: the law is curved, and on small noisy tables its floor/exponent ridge runs
# far from that point, where the GP could imitate what the linearised constraint left open.
# Measured (bench/sbc.py --sims 12 --errors gp --no-calibrate, 21 runs, truth without
# discrepancy): with the gradient at the fit alone 61 divergences in 12 fits under the
# diagonal mass matrix (one fit 56, r_hat 1.26, log E stuck at 0 against 0.83) and 24 under
# low-rank; with the ridge 0 and 16; on Epoch's points
# (backtest top-compute:2) the same coverage and interval score as before (1.00, 0.062),
# 0 divergences and 64 leapfrog steps per draw with the diagonal mass matrix.
RIDGE_SD = 2.0
RIDGE_RTOL = 1e-2


def law_directions(priors: dict, names: list[str], lN, lD, y,
                   ridge_sd: float = RIDGE_SD) -> np.ndarray:
    """``(P, r)`` orthonormal: the directions in which the log law at the ``P`` fitted rows
    moves with its sampled parameters ``names``, over the plausible region of those
    parameters (see ``RIDGE_SD``). The region is the Laplace approximation around the law's
    own robust fit: least squares with a soft-l1 loss on log-loss, the priors as a penalty,
    the residuals' robust sd as the noise (one group for a hierarchical table: directions,
    not values, are what matter). ``ridge_sd=0``: the gradient at the fit alone. NumPy,
    once per build."""
    from scipy.optimize import least_squares

    def population(prior):
        # a hierarchical prior's location is itself a Prior: the population's
        mu = prior.parameters.get("mu")
        return mu if hasattr(mu, "parameters") else prior

    mu0 = np.array([float(population(priors[n]).parameters.get("mu", 0.0)) for n in names])
    sd0 = np.array([float(population(priors[n]).parameters.get("sigma", 1.0)) for n in names])
    scale = 0.01  # residuals in units of 1% of the loss: soft-l1 turns linear past that

    def law(theta):
        return sup_log_loss(dict(zip(names, theta, strict=True)), lN, lD)

    def resid(theta):
        return np.concatenate([(law(theta) - y) / scale, (theta - mu0) / sd0])

    def jac(theta, eps=1e-5):
        return np.column_stack([(law(theta + eps * e) - law(theta - eps * e)) / (2 * eps)
                                for e in np.eye(len(theta))])

    theta = least_squares(resid, mu0, loss="soft_l1", x_scale=sd0).x
    J = jac(theta)
    r = law(theta) - y
    noise = max(1.4826 * float(np.median(np.abs(r - np.median(r)))), 0.002)  # MAD, floored
    lam, V = np.linalg.eigh(np.linalg.inv(J.T @ J / noise ** 2 + np.diag(sd0 ** -2.0)))
    mats = [J] + [jac(theta + sgn * ridge_sd * np.sqrt(lam[k]) * V[:, k])
                  for k in range(len(lam)) for sgn in (-1.0, 1.0) if ridge_sd > 0]
    U, S, _ = np.linalg.svd(np.hstack(mats), full_matrices=False)
    return U[:, S > RIDGE_RTOL * S[0]]


def sup_log_loss(p: dict, lN_centred, lD_centred):
    """Log supervised loss from sampled parameters (per-row expressions): PyTensor
    variables in the model, NumPy values for :func:`law_directions`."""
    xp = namespace(*p.values())
    gamma = xp.exp(p["log_gamma"]) if "log_gamma" in p else 1.0
    return log_supervised_loss(lN_centred, lD_centred, log_E=p["log_E"], log_A=p["log_A_ref"],
                               log_B=p["log_B_ref"], alpha=xp.exp(p["log_alpha"]),
                               beta=xp.exp(p["log_beta"]), gamma=gamma)


def natural(params: dict, priors: dict, ref: dict, form: str) -> None:
    """Canonical natural-scale deterministics E, A, B, alpha, beta[, gamma]."""
    def dims(*names):
        ds = {dim_of(priors[n]) for n in names} - {None}
        return ds.pop() if ds else None

    exp_det("E", params["log_E"], dims("log_E"))
    exp_det("alpha", params["log_alpha"], dims("log_alpha"))
    exp_det("beta", params["log_beta"], dims("log_beta"))
    exp_det("A", params["log_A_ref"] + pt.exp(params["log_alpha"]) * np.log(ref["N"]),
            dims("log_A_ref", "log_alpha"))
    exp_det("B", params["log_B_ref"] + pt.exp(params["log_beta"]) * np.log(ref["D"]),
            dims("log_B_ref", "log_beta"))
    if form == "busbridge":
        exp_det("gamma", params["log_gamma"], dims("log_gamma"))
