"""The structured error model's likelihood (its covariance is :mod:`distillaw.error_terms`).

``marginal_likelihood`` adds, inside the current model, the scales ``tau_*`` and one
multivariate normal per block: ``log L ~ MvNormal(law, sigma^2 I + sum tau_k^2 C_k)``,
with the systematic offsets integrated out exactly. Tracks (kinds, groups) are independent,
one block per distillation curve or supervised track (see :mod:`distillaw.error_terms`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pymc as pm
import pytensor.tensor as pt

from ..error_terms import JITTER, TAUS, anchors, components, row_keys
from ._common import create


def marginal_likelihood(name: str, mu, y: np.ndarray, rows: pd.DataFrame, law: str,
                        group_col: str | None, priors: dict) -> None:
    """Likelihood of log-losses ``y`` (rows ``rows``, law mean ``mu``) under the structured
    error model; ``rows`` must be the rows the posterior stores (anchors come from them)."""
    keys = row_keys(rows, law, group_col)
    refs = anchors(keys)
    sigma = create(priors, "sigma")[0]
    comps_by_track = {}
    for track in sorted(set(keys.block)):
        idx = np.flatnonzero(keys.block == track)
        k = keys.take(idx)
        comps_by_track[track] = (idx, components(k, k, refs))
    used = [t for t in TAUS if t in priors and
            any(np.any(c[t] != 0) for _, c in comps_by_track.values())]
    taus = {t: create(priors, t)[0] for t in used}
    mu = pt.as_tensor_variable(mu)
    for i, (idx, comps) in enumerate(comps_by_track.values()):
        n = idx.size
        cov = (sigma ** 2 + JITTER) * pt.eye(n)
        for t in used:
            if np.any(comps[t] != 0):
                cov = cov + taus[t] ** 2 * pt.constant(comps[t])
        pm.MvNormal(f"{name}_{i}", mu=mu[idx], cov=cov, observed=y[idx])
