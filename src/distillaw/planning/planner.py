""":func:`plan`: choose the next batch of runs."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from ..data import validate_runs
from ..decision.settings import check_budget
from ..draws import interval
from ..errors import PlanningError, PosteriorError
from ..guards import check_candidates, empty_plan_reason
from ..laws.compute import DEFAULT_FLOPS, FlopsModel
from ..posterior import Posterior
from ..priors import GP_ETA_SD, GP_LS, STRUCTURED_SDS
from .criteria import (
    _AutoState,
    _DOptState,
    _drift_cov,
    _ess,
    _Fantasies,
    _ImportanceState,
    _jacobians,
    _LinearState,
    _MSEState,
    _observable_points,
    _observables,
    _surface_cov,
)
from .pools import _prepare_pool, pool_costs
from .result import Plan
from .selection import _Budget, _greedy, _log_grid_order
from .settings import (
    CI,
    COST_POWERS,
    CRITERIA,
    DEFAULT_DRAWS,
    DEFAULT_FANTASIES,
    METHODS,
    SURFACE_ROWS,
)
from .targets import TEACHER_BOUNDS, as_target


def plan(posterior: Posterior, pool, *, target="allocation", k: int, budget: float,
         cost: str | FlopsModel = "flops", seed: int = 0, method: str = "active",
         criterion: str = "auto", ess_min: float = 25.0, group: str | None = None,
         student: float | None = None, student_tokens: float | None = None,
         alloc_budget: float | None = None, scenario: str = "best-case", risk: str = "mean",
         draws: int = DEFAULT_DRAWS, n_fantasies: int = DEFAULT_FANTASIES,
         per_flop: bool = True, cost_power: float | str = "auto",
         drift: float | str | None = "auto",
         teacher_inference: bool = True,
         existing: pd.DataFrame | None = None, run_prefix: str | None = None,
         allocate_kwargs: Mapping | None = None, bounds: Mapping | None = None) -> Plan:
    """Choose up to ``k`` runs from ``pool`` within ``budget`` FLOPs.

    Parameters
    ----------
    posterior : Posterior
        Supervised or distillation posterior with observation noise (``sigma``, ``nu``).
    pool : DataFrame or path
        Candidate runs in the run-table schema with ``L`` empty
        (:func:`candidate_grid`, :func:`read_pool`).
    target : ``"allocation"``, ``"teacher"``, points (DataFrame/CSV), an ``Allocation`` or
        a :class:`Target`.
    k : maximum number of runs (> 0).
    budget : maximum total FLOPs of the batch (> 0), teachers' pretraining included.
    cost : ``"flops"`` (Busbridge F(N) with context/vocabulary terms), ``"6nd"`` (F = 2N) or
        a :class:`~distillaw.laws.compute.FlopsModel`.
    seed : seeds the draw subset, the fantasy outcomes and the random baseline.
    method : ``active`` (default), ``random``, ``log-grid`` or ``d-optimal``.
    criterion : gain estimator: ``auto`` (default: ``mse`` when the law's discrepancy
        applies, see ``drift``; else importance re-weighting while the draws support it,
        i.e. median effective sample size >= ``ess_min``, then Gaussian conditioning for
        the rest of the batch), ``importance``, ``linear`` or ``mse`` (expected squared
        error at the target of the law-only fit, the misfit's bias included; see
        :mod:`distillaw.planning`). Used to select (``active``) and to report every
        method's expected gains.
    ess_min : effective sample size (draws) below which ``auto`` switches to ``linear``.
    group : group of a hierarchical posterior used for the target and for pool rows whose
        group is ``default`` (a posterior with a single group gives its group to such rows).
    student, student_tokens, alloc_budget, scenario, risk : target settings (student size
        N_S and tokens D_S for ``teacher``, default D_S = 20 N_S; final budget, compute
        scenario and risk measure for ``allocation``, passed to
        :func:`distillaw.decision.allocate`).
    draws : posterior draws used (thinned with ``seed``).
    n_fantasies : fantasy scenarios J of the importance criterion.
    per_flop : divide gains by a power of the marginal cost (default); ``False`` maximises
        gain per run (``cost_power=0``).
    cost_power : the greedy score is ``gain / cost**cost_power``. ``"auto"`` (default):
        budget-aware look-ahead: build the batch for each power in
        :data:`~distillaw.planning.settings.COST_POWERS` (1 = per FLOP ... 0 = per run) and
        keep the batch whose *total* expected gain within the budget is largest (ties: the
        cheaper batch). Per-FLOP greedy alone fills a budget with cheap runs whose gains
        add up to less than one expensive run near the target; gain-only greedy spends the
        budget on one run when several cheap ones would tell more. A number fixes the power.
    drift : the law's extrapolation discrepancy assumed by the Gaussian estimator: sd of
        log loss per sqrt(e-fold of compute N D) beyond the fitted data's largest compute,
        a Brownian motion as in the structured error model. ``"auto"`` (default): the
        posterior's ``tau_rw`` when it has one, else that term's prior scale (rms of its
        HalfNormal prior, 0.02), for a loss target (points, allocation) of a posterior
        that stores its fitted rows (then scored by criterion ``mse``, with a smooth misfit
        surface in (log N, log D) added); off for the teacher target, hand-made posteriors and
        ``criterion="importance"`` (re-weighting treats the law as exact). ``None`` or 0:
        off. With a drift, ``auto`` scores by criterion ``mse``: a run far below the
        target in compute cannot tell us how the law bends between it and the target, and
        the fit that follows takes its misfit for signal, so the runs that reduce the
        target's error are the ones close to it, which per-FLOP greedy under the exact-law
        assumption never buys. ``criterion="linear"`` conditions on the drift instead (as
        if the fit modelled it).
    teacher_inference : charge teacher logits ``F(N_T) D_S`` on distillation runs.
    existing : finished runs (run table), used by ``log-grid`` to fill gaps around them.
    bounds : search ranges of the target, as ``allocate(bounds=...)`` takes them
        (``{"N_T": (low, high), ...}``): passed to the allocation target, and ``N_T`` bounds
        the teacher target's search (default [1e6, 1e14]). An optimal teacher on a bound
        is reported in ``info["warnings"]``.
    run_prefix : prefix of the plan's run ids (default from the posterior's data hash
        and the seed, so a new round gets new ids and re-planning is idempotent).

    Returns
    -------
    Plan

    Raises
    ------
    PlanningError, RunTableError
        Bad pool, target, budget, k or method; a posterior without noise draws.

    Example
    -------
    >>> post = Posterior.from_params("supervised", {"E": [1.6, 1.8], "A": 400.0, "B": 400.0,
    ...     "alpha": 0.34, "beta": 0.28, "sigma": 0.01})
    >>> p = plan(post, candidate_grid(N=[1e7, 1e8], M=[20]), target="allocation",
    ...          alloc_budget=1e21, k=1, budget=1e19, draws=2, n_fantasies=8)
    >>> p.total_cost <= 1e19
    True
    """
    fm = _check_arguments(posterior, method, criterion, k, budget, draws, n_fantasies, ess_min,
                          cost, group)
    powers = _cost_powers(cost_power, per_flop)
    budget = float(budget)
    # target= is converted once, here; it is evaluated on the planner's draws below.
    akw, tb = _target_bounds(bounds, allocate_kwargs)
    request = as_target(target, student=student, student_tokens=student_tokens,
                        alloc_budget=alloc_budget, scenario=scenario, risk=risk,
                        allocate_kwargs=akw, teacher_bounds=tb)
    pool = _prepare_pool(pool, posterior, group)
    params_t, params_by_group, sigma, nu = _planner_draws(posterior, pool, group, draws, seed)
    S = sigma.shape[0]
    tgt = request.evaluate(posterior, params_t, group=group, flops_model=fm, seed=seed)
    T = np.asarray(tgt.draws, float).reshape(S, -1)
    if not np.all(np.isfinite(T)):
        raise PlanningError("the target is not finite on every posterior draw")

    costs = pool_costs(pool, fm, teacher_inference=teacher_inference)
    keys = costs["teacher_key"]
    mu_obs, cand_obs, teachers = _observables(posterior, pool, params_by_group, keys)
    if not np.all(np.isfinite(mu_obs)):
        bad = int(np.flatnonzero(~np.isfinite(mu_obs).all(axis=0))[0])
        raise PlanningError(f"the law is not finite for pool row {min(bad, len(pool) - 1) + 1}")
    # Each observable's own noise: under error="heteroscedastic" a run's noise depends on
    # its compute (a cheap run is noisier when the fit's trend says so); else sigma.
    try:
        sigma = posterior.noise_scale(_observable_points(pool, keys, teachers),
                                      max_draws=S, seed=seed)  # (S, O)
    except PosteriorError as exc:
        raise PlanningError(f"posterior: {exc}") from None
    noise_var = np.mean(sigma ** 2, axis=0)  # (O,)
    extra, drift_info = _drift(drift, criterion, posterior, tgt, pool, keys, teachers)
    disc = None
    if criterion == "mse" and extra is None:
        raise PlanningError(f"criterion 'mse' needs the law's discrepancy, which is off here "
                            f"({drift_info['why']})")
    if extra is not None and criterion in ("auto", "mse"):
        disc = extra + _surface(posterior, tgt, pool, keys, teachers, float(np.mean(noise_var)),
                                drift_info)
    info: dict = {"draws": S, "pool_size": len(pool), "new_teachers": len(teachers),
                  "cost_model": fm.to_dict(), "teacher_inference": teacher_inference,
                  "per_flop": per_flop, "cost_power": cost_power, "drift": drift_info}

    def estimator() -> _AutoState:
        # Same draws and fantasy seed for selection and reporting: reproducible numbers.
        if disc is not None:
            return _AutoState(None, mse(), ess_min, lin_name="mse")
        imp = lin = None
        if criterion == "importance" or (criterion == "auto" and extra is None):
            fan = _Fantasies(mu_obs, sigma, nu, n_fantasies, np.random.default_rng(seed + 1))
            imp = _ImportanceState(fan, T, cand_obs)
        if criterion in ("auto", "linear"):
            lin = _LinearState(mu_obs, T, noise_var, cand_obs, extra)
        return _AutoState(imp, lin, ess_min)

    def mse() -> _MSEState:
        return _MSEState(mu_obs, T, noise_var, cand_obs, disc)

    bud = _Budget(costs, budget)
    if method == "active":
        runs = []
        for p in powers:
            state = estimator()
            res = _greedy(state.scores, state.update, _Budget(costs, budget), k, p)
            runs.append((p, state, *res))
        best = _best_batch(runs, estimator,
                           mse if disc is not None else
                           lambda: _LinearState(mu_obs, T, noise_var, cand_obs, extra), info,
                           "mse" if disc is not None else "linear")
        p, state, order, gains, paid, n_aff = runs[best]
        what = "gain/FLOP" if p == 1 else "gain" if p == 0 else f"gain/FLOP^{p:g}"
        reasons = [f"active ({mode}): best expected {what} of {n} affordable"
                   for mode, n in zip(state.modes, n_aff, strict=False)]
    else:
        if method == "d-optimal":
            R = min(S, 48)
            rows = np.sort(np.random.default_rng(seed + 2).choice(S, R, replace=False))
            jac, prec = _jacobians(posterior, pool, params_by_group, keys, rows)
            order, paid, reasons, info["d_gain"] = _d_optimal_order(
                jac, prec, noise_var, cand_obs, bud, k, 1.0 if per_flop else 0.0)
        elif method == "random":
            order, paid, reasons = _random_order(len(pool), bud, k, np.random.default_rng(seed))
        else:  # log-grid
            order, paid = _log_grid_order(pool, bud, k, existing)
            reasons = ["log-grid: farthest (maximin, standardised log inputs) affordable "
                       "candidate"] * len(order)
        # Report every method's batch with the same estimator (marginal gains in order).
        state = estimator()
        gains = _replay(state, order)
        reasons = [f"{r}; gain by {m}" for r, m in zip(reasons, state.modes, strict=True)]
    info.update(_estimator_info(state, criterion, n_fantasies, ess_min, S, bool(order)))

    if tgt.warnings:
        info["warnings"] = list(tgt.warnings)
    total = float(sum(paid))
    left = np.ones(len(pool), bool)
    left[order] = False
    if (method == "active" and disc is not None and len(order) < k
            and np.any(left & (costs["run"] + costs["teacher"] <= budget - total))):
        # The mse criterion can stop with budget left: say so rather than look short.
        info["warning"] = (f"stopped after {len(order)} run(s) with {budget - total:.3g} FLOPs "
                           "left: no affordable run lowers the expected squared error at the "
                           "target (runs this far from it would add their misfit to the fit); "
                           "offer candidates closer to it, or criterion 'linear' to score "
                           "variance alone")
    elif not order:  # say why rather than hand back an empty plan with no word
        info["warning"] = empty_plan_reason(costs["run"], costs["teacher"], budget, len(pool))
    if total > budget:  # the budget is a hard constraint
        raise PlanningError(f"internal error: plan costs {total:g} > budget {budget:g}")
    runs = _plan_table(posterior, pool, order, paid, gains, reasons, state.var0, costs,
                       params_by_group, seed, run_prefix)
    return Plan(runs=runs, method=method, target=tgt.summary(), budget=budget, k=int(k),
                total_cost=total, info=info)


def _target_bounds(bounds, allocate_kwargs):
    """``bounds=`` merged into the allocation target's keywords, and the teacher target's
    N_T range (checked here, once, with the allocation's rules)."""
    from ..decision import DEFAULT_BOUNDS

    akw = dict(allocate_kwargs or {})
    tb = TEACHER_BOUNDS
    if bounds:
        for key, val in bounds.items():
            if key not in DEFAULT_BOUNDS:
                raise PlanningError(f"unknown bound {key!r}; bounds take "
                                    f"{', '.join(DEFAULT_BOUNDS)}")
            try:
                lo, hi = float(val[0]), float(val[1])
            except (TypeError, ValueError, IndexError):
                raise PlanningError(f"bound {key!r} must be a pair (low, high), got "
                                    f"{val!r}") from None
            if not 0 < lo < hi < np.inf:
                raise PlanningError(f"bound {key!r} must satisfy 0 < low < high < inf, got "
                                    f"{val!r}")
        akw["bounds"] = {**dict(akw.get("bounds") or {}), **dict(bounds)}
        if "N_T" in bounds:
            tb = (float(bounds["N_T"][0]), float(bounds["N_T"][1]))
    return akw, tb


def _check_arguments(posterior, method, criterion, k, budget, draws, n_fantasies, ess_min,
                     cost, group) -> FlopsModel:
    """Check plan()'s settings (one clear error each); returns the cost model."""
    if method not in METHODS:
        raise PlanningError(f"unknown method {method!r}; use {', '.join(METHODS)}")
    if criterion not in CRITERIA:
        raise PlanningError(f"unknown criterion {criterion!r}; use {', '.join(CRITERIA)}")
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k <= 0:
        raise PlanningError(f"k must be a positive integer, got {k!r}")
    check_budget(budget, PlanningError)
    if draws < 2 or n_fantasies < 1 or not ess_min > 0:
        raise PlanningError("draws must be >= 2, n_fantasies >= 1 and ess_min > 0")
    if isinstance(cost, FlopsModel):
        fm = cost
    elif cost == "flops":
        fm = DEFAULT_FLOPS
    elif cost == "6nd":
        fm = FlopsModel.plain()
    else:
        raise PlanningError(f"unknown cost model {cost!r}; use 'flops', '6nd' or a FlopsModel")
    if not isinstance(posterior, Posterior):
        raise PlanningError(f"posterior must be a distillaw Posterior, got "
                            f"{type(posterior).__name__}")
    groups = posterior.groups
    if len(groups) > 1 and group is None:
        raise PlanningError(f"the posterior has groups ({', '.join(groups)}): pass group= for "
                            "the target")
    return fm


def _planner_draws(posterior: Posterior, pool: pd.DataFrame, group, draws: int, seed: int):
    """Parameter draws for the target's group and for each pool group, and noise draws, all
    aligned (same thinning for the same seed)."""
    n_use = min(int(draws), posterior.n_draws)
    check_candidates(len(pool), n_use, error=PlanningError)  # before any evaluation
    try:
        noise = posterior.noise_draws(max_draws=n_use, seed=seed)
        params_t = posterior.param_draws(group, max_draws=n_use, seed=seed)
        if len(posterior.groups) > 1:
            params_by_group = {g: posterior.param_draws(g, max_draws=n_use, seed=seed)
                               for g in sorted(set(pool["_pgroup"]))}
        else:
            params_by_group = {"__single__": params_t}
    except PosteriorError as exc:
        raise PlanningError(f"posterior: {exc}") from None
    S = next(iter(params_t.values())).shape[0]
    sigma = noise["sigma"]
    if sigma.shape[0] != S:
        raise PlanningError("posterior noise draws do not line up with its parameter draws")
    return params_t, params_by_group, sigma, noise.get("nu")


def _d_optimal_order(jac, prec, noise_var, cand_obs, bud: _Budget, k: int, cost_power: float):
    dstate = _DOptState(jac, noise_var, prec, cand_obs)
    order, dgain, paid, n_aff = _greedy(dstate.scores, dstate.update, bud, k, cost_power)
    reasons = [f"d-optimal: best log-det gain{'/FLOP' if cost_power else ''} of {n} "
               "affordable" for n in n_aff]
    return order, paid, reasons, dgain


def _random_order(n: int, bud: _Budget, k: int, rng: np.random.Generator):
    order, paid = [], []
    chosen = np.zeros(n, bool)
    for c in rng.permutation(n):
        if len(order) >= k:
            break
        if bud.affordable(chosen)[c]:
            paid.append(bud.take(int(c)))
            chosen[c] = True
            order.append(int(c))
    return order, paid, ["random (seeded) affordable candidate"] * len(order)


def _drift(drift, criterion, posterior: Posterior, tgt, pool, keys, teachers):
    """The discrepancy covariance over (target points, observables), or None; and what was
    used, for ``Plan.info``."""
    if drift is None or (not isinstance(drift, str) and float(drift) == 0.0):
        return None, {"tau": 0.0, "why": "off"}
    if isinstance(drift, str) and drift != "auto":
        raise PlanningError(f"drift must be 'auto', a number >= 0 or None, got {drift!r}")
    auto = isinstance(drift, str)
    if not auto and (isinstance(drift, bool) or not float(drift) >= 0):
        raise PlanningError(f"drift must be 'auto', a number >= 0 or None, got {drift!r}")
    why = None
    if criterion == "importance":
        why = "criterion 'importance' treats the law as exact"
    elif tgt.kind == "teacher":
        why = "the teacher target is not a loss"
    try:
        fitted = posterior.fitted_rows()
    except PosteriorError:
        fitted = None
        why = why or "the posterior stores no fitted rows (no compute frontier)"
    if why is not None:
        if not auto:
            raise PlanningError(f"drift={drift!r} cannot apply: {why}")
        return None, {"tau": 0.0, "why": why}
    if auto:
        post = posterior.idata.posterior
        tau = (float(np.sqrt(np.mean(np.asarray(post["tau_rw"].values, float) ** 2)))
               if "tau_rw" in post.data_vars else STRUCTURED_SDS["tau_rw"])
    else:
        tau = float(drift)
    anchor = float(np.max(np.log(fitted["N"].to_numpy(float))
                          + np.log(fitted["D"].to_numpy(float))))
    x_t = np.log(tgt.inputs["N"].to_numpy(float)) + np.log(tgt.inputs["D"].to_numpy(float))
    x_c = np.log(pool["N"].to_numpy(float)) + np.log(pool["D"].to_numpy(float))
    x_teach = []
    for key in teachers:
        i = int(np.flatnonzero(keys == key)[0])
        x_teach.append(np.log(pool["N_T"].iloc[i]) + np.log(pool["D_T"].iloc[i]))
    x = np.concatenate([x_t, x_c, np.asarray(x_teach, float)])
    return _drift_cov(x, anchor, tau), {"tau": tau, "anchor_log_compute": anchor,
                                        "why": "posterior tau_rw" if auto and
                                        "tau_rw" in posterior.idata.posterior.data_vars
                                        else "given" if not auto else "prior scale of tau_rw"}


def _surface(posterior: Posterior, tgt, pool, keys, teachers, noise_var: float,
             info: dict) -> np.ndarray:
    """Covariance over (target points, observables) of the law's smooth misfit surface in
    (log10 N, log10 D), pinned at the fitted rows (criterion ``mse``; see
    :class:`~distillaw.planning.criteria._MSEState`). Its scales are the ``error="gp"``
    prior's (sd ``GP_ETA_SD``, length scales ``exp(GP_LS[0])`` decades): a posterior
    fitted with ``error="gp"`` carries the surface in its own draws, so it gets none here.
    """
    if "gp_eta" in posterior.idata.posterior.data_vars:
        eta, why = 0.0, "in the posterior's draws (error='gp')"
    else:
        eta, why = GP_ETA_SD, "prior scale of error='gp'"
    ls = float(np.exp(GP_LS[0]))
    info.update(surface_eta=eta, surface_length_decades=ls, surface_why=why)
    pts = _observable_points(pool, keys, teachers)
    n = np.concatenate([tgt.inputs["N"].to_numpy(float), pts["N"].to_numpy(float)])
    d = np.concatenate([tgt.inputs["D"].to_numpy(float), pts["D"].to_numpy(float)])
    if eta == 0.0:
        return np.zeros((len(n), len(n)))
    fitted = posterior.fitted_rows()
    z = np.log10(np.column_stack([n, d]))
    z_fit = np.log10(np.column_stack([fitted["N"].to_numpy(float),
                                      fitted["D"].to_numpy(float)]))
    # Only fitted rows within 4 length scales of a target or candidate pin the surface
    # there (their kernel weight is below e^-8); of those at most SURFACE_ROWS, evenly
    # thinned, so a table of 10^4 rows costs one 2000 x 2000 solve, not a 10^4 one.
    near = np.zeros(len(z_fit), bool)
    for i in range(0, len(z), 512):
        d2 = (((z_fit[:, None, :] - z[None, i:i + 512, :]) / ls) ** 2).sum(-1)
        near |= d2.min(axis=1) <= 16.0
    z_fit = z_fit[near]
    if len(z_fit) > SURFACE_ROWS:
        z_fit = z_fit[np.linspace(0, len(z_fit) - 1, SURFACE_ROWS).round().astype(int)]
    info["surface_rows"] = int(len(z_fit))
    return _surface_cov(z, z_fit, eta, ls, noise_var)


def _cost_powers(cost_power, per_flop: bool) -> tuple[float, ...]:
    if not per_flop:
        if cost_power not in ("auto", 0, 0.0):
            raise PlanningError("per_flop=False means cost_power=0; do not pass both")
        return (0.0,)
    if isinstance(cost_power, str):
        if cost_power != "auto":
            raise PlanningError(f"cost_power must be 'auto' or a number in [0, 1], got "
                                f"{cost_power!r}")
        return COST_POWERS
    if isinstance(cost_power, bool) or not 0.0 <= float(cost_power) <= 1.0:
        raise PlanningError(f"cost_power must be 'auto' or a number in [0, 1], got "
                            f"{cost_power!r}")
    return (float(cost_power),)


def _best_batch(runs: list, estimator, linear, info: dict, linear_name: str) -> int:
    """Index of the look-ahead batch with the largest total expected gain.

    Every batch is scored by one estimator (a fresh state replaying the batch): the
    importance estimate when it stayed valid for every batch, else Gaussian conditioning
    for all of them, so batches compare on one scale."""
    if len(runs) == 1:
        return 0
    totals, modes = [], set()
    for r in runs:
        st = estimator()
        _replay(st, r[2])
        modes.update(st.modes)
        totals.append(st.var0 - st.current)
    # modes is empty when no batch has a run: the Gaussian estimator's name then
    scale = "importance" if modes and modes <= {"importance"} else linear_name
    if scale == "linear":
        totals = []
        for r in runs:
            st = linear()
            for c in r[2]:
                st.update(c)
            totals.append(st.var0 - st.current)
    spent = [float(sum(r[4])) for r in runs]
    best = max(range(len(runs)), key=lambda i: (round(totals[i] / max(max(totals), 1e-300), 9),
                                                -spent[i]))
    info["lookahead"] = {"scored_by": scale, "chosen_cost_power": runs[best][0],
                         "batches": [{"cost_power": r[0], "n_runs": len(r[2]),
                                      "cost": spent[i], "total_gain": float(totals[i])}
                                     for i, r in enumerate(runs)]}
    return best


def _replay(state: _AutoState, order: list[int]) -> list[float]:
    """Marginal gains of a batch chosen by another method, in its order."""
    gains = []
    for c in order:
        gains.append(float(state.scores(np.array([c]))[0]))
        state.update(c)
    return gains


def _estimator_info(state: _AutoState, criterion: str, n_fantasies: int, ess_min: float,
                    S: int, any_runs: bool) -> dict:
    info = {"criterion": criterion, "criterion_per_run": list(state.modes),
            "sd_before": float(np.sqrt(state.var0)),
            "sd_after": float(np.sqrt(max(state.current, 0.0)))}
    if state.imp is not None:
        info["n_fantasies"] = int(n_fantasies)
        ess = _ess(state.imp.logw)
        info["ess_min"] = float(ess.min())
        info["ess_median"] = float(np.median(ess))
        if any_runs and criterion == "importance" and info["ess_median"] < ess_min:
            info["warning"] = (f"importance weights are degenerate (median ESS "
                               f"{info['ess_median']:.1f} of {S} draws after the batch): "
                               "expected gains are rough; use more draws or criterion "
                               "'auto'/'linear'")
    return info


def _plan_table(posterior, pool, order, paid, gains, reasons, var0, costs, params_by_group,
                seed, run_prefix) -> pd.DataFrame:
    cols = ["run_id", "kind", "group", "N", "D", "L", "N_T", "D_T", "L_T", "teacher_id", "seed",
            "flops", "source", "cost", "predicted_median", "predicted_lower",
            "predicted_upper", "expected_gain", "gain_share", "rank", "reason"]
    if not order:
        return validate_runs(pd.DataFrame({c: pd.Series([], dtype=object) for c in cols})
                             .assign(N=pd.Series([], dtype=float), D=pd.Series([], dtype=float),
                                     L=pd.Series([], dtype=float)), require_loss=False)
    sel = pool.iloc[order].reset_index(drop=True)
    prefix = run_prefix or f"plan-{(posterior.data_hash or 'nohash')[:8]}-s{seed}"
    keys = costs["teacher_key"]
    rows = []
    for r, c in enumerate(order):
        row = sel.iloc[r]
        g = row["_pgroup"]
        loss = posterior.loss_draws(pool.iloc[[c]], params=params_by_group[g])[:, 0]
        q = interval(loss, CI)
        tid = row["teacher_id"]
        if keys[c] is not None:
            tid = keys[c]
        tag = "s" if row["kind"] == "supervised" else "d"
        rows.append({
            "run_id": f"{prefix}-{r + 1:02d}{tag}", "kind": row["kind"], "group": row["group"],
            "N": row["N"], "D": row["D"], "L": np.nan, "N_T": row["N_T"], "D_T": row["D_T"],
            "L_T": row["L_T"], "teacher_id": tid, "seed": int(seed),
            "flops": float(costs["run"][c]), "source": "distillaw plan",
            "cost": float(paid[r]), "predicted_median": q[0], "predicted_lower": q[1],
            "predicted_upper": q[2],
            "expected_gain": gains[r] if r < len(gains) else np.nan,
            "gain_share": (gains[r] / var0 if r < len(gains) and var0 > 0 else np.nan),
            "rank": r + 1, "reason": reasons[r] + (
                "; pays its teacher's pretraining" if paid[r] > costs["run"][c] * (1 + 1e-12)
                else ""),
        })
    return validate_runs(pd.DataFrame(rows), require_loss=False)
