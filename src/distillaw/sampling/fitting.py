"""fit(): run table + law -> :class:`~distillaw.posterior.Posterior` (see the package
docstring for the engines)."""

from __future__ import annotations

import os
import time
import warnings
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from ..data import data_hash, validate_runs
from ..errors import InterruptedFit, ModelError
from ..posterior import Posterior
from . import engine
from .engine import _BLAS_WARNING, MASS_MATRICES, _check_complete, _sigint_watch
from .folds import AUTO_MIN_ROWS, EXTRAPOLATION, _FoldModel, _start_calibration
from .groups import _arviz_groups, _contraction, _groups_note, _quiet_pymc, compute_diagnostics

# target_accept under the low-rank mass matrix when the caller gives none (see fit()).
LOW_RANK_TARGET_ACCEPT = 0.9
# The default sampler of a distillation-only table (no supervised rows, no group, row-wise
# error, the student term in level coordinates): nutpie's low-rank metric at this
# target_accept, drawing THIN x ``draws`` per chain and keeping every THIN-th. Measured on
# the digitised Busbridge train split (default heteroscedastic fit, 4 chains, 2 cores;
# bench/geometry.py --cases busbridge-hetero): the diagonal metric needs 245 leapfrog steps
# per draw (79 s, min bulk ESS ~800); low-rank at 0.98 needs 32, and its slowest direction
# (a curved ridge of the student term's level/tilt and log(beta' gamma')) mixes worse per
# draw: at 1000 draws r_hat passed 1.01 in 2 of 8 seeds. 2000 drawn, 1000 kept: seeds 0-7,
# 0 divergences, r_hat <= 1.007, min ESS 800-1360 (the thinned draws keep the full run's
# ESS), 22 s of sampling. On 60- and 120-row subsets of that table the same settings were
# as clean as the diagonal metric (r_hat up to 1.017 in one of four 60-row subsets, where
# the diagonal metric reached 1.020 in another) at 3-4x fewer gradients; on 15- and 30-row
# subsets (seeds 0-2; a planning loop's first refits) 0 divergences either way, min ESS
# 152-645 and r_hat 1.004-1.029 against the diagonal metric's 58-329 and 1.009-1.050 in
# about the same time. No table size where the diagonal metric did better. Tables with
# supervised rows keep the diagonal metric: low-rank mixed the jointly fitted supervised
# law worse (simulated table: min ESS 114-313 against 836-946); grouped tables and the
# structured error diverged under low-rank.
# maxdepth 8 (at most 255 leapfrog steps, nutpie's default 1023): the cap binds only in the
# first tuning windows, where the metric is still the identity and a trajectory ran to
# 1023 steps, the first 100 tuning draws averaging 200-360 steps. Seeds 0-7 on the same
# table (fit(..., extrapolation="none")): at most 127 steps in a kept draw, warmup 79k/62k ->
# 55k steps per chain, 22 s -> 18.5-19.7 s of sampling, r_hat 1.002-1.006, min bulk ESS
# 1012-1281, 0 divergences.
DISTILLATION_ONLY_SAMPLER = {"mass_matrix": "low-rank", "target_accept": 0.98, "thin": 2,
                             "maxdepth": 8}


def _default_metric(spec, table: pd.DataFrame, model, sampler: str) -> dict:
    """The mass matrix, target_accept and thinning of a fit whose caller chose no mass
    matrix (see :data:`DISTILLATION_ONLY_SAMPLER`)."""
    if sampler != "nutpie":
        return {"mass_matrix": "diag", "target_accept": None, "thin": 1, "maxdepth": None}
    if spec.error == "gp":
        # On 40 low-noise IsoFLOP runs (tests/test_fit_gp.py) diagonal left log E unmixed
        # (r_hat 1.24 in 300 draws; low-rank 1.02, 15 steps per draw); on Epoch's points both
        # are clean (16 vs 64 steps per draw). On 21-run tables diagonal was cleaner
        # (bench/sbc.py --errors gp: 0 divergences in 12 fits, low-rank 16; at target_accept
        # 0.9, 39, 37 of them in one fit): pass mass_matrix="diag" there.
        return {"mass_matrix": "low-rank", "target_accept": LOW_RANK_TARGET_ACCEPT, "thin": 1,
                "maxdepth": None}
    if (spec.law == "distillation" and spec.group is None
            and spec.error in ("iid", "heteroscedastic")
            and not table["kind"].astype(str).eq("supervised").any()
            and "student_level_ref" in model.named_vars):
        return dict(DISTILLATION_ONLY_SAMPLER)
    # Diagonal elsewhere: low-rank diverged on small (14-run) and hierarchical tables and in
    # the distillation recovery test (with supervised rows); it pays on large supervised
    # tables (Epoch: 17x ESS/s), opt-in.
    return {"mass_matrix": "diag", "target_accept": None, "thin": 1, "maxdepth": None}


def _transition_stats(idata) -> dict:
    """Divergences, mean leapfrog steps and draws per chain of every transition sampled."""
    ss = idata.sample_stats
    out = {"divergences": int(np.asarray(ss["diverging"].values).sum()),
           "n_draws_sampled": int(ss.sizes["draw"])}
    if "n_steps" in ss:
        out["steps_per_draw"] = float(np.asarray(ss["n_steps"].values).mean())
    return out


def _thin(idata, thin: int):
    """Every ``thin``-th draw of the posterior and sample stats. A divergence in a dropped
    draw marks the kept draw of its window (the count is kept by the caller)."""
    if thin == 1:
        return idata
    ss = idata.sample_stats
    n = ss.sizes["draw"] // thin * thin
    out = idata.isel(draw=slice(thin - 1, n, thin))
    for name in out.groups():  # draws numbered 0.. as in any other fit
        ds = out[name]
        if "draw" in ds.dims:
            setattr(out, name, ds.assign_coords(draw=np.arange(ds.sizes["draw"])))
    if "diverging" in ss:
        window = ss["diverging"].isel(draw=slice(0, n)).coarsen(draw=thin).max()
        out.sample_stats["diverging"] = window.assign_coords(
            draw=np.arange(window.sizes["draw"]))
    return out


def _load(data, format: str | None) -> tuple[pd.DataFrame, str | None]:
    if isinstance(data, pd.DataFrame):
        if format is not None:
            raise ModelError("format= applies to files, not DataFrames")
        return validate_runs(data), None
    if isinstance(data, str | os.PathLike):
        from ..loaders import load

        path = Path(data)
        if not path.is_file():
            raise ModelError(f"{path}: no such data file")
        return load(path, format), str(path)
    raise ModelError(f"data must be a DataFrame or a path, got {type(data).__name__}")


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
        Sampler settings (recorded on the posterior). ``target_accept=None``: 0.9 with
        the low-rank mass matrix (:data:`LOW_RANK_TARGET_ACCEPT`), else the engine's
        default (0.8).
    posterior_predictive : bool
        Also store a ``posterior_predictive`` group (replicated log-losses at the fitted
        rows, one per draw). Off by default: it is as large as ``log_likelihood``.
    mass_matrix : {"low-rank", "diag"} or None
        Mass-matrix adaptation. ``None`` (under nutpie): low-rank for ``error="gp"``, and
        for a distillation-only table (no supervised rows, no group, iid or
        heteroscedastic error) low-rank at target_accept 0.98 drawing twice ``draws`` per
        chain and keeping every second (:data:`DISTILLATION_ONLY_SAMPLER`: the digitised
        Busbridge table samples in 22 s instead of 79 s at the same ESS); diagonal
        elsewhere. The choice and the thinning are recorded in ``post.sampler``.
        ``"diag"``: diagonal. ``"low-rank"`` (nutpie only): the diagonal plus the
        posterior's strongly correlated directions, much faster on large supervised
        tables (Epoch: 17x ESS/s) but divergent on small or hierarchical ones (measured
        in ``bench/geometry.py``); an explicit choice is never thinned.

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
    from ..models import ModelSpec, build, fold_weighted

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
    engine._check_sampler(sampler)
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
    explicit_mass = mass_matrix is not None
    table, path = _load(data, format)
    calibrate = extrapolation == "calibrate" or (
        extrapolation == "auto" and spec.law != "capacity-gap" and len(table) >= AUTO_MIN_ROWS)
    thin, maxdepth = 1, None
    with warnings.catch_warnings(), _sigint_watch() as interrupted:
        warnings.filterwarnings("ignore", message=_BLAS_WARNING, category=UserWarning)
        try:
            built = build(spec, table)
            if mass_matrix is None:
                auto = _default_metric(spec, table, built.model, sampler)
                mass_matrix, thin, maxdepth = auto["mass_matrix"], auto["thin"], auto["maxdepth"]
                if target_accept is None:
                    target_accept = auto["target_accept"]
            if target_accept is None and mass_matrix == "low-rank":
                # The low-rank metric's step size, adapted to nutpie's 0.8, is too long for
                # a few trajectories: Epoch's 240 points (bench/fit_speed.py) diverged 1-4
                # times in 5 of 6 seeds; at 0.9, 0 in 6 seeds, sampling 1.2-1.6 s instead of
                # 1.1-1.2 s.
                target_accept = LOW_RANK_TARGET_ACCEPT
            t0 = time.perf_counter()
            fold_model, model, compiled, t_pre = None, built.model, None, 0.0
            if calibrate and sampler == "nutpie" and fold_weighted(spec):
                # One compilation for the fit and its calibration folds: the fit samples
                # the folds' row-weighted model with every weight 1 (the same density; 6%
                # more time per gradient on the digitised Busbridge table, 8 s less
                # compiling). The ArviZ groups still come from ``built``.
                weighted = build(spec, table, fold_weights=True)
                model, compiled = weighted.model, engine._compile_nutpie(weighted.model)
                fold_model = _FoldModel(weighted, compiled)
                t_pre = time.perf_counter() - t0
            idata, t_compile = engine._sample(model, sampler, draws=int(draws) * thin,
                                       tune=int(tune), chains=int(chains), seed=int(seed),
                                       progressbar=progressbar, target_accept=target_accept,
                                       cores=cores, mass_matrix=mass_matrix,
                                       compiled=compiled, maxdepth=maxdepth,
                                       store_unconstrained=fold_model is not None)
            t_compile += t_pre  # (_sample's own is ~0 when given the compiled model)
            if fold_model is not None:
                # the folds start where this posterior is (see _FoldModel.warm_start)
                fold_model.warm_start(engine._pop_unconstrained(idata))
        except KeyboardInterrupt:
            raise InterruptedFit("fit interrupted (Ctrl-C); nothing was saved") from None
        except Exception:
            if interrupted:  # an engine that turned Ctrl-C into another error
                raise InterruptedFit("fit interrupted (Ctrl-C); nothing was saved") from None
            raise
        wall = time.perf_counter() - t0 - t_compile
    _check_complete(idata, draws=int(draws) * thin, chains=int(chains),
                    interrupted=bool(interrupted))
    # every transition counts, the dropped draws' too
    full_stats = _transition_stats(idata) if thin > 1 else None
    idata = _thin(idata, thin)
    pending, t_cal = None, time.perf_counter()
    if calibrate:
        # The folds start now and sample in the background (where they share the fit's
        # compiled model) while this thread computes the ArviZ groups.
        sampler_kw = {"sampler": sampler, "draws": int(draws), "tune": int(tune),
                      "chains": int(chains), "seed": int(seed),
                      "target_accept": target_accept, "cores": cores,
                      "mass_matrix": mass_matrix}
        pending = _start_calibration(
            table, spec, sampler_kw=sampler_kw, progressbar=progressbar, fit=fit,
            explicit_mass=explicit_mass, fold_model=fold_model)
    try:
        t0 = time.perf_counter()
        with warnings.catch_warnings(), _quiet_pymc():
            warnings.filterwarnings("ignore", message=_BLAS_WARNING, category=UserWarning)
            idata = _arviz_groups(idata, built, spec, seed=int(seed),
                                  posterior_predictive=posterior_predictive)
        t_groups = time.perf_counter() - t0
        disc = None if pending is None else pending.finish()
    except BaseException:
        if pending is not None:
            pending.cancel()
        raise
    diagnostics = compute_diagnostics(idata)
    if full_stats is not None:
        diagnostics.update(full_stats)
    ess = diagnostics["ess_bulk_min"]
    diagnostics["compile_seconds"] = round(t_compile, 2)
    diagnostics["sampling_seconds"] = round(wall, 2)  # tuning + draws (+ compile for pymc)
    # prior draws, pointwise log-likelihood (+ posterior predictive): the ArviZ groups
    # (computed while the calibration's folds sample, when they run in the background)
    diagnostics["groups_seconds"] = round(t_groups, 2)
    diagnostics["ess_bulk_per_second"] = None if ess is None else round(ess / wall, 2)
    settings = {"engine": sampler, "draws": int(draws), "tune": int(tune),
                "chains": int(chains), "seed": int(seed), "target_accept": target_accept,
                "backend": "numba" if sampler == "nutpie" else None,
                "mass_matrix": mass_matrix, "thin": thin, "maxdepth": maxdepth}
    spec_dict = spec.to_dict()
    if calibrate:
        # from the folds' start to the discrepancy, the groups' time included
        diagnostics["calibration_seconds"] = round(time.perf_counter() - t_cal, 2)
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
        from ..discrepancy import Discrepancy

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
    from ..discrepancy import row_compute
    from ..draws import residual_scale_trend

    rows = post.fitted_rows()
    pred = np.median(np.log(post.loss_draws(rows)), axis=0)
    b, t = residual_scale_trend(np.log(rows["L"].to_numpy(float)) - pred, row_compute(rows))
    if abs(t) < TREND_HINT["t"] or abs(b) < np.log(TREND_HINT["factor"]):
        return None
    way = "shrink" if b < 0 else "grow"
    return (f"the residuals {way} with compute (x{np.exp(b):.2f} per decade, {abs(t):.0f} "
            "standard errors from flat) but the iid error model has one scale for every "
            "run: try error='heteroscedastic' and compare the two fits (distillaw compare)")
