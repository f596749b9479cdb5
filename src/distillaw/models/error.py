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


def _spectral_normal_logp(r, sigma2, c, t2, lam: np.ndarray, Qt: np.ndarray, S: np.ndarray):
    """Sum over blocks ``b`` of log N(r_b | 0, sigma2 I + c_b 1 1^T + t2 M_b), ``M_b`` fixed.

    ``Qt`` is block-diagonal with the transposed eigenvectors of each ``M_b``, ``lam`` their
    eigenvalues (concatenated), ``S`` the ``(blocks, rows)`` indicator and ``c`` the
    ``(blocks,)`` rank-one scales. In the eigenbasis ``sigma2 I + t2 M_b`` is diagonal
    (``d = sigma2 + t2 lam``); the rank-one ``c_b 1 1^T`` is added by Sherman-Morrison and
    the matrix determinant lemma. One constant matrix-vector product per evaluation and no
    Cholesky in the gradient, for every curve at once (one small graph to compile).
    """
    n = lam.size
    u = Qt @ np.ones(n)
    rq = pt.dot(pt.constant(Qt), r)
    d = sigma2 + t2 * pt.constant(lam)
    Sc = pt.constant(S)
    s_uu = pt.dot(Sc, pt.constant(u * u) / d)
    s_ur = pt.dot(Sc, pt.constant(u) * rq / d)
    one_c = 1.0 + c * s_uu
    quad = pt.sum(rq * rq / d) - pt.sum(c * s_ur ** 2 / one_c)
    logdet = pt.sum(pt.log(d)) + pt.sum(pt.log(one_c))
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
    sigma = create(priors, "sigma")[0]
    # One definition of the blocks, shared with the NumPy LOO and replicates (error_terms).
    blocks = [(b.idx, b.comps, b.U0) for b in error_blocks(rows, law, group_col)]
    used = [t for t in TAUS if t in priors and any(
        (c is not None and np.any(c[t] != 0)) or (U is not None and t == "tau_rw" and U.size)
        for _, c, U in blocks)]
    taus = {t: create(priors, t)[0] for t in used}
    mu = pt.as_tensor_variable(mu)
    sigma2 = sigma ** 2 + JITTER
    spectral: dict = {}  # full-matrix tau name (or None) -> curve blocks
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
        # teacher-axis walk is the one full matrix. Gathered below into one spectral
        # density per kind of full matrix (same density as the dense MvNormal, see
        # tests/test_error_model.py, without a Cholesky per gradient).
        ones, other = split
        spectral.setdefault(other, []).append((idx, ones, comps[other] if other else None))
    for other, group in sorted(spectral.items(), key=lambda kv: str(kv[0])):
        rows_ = np.concatenate([g[0] for g in group])
        n, k = rows_.size, len(group)
        Qt, lam, S = np.zeros((n, n)), np.zeros(n), np.zeros((k, n))
        W = np.zeros((k, len(used)))  # rank-one weight of each tau in each block
        o = 0
        for b, (idx, ones, M) in enumerate(group):
            m = idx.size
            if M is None:
                Qt[o:o + m, o:o + m] = np.eye(m)
            else:
                lb, Qb = np.linalg.eigh(M)
                lam[o:o + m] = np.clip(lb, 0.0, None)  # PSD kernel: round-off below 0 only
                Qt[o:o + m, o:o + m] = Qb.T
            S[b, o:o + m] = 1.0
            for t, w in ones.items():
                W[b, used.index(t)] = w
            o += m
        tau2 = pt.stack([taus[t] ** 2 for t in used]) if used else pt.zeros(0)
        c = pt.dot(pt.constant(W), tau2) if used else pt.zeros(k)
        t2 = taus[other] ** 2 if other else pt.as_tensor_variable(0.0)

        def logp(value, mu_b, sigma2_b, c_b, t2_b, lam=lam, Qt=Qt, S=S):
            return _spectral_normal_logp(value - mu_b, sigma2_b, c_b, t2_b, lam, Qt, S)

        pm.CustomDist(f"{name}_curves{'_' + other if other else ''}", mu[rows_], sigma2, c,
                      t2, logp=logp, signature="(n),(),(k),()->(n)", observed=y[rows_])
