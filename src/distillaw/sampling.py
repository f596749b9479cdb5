"""fit(): the one place that samples (``distillaw.fit`` is this module's :func:`fit`). Run table + law -> :class:`~distillaw.posterior.Posterior`.

Engines (``sampler=``), never swapped silently:

- ``"nutpie"`` (default): nutpie's NUTS on the model compiled with PyTensor's numba backend.
  Measured on Epoch's 240 Chinchilla points (4 chains x 1000+1000, shared 2-core machine):
  10-26 s to compile (nutpie's numba wrappers are not cached across processes; PyTensor's
  own cache makes later runs faster), 5-20 s to sample depending on load; PyMC's own NUTS
  took ~80 s for the same draws; nutpie's JAX backend compiled in 5 s but sampled ~20x
  slower on CPU (per-call overhead on this small model). The mass matrix is the diagonal
  one by default; nutpie's low-rank modified one (``mass_matrix="low-rank"``: the diagonal
  plus the few directions in which the posterior is strongly correlated) is opt-in.
  ``bench/geometry.py``, same seeds and draws, shared 2-core machine: on Epoch's 240 points
  (4x1000) low-rank took steps per draw 48 -> 6, min bulk ESS per second 17x, 0 divergences,
  r_hat 1.00; on the digitised Busbridge train split (2x500) 820 -> 48 steps per draw, ESS/s
  3.4x, but r_hat 1.02 and one divergence in the distillation recovery test; on Porian's
  configurations (hierarchical, 2x500) 10 divergences, r_hat 1.05. On a small supervised
  table (14 runs, 2x1000, the refit test's) it gave 9 divergences and r_hat 1.03 where the
  diagonal one gave none (r_hat 1.004): not a safe default. Nor by table size: at 4x1000 on
  ungrouped supervised tables it diverged on Epoch's 207-point training split with
  ``error="heteroscedastic"`` (1), one Porian configuration (113 runs: 3, r_hat 1.024) and
  simulated tables of 60 and 120 runs (6 and 2), where the diagonal one gave none; only
  Epoch's 240 points were clean (measured for issue 13, December 2026).
- ``"pymc"``: PyMC's NUTS (C backend), for machines without nutpie.
- ``"numpyro"``: JAX NUTS through PyMC, for large hierarchical fits on a GPU.

Every fit records the sampler settings, the data hash, the resolved priors and reference
sizes, and diagnostics (max r_hat, min bulk/tail ESS, divergences) on the Posterior.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
import warnings
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from ._compat import import_arviz
from .data import data_hash, validate_runs
from .errors import DistillawError, InterruptedFit, ModelError
from .posterior import Posterior

SAMPLERS = ("nutpie", "pymc", "numpyro")
# PyTensor warns on import that it found no BLAS; our models are elementwise (no BLAS ops),
# so the warning is not actionable for users.
_BLAS_WARNING = ".*PyTensor could not link to a BLAS installation.*"


def _load(data, format: str | None) -> tuple[pd.DataFrame, str | None]:
    if isinstance(data, pd.DataFrame):
        if format is not None:
            raise ModelError("format= applies to files, not DataFrames")
        return validate_runs(data), None
    if isinstance(data, str | os.PathLike):
        from .loaders import load

        path = Path(data)
        if not path.is_file():
            raise ModelError(f"{path}: no such data file")
        return load(path, format), str(path)
    raise ModelError(f"data must be a DataFrame or a path, got {type(data).__name__}")


def _check_sampler(sampler: str) -> None:
    from importlib.util import find_spec

    if sampler not in SAMPLERS:
        raise ModelError(f"unknown sampler {sampler!r}; choose one of {', '.join(SAMPLERS)}")
    if sampler == "nutpie" and find_spec("nutpie") is None:
        raise ModelError("nutpie is not installed; install it or pass sampler='pymc'")
    if sampler == "numpyro" and (find_spec("numpyro") is None or find_spec("jax") is None):
        raise ModelError("sampler='numpyro' needs numpyro and jax (pip install "
                         "'distillaw[jax]'); or pass sampler='nutpie' or 'pymc'")


MASS_MATRICES = ("low-rank", "diag")


def _compile_nutpie(model):
    import nutpie

    return nutpie.compile_pymc_model(model, backend="numba")


def _sample(model, sampler: str, *, draws: int, tune: int, chains: int, seed: int,
            progressbar: bool, target_accept: float | None, cores: int | None,
            mass_matrix: str = "low-rank", compiled=None):
    """Run the engine; returns ``(idata, compile_seconds)`` (compile time is 0 where the
    engine compiles inside its sampling call, or where ``compiled``, a nutpie model
    compiled earlier, is given)."""
    import pymc as pm

    if sampler == "nutpie":
        import nutpie

        t0 = time.perf_counter()
        compiled = _compile_nutpie(model) if compiled is None else compiled
        t_compile = time.perf_counter() - t0
        kw = {} if target_accept is None else {"target_accept": target_accept}
        # Low-rank modified mass matrix (diagonal + the few directions where the posterior
        # is correlated): bench/geometry.py measured it against the diagonal one.
        kw["low_rank_modified_mass_matrix"] = mass_matrix == "low-rank"
        # Non-blocking, so that Ctrl-C is ours to handle: nutpie's blocking call turns it
        # into "return the draws so far", which would look like a finished fit.
        bg = nutpie.sample(compiled, draws=draws, tune=tune, chains=chains, seed=seed,
                           cores=cores, progress_bar=progressbar, save_warmup=False,
                           blocking=False, **kw)
        try:
            return bg.wait(), t_compile
        except BaseException:
            bg.cancel()
            raise
    kw = {} if target_accept is None else {"target_accept": target_accept}
    if sampler == "numpyro":
        return pm.sample(draws=draws, tune=tune, chains=chains, random_seed=seed,
                         progressbar=progressbar, model=model, nuts_sampler="numpyro",
                         nuts_sampler_kwargs={"chain_method": "vectorized"},
                         compute_convergence_checks=False, **kw), 0.0
    return pm.sample(draws=draws, tune=tune, chains=chains, random_seed=seed,
                     cores=cores or min(chains, os.cpu_count() or 1), progressbar=progressbar,
                     model=model, nuts_sampler="pymc", compute_convergence_checks=False,
                     **kw), 0.0


@contextlib.contextmanager
def _sigint_watch():
    """Yield a list that becomes non-empty once SIGINT arrives (then behave as before: the
    previous handler runs, normally raising KeyboardInterrupt). Engines that catch Ctrl-C
    and return the draws so far cannot then pass a partial fit off as complete."""
    seen: list[bool] = []
    if threading.current_thread() is not threading.main_thread():
        yield seen  # signal handlers can only be set from the main thread
        return
    previous = signal.getsignal(signal.SIGINT)

    def handler(signum, frame):
        seen.append(True)
        if callable(previous):
            previous(signum, frame)
        elif previous != signal.SIG_IGN:
            raise KeyboardInterrupt

    signal.signal(signal.SIGINT, handler)
    try:
        yield seen
    finally:
        signal.signal(signal.SIGINT, previous)


def _check_complete(idata, *, draws: int, chains: int, interrupted: bool) -> None:
    """A fit that was interrupted, or returned fewer draws or chains than asked, is an
    error: never a posterior that looks finished."""
    post = getattr(idata, "posterior", None)
    got_chains = 0 if post is None else int(post.sizes.get("chain", 0))
    got_draws = 0 if post is None else int(post.sizes.get("draw", 0))
    if interrupted:
        raise InterruptedFit(f"fit interrupted (Ctrl-C) after {got_draws} of {draws} draws "
                             "per chain; nothing was saved")
    if got_chains != chains or got_draws != draws:
        raise InterruptedFit(f"the sampler returned {got_chains} chains x {got_draws} draws, "
                             f"{chains} x {draws} were asked; the incomplete fit is not used")


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
    from .priors import prior_sd

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


EXTRAPOLATION = ("auto", "calibrate", "none")
# "auto" calibrates tables of at least this many rows: below it each fold holds out a
# handful of runs, the grid posterior of the discrepancy is mostly its prior, and the
# extra fits cost more than the table is worth (pass extrapolation="calibrate" to force).
AUTO_MIN_ROWS = 50
# Inner fits of the calibration: their predictive medians and 90% widths are what is used,
# which 2 chains x 400 draws estimate well (the full fit keeps the user's settings).
INNER_MAX = {"draws": 400, "tune": 400, "chains": 2}


def _calibrate_extrapolation(table: pd.DataFrame, spec, *, sampler_kw: dict,
                             progressbar: bool, fold_model: _FoldModel | None = None):
    """The leave-the-largest-out folds of :mod:`distillaw.discrepancy`: fit ``spec`` on
    each fold's smaller runs (same priors, same sampler), predict the held-out larger ones
    with the inner posterior's own predictive draws, and return the grid posterior of the
    discrepancy (``None`` when the table allows no fold). ``fold_model``: the folds
    sample that compiled, row-weighted model (see :class:`_FoldModel`); else each fold
    builds and compiles its own."""
    import sys

    from . import discrepancy as dc

    group = spec.group
    masks = dc.fold_masks(table, group, law=spec.law)
    if not masks:
        return None
    span = dc.spans(table, spec.law)  # one distance unit for every fold and prediction
    cspan = dc.compute_spans(table, spec.law)
    lqs, lys, ds, held_ids, folds, kept = [], [], [], [], [], []
    inner_kw = {k: min(v, INNER_MAX[k]) if k in INNER_MAX else v
                for k, v in sampler_kw.items()}
    for i, mask in enumerate(masks):
        t0 = time.perf_counter()
        if progressbar:
            print(f"calibrating the extrapolation: fold {i + 1}/{len(masks)}, "
                  f"{int(mask.sum())} of {len(table)} rows held out",
                  file=sys.stderr, flush=True)
        inner_rows = table[~mask].reset_index(drop=True)
        held = table[mask].reset_index(drop=True)
        fold_kw = {**inner_kw, "seed": inner_kw["seed"] + 1 + i}
        if fold_model is not None and fold_model.serves(inner_rows):
            inner = fold_model.fit(inner_rows, fold_kw)
        else:
            inner = fit(inner_rows, spec, **fold_kw, progressbar=False, extrapolation="none")
        lq = dc.fold_quantiles(inner.predictive_draws(held, seed=i))
        ly = np.log(held["L"].to_numpy(float))
        d = dc.distance(inner_rows, held, spec.law, group, span, cspan)
        lqs.append(lq)
        lys.append(ly)
        ds.append(d)
        held_ids.append(np.flatnonzero(mask))
        kept.append(np.full(int(mask.sum()), (~mask).sum() / len(table)))
        lo, hi = lq[int(0.05 * lq.shape[0])], lq[int(0.95 * lq.shape[0]) - 1]
        folds.append({"held_out": int(mask.sum()), "fitted": int((~mask).sum()),
                      "distance_median": round(float(np.median(d)), 4),
                      "rmse_log": round(float(np.sqrt(np.mean((ly - np.median(lq, 0)) ** 2))),
                                        5),
                      "inner_coverage90": round(float(np.mean((lo <= ly) & (ly <= hi))), 3),
                      "seconds": round(time.perf_counter() - t0, 1)})
    ids = np.concatenate(held_ids)
    weight = 1.0 / np.bincount(ids, minlength=len(table))[ids]  # a row is one piece of evidence
    return dc.calibrate(np.concatenate(lqs, axis=1), np.concatenate(lys), np.concatenate(ds),
                        weight, folds, kept=np.concatenate(kept), span=span,
                        compute_span=cspan)


class _FoldModel:
    """The calibration's folds as one compiled model: the fit's own model, built with row
    weights (:func:`distillaw.models._common.likelihood`; all 1 for the fit itself) and
    compiled once by nutpie; a fold sets its held-out rows' weights to 0 and samples. Its
    priors and reference sizes are the whole table's (a fold built on its own rows differed
    only in data-scaled prior centres, whose sds are 0.5-1.5, and in where the prefactors
    are sampled). Measured on Epoch's 240 points (default fit, 4 x 500 draws): four
    compilations of 4-9 s each were most of the fit's time.

    Only for nutpie and the row-wise error models (:func:`distillaw.models.fold_weighted`);
    a fold whose fitted rows lack a kind of row the table has (all supervised rows held
    out) is built on its own rows, since its priors then change (Busbridge Table 6)."""

    def __init__(self, built, compiled):
        self.built, self.compiled = built, compiled
        rows = built.table
        self.kinds = set(rows["kind"].astype(str))
        self.ids = {name: np.asarray(ids).astype(str) for name, ids in built.fold_rows.items()}

    def serves(self, inner_rows: pd.DataFrame) -> bool:
        return set(inner_rows["kind"].astype(str)) >= self.kinds

    def fit(self, inner_rows: pd.DataFrame, kw: dict) -> Posterior:
        az = import_arviz()
        keep = set(inner_rows["run_id"].astype(str))
        weights = {name: np.isin(ids, list(keep)).astype(float)
                   for name, ids in self.ids.items()}
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=_BLAS_WARNING, category=UserWarning)
            idata, _ = _sample(self.built.model, "nutpie", draws=int(kw["draws"]),
                               tune=int(kw["tune"]), chains=int(kw["chains"]),
                               seed=int(kw["seed"]), progressbar=False,
                               target_accept=kw.get("target_accept"), cores=kw.get("cores"),
                               mass_matrix=kw["mass_matrix"],
                               compiled=self.compiled.with_data(**weights))
        _check_complete(idata, draws=int(kw["draws"]), chains=int(kw["chains"]),
                        interrupted=False)
        return Posterior(az.InferenceData(posterior=_drop_internal(idata.posterior)),
                         self.built.spec.to_dict(), model_info=self.built.info())


N_PRIOR = 500  # prior draws stored with every fit (about a second; a few hundred kB)


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
        # parameters are exact (and its prior predictive is not kept, see above). A fit
        # built with fold weights (all 1) has Potentials that are exactly 0.
        warnings.filterwarnings("ignore", message=".*effect of Potentials.*")
        prior = pm.sample_prior_predictive(draws=N_PRIOR, model=model, random_seed=seed,
                                           var_names=names if structured else None)
    base.add_groups(prior=_drop_internal(prior.prior))
    if structured:
        from .error_terms import loo_log_likelihood, replicate

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
                                   progressbar=False)
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


def fit(data, law="supervised", *, form: str | None = None, group: str | None = None,
        priors: Mapping | None = None, likelihood: str | None = None, sampler: str = "nutpie",
        draws: int = 1000, tune: int = 1000, chains: int = 4, seed: int = 0,
        progressbar: bool = True, target_accept: float | None = None,
        cores: int | None = None, format: str | None = None,
        group_params=None, reference: Mapping | None = None,
        name: str | None = None, error: str | None = None,
        posterior_predictive: bool = False,
        mass_matrix: str | None = None, extrapolation: str = "auto") -> Posterior:
    """Fit a law's posterior by NUTS.

    Parameters
    ----------
    data : DataFrame or path
        A run table, or a file read with :func:`distillaw.loaders.load` (``format=`` to force
        one of its formats).
    law : str or ModelSpec
        ``"supervised"``, ``"distillation"`` or ``"capacity-gap"``; or a full
        :class:`~distillaw.models.ModelSpec` (then ``form``, ``group``, ``priors``,
        ``likelihood``, ``group_params`` and ``reference`` must be left at their defaults).
    form, group, priors, likelihood, group_params, reference, error
        See :class:`~distillaw.models.ModelSpec`. ``error=None`` (default): heteroscedastic
        noise (its scale changes with compute) for the supervised and distillation laws,
        chosen by held-out coverage (:data:`distillaw.priors.DEFAULT_ERROR`); ``"iid"`` one
        noise scale for every run; ``"structured"`` (experimental) adds curve offsets and
        discrepancies that grow with distance from the data; ``"gp"`` (supervised law,
        opt-in) adds a smooth Gaussian-process discrepancy in (log N, log D) orthogonal to
        the law (:mod:`distillaw.hsgp`) and defaults to the low-rank mass matrix.
    sampler : {"nutpie", "pymc", "numpyro"}
        NUTS engine; nutpie by default. A missing engine is an error, never a fallback.
    draws, tune, chains, seed, progressbar, target_accept, cores
        Sampler settings (recorded on the posterior). ``target_accept=None`` keeps the
        engine default (0.8).
    posterior_predictive : bool
        Also store a ``posterior_predictive`` group (replicated log-losses at the fitted
        rows, one per draw). Off by default: it is as large as ``log_likelihood``.
    mass_matrix : {"low-rank", "diag"} or None
        Mass-matrix adaptation. ``None``: diagonal, except ``error="gp"`` under nutpie
        (low-rank). ``"diag"``: diagonal. ``"low-rank"`` (nutpie
        only): the diagonal plus the posterior's strongly correlated directions, much
        faster on large supervised tables (Epoch: 17x ESS/s) but divergent on small or
        hierarchical ones (measured in ``bench/geometry.py``; see the module docstring).

    extrapolation : {"auto", "calibrate", "none"}
        ``"calibrate"``: learn how the law's error grows away from the data by leaving the
        largest runs out (up to three extra, smaller fits: hold out the top 10/20/30% of
        rows by compute, predict them from the rest), and add that discrepancy to every
        predictive draw at its distance from the fitted rows
        (:mod:`distillaw.discrepancy`; recorded on the card). ``"auto"`` (default):
        calibrate supervised and distillation tables of at least ``AUTO_MIN_ROWS`` (50)
        rows. ``"none"``: the posterior's own error model only.

    Returns
    -------
    Posterior
        Canonical natural-scale parameters (plus ``sigma``, ``nu``), diagnostics, resolved
        priors, data hash and sampler settings.

    Notes
    -----
    The returned posterior's ``idata`` is what ArviZ expects: ``posterior`` (natural-scale
    parameters and the sampled log-scale ones, without the sampler's transformed
    internals), ``sample_stats``, ``observed_data`` (log-losses, as the likelihood sees
    them), ``log_likelihood`` (pointwise, for ``az.loo``), ``prior`` (+ ``prior_predictive``
    for the iid error model), ``constant_data`` (the fitted rows) and, on request,
    ``posterior_predictive``.

    Example
    -------
    >>> from distillaw.simulate import shipped_supervised
    >>> post = fit(shipped_supervised(), "supervised", draws=200, tune=200, chains=2,
    ...            progressbar=False)                                   # doctest: +SKIP
    >>> post.check(min_ess=100)                                         # doctest: +SKIP
    """
    from .models import ModelSpec, build, fold_weighted

    if isinstance(law, ModelSpec):
        if any(v is not None for v in (form, group, priors, group_params, reference)) or \
                likelihood is not None or error is not None:
            raise ModelError("pass either a ModelSpec or law/form/group/priors/likelihood, "
                             "not both")
        spec = law
    else:
        spec = ModelSpec(law, form=form, group=group, likelihood=likelihood,
                         priors=dict(priors or {}), group_params=group_params,
                         reference=reference, error=error)
    for k, v in (("draws", draws), ("tune", tune), ("chains", chains)):
        if not isinstance(v, int | np.integer) or v < (0 if k == "tune" else 1):
            raise ModelError(f"{k} must be a positive integer, got {v!r}")
    if target_accept is not None and not 0.5 <= target_accept < 1:
        raise ModelError(f"target_accept must be in [0.5, 1), got {target_accept}")
    _check_sampler(sampler)
    if mass_matrix is not None and mass_matrix not in MASS_MATRICES:
        raise ModelError(f"unknown mass_matrix {mass_matrix!r}; choose one of "
                         f"{', '.join(MASS_MATRICES)}")
    if mass_matrix == "low-rank" and sampler != "nutpie":
        raise ModelError(f"mass_matrix={mass_matrix!r} needs sampler='nutpie'; the "
                         f"{sampler} engine adapts a diagonal mass matrix (pass "
                         "mass_matrix='diag')")
    if extrapolation not in EXTRAPOLATION:
        raise ModelError(f"unknown extrapolation {extrapolation!r}; choose one of "
                         f"{', '.join(EXTRAPOLATION)}")
    if extrapolation == "calibrate" and spec.law == "capacity-gap":
        raise ModelError("extrapolation='calibrate' applies to the supervised and distillation"
                         " laws (a capacity-gap posterior predicts teacher sizes, not losses)")
    if mass_matrix is None:
        # Diagonal by default: low-rank diverged on small (14-run) and hierarchical tables
        # and in the distillation recovery test; it pays on large supervised tables (opt-in).
        # error="gp" (nutpie): low-rank. On 40 low-noise IsoFLOP runs (tests/test_fit_gp.py)
        # diagonal left log E unmixed (r_hat 1.24 in 300 draws; low-rank 1.02, 15 steps per
        # draw); on Epoch's points both are clean (16 vs 64 steps per draw). On 21-run
        # tables diagonal was cleaner (bench/sbc.py --errors gp: 0 divergences in 12 fits,
        # low-rank 16): pass mass_matrix="diag" there.
        mass_matrix = "low-rank" if spec.error == "gp" and sampler == "nutpie" else "diag"
    table, path = _load(data, format)
    calibrate = extrapolation == "calibrate" or (
        extrapolation == "auto" and spec.law != "capacity-gap" and len(table) >= AUTO_MIN_ROWS)
    # A calibrated fit's folds reuse this fit's compiled model, with row weights (_FoldModel)
    share = calibrate and sampler == "nutpie" and fold_weighted(spec)
    with warnings.catch_warnings(), _sigint_watch() as interrupted:
        warnings.filterwarnings("ignore", message=_BLAS_WARNING, category=UserWarning)
        try:
            built = build(spec, table, fold_weights=share)
            t0 = time.perf_counter()
            compiled = _compile_nutpie(built.model) if share else None
            t_shared = time.perf_counter() - t0  # (0 unless compiled here, for the folds)
            idata, t_compile = _sample(built.model, sampler, draws=int(draws), tune=int(tune),
                                       chains=int(chains), seed=int(seed),
                                       progressbar=progressbar, target_accept=target_accept,
                                       cores=cores, mass_matrix=mass_matrix, compiled=compiled)
            t_compile += t_shared
        except KeyboardInterrupt:
            raise InterruptedFit("fit interrupted (Ctrl-C); nothing was saved") from None
        except Exception:
            if interrupted:  # an engine that turned Ctrl-C into another error
                raise InterruptedFit("fit interrupted (Ctrl-C); nothing was saved") from None
            raise
        wall = time.perf_counter() - t0 - t_compile
    _check_complete(idata, draws=int(draws), chains=int(chains), interrupted=bool(interrupted))
    t0 = time.perf_counter()
    with warnings.catch_warnings(), _quiet_pymc():
        warnings.filterwarnings("ignore", message=_BLAS_WARNING, category=UserWarning)
        idata = _arviz_groups(idata, built, spec, seed=int(seed),
                              posterior_predictive=posterior_predictive)
    t_groups = time.perf_counter() - t0
    diagnostics = compute_diagnostics(idata)
    ess = diagnostics["ess_bulk_min"]
    diagnostics["compile_seconds"] = round(t_compile, 2)
    diagnostics["sampling_seconds"] = round(wall, 2)  # tuning + draws (+ compile for pymc)
    # prior draws, pointwise log-likelihood (+ posterior predictive): the ArviZ groups
    diagnostics["groups_seconds"] = round(t_groups, 2)
    diagnostics["ess_bulk_per_second"] = None if ess is None else round(ess / wall, 2)
    settings = {"engine": sampler, "draws": int(draws), "tune": int(tune),
                "chains": int(chains), "seed": int(seed), "target_accept": target_accept,
                "backend": "numba" if sampler == "nutpie" else None,
                "mass_matrix": mass_matrix}
    spec_dict = spec.to_dict()
    if calibrate:
        t0 = time.perf_counter()
        sampler_kw = {"sampler": sampler, "draws": int(draws), "tune": int(tune),
                      "chains": int(chains), "seed": int(seed),
                      "target_accept": target_accept, "cores": cores,
                      "mass_matrix": mass_matrix}
        disc = _calibrate_extrapolation(
            table, spec, sampler_kw=sampler_kw, progressbar=progressbar,
            fold_model=_FoldModel(built, compiled) if share else None)
        diagnostics["calibration_seconds"] = round(time.perf_counter() - t0, 2)
        if disc is not None:
            spec_dict["discrepancy"] = disc.to_dict()
        elif extrapolation == "calibrate":
            raise ModelError("extrapolation='calibrate': the table has too few compute "
                             "budgets to hold the largest out and keep enough to fit")
    model_info = built.info()
    model_info["contraction"] = _contraction(idata, built.priors)
    model_info["data_file"] = path
    model_info["arviz"] = _groups_note(spec, idata)
    if "discrepancy" in spec_dict:
        from .discrepancy import Discrepancy

        model_info.setdefault("notes", []).append(
            Discrepancy.from_dict(spec_dict["discrepancy"]).summary())
    elif spec.law != "capacity-gap":
        why = (f"the table has fewer than {AUTO_MIN_ROWS} rows" if not calibrate else
               "the table has too few compute budgets to leave the largest out")
        model_info.setdefault("notes", []).append(
            f"extrapolation not calibrated ({why if extrapolation != 'none' else 'off'}): "
            "predictive intervals carry the error model only, however far from the data")
    post = Posterior(idata, spec_dict, data_hash=data_hash(table),
                     sampler=settings, diagnostics=diagnostics, name=name,
                     model_info=model_info)
    hint = _noise_trend_hint(post)
    if hint:
        post.model_info.setdefault("notes", []).append(hint)
    return post


# A hint, not a switch: the residuals' size must change by at least this factor per decade
# of compute, and its slope be this many standard errors from zero, before fit suggests
# the heteroscedastic error model (Porian's 15 configurations: about 0.6x per decade).
TREND_HINT = {"factor": 1.25, "t": 3.0}


def _noise_trend_hint(post) -> str | None:
    """A note when an iid fit's residuals shrink or grow with compute (see
    :func:`distillaw.draws.residual_scale_trend`): one error scale then makes the intervals
    too wide where the law fits best and too narrow where it fits worst."""
    if post.error != "iid" or post.law == "capacity-gap":
        return None
    from .discrepancy import row_compute
    from .draws import residual_scale_trend

    rows = post.fitted_rows()
    pred = np.median(np.log(post.loss_draws(rows)), axis=0)
    b, t = residual_scale_trend(np.log(rows["L"].to_numpy(float)) - pred, row_compute(rows))
    if abs(t) < TREND_HINT["t"] or abs(b) < np.log(TREND_HINT["factor"]):
        return None
    way = "shrink" if b < 0 else "grow"
    return (f"the residuals {way} with compute (x{np.exp(b):.2f} per decade, {abs(t):.0f} "
            "standard errors from flat) but the iid error model has one scale for every "
            "run: try error='heteroscedastic' and compare the two fits (distillaw compare)")


__all__ = ["SAMPLERS", "DistillawError", "compute_diagnostics", "fit"]

