"""The structured error model's likelihood (its covariance is :mod:`distillaw.error_terms`).

``marginal_likelihood`` adds, inside the current model, the scales ``tau_*`` and one
multivariate normal per block, ``log L ~ MvNormal(law, sigma^2 I + sum tau_k^2 C_k)``, with
the systematic offsets integrated out exactly. Blocks are independent: a distillation curve
(``sigma^2 I + c 1 1^T + tau_lt^2 M``: evaluated in the eigenbasis of the fixed teacher-axis
kernel ``M`` plus Sherman-Morrison, no Cholesky per gradient) or a supervised track, whose covariance is
``sigma^2 I + tau_rw^2 U0 U0^T`` with ``U0`` of rank ``N_NODES`` (the compute walk at its
nodes), evaluated by the Woodbury identity in O(n m^2): a dense 245-row block (Epoch) took
over ten minutes to sample on this machine.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pymc as pm
import pytensor.tensor as pt

from ..error_terms import JITTER, TAUS, anchors, components, row_keys, walk_factor
from ._common import create

LOG_2PI = float(np.log(2 * np.pi))


def _low_rank_normal_logp(r, sigma2, tau2, U0: np.ndarray):
    """log N(r | 0, sigma2 I + tau2 U0 U0^T) by Woodbury and the matrix determinant lemma."""
    n, m = U0.shape
    G = pt.constant(U0.T @ U0)
    b = pt.dot(pt.constant(U0.T), r)
    C = pt.eye(m) + (tau2 / sigma2) * G
    L = pt.linalg.cholesky(C)
    v = pt.linalg.solve_triangular(L, b, lower=True)
    quad = pt.dot(r, r) / sigma2 - (tau2 / sigma2 ** 2) * pt.dot(v, v)
    logdet = n * pt.log(sigma2) + 2.0 * pt.sum(pt.log(pt.diag(L)))
    return -0.5 * (quad + logdet + n * LOG_2PI)


def _spectral_normal_logp(r, sigma2, c, t2, lam: np.ndarray, Q: np.ndarray):
    """log N(r | 0, sigma2 I + c 1 1^T + t2 M) with ``M = Q diag(lam) Q^T`` fixed.

    In the basis of ``M``'s eigenvectors ``sigma2 I + t2 M`` is diagonal (``d = sigma2 + t2
    lam``), and the rank-one ``c 1 1^T`` is added by Sherman-Morrison and the matrix
    determinant lemma: O(n^2) constant work per evaluation (one ``Q^T r``), no Cholesky
    in the gradient.
    """
    n = lam.size
    u = Q.T @ np.ones(n)
    rq = pt.dot(pt.constant(Q.T), r)
    d = sigma2 + t2 * pt.constant(lam)
    ud = pt.constant(u) / d
    s_uu = pt.dot(pt.constant(u), ud)
    s_ur = pt.dot(ud, rq)
    one_c = 1.0 + c * s_uu
    quad = pt.sum(rq * rq / d) - c * s_ur ** 2 / one_c
    logdet = pt.sum(pt.log(d)) + pt.log(one_c)
    return -0.5 * (quad + logdet + n * LOG_2PI)


def _split_ones(comps: dict, used) -> tuple[dict, str | None] | None:
    """Split a block's components into multiples of ``1 1^T`` (``{tau: constant}``) and at
    most one other matrix (its tau name); ``None`` when two or more are not of that form."""
    ones, other = {}, None
    for t in used:
        C = comps[t]
        if not np.any(C != 0):
            continue
        if np.allclose(C, C.flat[0]):
            ones[t] = float(C.flat[0])
        elif other is None:
            other = t
        else:
            return None
    return ones, other


def marginal_likelihood(name: str, mu, y: np.ndarray, rows: pd.DataFrame, law: str,
                        group_col: str | None, priors: dict) -> None:
    """Likelihood of log-losses ``y`` (rows ``rows``, law mean ``mu``) under the structured
    error model; ``rows`` must be the rows the posterior stores (anchors come from them)."""
    keys = row_keys(rows, law, group_col)
    refs = anchors(keys)
    sigma = create(priors, "sigma")[0]
    blocks = []
    for block in sorted(set(keys.block)):
        idx = np.flatnonzero(keys.block == block)
        k = keys.take(idx)
        if block in refs.nodes:
            blocks.append((idx, None, walk_factor(k.x, refs.nodes[block], refs.x_ref)[0]))
        else:
            blocks.append((idx, components(k, k, refs), None))
    used = [t for t in TAUS if t in priors and any(
        (c is not None and np.any(c[t] != 0)) or (U is not None and t == "tau_rw" and U.size)
        for _, c, U in blocks)]
    taus = {t: create(priors, t)[0] for t in used}
    mu = pt.as_tensor_variable(mu)
    sigma2 = sigma ** 2 + JITTER
    for i, (idx, comps, U0) in enumerate(blocks):
        if U0 is not None:
            r = pt.constant(y[idx]) - mu[idx]
            tau2 = taus["tau_rw"] ** 2 if ("tau_rw" in taus and U0.size) else 0.0
            if U0.size:
                pm.Potential(f"{name}_{i}", _low_rank_normal_logp(r, sigma2, tau2, U0))
            else:
                pm.Normal(f"{name}_{i}", mu=mu[idx], sigma=pt.sqrt(sigma2), observed=y[idx])
            continue
        split = _split_ones(comps, used)
        if split is None:  # no spectral form: the dense normal (Cholesky per gradient)
            cov = sigma2 * pt.eye(idx.size)
            for t in used:
                if np.any(comps[t] != 0):
                    cov = cov + taus[t] ** 2 * pt.constant(comps[t])
            pm.MvNormal(f"{name}_{i}", mu=mu[idx], cov=cov, observed=y[idx])
            continue
        # A curve: offset and compute walk are constant over its rows (c 1 1^T), the
        # teacher-axis walk is the one full matrix. Same density as the dense MvNormal
        # (tests/test_error_model.py), without a Cholesky per gradient.
        ones, other = split
        c = sum((taus[t] ** 2 * w for t, w in ones.items()), pt.as_tensor_variable(0.0))
        if other is None:
            lam, Q = np.zeros(idx.size), np.eye(idx.size)
            t2 = pt.as_tensor_variable(0.0)
        else:
            lam, Q = np.linalg.eigh(comps[other])
            lam = np.clip(lam, 0.0, None)  # a PSD kernel: round-off below 0 only
            t2 = taus[other] ** 2

        def logp(value, mu_b, sigma2_b, c_b, t2_b, lam=lam, Q=Q):
            return _spectral_normal_logp(value - mu_b, sigma2_b, c_b, t2_b, lam, Q)

        pm.CustomDist(f"{name}_{i}", mu[idx], sigma2, c, t2, logp=logp,
                      signature="(n),(),(),()->(n)", observed=y[idx])
