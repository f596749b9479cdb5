r"""Fold new finished runs into a posterior: importance re-weighting, a NUTS refit when the
weights run out.

A study alternates *plan -> run -> update*. A full NUTS fit (:func:`distillaw.fit`) per round
costs a compilation and a warm-up; most rounds add a few runs that move the posterior only a
little. :func:`update` therefore

1. re-weights the current draws by the likelihood of the new rows (the model's own
   likelihood: the law from :mod:`distillaw.laws` through :meth:`Posterior.loss_draws`, and
   the fitted Student-t or Normal noise on log-loss),
   ``w_s ∝ prod_i p(log L_i | theta_s, sigma_s, nu_s)``;
2. computes the effective sample size ``ESS = 1 / sum w_s^2`` (over *distinct* draws, so a
   re-weighted posterior that is re-weighted again is not credited for its duplicates);
3. if ``ESS >= ess_min``: resamples the draws (systematic resampling) into an equal-weight
   posterior, which every downstream tool (``plan``, ``allocate``, ``predict``) reads as is;
   otherwise refits by NUTS with :func:`distillaw.fit` on all rows (the one place that
   samples), with the same sampler settings.

Both paths target the same distribution. Priors that the fit scales from the data (the
loss floor's centre, the reference sizes) are *frozen* at the values the current posterior
was fitted with: re-weighting cannot move them, so a refit inside an update passes the
resolved priors and reference sizes explicitly (``model_info["priors"]``,
``model_info["reference"]``). A later independent ``distillaw fit`` of the same rows would
re-resolve them from the data (slightly different prior centres).

Only the iid error model is supported: the structured model's likelihood couples rows
(offsets shared along a curve), so new rows do not factorise; it refuses rather than
re-weight wrongly.

Example
-------
>>> import numpy as np, pandas as pd
>>> rng = np.random.default_rng(0)
>>> post = Posterior.from_params("supervised", {
...     "E": rng.normal(1.7, 0.05, 400), "A": 400.0, "B": 400.0, "alpha": 0.34,
...     "beta": 0.28, "sigma": 0.02})
>>> new = pd.DataFrame({"run_id": ["r1"], "kind": ["supervised"], "N": [1e9],
...                     "D": [2e10], "L": [2.0]})
>>> w = importance_weights(post, new)
>>> bool(w.ess < 400), round(float(w.weights.sum()), 6)
(True, 1.0)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .data import data_hash, validate_runs
from .draws import noise_log_const, noise_loglik
from .errors import PosteriorError
from .posterior import Posterior

DEFAULT_ESS_MIN = 200.0


# ============================================================================ likelihood
def log_likelihood(posterior: Posterior, rows: pd.DataFrame) -> np.ndarray:
    """``(S, n)`` log-likelihood of each finished row under each posterior draw."""
    _check_iid(posterior)
    rows = validate_runs(rows)
    mu = np.log(posterior.loss_draws(rows))
    noise = posterior.noise_draws()
    sigma = posterior.noise_scale(rows)  # (S, n): per row under error="heteroscedastic"
    nu = noise["nu"][:, None] if "nu" in noise else None
    y = np.log(rows["L"].to_numpy(float))[None, :]
    ll = noise_loglik(y, mu, sigma, nu, noise_log_const(sigma, nu))
    if not np.all(np.isfinite(ll)):
        j = int(np.flatnonzero(~np.isfinite(ll).all(axis=0))[0])
        raise PosteriorError(f"new row {j + 1} ({rows['run_id'].iloc[j]}): the likelihood is "
                             "not finite under the posterior draws")
    return ll


# ============================================================================ weights
@dataclass
class Weights:
    """Normalised importance weights of a posterior's draws and their effective size."""

    weights: np.ndarray  # (S,), sum 1
    ess: float  # effective sample size over distinct draws
    n_distinct: int  # distinct draws (a resampled posterior repeats some)


def _distinct(posterior: Posterior) -> np.ndarray:
    """Index of each draw's distinct parameter vector (resampled posteriors repeat draws)."""
    post = posterior.idata.posterior
    cols = [np.asarray(post[v].values, float).reshape(posterior.n_draws, -1)
            for v in sorted(post.data_vars)]
    _, inv = np.unique(np.concatenate(cols, axis=1), axis=0, return_inverse=True)
    return inv.reshape(-1)


def importance_weights(posterior: Posterior, rows: pd.DataFrame) -> Weights:
    """Importance weights of ``posterior``'s draws given new finished ``rows``."""
    lw = log_likelihood(posterior, rows).sum(axis=1)
    w = np.exp(lw - lw.max())
    w /= w.sum()
    inv = _distinct(posterior)
    per_distinct = np.bincount(inv, weights=w)
    return Weights(w, float(1.0 / np.sum(per_distinct ** 2)), int(inv.max() + 1))


def systematic_resample(weights: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    """Indices of ``n`` draws by systematic resampling (lowest variance of the usual
    schemes: each draw appears floor or ceil of ``n w_s`` times)."""
    u = (np.random.default_rng(seed).random() + np.arange(n)) / n
    cdf = np.cumsum(weights)
    cdf[-1] = 1.0
    return np.searchsorted(cdf, u, side="left")


def _resampled(posterior: Posterior, idx: np.ndarray, rows: pd.DataFrame, w: Weights,
               ess_min: float) -> Posterior:
    import xarray as xr

    from ._compat import import_arviz

    post = posterior.idata.posterior
    S = posterior.n_draws
    data = {}
    for name, da in post.data_vars.items():
        vals = np.asarray(da.values).reshape((S,) + da.shape[2:])[idx]
        dims = ("chain", "draw") + tuple(da.dims[2:])
        coords = {d: post.coords[d].values for d in da.dims[2:] if d in post.coords}
        data[name] = xr.DataArray(vals[None], dims=dims, coords=coords)
    az = import_arviz()
    idata = az.InferenceData(posterior=xr.Dataset(data))
    idata.add_groups(constant_data=xr.Dataset({k: ("row", v) for k, v in
                                               _row_arrays(rows).items()}))
    info = dict(posterior.model_info)
    info["update"] = {"method": "reweight", "ess": w.ess, "ess_min": float(ess_min),
                      "n_rows": int(len(rows)), "distinct_draws_before": w.n_distinct,
                      "distinct_draws_after": int(len(np.unique(idx)))}
    diag = dict(posterior._diagnostics or {})
    diag["importance_ess"] = w.ess
    return Posterior(idata, posterior.spec, data_hash=data_hash(rows),
                     sampler=posterior.sampler, diagnostics=diag, name=posterior.name,
                     model_info=info)


def _row_arrays(rows: pd.DataFrame) -> dict:
    from .sampling.groups import _constant_data  # the fitted-rows format fit() stores

    return _constant_data(rows)


# ============================================================================ update
@dataclass
class Update:
    """Result of :func:`update`: the new posterior, how it was made, and the rows it
    conditions on."""

    posterior: Posterior
    method: str  # "reweight" or "refit"
    ess: float  # importance ESS of the new rows under the previous posterior
    rows: pd.DataFrame

    def __repr__(self) -> str:
        return f"Update(method={self.method!r}, ess={self.ess:.1f}, rows={len(self.rows)})"


def frozen_spec(posterior: Posterior):
    """The :class:`~distillaw.models.ModelSpec` of ``posterior`` with its resolved priors
    and reference sizes fixed (what a refit inside :func:`update` fits)."""
    from .models import ModelSpec

    spec = {k: v for k, v in posterior.spec.items() if k in (
        "law", "form", "group", "likelihood", "priors", "group_params", "reference", "error")}
    info = posterior.model_info
    if "priors" not in info or "reference" not in info:
        raise PosteriorError("this posterior does not record its resolved priors and "
                             "reference sizes (not made by distillaw.fit): refit it with fit()")
    spec["priors"] = info["priors"]
    spec["reference"] = info["reference"]
    return ModelSpec.from_dict(spec)


def update(posterior: Posterior, new_rows: pd.DataFrame, *, ess_min: float = DEFAULT_ESS_MIN,
           refit: bool = True, seed: int = 0, fit_kwargs: Mapping | None = None) -> Update:
    """Condition ``posterior`` on ``new_rows`` (finished runs, ``L`` measured).

    Parameters
    ----------
    posterior : Posterior
        From :func:`distillaw.fit` (or an earlier :func:`update`); it must store its fitted
        rows and resolved priors.
    new_rows : DataFrame
        Run table of the new finished runs.
    ess_min : re-weight while the importance ESS (distinct draws) is at least this; else
        refit.
    refit : when ``False``, an ESS below ``ess_min`` raises :class:`PosteriorError`
        instead of refitting.
    seed : resampling seed (and the refit's seed).
    fit_kwargs : overrides of the refit's sampler settings (default: the posterior's own
        engine, draws, tune, chains, target_accept).

    Returns
    -------
    Update
    """
    if not ess_min > 0:
        raise PosteriorError(f"ess_min must be > 0, got {ess_min!r}")
    new_rows = validate_runs(new_rows)
    old = posterior.fitted_rows()
    cols = [c for c in new_rows.columns if c in old.columns or c in ("N_T", "D_T", "L_T")]
    rows = validate_runs(pd.concat([old, new_rows[cols]], ignore_index=True))
    dup = rows["run_id"].astype(str).duplicated()
    if dup.any():
        raise PosteriorError(f"run {rows['run_id'][dup].iloc[0]!r} is already in the "
                             "posterior's rows (or listed twice)")
    w = importance_weights(posterior, new_rows)
    if w.ess >= ess_min:
        idx = systematic_resample(w.weights, posterior.n_draws, seed)
        return Update(_resampled(posterior, idx, rows, w, ess_min), "reweight", w.ess, rows)
    if not refit:
        raise PosteriorError(f"importance ESS {w.ess:.1f} < {ess_min:g}: the new rows move the "
                             "posterior too far for re-weighting; refit")
    from .sampling import fit

    s = posterior.sampler
    kw = {"sampler": s.get("engine", "nutpie"), "draws": int(s.get("draws", 1000)),
          "tune": int(s.get("tune", 1000)), "chains": int(s.get("chains", 4)),
          "target_accept": s.get("target_accept"), "progressbar": False, "seed": int(seed)}
    # The extrapolation discrepancy describes the law's misfit at scale, which a few new
    # rows barely move: it is carried over rather than re-learned by five more fits per
    # round of a planning loop (pass fit_kwargs={"extrapolation": "calibrate"} to re-learn).
    kw["extrapolation"] = "none"
    kw.update(fit_kwargs or {})
    new = fit(rows, frozen_spec(posterior), **kw)
    if "discrepancy" in posterior.spec and "discrepancy" not in new.spec:
        new.spec["discrepancy"] = posterior.spec["discrepancy"]
    new.model_info["update"] = {"method": "refit", "ess": w.ess, "ess_min": float(ess_min),
                                "n_rows": int(len(rows))}
    return Update(new, "refit", w.ess, rows)


def _check_iid(posterior: Posterior) -> None:
    # (error="gp": rows are independent given each draw's GP weights, which loss_draws uses)
    if posterior.error not in ("iid", "heteroscedastic", "gp"):
        raise PosteriorError("re-weighting needs the iid error model (the structured model's "
                             "rows are not independent); refit with distillaw.fit")
    if posterior.law not in ("supervised", "distillation"):
        raise PosteriorError(f"a {posterior.law} posterior does not predict run losses")


__all__ = ["DEFAULT_ESS_MIN", "Update", "Weights", "frozen_spec", "importance_weights",
           "log_likelihood", "systematic_resample",
           "update"]
