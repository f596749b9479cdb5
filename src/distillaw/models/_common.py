"""Pieces shared by the model builders: the build result, data scale, priors -> variables."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pymc as pm
import pytensor.tensor as pt

from ..errors import ModelError
from ..priors import prior_names, priors_to_dict
from .spec import ModelSpec


@dataclass
class Built:
    """A built PyMC model plus everything resolved from the data while building it.

    ``priors`` are the resolved priors (defaults with data-scaled centres filled in, then
    overrides); ``reference`` the reference sizes; ``table`` the rows the likelihood uses.
    None of this is written back into the spec.
    """

    model: pm.Model
    spec: ModelSpec
    priors: dict
    reference: dict
    table: pd.DataFrame
    notes: list[str] = field(default_factory=list)
    # Build-time records a prediction needs besides the draws (``"gp"``: the HSGP box).
    extra: dict = field(default_factory=dict)
    # Built with fold weights (``build(..., fold_weights=True)``): the name of each row-weight
    # data variable -> the run ids of its rows, in order (see :func:`likelihood`).
    fold_rows: dict = field(default_factory=dict)

    def info(self) -> dict:
        """JSON-ready record of what was resolved at build time (stored on the card)."""
        return {"priors": priors_to_dict(self.priors), "reference": self.reference,
                "n_obs": int(len(self.table)),
                "n_by_kind": {str(k): int(v) for k, v in
                              self.table["kind"].value_counts().items()},
                "notes": list(self.notes), **self.extra}


def group_labels(rows: pd.DataFrame, column: str) -> pd.Series:
    """The ``column`` of a hierarchical fit as strings; a missing column, an empty cell or a
    single level is a :class:`ModelError` naming the column and the run."""
    if column not in rows.columns:
        raise ModelError(f"group column {column!r} not in the table (columns: "
                         f"{', '.join(map(str, rows.columns))})")
    if rows[column].isna().any():
        i = int(np.flatnonzero(rows[column].isna().to_numpy())[0])
        raise ModelError(f"group column {column!r} is empty in run {rows['run_id'].iloc[i]!r}")
    labels = rows[column].astype(str).reset_index(drop=True)
    if labels.nunique() < 2:
        raise ModelError(f"group column {column!r} has a single value ({labels.iloc[0]!r}); "
                         f"fit without group=")
    return labels


def geometric_mean(x) -> float:
    x = np.asarray(x, float)
    return float(np.exp(np.mean(np.log(x))))


def check_prior_names(priors: dict, spec: ModelSpec) -> None:
    valid = set(prior_names(spec.law, spec.form, spec.likelihood, spec.error))
    extra = set(priors) - valid
    if extra:  # defensive: resolve_priors already checks overrides
        raise ModelError(f"priors not used by the {spec.law} model: {', '.join(sorted(extra))}")


def _dims(prior) -> tuple[str, ...]:
    d = prior.dims
    if d is None:
        return ()
    return (d,) if isinstance(d, str) else tuple(d)


def create(priors: dict, name: str, index: np.ndarray | None = None, dim: str | None = None):
    """Create the variable of prior ``name``; return ``(variable, per-row expression)``.

    A prior with a ``dims`` of ``dim`` (e.g. ``"group"``) is indexed per row with ``index``;
    a scalar prior broadcasts. Any other dims are a spec error.
    """
    prior = priors[name]
    dims = _dims(prior)
    if dims and (dim is None or dims != (dim,)):
        raise ModelError(f"prior {name!r} has dims {dims}, but this model only allows "
                         f"{(dim,) if dim else 'scalar'} priors here")
    var = prior.create_variable(name)
    if dims:
        return var, var[index]
    return var, var


def exp_det(name: str, x, dims=None):
    """Natural-scale deterministic ``exp(x)`` under a canonical name."""
    return pm.Deterministic(name, pt.exp(x), dims=dims)


LN10 = float(np.log(10.0))


def weight_name(name: str) -> str:
    """The row-weight data variable of likelihood node ``name`` (fold weights)."""
    return f"{name}_fold_weight"


def likelihood(name: str, mu, observed: np.ndarray, spec: ModelSpec, noise: dict, dims: str,
               log_compute=None, weights: bool = False):
    """Log-loss likelihood: Student-t (robust, default) or Normal, with fitted scale.

    ``log_compute``: per row ``log(N/N_ref) + log(D/D_ref)`` (natural log), which scales
    the noise under ``error="heteroscedastic"``:
    ``sigma_i = sigma * exp(sigma_trend * log10(C_i / C_ref))``.

    ``weights``: the likelihood is the Potential ``sum_i w_i log p(y_i)`` with a row-weight
    data variable ``w`` (:func:`weight_name`, ones), not an observed node. The
    extrapolation calibration compiles that model once and fits each fold by setting the
    held-out rows' weights to 0 (``with_data``), instead of building and compiling a model
    per fold: compilation was most of a calibrated fit's time. A calibrated fit samples its
    own draws on that model too, all weights 1 (6% more time per gradient than the observed
    node on the digitised Busbridge table, one compilation fewer); an uncalibrated one
    samples the model without weights. (Keeping the observed node and subtracting a
    weighted Potential cost a third more time per gradient.)"""
    sigma = noise["sigma"]
    if "sigma_trend" in noise:
        if log_compute is None:
            raise ModelError("the heteroscedastic noise needs each row's compute")
        sigma = sigma * pt.exp(noise["sigma_trend"] * np.asarray(log_compute, float) / LN10)
    if weights:
        w = pm.Data(weight_name(name), np.ones(len(observed)), dims=dims)
        dist = (pm.StudentT.dist(nu=noise["nu"], mu=mu, sigma=sigma)
                if spec.likelihood == "student_t" else pm.Normal.dist(mu=mu, sigma=sigma))
        return pm.Potential(f"{name}_weighted",
                            pt.sum(w * pm.logp(dist, np.asarray(observed, float))))
    if spec.likelihood == "student_t":
        return pm.StudentT(name, nu=noise["nu"], mu=mu, sigma=sigma, observed=observed,
                           dims=dims)
    return pm.Normal(name, mu=mu, sigma=sigma, observed=observed, dims=dims)


def noise_vars(priors: dict, spec: ModelSpec) -> dict:
    out = {"sigma": create(priors, "sigma")[0]}
    if spec.likelihood == "student_t":
        out["nu"] = create(priors, "nu")[0]
    if spec.error in ("heteroscedastic", "gp"):
        out["sigma_trend"] = create(priors, "sigma_trend")[0]
    return out


def median_positive(x) -> float | None:
    x = np.asarray(x, float)
    x = x[np.isfinite(x) & (x > 0)]
    return float(np.median(x)) if x.size else None


def dim_of(prior) -> str | None:
    d = _dims(prior)
    return d[0] if d else None
