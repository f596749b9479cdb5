"""The structured error model's likelihood (its covariance is :mod:`distillaw.error_terms`).

``marginal_likelihood`` adds, inside the current model, the scales ``tau_*`` and one
multivariate normal per block, ``log L ~ MvNormal(law, sigma^2 I + sum tau_k^2 C_k)``, with
the systematic offsets integrated out exactly. Blocks are independent: a distillation curve
(a small dense covariance) or a supervised track, whose covariance is
``sigma^2 I + tau_rw^2 U0 U0^T`` with ``U0`` of rank ``N_NODES`` (the compute walk at its
nodes), evaluated by the Woodbury identity in O(n m^2): a dense 245-row block (Epoch) took
over ten minutes to sample on this machine.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pymc as pm
import pytensor.tensor as pt

from ..error_terms import JITTER, TAUS
from ..error_terms import blocks as error_blocks
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


def marginal_likelihood(name: str, mu, y: np.ndarray, rows: pd.DataFrame, law: str,
                        group_col: str | None, priors: dict) -> None:
    """Likelihood of log-losses ``y`` (rows ``rows``, law mean ``mu``) under the structured
    error model; ``rows`` must be the rows the posterior stores (anchors come from them)."""
    sigma = create(priors, "sigma")[0]
    # One definition of the blocks, shared with the NumPy LOO and replicates (error_terms).
    blocks = [(b.idx, b.comps, b.U0) for b in error_blocks(rows, law, group_col)]
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
        cov = sigma2 * pt.eye(idx.size)
        for t in used:
            if np.any(comps[t] != 0):
                cov = cov + taus[t] ** 2 * pt.constant(comps[t])
        pm.MvNormal(f"{name}_{i}", mu=mu[idx], cov=cov, observed=y[idx])
