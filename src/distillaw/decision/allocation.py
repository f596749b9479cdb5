""":func:`allocate`: the risk-optimal allocation of a FLOPs budget."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping

import numpy as np
import pandas as pd

from ..draws import thin
from ..errors import DecisionError
from ..extrapolation import data_ranges, extrapolation_warnings
from ..laws import SUPERVISED_PARAMS as SUP_PARAMS
from ..laws.capacity_gap import minimise_1d
from ..laws.compute import (
    DEFAULT_FLOPS,
    SCENARIOS,
    FlopsModel,
    distillation_flops,
    scenario_deltas,
    student_tokens_for_budget,
    supervised_flops,
)
from ..presentation import fmt_count
from ..risk import Risk, parse_risk
from .draws import _collect_draws, _Params, sup_log_loss
from .frontiers import _frontier_teacher, _frontier_tokens, _near_optimal, _near_optimal_supervised
from .geometry import _infeasible_message, _Surface
from .predictive import check_uncertainty, error_factors, has_error_model
from .result import Allocation, _Choice, _OwnOptima
from .scoring import _pool, _precision, _Scorer
from .search import _distillation_scores, _Search
from .settings import CI, FREE_DRAWS, Resolution, _bounds, check_budget


# ============================================================================ allocate
def allocate(posterior, budget: float, *, student: float | None = None,
             scenario: str = "best-case", risk: str | Risk = "mean",
             bounds: Mapping | None = None, flops_model: FlopsModel = DEFAULT_FLOPS,
             supervised=None, group: str | None = None, max_draws: int | None = 4000,
             seed: int = 0, regret: bool = True, frontier: bool = True,
             optimal_tol: float = 1e-3, tie_tol: float = 5e-4,
             resolution: Resolution | None = None, frontier_draws: int = 500,
             threads: int | None = None, precision: str = "mixed",
             ci: float = CI, near_optimal: bool = True,
             uncertainty: str = "predictive") -> Allocation:
    """Risk-optimal allocation of a FLOPs budget to teacher and student (or supervised).

    Parameters
    ----------
    posterior : Posterior or mapping
        A distillation posterior (its draws include the supervised E..gamma used for
        teachers and for the student's supervised loss) or a supervised one (then the
        answer is the compute-optimal supervised model). A mapping of parameters (scalars
        or draws) is accepted too.
    budget : float
        Total FLOPs (> 0), charged as in Busbridge Eq. 9 for the ``scenario``.
    student : float, optional
        Student size N_S fixed by deployment; ``None`` searches it too (within bounds).
    scenario : str
        ``best-case``, ``teacher-inference``, ``teacher-pretraining`` or
        ``teacher-pretraining+inference``.
    risk : str or Risk
        ``mean``, ``quantile:Q``, ``cvar:A``, ``mean-sd:L`` (:func:`distillaw.risk.parse_risk`).
    bounds : mapping, optional
        Overrides of ``{"N_S", "N_T", "D_T", "D_S"}: (low, high)`` (default [1e6, 1e17];
        for a supervised posterior ``N_S``/``D_S`` bound N and D) and ``"M_S"``, the tokens
        per parameter of a free student (default [1, 1e6]).
    flops_model : FlopsModel
        ``F(N)``; :meth:`FlopsModel.plain` gives the 6ND rule.
    supervised : Posterior, Coefficients or mapping, optional
        Supervised-law parameters to use instead of the distillation posterior's own (e.g.
        a separately fitted supervised posterior, or ``published("busbridge2025")``). Draws
        of a different count are paired at random.
    group : str, optional
        Group of a hierarchical posterior.
    max_draws, seed
        Thin to at most ``max_draws`` draws (a fixed subset for the seed).
    regret : bool
        Also find each draw's own optimum: regret, P(optimal), per-draw optima.
    frontier : bool
        Also compute the loss bands against teacher size and against D_S (on at most
        ``frontier_draws`` draws).
    optimal_tol : float
        Regret (nats) under which the chosen allocation counts as optimal for a draw.
    tie_tol : float
        When teacher pretraining is not charged: take the cheapest teacher within this many
        nats of the best risk score (default 5e-4; 0: the raw optimum).
    resolution : Resolution, optional
        Grid sizes / iterations of the search.
    threads : int, optional
        Threads for scoring (default: CPUs available, at most 4).
    precision : str
        ``"mixed"`` (default): coarse grids scored in float32, refinement and every reported
        number in float64; ``"float64"``: everything in float64 (slower).
    uncertainty : str
        ``"predictive"`` (default): the reported loss intervals, risk score and P(distillation
        beats supervised) describe runs you would train and measure — the law times the
        posterior's error model (noise, and with ``error="structured"`` the systematic
        offset that grows away from the data), at the chosen allocation and at its
        supervised alternative. ``"law"``: the law's value only (parameter uncertainty).
        Posteriors without an error model (published coefficients, ``from_params``) give
        the law's value either way, and the result says so. The search ranks on the law
        in both cases (the error is a factor whose spread hardly depends on the candidate).
    near_optimal : bool
        Also find the set of allocations within ``optimal_tol`` nats of the best risk score
        (``Allocation.near_optimal``: ranges of N_T, D_T, D_S; for a free supervised model
        its sizes) and warn about flat ridges and sets on a search bound (default; about
        half again the time of an allocation without regret or frontiers).

    Returns
    -------
    Allocation

    Example
    -------
    >>> from distillaw.posterior import Posterior
    >>> chin = {"E": 1.69, "A": 406.4, "B": 410.7, "alpha": 0.34, "beta": 0.28}
    >>> a = allocate(Posterior.from_params("supervised", chin), 5.88e23,
    ...              flops_model=FlopsModel.plain(), regret=False, frontier=False)
    >>> round(a.N_S / 1e9, 1), a.recommendation
    (32.5, 'supervised')
    """
    C = check_budget(budget)
    if scenario not in SCENARIOS:
        scenario_deltas(scenario)          # raises with the list of scenarios
    risk_obj = parse_risk(risk)
    b = _bounds(bounds)
    if student is not None:
        try:
            student = float(student)
        except (TypeError, ValueError):
            raise DecisionError(f"student size must be a number, got {student!r}") from None
        if not (np.isfinite(student) and student > 0):
            raise DecisionError(f"student size must be a positive number of parameters, "
                                f"got {student!r}")
    if not (optimal_tol >= 0 and tie_tol >= 0):
        raise DecisionError("optimal_tol and tie_tol must be >= 0")
    if not isinstance(flops_model, FlopsModel):
        raise DecisionError("flops_model must be a distillaw.laws.FlopsModel")
    if max_draws is not None and max_draws < 1:
        raise DecisionError(f"max_draws must be >= 1, got {max_draws}")
    check_uncertainty(uncertainty)
    screen32 = _precision(precision)
    law, draws = _collect_draws(posterior, supervised, group, max_draws, seed)
    res = resolution or Resolution()
    surface = _Surface(C, scenario, flops_model, b, free_student=student is None)
    with _pool(threads) as pool:
        params = _Params(draws)
        scorer = _Scorer(params, risk_obj, pool, screen32)
        if law == "supervised":
            out = _allocate_supervised(surface, params, scorer, student, res, regret)
        else:
            out = _allocate_distillation(surface, params, scorer, student, res, regret,
                                         tie_tol, seed)
            cut = _prior_baseline(posterior, supervised, draws, params.S, seed)
            if cut is not None:
                cut_scorer = _Scorer(_Params(cut), risk_obj, pool, screen32)
                sup_N, sup_lD, sup_loss = _supervised_alternative(
                    surface, cut_scorer, student, math.log(out.N_S))
                out = dataclasses.replace(out, sup_N=sup_N, sup_D=math.exp(sup_lD),
                                          sup_loss=sup_loss)
        # The set of allocations within optimal_tol of the best score: a flat ridge shows as
        # wide ranges, which the result and its warnings state.
        if not near_optimal:
            near = None
        elif law == "distillation":
            near = _near_optimal(surface, scorer, out, optimal_tol)
        elif student is None:
            near = _near_optimal_supervised(surface, scorer, out, optimal_tol)
        else:
            near = None             # a fixed student trained supervised: nothing to choose
        fr_t = fr_d = None
        if frontier and law == "distillation":
            sub = thin(draws, frontier_draws, seed + 3)
            fscorer = _Scorer(_Params(sub), risk_obj, pool, screen32)
            fr_t = _frontier_teacher(surface, fscorer, out, res.coarse())
            fr_d = _frontier_tokens(surface, fscorer, out, res.coarse())
        n_evals = scorer.n_evals
    alloc = Allocation(
        kind=law, scenario=scenario if law == "distillation" else None, risk=risk_obj.spec,
        budget=C, student_fixed=student is not None, N_S=out.N_S, D_S=out.D_S,
        N_T=out.N_T, D_T=out.D_T, flops=out.flops, loss_draws=out.loss,
        teacher_loss_draws=out.L_T, score=out.score, supervised_N=out.sup_N,
        supervised_D=out.sup_D, supervised_loss_draws=out.sup_loss,
        regret_draws=None if out.own is None else out.own.regret(out.loss),
        optimal_tol=optimal_tol, draw_optima=None if out.own is None else out.own.table,
        frontier_teacher=fr_t, frontier_tokens=fr_d, flops_model=flops_model.to_dict(),
        bounds=b, n_draws=params.S, seed=seed, tie_tol=tie_tol if law == "distillation" else 0.0,
        ci=ci, risk_label=risk_obj.label, n_evaluations=n_evals, near_optimal=near,
        resolution=res)
    if check_uncertainty(uncertainty) == "predictive":
        _add_predictive(alloc, posterior, supervised, group, max_draws, seed, risk_obj)
    alloc.warnings = (_warnings(alloc) + _ridge_warnings(alloc)
                      + extrapolation_warnings(alloc, posterior, supervised))
    if alloc.budget_check() > 1e-8:
        raise DecisionError(f"internal error: the allocation spends {alloc.flops['total']:.6g} "
                            f"FLOPs, not the budget {C:.6g}")
    return alloc


def _add_predictive(a: Allocation, posterior, supervised, group, max_draws, seed,
                    risk_obj) -> None:
    """Multiply the chosen allocation's (and its supervised alternative's) law draws by the
    posterior's predictive error there (:mod:`.predictive`); no-op without an error model."""
    if not has_error_model(posterior):
        a.uncertainty_label = "law only: this posterior has no error model"
        return
    S = a.loss_draws.size
    kw = {"S": S, "max_draws": max_draws, "group": group}
    if a.kind == "distillation":
        point = {"kind": "distillation", "N": a.N_S, "D": a.D_S, "L_T": a.L_T,
                 "N_T": a.N_T, "D_T": a.D_T}
    else:
        point = {"kind": "supervised", "N": a.N_S, "D": a.D_S}
    f = error_factors(posterior, point, seed=seed, paired=True, **kw)
    a.predictive_loss_draws = a.loss_draws * f
    if a.kind == "distillation":
        # The supervised alternative: its own posterior's error where one was given with an
        # error model, else this posterior's (the same measurement process).
        own = supervised is None or not has_error_model(supervised)
        src = posterior if own else supervised
        sup_point = {"kind": "supervised", "N": a.supervised_N, "D": a.supervised_D,
                     "L_T": np.nan}
        # A different seed: the two runs' errors are drawn independently.
        g = error_factors(src, sup_point, seed=seed + 101, paired=own, **kw)
        a.predictive_supervised_loss_draws = a.supervised_loss_draws * g
    else:
        a.predictive_supervised_loss_draws = a.predictive_loss_draws
    a.law_score, a.score = a.score, float(risk_obj(a.predictive_loss_draws))
    a.uncertainty = "predictive"
    label = ("predictive: law x structured error (discrepancy grows away from the data) x "
             "noise" if getattr(posterior, "error", "iid") == "structured"
             else "predictive: law x fitted noise")
    if "gp" in (getattr(posterior, "error", None), getattr(supervised, "error", None)):
        # The GP is part of the draws the search ranked (the mean function), not a factor.
        label = label.replace("predictive: law", "predictive: law x its GP discrepancy "
                              "(error='gp')", 1)
    if getattr(posterior, "discrepancy", None) is not None:
        label += (" x extrapolation discrepancy (learned by leaving the largest runs out; "
                  "grows with distance from the fitted runs)")
    a.uncertainty_label = label


def _warnings(a: Allocation) -> list[str]:
    """Plain-words caveats: optimum on a bound, extrapolation in tokens per parameter."""
    out = []
    checks = [("D_S", a.D_S, "distillation tokens" if a.kind == "distillation" else "tokens")]
    if a.N_T is not None:
        checks += [("N_T", a.N_T, "teacher size"), ("D_T", a.D_T, "teacher tokens")]
    if not a.student_fixed:
        checks.append(("N_S", a.N_S, "student size" if a.kind == "distillation" else "size"))
    for key, val, what in checks:
        lo, hi = a.bounds[key]
        for side, b in (("lower", lo), ("upper", hi)):
            if abs(math.log(val) - math.log(b)) < 1e-3:
                out.append(f"the {what} sits at its {side} bound ({b:.3g}); the optimum may lie "
                           f"beyond it (change bounds={{'{key}': ...}} to search further)")
    m = a.D_S / a.N_S
    if not a.student_fixed and a.kind == "distillation":
        for side, b in (("lower", a.bounds["M_S"][0]), ("upper", a.bounds["M_S"][1])):
            if abs(math.log(m) - math.log(b)) < 1e-3:
                out.append(f"the free student sits at its {side} bound of {b:g} tokens per "
                           f"parameter: the law prefers a bigger student on fewer tokens "
                           f"(change bounds={{'M_S': ...}}; this extrapolates the law)")
    if not 1.0 <= m <= 1e4:
        out.append(f"the student sees {m:.3g} tokens per parameter, far outside the range scaling "
                   f"laws are usually fitted on (about 10-1000): treat the numbers as "
                   f"extrapolation")
    return out


_RANGE_WORDS = {"N_T": ("teacher size", "parameters"), "D_T": ("teacher tokens", "tokens"),
                "D_S": ("student tokens", "tokens"), "N_S": ("model size", "parameters")}
RIDGE_FACTOR = 2.0   # a near-optimal range wider than this factor is called a flat ridge


def _ridge_warnings(a: Allocation) -> list[str]:
    """Flat ridges: quantities whose near-optimal range spans more than ``RIDGE_FACTOR``,
    and near-optimal sets that reach a search bound (the set may extend beyond it)."""
    near = a.near_optimal
    if not near:
        return []
    wide = [(k, lo, hi) for k, (lo, hi) in near["ranges"].items()
            if k in _RANGE_WORDS and hi > RIDGE_FACTOR * lo]
    out = []
    if wide:
        parts = [f"{_RANGE_WORDS[k][0]} {k} from {fmt_count(lo)} to {fmt_count(hi)} "
                 f"{_RANGE_WORDS[k][1]}" for k, lo, hi in wide]
        who = (f"the {fmt_count(a.N_S)} student" if a.student_fixed or a.kind == "supervised"
               else f"the chosen {fmt_count(a.N_S)} student")
        who = who if a.kind == "distillation" else "this budget"
        out.append(f"flat ridge: for {who}, allocations with {' and '.join(parts)} all "
                   f"score within {near['tol']:g} nats of the best risk score ({a.risk}); the "
                   f"posterior does not pin {'these' if len(wide) > 1 else 'this'} down, so "
                   f"choose within the range on other grounds (cost, data available)")
    hits = [h for h in near["reaches_bound"] if not _on_bound(a, h)]
    if hits:
        out.append(f"the near-optimal set reaches the search bound of "
                   f"{', '.join(hits)} and may extend beyond it (change bounds= / --bounds "
                   f"to search further)")
    return out


def _on_bound(a: Allocation, hit: str) -> bool:
    """True when the chosen allocation itself sits on that bound (already warned about)."""
    key, side = hit.split()
    val = {"N_T": a.N_T, "D_T": a.D_T, "D_S": a.D_S, "N_S": a.N_S}.get(key)
    if val is None:
        return False
    b = a.bounds[key][0 if side == "lower" else 1]
    return abs(math.log(val) - math.log(b)) < 1e-3


def _allocate_supervised(surface: _Surface, params: _Params, scorer: _Scorer, student,
                         res: Resolution, regret: bool) -> _Choice:
    """Compute-optimal supervised model (or the fixed student trained on the whole budget)."""
    C = surface.C
    if student is not None:
        lN = math.log(student)
    else:
        lo, hi = surface.sup_u_range()
        if not lo <= hi:
            raise DecisionError(f"budget {C:.3g} FLOPs cannot train any model within the bounds")

        def f(x):
            return scorer(x, surface.sup_lD(x))

        lN = float(minimise_1d(f, np.array([lo]), np.array([hi]), n_grid=64, iters=40)[0])
    lD = float(surface.sup_lD(np.array(lN)))
    if not surface.b["D_S"][0] - 1e-9 <= lD <= surface.b["D_S"][1] + 1e-9:
        raise DecisionError(f"budget {C:.3g} FLOPs gives the {math.exp(lN):.3g}-parameter model "
                            f"{math.exp(lD):.3g} tokens, outside the token bounds "
                            f"{surface.bounds['D_S']}")
    loss = scorer.draws(lN, lD)[:, 0]
    own = optima = None
    if regret:
        if student is not None:
            own = loss.copy()
        else:
            S = params.S
            lo, hi = surface.sup_u_range()
            rows = np.arange(S)

            def g(x):
                return scorer(x, surface.sup_lD(x), draw_rows=rows)

            u = minimise_1d(g, np.full(S, lo), np.full(S, hi), n_grid=48, iters=40)
            own = g(u[:, None])[:, 0]
            optima = pd.DataFrame({"N": np.exp(u), "D": np.exp(surface.sup_lD(u)), "loss": own})
    N, D = math.exp(lN), math.exp(lD)
    score = float(scorer.risk(loss[:, None])[0])
    total = float(supervised_flops(N, D, surface.fm))
    return _Choice(N_S=N, D_S=D, loss=loss, score=score, sup_N=N, sup_D=D, sup_loss=loss,
                   own=None if own is None else _OwnOptima(own, optima),
                   flops={"student_training": total, "teacher_inference": 0.0,
                          "teacher_pretraining": 0.0, "total": total})


def _supervised_alternative(surface: _Surface, scorer: _Scorer, student,
                            lNS: float) -> tuple[float, float, np.ndarray]:
    """The supervised run at the same compute: the same student (fixed ``student``) or the
    risk-optimal supervised size; ``(N, log D, loss draws)`` under ``scorer``'s supervised
    law."""
    if student is not None:
        sup_N = math.exp(lNS)
        sup_lD = float(surface.sup_lD(np.array(lNS)))
    else:
        lo, hi = surface.sup_u_range()

        def fs(x):
            return scorer(x, surface.sup_lD(x))

        sup_lN = float(minimise_1d(fs, np.array([lo]), np.array([hi]), n_grid=64, iters=40)[0])
        sup_N, sup_lD = math.exp(sup_lN), float(surface.sup_lD(np.array(sup_lN)))
    return sup_N, sup_lD, scorer.draws(math.log(sup_N), sup_lD)[:, 0]


def _prior_baseline(posterior, supervised, draws: Mapping[str, np.ndarray], S: int,
                    seed: int) -> dict | None:
    """The draws with the supervised law's parameters replaced by draws from its *prior*
    (resampled to ``S``, paired at random), when the baseline has no data of its own: a
    distillation posterior fitted without supervised rows and no ``supervised=`` posterior.

    Why: the supervised law's posterior is then shaped only through the distillation law's
    student term, the place a misspecified law bends (on the full digitised Busbridge table
    E drifted to 0.87, the published 1.22) and it turned "distil" into a near-certain
    "supervised". The baseline is cut from that feedback (a "cut" posterior: the
    distillation rows inform the distillation law, not the baseline) and carries its
    prior's uncertainty, which is what the table knows about supervised training. Teacher
    losses and the distilled student keep the posterior's own parameters. ``None`` when
    the cut does not apply or the posterior stores no usable prior draws."""
    if supervised is not None or getattr(posterior, "law", None) != "distillation":
        return None
    dr = data_ranges(posterior)
    if dr is None or dr.n_supervised > 0 or "prior" not in posterior.idata.groups():
        return None
    prior = posterior.idata.prior
    names = [k for k in SUP_PARAMS if k in prior.data_vars]
    if "E" not in names or any(set(prior[k].dims) - {"chain", "draw"} for k in names):
        return None  # no prior draws, or per-group ones (hierarchical): keep the posterior
    n = prior.sizes["chain"] * prior.sizes["draw"]
    pick = np.random.default_rng([seed, 53]).choice(n, S, replace=n < S)
    out = dict(draws)
    for k in names:
        out[k] = np.asarray(prior[k].values, float).reshape(-1)[pick]
    return out


def _allocate_distillation(surface: _Surface, params: _Params, scorer: _Scorer, student,
                           res: Resolution, regret: bool, tie_tol: float,
                           seed: int = 0) -> _Choice:
    C = surface.C
    tie = tie_tol if not surface.d_pre else None
    search = _Search(surface, _distillation_scores(surface, scorer, False), res)
    one = np.zeros(1, dtype=int)
    sub = None
    if student is not None:
        lNS = np.array([math.log(student)])
    else:
        # A free student's size is chosen on a random subset of at most FREE_DRAWS draws
        # (three nested searches on every draw would be slow); its teacher and everything
        # reported use all draws.
        sub = (np.arange(params.S) if params.S <= FREE_DRAWS else
               np.sort(np.random.default_rng(seed + 4).choice(params.S, FREE_DRAWS,
                                                              replace=False)))
        sub_scorer = _Scorer(params.subset(sub), scorer.risk, scorer.pool, scorer.screen32)
        lNS = _Search(surface, _distillation_scores(surface, sub_scorer, False),
                      res).solve_free(one)[0]
    t, u, v, _ = search.solve(one, lNS, tie)
    if not np.isfinite(v[0]):
        raise DecisionError(_infeasible_message(surface, student))
    lNS, t, u = float(lNS[0]), float(t[0]), float(u[0])
    N_S, N_T = math.exp(lNS), math.exp(u)
    D_T = math.exp(float(surface.lDT(t, u)))
    D_S = float(student_tokens_for_budget(C, N_S, N_T, D_T, surface.scenario, surface.fm))
    loss = scorer.draws(lNS, math.log(D_S), u, math.log(D_T))[:, 0]
    L_T = np.exp(sup_log_loss(params.view(None, 0)[0], u, math.log(D_T)))
    sup_N, sup_lD, sup_loss = _supervised_alternative(surface, scorer, student, lNS)
    own = optima = None
    if regret:
        if student is not None:
            S = params.S
            rows = np.arange(S)
            dsearch = _Search(surface, _distillation_scores(surface, scorer, True), res)
            lNS_d = np.full(S, lNS)
            td, ud, _, own = dsearch.solve(rows, lNS_d, tie)
            dparams = params
        else:
            # Each draw's own (N_S, N_T, D_T) on the same subset, at the coarse resolution.
            dparams = params.subset(sub)
            dscorer = _Scorer(dparams, scorer.risk, scorer.pool, scorer.screen32)
            dsearch = _Search(surface, _distillation_scores(surface, dscorer, True),
                              res.coarse())
            lNS_d, td, ud, _, own = dsearch.solve_free(np.arange(len(sub)), tie)
        lDT_d = surface.lDT(td, ud)
        lDS_d = surface.lDS(lNS_d, td, ud)
        L_T_d = np.exp(sup_log_loss(dparams.sup, ud, lDT_d))
        optima = pd.DataFrame({"N_S": np.exp(lNS_d), "N_T": np.exp(ud), "D_T": np.exp(lDT_d),
                               "D_S": np.exp(lDS_d), "L_T": L_T_d, "loss": own})
        if student is not None:
            optima = optima.drop(columns="N_S")
    student_flops = float(3.0 * surface.fm.forward(N_S) * D_S)
    F_T = float(surface.fm.forward(N_T))
    inference = F_T * D_S
    pretrain = 3.0 * F_T * D_T
    total = float(distillation_flops(N_S, D_S, N_T, D_T, surface.scenario, surface.fm))
    flops = {"student_training": student_flops,
             "teacher_inference": inference if surface.d_lgt else 0.0,
             "teacher_pretraining": pretrain if surface.d_pre else 0.0,
             "teacher_inference_uncharged": 0.0 if surface.d_lgt else inference,
             "teacher_pretraining_uncharged": 0.0 if surface.d_pre else pretrain,
             "total": total}
    return _Choice(N_S=N_S, D_S=D_S, N_T=N_T, D_T=D_T, loss=loss, L_T=L_T, score=float(v[0]),
                   sup_N=sup_N, sup_D=math.exp(sup_lD), sup_loss=sup_loss, flops=flops,
                   own=None if own is None else _OwnOptima(own, optima, sub))
