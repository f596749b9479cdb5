"""Predictive error of the chosen allocation: what a run you actually train would measure.

The search ranks candidates on the law's draws (the mean function): adding the error model to
10^4 candidates x 4000 draws would multiply the cost for no change in the ranking, since the
error is a multiplicative factor whose spread barely depends on the candidate. The numbers a
user decides on — the loss interval of the chosen allocation and of its supervised
alternative, the risk score and P(distillation beats supervised) — are about runs that will
be trained and measured. So for those two points the law's draws are multiplied by the
posterior's own predictive error (:meth:`distillaw.Posterior.predictive_draws`: Student-t
noise, with ``error="structured"`` the systematic offset that grows with distance from
the fitted data, and for a posterior fitted with ``extrapolation="calibrate"`` the
discrepancy learned by leaving the largest runs out), paired draw by draw with the
parameters.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..draws import thin_index
from ..errors import DecisionError

UNCERTAINTIES = ("predictive", "law")


def check_uncertainty(uncertainty: str) -> str:
    if uncertainty not in UNCERTAINTIES:
        raise DecisionError(f"uncertainty must be one of {', '.join(UNCERTAINTIES)}, "
                            f"got {uncertainty!r}")
    return uncertainty


def has_error_model(obj) -> bool:
    """True for a fitted Posterior with an observation-noise parameter (``sigma``)."""
    from ..posterior import Posterior

    return (isinstance(obj, Posterior) and obj.law in ("supervised", "distillation")
            and "sigma" in obj.idata.posterior.data_vars)


def error_factors(posterior, point: dict, *, S: int, max_draws: int | None, group: str | None,
                  seed: int, paired: bool) -> np.ndarray:
    """Per-draw factors ``exp(e)`` (shape ``(S,)``) of a new measured run at ``point`` over
    the law's value there: ``predictive_draws / loss_draws`` of ``posterior``.

    ``paired``: the allocation's draws are this posterior's own, thinned with
    ``(max_draws, seed)``, so the same subset keeps each factor with its parameters (the
    structured offsets depend on them). Otherwise (a separately given supervised posterior,
    whose draws the allocation pairs at random) the factors are resampled to ``S``.
    """
    df = pd.DataFrame([point])
    law = posterior.loss_draws(df, group=group)[:, 0]
    pred = posterior.predictive_draws(df, group=group, seed=seed)[:, 0]
    f = pred / law
    if not np.all(np.isfinite(f)):
        raise DecisionError("the posterior's predictive draws at the chosen allocation are "
                            "not finite")
    if paired:
        idx = thin_index(f.size, max_draws, seed)
        f = f if idx is None else f[idx]
        if f.size == S:
            return f
    rng = np.random.default_rng([seed, 7])
    return f[rng.choice(f.size, S, replace=f.size < S)]
