"""What a fit stores besides the draws: diagnostics, prior-vs-posterior contraction, the
fitted rows, and the ArviZ groups (prior, log-likelihood, observed data, predictive)."""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Mapping

import numpy as np
import pandas as pd

from .._compat import import_arviz
from ..posterior import Posterior


def compute_diagnostics(idata, var_names=None) -> dict:
    """Max r_hat, min bulk/tail ESS (over ``var_names``, default all posterior variables)
    and the number of divergent transitions. r_hat is ``None`` with a single chain.

    Example
    -------
    >>> import numpy as np
    >>> from distillaw._compat import import_arviz
    >>> idata = import_arviz().from_dict(posterior={"x": np.random.default_rng(0).normal(
    ...     size=(2, 500))})
    >>> d = compute_diagnostics(idata)
    >>> d["r_hat_max"] < 1.01, d["divergences"]
    (True, 0)
    """
    az = import_arviz()
    post = idata.posterior
    names = list(var_names) if var_names is not None else list(post.data_vars)
    names = [n for n in names if n in post.data_vars]

    def _reduce(ds, fn):
        vals = [np.asarray(ds[n].values, float).ravel() for n in names]
        vals = np.concatenate(vals) if vals else np.array([])
        vals = vals[np.isfinite(vals)]
        return float(fn(vals)) if vals.size else None

    n_chains = post.sizes["chain"]
    rhat = _reduce(az.rhat(post, var_names=names), np.max) if n_chains > 1 else None
    ess_bulk = _reduce(az.ess(post, var_names=names, method="bulk"), np.min)
    ess_tail = _reduce(az.ess(post, var_names=names, method="tail"), np.min)
    div = 0
    steps = None
    if hasattr(idata, "sample_stats"):
        ss = idata.sample_stats
        if "diverging" in ss:
            div = int(np.asarray(ss["diverging"].values).sum())
        if "n_steps" in ss:  # leapfrog steps per draw (nutpie and PyMC both report it)
            steps = float(np.asarray(ss["n_steps"].values).mean())
    return {"r_hat_max": rhat, "ess_bulk_min": ess_bulk, "ess_tail_min": ess_tail,
            "divergences": div, "n_chains": int(n_chains), "n_draws": int(post.sizes["draw"]),
            "steps_per_draw": steps}


def _contraction(idata, priors: Mapping) -> dict:
    """Posterior sd / prior sd of each scalar sampled parameter (1 = data taught nothing),
    including the hyperparameters of hierarchical priors (``log_E_mu``, ``log_E_sigma``)."""
    from ..priors import prior_sd

    post = idata.posterior
    scalar = {}
    for name, prior in priors.items():
        scalar[name] = prior
        for param, value in prior.parameters.items():
            if hasattr(value, "create_variable"):  # nested Prior: a hyperparameter
                scalar[f"{name}_{param}"] = value
    out = {}
    for name, prior in scalar.items():
        sd0 = prior_sd(prior)
        if sd0 is None or name not in post.data_vars or post[name].ndim != 2:
            continue
        out[name] = float(np.asarray(post[name].values).std() / sd0)
    return out


def _constant_data(table: pd.DataFrame, group: str | None = None) -> dict:
    cols = {}
    # The group column (any name) is kept: the structured error model predicts from the rows.
    for c in ("run_id", "kind", "group", "teacher_id") + ((group,) if group else ()):
        if c in table.columns:
            cols[c] = table[c].astype(str).to_numpy(dtype=object).astype(str)
    for c in ("N", "D", "L", "N_T", "D_T", "L_T"):
        if c in table.columns:
            cols[c] = table[c].to_numpy(float)
    return cols


N_PRIOR = 500  # prior draws stored with every fit (about a second; a few hundred kB)


# Compile modes of the groups in a process that fits once (the CLI's ``fit``; see
# :func:`one_shot`). PyTensor's C backend loads its whole on-disk module index (every
# key.pkl in the compiledir: 553 entries, 11 s of unpickling on this machine) the first time
# a process compiles anything with it, and the groups were the only C users of a fit. The
# prior draws then run on Python thunks (500 calls: 0.8 s on Epoch's points, 3.1 s on the
# Busbridge table) and the pointwise log-likelihood on the numba backend (its compiled
# function comes from the numba disk cache: 0.55 s warm; log-likelihood equal to the C
# one's). Measured in a fresh process (2 cores): groups 8.2 -> 1.3 s on Epoch, 10.9 ->
# 4.7 s on Busbridge. A process that fits many times (notebooks, the tests) keeps C: the
# index is loaded once and each later fit's groups take 0.8-1.7 s, less than the Python
# prior draws alone.
_ONE_SHOT: list[bool] = []


@contextlib.contextmanager
def one_shot():
    """Within: fits build their ArviZ groups without PyTensor's C backend (see above)."""
    _ONE_SHOT.append(True)
    try:
        yield
    finally:
        _ONE_SHOT.pop()


def _group_modes() -> tuple[dict, dict]:
    """``compile_kwargs`` of the prior draws and of the pointwise log-likelihood."""
    if not _ONE_SHOT:
        return {}, {}
    from pytensor.compile.mode import get_mode

    return {"mode": get_mode("FAST_COMPILE")}, {"mode": get_mode("NUMBA")}


def _internal(name) -> bool:
    """The sampler's transformed internals (``sigma_log__``, ``x_interval__``, ...)."""
    return str(name).endswith("__")


def _drop_internal(ds):
    return ds.drop_vars([v for v in ds.data_vars if _internal(v)])


def _f32(ds):
    """Pointwise groups (draws x rows) are most of the file: float32 halves them. Measured
    on Epoch's 240 rows x 4000 draws: elpd_loo changes by 2e-6, Pareto k by < 0.003."""
    return ds.astype("float32")


def _structured(spec) -> bool:
    # The capacity-gap model has no structured terms (its spec accepts the flag, unused).
    return spec.error == "structured" and spec.law != "capacity-gap"


def _arviz_groups(idata, built, spec, *, seed: int, posterior_predictive: bool):
    """The fit's ``InferenceData`` with every group ArviZ's LOO, compare and PPC plots use.

    - iid error model: ``log_likelihood`` is PyMC's pointwise log density of each observed
      node (``pm.compute_log_likelihood``: the model's own graph, so no second formula),
      one variable per node with the node's row dimension (``run``, ``student_run``,
      ``supervised_run``); ``observed_data`` and ``prior_predictive`` come from PyMC too.
    - structured error model: the rows of a block are correlated, so ``log_likelihood``
      holds one variable ``log_L`` over ``row`` (the stored fitted rows) with the leave-one-
      out conditional ``log p(y_i | y_-i, theta)`` of each row
      (:func:`distillaw.error_terms.loo_log_likelihood`; the law's mean from the same law
      code that predicts). Its prior predictive is not stored (PyMC cannot draw its
      Potentials); its replicates come from :func:`distillaw.error_terms.replicate`.
    """
    import pymc as pm
    import xarray as xr

    az = import_arviz()
    model = built.model
    structured = _structured(spec)
    cd = _constant_data(built.table, spec.group)
    constant = xr.Dataset({k: ("row", v) for k, v in cd.items()})
    groups = {"posterior": _drop_internal(idata.posterior), "constant_data": constant}
    if hasattr(idata, "sample_stats"):  # (a mocked sampler in tests has none)
        groups["sample_stats"] = idata.sample_stats
    base = az.InferenceData(**groups)
    names = [v.name for v in model.free_RVs + model.deterministics]
    with warnings.catch_warnings():
        # The structured model's Potentials hold observations only: prior draws of the
        # parameters are exact (and its prior predictive is not kept, see above).
        warnings.filterwarnings("ignore", message=".*effect of Potentials.*")
        prior_kw, loglik_kw = _group_modes()
        prior = pm.sample_prior_predictive(draws=N_PRIOR, model=model, random_seed=seed,
                                           var_names=names if structured else None,
                                           compile_kwargs=prior_kw)
    base.add_groups(prior=_drop_internal(prior.prior))
    if structured:
        from ..error_terms import loo_log_likelihood, replicate

        post = Posterior(base, spec.to_dict())
        rows = post.fitted_rows()
        chains, draws = idata.posterior.sizes["chain"], idata.posterior.sizes["draw"]
        mu = np.log(post.loss_draws(rows))
        y = np.log(built.table["L"].to_numpy(float))
        ll = loo_log_likelihood(base.posterior, mu, y, rows, spec.law, spec.group)
        base.add_groups(observed_data=xr.Dataset({"log_L": ("row", y)}),
                        log_likelihood=_f32(xr.Dataset(
                            {"log_L": (("chain", "draw", "row"), ll.reshape(chains, draws, -1))},
                            coords={"chain": base.posterior.chain, "draw": base.posterior.draw})))
        if posterior_predictive:
            rep = replicate(base.posterior, mu, rows, spec.law, spec.group, seed)
            base.add_groups(posterior_predictive=_f32(xr.Dataset(
                {"log_L": (("chain", "draw", "row"), rep.reshape(chains, draws, -1))},
                coords={"chain": base.posterior.chain, "draw": base.posterior.draw})))
        return base
    base.add_groups(observed_data=prior.observed_data,
                    prior_predictive=_f32(prior.prior_predictive))
    ll = pm.compute_log_likelihood(idata, model=model, extend_inferencedata=False,
                                   progressbar=False, compile_kwargs=loglik_kw)
    base.add_groups(log_likelihood=_f32(ll.log_likelihood if hasattr(ll, "log_likelihood")
                                        else ll))
    if posterior_predictive:
        pp = pm.sample_posterior_predictive(idata, model=model, random_seed=seed,
                                            progressbar=False, extend_inferencedata=False)
        base.add_groups(posterior_predictive=_f32(pp.posterior_predictive))
    return base


def _groups_note(spec, idata) -> dict:
    """What the ArviZ groups hold, for the model card."""
    return {"groups": list(idata.groups()),
            "observed_data": "log-loss (natural log of L in nats), as the likelihood sees it",
            "log_likelihood": ("leave-one-out conditional log p(y_i | y_-i, theta) per row "
                               "(rows of a block are correlated)" if _structured(spec)
                               else "pointwise log density of each observed log-loss"),
            "prior_draws": N_PRIOR}


@contextlib.contextmanager
def _quiet_pymc():
    """PyMC logs "Sampling: [...]" at INFO for every predictive call; not for our users."""
    import logging

    logger = logging.getLogger("pymc")
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)
