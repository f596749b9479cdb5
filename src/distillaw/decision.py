r"""Risk-aware compute allocation on posterior draws: distil or train supervised, and how.

The question (Busbridge et al. 2025, Eq. 10 / Eq. 28, Section 5.3): with a total budget of
``C`` FLOPs, a student of ``N_S`` parameters (fixed by deployment, or free), how large a
teacher ``N_T`` trained on how many tokens ``D_T``, and how many distillation tokens ``D_S``::

    min_{N_T, D_T, D_S}  risk_s[ L_S(N_S, D_S, L_T = L(N_T, D_T)) ]
    s.t.  3 F(N_S) D_S + F(N_T) (delta_lgt D_S + delta_pre 3 D_T) = C          (Eq. 9)

with ``L`` the supervised law and ``L_S`` the distillation law evaluated on every posterior
draw ``s`` (:mod:`distillaw.laws`), ``risk`` one of :mod:`distillaw.risk` (mean, quantile,
CVaR, mean + lambda SD) and the scenario flags of :data:`distillaw.laws.SCENARIOS`:
best case (teacher free), teacher inference (pay its logits on ``D_S``), teacher
pretraining (pay ``3 F(N_T) D_T``), or both. The supervised alternative spends the same
``C`` on the student alone: ``D = C / (3 F(N_S))`` (or the compute-optimal ``N`` when the
student size is free). Units: parameters and tokens as raw counts, FLOPs, losses in nats.

Search space and bounds
-----------------------
The teacher is always a *trainable* model ``(N_T, D_T)``, so its loss is ``L(N_T, D_T) > E``
on every draw: no draw can ask for a teacher better than its own irreducible loss. As in the
paper, ``N_T, D_T, D_S`` (and a free ``N_S``) lie in ``[1e6, 1e17]`` (the token cap is
deliberately above available data); change them with ``bounds=``. ``D_S`` is never searched:
it is what the budget leaves (:func:`distillaw.laws.student_tokens_for_budget`), so the
budget holds exactly at every candidate, and it is checked again at the answer.

The teacher is searched in ``t = log C_T`` (its pretraining FLOPs ``C_T = 3 F(N_T) D_T``)
and ``u = log N_T``: an outer 1-d problem over ``t`` whose value is the inner minimum over
``u`` (both a coarse grid then golden-section refinement,
:func:`distillaw.laws.capacity_gap.minimise_1d`, robust to the sharp break of the law),
and, for a free student, a third level over ``log N_S``. All candidates of a level are
scored at once on all draws, in vectorised NumPy (no PyMC), in cache-sized blocks spread
over threads. The coarse grids (most of the work) are scored in float32, which NumPy
evaluates several times faster; golden-section refinement and every reported number use
float64 (``precision="float64"`` does everything in float64).

A free student's size is chosen on a random subset of at most ``FREE_DRAWS`` (500) draws
(the teacher for it, and everything reported, use all draws) and kept to at least
``bounds["M_S"][0]`` = 1 token per parameter: left alone, the fitted law trades data for
size far beyond any fitted run (a trillion-parameter student on millions of tokens).

When the teacher's pretraining is not charged (best case, teacher inference) many teachers
reach the same student loss: a bigger compute never hurts, so the optimum is a flat ridge.
Risk-score differences below ``tie_tol`` nats (default 5e-4, far below run-to-run noise
of a measured loss) are treated as ties, and the answer is the *cheapest* teacher (least
pretraining FLOPs) among them. This also keeps tail measures (quantile, CVaR) estimated from
finitely many draws from wandering along the ridge to absurd teachers. ``tie_tol=0``
returns the raw optimum instead (in the teacher-inference scenario that is the overtrained
teacher at the ``D_T`` cap the paper reports).

What comes back (:class:`Allocation`)
-------------------------------------
The allocation and its FLOPs split, the draws of the student loss there (median and 90%
interval), the supervised alternative at the same compute, ``P(distillation beats
supervised)``, the regret of the choice against each draw's own optimum (same search per
draw) with its mean and ``P(regret <= optimal_tol)`` -- the probability that the chosen
allocation is optimal, up to ``optimal_tol`` nats -- and the frontier: loss bands against
teacher size and against ``D_S`` at this budget. Deterministic for a given ``seed`` (it
only picks the draw subset).

Example
-------
>>> from distillaw import published
>>> from distillaw.posterior import Posterior
>>> post = Posterior.from_params("distillation", published("busbridge2025").point())
>>> a = allocate(post, 1e21, student=1e9, scenario="teacher-pretraining",
...              regret=False, frontier=False)
>>> a.recommendation
'supervised'
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .errors import DecisionError
from .extrapolation import extrapolation_warnings
from .laws.capacity_gap import minimise_1d
from .laws.compute import (
    DEFAULT_FLOPS,
    SCENARIOS,
    FlopsModel,
    distillation_flops,
    scenario_deltas,
    student_tokens_for_budget,
    supervised_flops,
)
from .laws.distillation import PARAMS as DIS_PARAMS
from .laws.distillation import log_distillation_loss
from .laws.supervised import log_supervised_loss
from .risk import Risk, parse_risk

SUP_PARAMS = ("E", "A", "B", "alpha", "beta", "gamma")
DEFAULT_BOUNDS: dict[str, tuple[float, float]] = {
    # Busbridge et al. (Section 5.3): N_T, D_S, D_T in [1M, 100P]; we use the same for N_S.
    "N_S": (1e6, 1e17), "N_T": (1e6, 1e17), "D_T": (1e6, 1e17), "D_S": (1e6, 1e17),
    # Tokens per parameter of a *free* student. Without it the fitted law happily trades
    # data for size far outside any fitted run (a trillion-parameter student on a few
    # million tokens); a fixed student takes whatever tokens the budget leaves.
    "M_S": (1.0, 1e6),
}
CI = 0.9
LOG3 = math.log(3.0)
_BLOCK = 1 << 16          # elements per evaluation block: temporaries stay in L2 (512 KB)
FREE_DRAWS = 500          # draws used to choose a free student's size and its regret


# ============================================================================ settings
@dataclass(frozen=True)
class Resolution:
    """Grid sizes and golden-section iterations of the nested search.

    ``outer``: teacher pretraining compute; ``inner``: teacher size; ``student``: a free
    student size. Each level is a grid of ``n_*`` points, then ``it_*`` golden-section steps
    inside the two cells around the best one (precision ``~ 0.618**it`` of two cells).
    """

    n_outer: int = 24
    it_outer: int = 16
    n_inner: int = 24
    it_inner: int = 16
    n_student: int = 16
    it_student: int = 16

    def coarse(self) -> Resolution:
        """A cheaper setting for figures (frontiers, crossover curves)."""
        return Resolution(16, 12, 16, 12, 12, 10)


def _bounds(bounds: Mapping | None) -> dict[str, tuple[float, float]]:
    out = dict(DEFAULT_BOUNDS)
    for k, v in (bounds or {}).items():
        if k not in DEFAULT_BOUNDS:
            raise DecisionError(f"unknown bound {k!r}; bounds take {', '.join(DEFAULT_BOUNDS)}")
        try:
            lo, hi = (float(v[0]), float(v[1]))
        except (TypeError, ValueError, IndexError):
            raise DecisionError(f"bound {k!r} must be a pair (low, high), got {v!r}") from None
        if not (0 < lo < hi < np.inf):
            raise DecisionError(f"bound {k!r} must satisfy 0 < low < high < inf, got {v!r}")
        out[k] = (lo, hi)
    return out


# ============================================================================ draws
def _point_or_draws(obj, what: str, group: str | None, max_draws: int | None,
                    seed: int) -> dict[str, np.ndarray]:
    """Parameter draws from a Posterior, published Coefficients or a mapping."""
    from .posterior import Posterior
    from .published import Coefficients

    if isinstance(obj, Posterior):
        return obj.param_draws(group, max_draws=max_draws, seed=seed)
    if isinstance(obj, Coefficients):
        return {k: np.atleast_1d(np.asarray(v, float)) for k, v in obj.point().items()}
    if isinstance(obj, Mapping):
        try:
            return {k: np.atleast_1d(np.asarray(v, float)) for k, v in obj.items()}
        except (TypeError, ValueError):
            raise DecisionError(f"{what}: parameter values must be numbers or arrays") from None
    raise DecisionError(f"{what} must be a Posterior, published coefficients or a mapping of "
                        f"parameters, got {type(obj).__name__}")


def _collect_draws(posterior, supervised, group, max_draws, seed) -> tuple[str, dict]:
    """Draws of every parameter the allocation needs, all of one length S."""
    p = _point_or_draws(posterior, "posterior", group, max_draws, seed)
    law = getattr(posterior, "law", None) or ("distillation" if "A_prime" in p else "supervised")
    if law not in ("supervised", "distillation"):
        raise DecisionError(f"allocation needs a supervised or distillation posterior, not {law}")
    if supervised is not None:
        if law != "distillation":
            raise DecisionError("supervised= only applies to a distillation posterior")
        s = _point_or_draws(supervised, "supervised", group, max_draws, seed + 1)
        s.setdefault("gamma", np.ones_like(next(iter(s.values()))))
        missing = [k for k in SUP_PARAMS if k not in s]
        if missing:
            raise DecisionError(f"supervised parameters lack {', '.join(missing)}")
        p.update({k: s[k] for k in SUP_PARAMS})
    p.setdefault("gamma", np.ones_like(p["E"]) if "E" in p else np.ones(1))
    need = SUP_PARAMS + (DIS_PARAMS if law == "distillation" else ())
    missing = [k for k in need if k not in p]
    if missing:
        raise DecisionError(f"{law} allocation needs parameters: {', '.join(missing)}")
    sizes = {np.size(p[k]) for k in need}
    S = max(sizes)
    out = {}
    rng = np.random.default_rng(seed + 2)
    for k in need:
        v = np.asarray(p[k], float).reshape(-1)
        if v.size == 1:
            v = np.full(S, v[0])
        elif v.size != S:
            # Draws of separately fitted posteriors: pair them at random (independence).
            v = v[rng.choice(v.size, S, replace=v.size < S)]
        out[k] = v
    bad = [k for k in need if not np.all(np.isfinite(out[k]))]
    if bad:
        raise DecisionError(f"non-finite parameter draws: {', '.join(bad)}")
    return law, out


class _Params:
    """Log-scale parameter draws in the keyword form the law functions take."""

    def __init__(self, d: Mapping[str, np.ndarray]):
        self.S = len(d["E"])
        self.sup = {"log_E": np.log(d["E"]), "log_A": np.log(d["A"]), "log_B": np.log(d["B"]),
                    "alpha": d["alpha"], "beta": d["beta"], "gamma": d["gamma"]}
        self.dis = None
        if "A_prime" in d:
            self.dis = {"log_A_prime": np.log(d["A_prime"]), "log_B_prime": np.log(d["B_prime"]),
                        "alpha_prime": d["alpha_prime"], "beta_prime": d["beta_prime"],
                        "gamma_prime": d["gamma_prime"], "c0": d["c0"], "c1": d["c1"],
                        "f1": d["f1"], "log_d1": np.log(d["d1"])}

    def subset(self, idx: np.ndarray) -> _Params:
        """The same parameters for draws ``idx`` only."""
        out = object.__new__(_Params)
        out.S = len(idx)
        out.sup = {k: v[idx] for k, v in self.sup.items()}
        out.dis = None if self.dis is None else {k: v[idx] for k, v in self.dis.items()}
        return out

    def view(self, idx=None, ndim: int = 2, dtype=np.float64,
             last: bool = False) -> tuple[dict, dict | None]:
        """Parameters reshaped to broadcast against candidate arrays of ``ndim`` dims.

        ``idx=None`` gives shape ``(S,) + (1,) * ndim`` (all draws against every candidate),
        or with ``last`` ``(1,) * ndim + (S,)`` (draws on the last, contiguous axis); an
        index array gives ``(len(idx), 1)`` (one draw per candidate row).
        """
        def shape(v):
            if idx is None:
                sh = (1,) * ndim + (-1,) if last else (-1,) + (1,) * ndim
                return v.reshape(sh).astype(dtype, copy=False)
            return v[idx].reshape(-1, 1).astype(dtype, copy=False)
        sup = {k: shape(v) for k, v in self.sup.items()}
        dis = None if self.dis is None else {k: shape(v) for k, v in self.dis.items()}
        return sup, dis


def _log_loss(sup: dict, dis: dict | None, lNS, lDS, lNT=None, lDT=None):
    """Log student loss (distillation law), or the supervised loss when no teacher."""
    lLt = log_supervised_loss(lNS, lDS, **sup)
    if dis is None or lNT is None:
        return lLt
    lLT = log_supervised_loss(lNT, lDT, **sup)
    return log_distillation_loss(lNS, lDS, lLT, lLt, **dis)


# ============================================================================ scoring
def _take(a, rows: slice, cols: slice):
    a = np.asarray(a)
    if a.ndim == 0:
        return a
    return a[rows if a.shape[0] > 1 else slice(None), cols if a.shape[1] > 1 else slice(None)]


class _Scorer:
    """Scores candidate allocations on the draws.

    ``risk mode`` (``draw_rows=None``): every candidate is evaluated on all S draws and
    reduced by the risk measure. ``per-draw mode``: candidate row ``i`` is evaluated on the
    single draw ``draw_rows[i]`` (used to find each draw's own optimum). Inputs are log sizes
    broadcastable to ``(B, m)``; NaN inputs mark infeasible candidates and score ``inf``.

    Precision: with ``screen32`` (the search's default), calls that score a grid of
    candidates per row (``m > 1``: the coarse grids, most of the work) run in float32, which
    numpy evaluates several times faster; single candidates (``m == 1``: golden-section
    refinement, whose values decide the answer) run in float64. Grid values are only used
    to bracket the optimum, and float32 rounding (about 1e-6 nats) is far below the
    differences between grid cells.
    """

    def __init__(self, params: _Params, risk: Risk, pool: ThreadPoolExecutor | None,
                 screen32: bool = False):
        self.p = params
        self.risk = risk
        self.pool = pool
        self.screen32 = screen32
        self.n_evals = 0
        # Risk mode keeps the draws on the last, contiguous axis: NumPy's inner loops then
        # run over S values at a time whatever the block of candidates (2-3x faster than
        # draws-first when a block holds only a few candidates).
        self._all = {dt: params.view(None, 2, dt, last=True)
                     for dt in (np.float64, np.float32)}
        self._draws = params.view(None, 1)

    def _map(self, fn, jobs):
        if self.pool is None or len(jobs) < 2:
            return [fn(j) for j in jobs]
        return list(self.pool.map(fn, jobs))

    def __call__(self, lNS, lDS, lNT=None, lDT=None, draw_rows=None) -> np.ndarray:
        arrays = [np.asarray(a, float) for a in (lNS, lDS, lNT, lDT) if a is not None]
        arrays = [a.reshape(1, 1) if a.ndim == 0 else a for a in arrays]
        B, m = np.broadcast_shapes(*(a.shape for a in arrays))
        dt = np.float32 if (self.screen32 and m > 1) else np.float64
        if dt is np.float32:
            arrays = [a.astype(dt) for a in arrays]
        out = np.empty((B, m))
        teacher = lNT is not None
        with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
            if draw_rows is None:
                S = self.p.S
                sup, dis = self._all[dt]
                per = max(1, _BLOCK // S)
                cb = min(m, per)
                rb = max(1, min(B, per // cb))
                jobs = [(slice(r, r + rb), slice(c, c + cb))
                        for r in range(0, B, rb) for c in range(0, m, cb)]

                def work(job):
                    rs, cs = job
                    a = [_take(x, rs, cs)[..., None] for x in arrays]
                    # errstate is per thread: NaN marks infeasible candidates on purpose.
                    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
                        ll = _log_loss(sup, dis, a[0], a[1], *(a[2:4] if teacher else ()))
                        # (rb, cb, S) -> risk over the draws, given as axis 0
                        return job, self.risk(np.moveaxis(np.exp(ll), -1, 0))
            else:
                draw_rows = np.asarray(draw_rows)
                rb = max(1, _BLOCK // m)
                jobs = [(slice(r, r + rb), slice(None)) for r in range(0, B, rb)]

                def work(job):
                    rs, cs = job
                    sup, dis = self.p.view(draw_rows[rs], dtype=dt)
                    a = [_take(x, rs, cs) for x in arrays]
                    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
                        ll = _log_loss(sup, dis, a[0], a[1], *(a[2:4] if teacher else ()))
                        return job, np.broadcast_to(np.exp(ll), (len(range(B)[rs]), m))
            for (rs, cs), val in self._map(work, jobs):
                out[rs, cs] = val
        self.n_evals += B * m * (self.p.S if draw_rows is None else 1)
        return np.where(np.isfinite(out), out, np.inf)

    def draws(self, lNS, lDS, lNT=None, lDT=None) -> np.ndarray:
        """Loss draws ``(S, K)`` at K candidates (1-d inputs)."""
        sup, dis = self._draws
        args = [np.atleast_1d(np.asarray(a, float)) for a in (lNS, lDS, lNT, lDT)
                if a is not None]
        with np.errstate(invalid="ignore", over="ignore"):
            return np.exp(_log_loss(sup, dis, *args))


# ============================================================================ geometry
class _Surface:
    """The budget surface: which (log N_S, log C_T, log N_T) are feasible, and D_S, D_T there.

    ``t = log C_T`` is the teacher's pretraining compute ``3 F(N_T) D_T``; ``u = log N_T``.
    """

    def __init__(self, budget: float, scenario: str, fm: FlopsModel, bounds: dict,
                 free_student: bool = False):
        self.C = float(budget)
        self.free = free_student
        self.scenario = scenario
        self.d_lgt, self.d_pre = scenario_deltas(scenario)
        self.fm = fm
        self.b = {k: (math.log(lo), math.log(hi)) for k, (lo, hi) in bounds.items()}
        self.bounds = bounds
        nt, dt = self.b["N_T"], self.b["D_T"]
        self._table = None
        self.t_glob = (LOG3 + self.logF(nt[0]) + dt[0], LOG3 + self.logF(nt[1]) + dt[1])

    def logF(self, lN):
        return np.log(self.fm.forward(np.exp(lN)))

    def finv(self, y):
        """``log N`` with ``log F(N) = y``: F is increasing, so interpolate a table of
        ``log F`` then polish with two Newton steps (numerical slope); exact to ~1e-12."""
        y = np.asarray(y, float)
        if self._table is None:
            u = np.linspace(-20.0, 90.0, 4401)
            self._table = (u, self.logF(u))
        u_tab, f_tab = self._table
        u = np.interp(y, f_tab, u_tab)
        # Outside the table (absurd sizes) fall back to the 2N asymptote.
        u = np.where(y > f_tab[-1], y - math.log(2.0), u)
        h = 1e-4
        for _ in range(2):
            slope = (self.logF(u + h) - self.logF(u - h)) / (2 * h)
            u = u - (self.logF(u) - y) / slope
        return u

    # ---------------------------------------------------------------- main problem
    def lDT(self, t, u):
        return t - LOG3 - self.logF(u)

    def lDS(self, lNS, t, u=None, F_T=None):
        """Student tokens the budget leaves; NaN where outside the D_S bounds.

        Eq. 9 solved for D_S with the teacher's pretraining compute ``C_T = e^t``::

            D_S = (C - delta_pre C_T) / (3 F(N_S) + delta_lgt F(N_T))

        (what :func:`~distillaw.laws.student_tokens_for_budget` computes from ``D_T``; the
        search calls this form to evaluate ``F`` once per candidate, and the answer is
        re-derived and checked with the laws' own functions). ``F_T`` may be passed
        precomputed; ``u`` is only needed when teacher logits are charged.
        """
        F_S3 = 3.0 * self.fm.forward(np.exp(lNS))
        R = self.C - (np.exp(t) if self.d_pre else 0.0)
        if self.d_lgt:
            F_T = self.fm.forward(np.exp(u)) if F_T is None else F_T
            denom = F_S3 + F_T
        else:
            denom = F_S3
        with np.errstate(invalid="ignore", divide="ignore"):
            l = np.log(R / denom)
        lo, hi = self.ds_bounds(lNS)
        return np.where((l >= lo - 1e-9) & (l <= hi + 1e-9), l, np.nan)

    def ds_bounds(self, lNS):
        """log D_S bounds for each student size (tokens per parameter when it is free)."""
        lo, hi = self.b["D_S"]
        if not self.free:
            return lo, hi
        lNS = np.asarray(lNS, float)
        return (np.maximum(lo, lNS + self.b["M_S"][0]), np.minimum(hi, lNS + self.b["M_S"][1]))

    def t_range(self, lNS):
        """Range of the teacher's pretraining compute for each student size."""
        lNS = np.asarray(lNS, float)
        lo = np.full(lNS.shape, self.t_glob[0])
        hi = np.full(lNS.shape, self.t_glob[1])
        if self.d_pre:
            F_S3 = 3.0 * self.fm.forward(np.exp(lNS))
            DSlo, DShi = (np.exp(b) for b in self.ds_bounds(lNS))
            F_Tmin = self.fm.forward(np.exp(self.b["N_T"][0])) if self.d_lgt else 0.0
            room = self.C - DSlo * (F_S3 + F_Tmin)
            with np.errstate(invalid="ignore", divide="ignore"):
                hi = np.minimum(hi, np.where(room > 0, np.log(room), -np.inf))
                if not self.d_lgt:
                    floor = self.C - DShi * F_S3
                    lo = np.maximum(lo, np.where(floor > 0, np.log(floor), -np.inf))
        return lo, hi

    def u_range(self, lNS, t):
        """Range of teacher sizes at pretraining compute ``t`` (lo > hi: infeasible)."""
        lNS, t = np.broadcast_arrays(np.asarray(lNS, float), np.asarray(t, float))
        lo = np.maximum(self.b["N_T"][0], self.finv(t - LOG3 - self.b["D_T"][1]))
        hi = np.minimum(self.b["N_T"][1], self.finv(t - LOG3 - self.b["D_T"][0]))
        R = self.C - (np.exp(t) if self.d_pre else 0.0)
        F_S3 = 3.0 * self.fm.forward(np.exp(lNS))
        DSlo, DShi = (np.exp(b) for b in self.ds_bounds(lNS))
        with np.errstate(invalid="ignore", divide="ignore"):
            if self.d_lgt:
                # D_S = R / (3 F_S + F_T) within [DSlo, DShi] bounds F(N_T) on both sides.
                Fmax = R / DSlo - F_S3
                Fmin = R / DShi - F_S3
                hi = np.where(Fmax > 0, np.minimum(hi, self.finv(np.log(np.maximum(Fmax, 1e-300)))),
                              -np.inf)
                lo = np.where(Fmin > 0, np.maximum(lo, self.finv(np.log(np.maximum(Fmin, 1e-300)))),
                              lo)
            else:
                DS = R / F_S3
                ok = (DS >= DSlo * (1 - 1e-12)) & (DS <= DShi * (1 + 1e-12))
                hi = np.where(ok, hi, -np.inf)
        return lo, hi

    # ---------------------------------------------------------------- supervised
    def sup_u_range(self):
        """log N range of a supervised model spending the whole budget."""
        lo = max(self.b["N_S"][0], float(self.finv(math.log(self.C / 3.0) - self.b["D_S"][1])))
        hi = min(self.b["N_S"][1], float(self.finv(math.log(self.C / 3.0) - self.b["D_S"][0])))
        return lo, hi

    def sup_lD(self, lN):
        return math.log(self.C / 3.0) - self.logF(lN)

    # ---------------------------------------------------------------- free student
    def student_range(self):
        """log N_S range of a free student: it alone could spend the budget within the D_S
        bounds and at least its minimum tokens per parameter."""
        lo, hi = self.sup_u_range()
        # 3 F(N) m N <= C (increasing in N): the largest student with m tokens/parameter.
        target = math.log(self.C / 3.0) - self.b["M_S"][0]
        a, b = self.b["N_S"][0] - 1.0, hi
        for _ in range(80):
            mid = 0.5 * (a + b)
            if float(self.logF(np.array(mid))) + mid <= target:
                a = mid
            else:
                b = mid
        return lo, min(hi, a)


# ============================================================================ search
class _Search:
    """Nested minimisation over (log C_T, log N_T) per problem (and log N_S when free).

    ``f(rows, lNS, t, u) -> (B, m)`` scores; ``rows`` maps candidate rows to problems.
    """

    def __init__(self, surface: _Surface, score: Callable, res: Resolution,
                 t_range: Callable | None = None, u_range: Callable | None = None):
        self.s = surface
        self.score = score
        self.res = res
        # Ranges take (rows, lNS) / (rows, lNS, t); the surface's own ignore the rows.
        self.t_range = t_range or (lambda rows, lNS: surface.t_range(lNS))
        self.u_range = u_range or (lambda rows, lNS, t: surface.u_range(lNS, t))

    # -- level 1: teacher size for given (student, teacher compute) rows
    def inner(self, rows, lNS, t, res: Resolution | None = None):
        res = res or self.res
        lo, hi = self.u_range(rows, lNS, t)
        ok = np.isfinite(lo) & np.isfinite(hi) & (lo <= hi)
        lo_, hi_ = np.where(ok, lo, 0.0), np.where(ok, hi, 0.0)

        def f(x):
            return self.score(rows, lNS[:, None], t[:, None], x)

        u = minimise_1d(f, lo_, hi_, n_grid=res.n_inner, iters=res.it_inner)
        v = np.where(ok, f(u[:, None])[:, 0], np.inf)
        return u, v

    # -- level 2: teacher compute for given student rows
    def solve(self, rows, lNS, tie_tol: float | None = None, res: Resolution | None = None):
        res = res or self.res
        tlo, thi = self.t_range(rows, lNS)
        ok = np.isfinite(tlo) & np.isfinite(thi) & (tlo <= thi)
        tlo, thi = np.where(ok, tlo, 0.0), np.where(ok, thi, 0.0)
        B = len(rows)

        def profile(tau):          # tau (B, m) in [0, 1] -> inner minima (B, m)
            m = tau.shape[1]
            t = (tlo[:, None] + (thi - tlo)[:, None] * tau).ravel()
            r = np.repeat(rows, m)
            _, v = self.inner(r, np.repeat(lNS, m), t, res)
            return v.reshape(B, m)

        tau = minimise_1d(profile, np.zeros(B), np.ones(B), n_grid=res.n_outer,
                          iters=res.it_outer)
        t = tlo + (thi - tlo) * tau
        u, v = self.inner(rows, lNS, t, res)
        v_best = np.where(ok, v, np.inf)
        if tie_tol:
            t, u, v = self._cheapest(rows, lNS, tlo, thi, tau, v, tie_tol)
            v_best = np.minimum(v_best, v)
        v = np.where(ok, v, np.inf)
        return t, u, v, v_best

    def _cheapest(self, rows, lNS, tlo, thi, tau_best, v_best, tol):
        """Smallest teacher compute whose inner minimum is within ``tol`` of the best."""
        B = len(rows)
        n = self.res.n_outer
        grid = np.linspace(0.0, 1.0, n)
        tt = tlo[:, None] + (thi - tlo)[:, None] * grid[None, :]
        _, vg = self.inner(np.repeat(rows, n), np.repeat(lNS, n), tt.ravel())
        vg = vg.reshape(B, n)
        thr = v_best + tol
        good = vg <= thr[:, None]
        j = np.argmax(good, axis=1)          # first grid point under the threshold
        # The predicate "profile(tau) <= thr" holds at hi_tau (a good grid point, or the
        # optimum itself) and fails at every grid point left of it: bisect in between.
        hi_tau = np.where(good.any(axis=1), np.minimum(grid[j], tau_best), tau_best)
        i = np.searchsorted(grid, hi_tau, side="left") - 1
        lo_tau = np.where(i >= 0, grid[np.maximum(i, 0)], hi_tau)
        # Bisection: predicate "profile(tau) <= thr" holds at hi_tau.
        for _ in range(self.res.it_outer):
            mid = 0.5 * (lo_tau + hi_tau)
            _, vm = self.inner(rows, lNS, tlo + (thi - tlo) * mid)
            under = vm <= thr
            hi_tau = np.where(under, mid, hi_tau)
            lo_tau = np.where(under, lo_tau, mid)
        t = tlo + (thi - tlo) * hi_tau
        u, v = self.inner(rows, lNS, t)
        # Keep the raw optimum where the search along the ridge did not do better.
        t_best = tlo + (thi - tlo) * tau_best
        keep = ~(v <= thr)
        if np.any(keep):
            ub, vb = self.inner(rows, lNS, t_best)
            t, u, v = np.where(keep, t_best, t), np.where(keep, ub, u), np.where(keep, vb, v)
        return t, u, v

    # -- level 3: free student size
    def solve_free(self, rows, tie_tol: float | None = None):
        """Also search the student size; the teacher search inside runs at the coarse
        resolution (the value of a student size needs less precision than the answer)."""
        lo, hi = self.s.student_range()
        B = len(rows)
        coarse = self.res.coarse()

        def value(w):               # w (B, m) normalised student size -> best values
            m = w.shape[1]
            lNS = (lo + (hi - lo) * w).ravel()
            v = self.solve(np.repeat(rows, m), lNS, res=coarse)[2]
            return v.reshape(B, m)

        w = minimise_1d(value, np.zeros(B), np.ones(B), n_grid=self.res.n_student,
                        iters=self.res.it_student)
        lNS = lo + (hi - lo) * w
        t, u, v, v_best = self.solve(rows, lNS, tie_tol)
        return lNS, t, u, v, v_best


# ============================================================================ result
def _summ(x: np.ndarray, ci: float = CI) -> dict:
    x = np.asarray(x, float)
    q = np.quantile(x, [0.5, (1 - ci) / 2, (1 + ci) / 2])
    return {"median": float(q[0]), "lower": float(q[1]), "upper": float(q[2]),
            "mean": float(x.mean()), "sd": float(x.std())}


def fmt_count(x: float | None, unit: str = "") -> str:
    """Human count: 2.1e9 -> '2.1B' (K, M, B, T; beyond 1000T in powers of ten).

    Example
    -------
    >>> fmt_count(999999999.99), fmt_count(4.8e10, "tokens"), fmt_count(3e17)
    ('1B', '48B tokens', '3e+17')
    """
    if x is None or not np.isfinite(x):
        return "n/a"
    x = float(f"{x:.3g}")                     # round first so 999.99M reads as 1B
    tail = f" {unit}" if unit else ""
    for div, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "K")):
        if abs(x) >= div:
            v = x / div
            if v >= 1000:
                return f"{x:.3g}{tail}"
            return f"{v:.3g}{suffix}{tail}"
    return f"{x:.3g}{tail}"


def fmt_small(x: float) -> str:
    """A small non-negative quantity: 2 significant digits, or '< 1e-6'."""
    return "< 1e-6" if x < 1e-6 else f"{x:.2g}"


def fmt_flops(x: float) -> str:
    """'1e+21' -> '1.0e21 FLOPs'."""
    m, e = f"{x:.2e}".split("e")
    return f"{float(m):.3g}e{int(e)} FLOPs"


@dataclass
class Allocation:
    """The chosen allocation, its loss distribution and how sure we are.

    Sizes are raw counts, losses nats, compute FLOPs. ``N_T``/``D_T`` are ``None`` for a
    supervised allocation. Loss summaries are medians with the central ``ci`` interval.
    ``regret_draws`` (and ``draw_optima``) cover every draw for a fixed student, and a
    random subset of at most ``FREE_DRAWS`` draws when the student size is searched too.
    """

    kind: str
    scenario: str | None
    risk: str
    budget: float
    student_fixed: bool
    N_S: float
    D_S: float
    N_T: float | None
    D_T: float | None
    flops: dict
    loss_draws: np.ndarray = field(repr=False)
    teacher_loss_draws: np.ndarray | None = field(repr=False)
    score: float
    supervised_N: float
    supervised_D: float
    supervised_loss_draws: np.ndarray = field(repr=False)
    regret_draws: np.ndarray | None = field(repr=False)
    optimal_tol: float
    draw_optima: pd.DataFrame | None = field(repr=False)
    frontier_teacher: pd.DataFrame | None = field(repr=False)
    frontier_tokens: pd.DataFrame | None = field(repr=False)
    flops_model: dict = field(repr=False)
    bounds: dict = field(repr=False)
    n_draws: int
    seed: int
    tie_tol: float = 0.0
    ci: float = CI
    risk_label: str = ""
    n_evaluations: int = 0
    warnings: list = field(default_factory=list)

    # ------------------------------------------------------------------ derived numbers
    @property
    def L_T(self) -> float | None:
        """Median teacher loss (nats) of the chosen teacher."""
        if self.teacher_loss_draws is None:
            return None
        return float(np.median(self.teacher_loss_draws))

    @property
    def loss(self) -> dict:
        """Student loss at the allocation: median, lower, upper, mean, sd."""
        return _summ(self.loss_draws, self.ci)

    @property
    def supervised_loss(self) -> dict:
        return _summ(self.supervised_loss_draws, self.ci)

    @property
    def p_beats_supervised(self) -> float | None:
        """P(student loss < supervised loss at the same compute), over draws."""
        if self.kind != "distillation":
            return None
        return float(np.mean(self.loss_draws < self.supervised_loss_draws))

    @property
    def advantage(self) -> dict | None:
        """Supervised loss minus distilled loss (positive = distillation better)."""
        if self.kind != "distillation":
            return None
        return _summ(self.supervised_loss_draws - self.loss_draws, self.ci)

    @property
    def expected_regret(self) -> float | None:
        return None if self.regret_draws is None else float(np.mean(self.regret_draws))

    @property
    def p_optimal(self) -> float | None:
        """P(the chosen allocation is within ``optimal_tol`` nats of the draw's own optimum)."""
        if self.regret_draws is None:
            return None
        return float(np.mean(self.regret_draws <= self.optimal_tol))

    @property
    def recommendation(self) -> str:
        """``"distil"`` when distillation more likely than not beats supervised, else
        ``"supervised"``."""
        if self.kind != "distillation":
            return "supervised"
        return "distil" if self.p_beats_supervised > 0.5 else "supervised"

    def budget_check(self) -> float:
        """Relative difference between the charged FLOPs and the budget (should be ~0)."""
        return abs(self.flops["total"] - self.budget) / self.budget

    # ------------------------------------------------------------------ output
    def to_dict(self, draws: bool = False) -> dict:
        """JSON-able summary (numbers, summaries, frontiers; draws only if asked)."""
        d = {
            "kind": self.kind, "scenario": self.scenario, "risk": self.risk,
            "risk_label": self.risk_label, "budget_flops": self.budget,
            "student_fixed": self.student_fixed, "recommendation": self.recommendation,
            "allocation": {"N_S": self.N_S, "D_S": self.D_S, "N_T": self.N_T, "D_T": self.D_T,
                           "tokens_per_param_student": self.D_S / self.N_S,
                           "tokens_per_param_teacher": (self.D_T / self.N_T
                                                        if self.N_T else None)},
            "flops": dict(self.flops),
            "student_loss": self.loss, "risk_score": self.score,
            "teacher_loss": (None if self.teacher_loss_draws is None
                             else _summ(self.teacher_loss_draws, self.ci)),
            "supervised": {"N": self.supervised_N, "D": self.supervised_D,
                           "loss": self.supervised_loss},
            "p_beats_supervised": self.p_beats_supervised,
            "advantage_over_supervised": self.advantage,
            "expected_regret": self.expected_regret, "p_optimal": self.p_optimal,
            "optimal_tol": self.optimal_tol, "tie_tol": self.tie_tol,
            "ci": self.ci, "n_draws": self.n_draws, "seed": self.seed,
            "flops_model": self.flops_model, "bounds": {k: list(v) for k, v in
                                                        self.bounds.items()},
            "budget_relative_error": self.budget_check(),
            "warnings": list(self.warnings),
        }
        if self.regret_draws is not None:
            d["regret"] = _summ(self.regret_draws, self.ci)
        if self.draw_optima is not None:
            d["draw_optima"] = {c: _summ(self.draw_optima[c].to_numpy(), self.ci)
                                for c in self.draw_optima.columns}
        for name in ("frontier_teacher", "frontier_tokens"):
            df = getattr(self, name)
            d[name] = None if df is None else _records(df)
        if self.frontier_teacher is not None:
            d["frontier_teacher_tokens"] = self.frontier_teacher.attrs.get("teacher_tokens")
        if draws:
            d["draws"] = {"student_loss": self.loss_draws.tolist(),
                          "supervised_loss": self.supervised_loss_draws.tolist()}
            if self.teacher_loss_draws is not None:
                d["draws"]["teacher_loss"] = self.teacher_loss_draws.tolist()
            if self.regret_draws is not None:
                d["draws"]["regret"] = self.regret_draws.tolist()
        return _jsonable(d)

    def headline(self) -> str:
        """One sentence: what to do."""
        s = self.loss
        if self.kind == "supervised":
            return (f"Train supervised: a {fmt_count(self.N_S)}-parameter model on "
                    f"{fmt_count(self.D_S)} tokens (loss {s['median']:.3f} nats).")
        if self.recommendation == "supervised":
            p = self.p_beats_supervised
            who = (f"the {fmt_count(self.supervised_N)} student" if self.student_fixed else
                   f"a {fmt_count(self.supervised_N)} model")
            why = ("distillation is very unlikely to beat it here" if p < 0.05 else
                   "distillation is unlikely to beat it here" if p < 0.2 else
                   "distillation beats it less often than not" if p < 0.45 else
                   "distillation is a toss-up here and supervised training is simpler")
            return (f"Train {who} supervised on {fmt_count(self.supervised_D)} tokens: {why} "
                    f"(P(distillation beats supervised) = {p:.2f}).")
        if self.scenario == "best-case":
            teacher = (f"use an existing teacher of loss {self.L_T:.3f} nats "
                       f"(e.g. {fmt_count(self.N_T)} parameters trained on "
                       f"{fmt_count(self.D_T)} tokens)")
        elif self.scenario == "teacher-inference":
            teacher = (f"use a {fmt_count(self.N_T)} teacher trained on {fmt_count(self.D_T)} "
                       f"tokens (its training not charged)")
        else:
            teacher = f"train a {fmt_count(self.N_T)} teacher on {fmt_count(self.D_T)} tokens"
        student = ("the" if self.student_fixed else "a") + f" {fmt_count(self.N_S)} student"
        return (f"Distil: {teacher}, then distil {student} on {fmt_count(self.D_S)} tokens; "
                f"P(beats supervised) = {self.p_beats_supervised:.2f}.")

    def summary(self) -> str:
        """Plain-words summary: what to do, what loss to expect, how sure we are."""
        s, ci = self.loss, int(round(100 * self.ci))
        lines = [self.headline(), ""]
        lines.append(f"Budget {fmt_flops(self.budget)}, scenario {self.scenario or 'supervised'}"
                     f", risk measure {self.risk} ({self.risk_label}), {self.n_draws} "
                     f"posterior draws.")
        if self.kind == "distillation":
            f = self.flops
            lines.append(
                f"Compute: student training {100 * f['student_training'] / self.budget:.0f}%, "
                f"teacher logits {100 * f['teacher_inference'] / self.budget:.0f}%, teacher "
                f"pretraining {100 * f['teacher_pretraining'] / self.budget:.0f}% of the budget"
                + (" (teacher pretraining not charged: "
                   f"{fmt_flops(f['teacher_pretraining_uncharged'])})"
                   if f.get("teacher_pretraining_uncharged") else "") + ".")
            lines.append(f"Distilled student loss: {s['median']:.3f} nats ({ci}% interval "
                         f"{s['lower']:.3f}-{s['upper']:.3f}); teacher loss "
                         f"{self.L_T:.3f}.")
            sv = self.supervised_loss
            lines.append(f"Supervised alternative ({fmt_count(self.supervised_N)} on "
                         f"{fmt_count(self.supervised_D)} tokens, same compute): "
                         f"{sv['median']:.3f} nats ({sv['lower']:.3f}-{sv['upper']:.3f}).")
            adv = self.advantage
            lines.append(f"Distillation is better by {adv['median']:+.4f} nats ({ci}% interval "
                         f"{adv['lower']:+.4f} to {adv['upper']:+.4f}); P(distillation beats "
                         f"supervised) = {self.p_beats_supervised:.2f} "
                         f"({_confidence(self.p_beats_supervised)}).")
        else:
            lines.append(f"Loss: {s['median']:.3f} nats ({ci}% interval {s['lower']:.3f}-"
                         f"{s['upper']:.3f}).")
        if self.regret_draws is not None:
            lines.append(f"Expected regret against each draw's own optimum: "
                         f"{fmt_small(self.expected_regret)} nats; P(chosen allocation "
                         f"optimal, within {self.optimal_tol:g} nats) = {self.p_optimal:.2f}.")
        lines += [f"Note: {w}" for w in self.warnings]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()


def _confidence(p: float) -> str:
    q = max(p, 1 - p)
    word = ("near certain" if q >= 0.99 else "very likely" if q >= 0.95 else
            "likely" if q >= 0.8 else "more likely than not" if q >= 0.6 else "a coin flip")
    side = "distillation wins" if p >= 0.5 else "supervised wins"
    return side + ", " + word if word != "a coin flip" else word


def _records(df: pd.DataFrame) -> list[dict]:
    return _jsonable(df.to_dict(orient="records"))


def _jsonable(o):
    """Plain Python for JSON: NaN/inf -> None, numpy scalars/arrays -> Python."""
    if isinstance(o, Mapping):
        return {str(k): _jsonable(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_jsonable(v) for v in o]
    if isinstance(o, np.ndarray):
        return _jsonable(o.tolist())
    if isinstance(o, (bool, np.bool_)):
        return bool(o)
    if isinstance(o, (int, np.integer)):
        return int(o)
    if isinstance(o, (float, np.floating)):
        return float(o) if np.isfinite(o) else None
    return o


# ============================================================================ allocate
def allocate(posterior, budget: float, *, student: float | None = None,
             scenario: str = "best-case", risk: str | Risk = "mean",
             bounds: Mapping | None = None, flops_model: FlopsModel = DEFAULT_FLOPS,
             supervised=None, group: str | None = None, max_draws: int | None = 4000,
             seed: int = 0, regret: bool = True, frontier: bool = True,
             optimal_tol: float = 1e-3, tie_tol: float = 5e-4,
             resolution: Resolution | None = None, frontier_draws: int = 500,
             threads: int | None = None, precision: str = "mixed",
             ci: float = CI) -> Allocation:
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
    try:
        C = float(budget)
    except (TypeError, ValueError):
        raise DecisionError(f"budget must be a number of FLOPs, got {budget!r}") from None
    if not (np.isfinite(C) and C > 0):
        raise DecisionError(f"budget must be a positive, finite number of FLOPs, got {budget!r}")
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
    screen32 = _precision(precision)
    law, draws = _collect_draws(posterior, supervised, group, max_draws, seed)
    res = resolution or Resolution()
    n_threads = threads or _default_threads()
    surface = _Surface(C, scenario, flops_model, b, free_student=student is None)
    with ThreadPoolExecutor(n_threads) if n_threads > 1 else _NoPool() as pool:
        pool = pool if n_threads > 1 else None
        params = _Params(draws)
        scorer = _Scorer(params, risk_obj, pool, screen32)
        if law == "supervised":
            out = _allocate_supervised(surface, params, scorer, student, res, regret)
        else:
            out = _allocate_distillation(surface, params, scorer, student, res, regret,
                                         tie_tol, seed)
        fr_t = fr_d = None
        if frontier and law == "distillation":
            sub = _subset(draws, frontier_draws, seed + 3)
            fscorer = _Scorer(_Params(sub), risk_obj, pool, screen32)
            fr_t = _frontier_teacher(surface, fscorer, out, res.coarse())
            fr_d = _frontier_tokens(surface, fscorer, out, res.coarse())
        n_evals = scorer.n_evals
    regret_draws = None
    if out.get("own_best") is not None:
        # Each draw's own optimum can be no worse than the chosen allocation.
        idx = out.get("regret_idx")
        chosen = out["loss"] if idx is None else out["loss"][idx]
        regret_draws = np.maximum(chosen - out["own_best"], 0.0)
    alloc = Allocation(
        kind=law, scenario=scenario if law == "distillation" else None, risk=risk_obj.spec,
        budget=C, student_fixed=student is not None, N_S=out["N_S"], D_S=out["D_S"],
        N_T=out.get("N_T"), D_T=out.get("D_T"), flops=out["flops"], loss_draws=out["loss"],
        teacher_loss_draws=out.get("L_T"), score=out["score"], supervised_N=out["sup_N"],
        supervised_D=out["sup_D"], supervised_loss_draws=out["sup_loss"],
        regret_draws=regret_draws, optimal_tol=optimal_tol, draw_optima=out.get("optima"),
        frontier_teacher=fr_t, frontier_tokens=fr_d, flops_model=flops_model.to_dict(),
        bounds=b, n_draws=params.S, seed=seed, tie_tol=tie_tol if law == "distillation" else 0.0,
        ci=ci, risk_label=risk_obj.label, n_evaluations=n_evals)
    alloc.warnings = _warnings(alloc) + extrapolation_warnings(alloc, posterior, supervised)
    if alloc.budget_check() > 1e-8:
        raise DecisionError(f"internal error: the allocation spends {alloc.flops['total']:.6g} "
                            f"FLOPs, not the budget {C:.6g}")
    return alloc


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


class _NoPool:
    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return False


def _subset(draws: dict, n: int, seed: int) -> dict:
    S = len(draws["E"])
    if S <= n:
        return draws
    idx = np.sort(np.random.default_rng(seed).choice(S, n, replace=False))
    return {k: v[idx] for k, v in draws.items()}


def _allocate_supervised(surface: _Surface, params: _Params, scorer: _Scorer, student,
                         res: Resolution, regret: bool) -> dict:
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
    return {"N_S": N, "D_S": D, "loss": loss, "score": score, "sup_N": N, "sup_D": D,
            "sup_loss": loss, "own_best": own, "optima": optima,
            "flops": {"student_training": total, "teacher_inference": 0.0,
                      "teacher_pretraining": 0.0, "total": total}}


def _distillation_scores(surface: _Surface, scorer: _Scorer, per_draw: bool):
    """The score function ``f(rows, lNS, t, u)`` of the main problem."""
    def f(rows, lNS, t, u):
        F_T = surface.fm.forward(np.exp(u))
        lDT = t - LOG3 - np.log(F_T)
        # Without charged logits D_S does not depend on the teacher size: it stays (B, 1)
        # and the student-side terms of the law are evaluated once per row (cheaper).
        lDS = surface.lDS(lNS, t, u, F_T) if surface.d_lgt else surface.lDS(lNS, t)
        return scorer(lNS, lDS, u, lDT, draw_rows=rows if per_draw else None)
    return f


def _allocate_distillation(surface: _Surface, params: _Params, scorer: _Scorer, student,
                           res: Resolution, regret: bool, tie_tol: float, seed: int = 0) -> dict:
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
    L_T = np.exp(log_supervised_loss(u, math.log(D_T), **params.view(None, 0)[0]))
    # Supervised alternative at the same compute.
    if student is not None:
        sup_N = N_S
        sup_lD = float(surface.sup_lD(np.array(lNS)))
    else:
        lo, hi = surface.sup_u_range()

        def fs(x):
            return scorer(x, surface.sup_lD(x))

        sup_lN = float(minimise_1d(fs, np.array([lo]), np.array([hi]), n_grid=64, iters=40)[0])
        sup_N, sup_lD = math.exp(sup_lN), float(surface.sup_lD(np.array(sup_lN)))
    sup_loss = scorer.draws(math.log(sup_N), sup_lD)[:, 0]
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
        L_T_d = np.exp(log_supervised_loss(ud, lDT_d, **dparams.sup))
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
    return {"N_S": N_S, "D_S": D_S, "N_T": N_T, "D_T": D_T, "loss": loss, "L_T": L_T,
            "regret_idx": sub,
            "score": float(v[0]), "sup_N": sup_N, "sup_D": math.exp(sup_lD),
            "sup_loss": sup_loss, "own_best": own, "optima": optima, "flops": flops}


def _infeasible_message(surface: _Surface, student) -> str:
    who = f"a {student:.3g}-parameter student" if student is not None else "any student"
    return (f"no feasible allocation: a budget of {surface.C:.3g} FLOPs cannot pay for "
            f"{who} and a teacher under scenario {surface.scenario} within the bounds "
            f"{surface.bounds}")


# ============================================================================ frontiers
def _bands(loss: np.ndarray, ci: float = CI) -> dict:
    q = np.quantile(loss, [0.5, (1 - ci) / 2, (1 + ci) / 2], axis=0)
    return {"median": q[0], "lower": q[1], "upper": q[2], "mean": loss.mean(axis=0)}


def _frontier_teacher(surface: _Surface, scorer: _Scorer, out: dict, res: Resolution,
                      n: int = 41) -> pd.DataFrame:
    """Student loss against teacher size at this budget.

    When the teacher's training is charged or its logits are (so a bigger teacher costs
    student tokens), the teacher's tokens are re-optimised for each size. In the best case
    (teacher free) that would make every large teacher equally good (undertrain it to the
    best loss), so teachers follow the chosen teacher's tokens per parameter instead,
    ``D_T = (D_T*/N_T*) N_T``: the capacity-gap curve of Busbridge Fig. 4 / Zhang et al.
    """
    N_S, N_T, D_T = out["N_S"], out["N_T"], out["D_T"]
    lNS = math.log(N_S)
    centre = math.log(max(N_T, N_S))
    lo = max(surface.b["N_T"][0], min(math.log(N_S) - math.log(30.0), centre - math.log(100.0)))
    hi = min(surface.b["N_T"][1], centre + math.log(100.0))
    u = np.unique(np.concatenate([np.linspace(lo, hi, n), [math.log(N_T)]]))
    K = len(u)
    f = _distillation_scores(surface, scorer, False)
    fixed_ratio = not surface.d_pre and not surface.d_lgt
    if fixed_ratio:
        lDT = u + math.log(D_T / N_T)
        t = LOG3 + surface.logF(u) + lDT
        ok = (lDT >= surface.b["D_T"][0] - 1e-9) & (lDT <= surface.b["D_T"][1] + 1e-9)
        v = np.where(ok, f(None, np.full((K, 1), lNS), t[:, None], u[:, None])[:, 0], np.inf)
    else:
        # t range for each teacher size: its D_T bounds, within the main problem's t range.
        tlo_s, thi_s = surface.t_range(np.array([lNS]))
        base = LOG3 + surface.logF(u)
        tlo = np.maximum(tlo_s[0], base + surface.b["D_T"][0])
        thi = np.minimum(thi_s[0], base + surface.b["D_T"][1])
        ok = tlo <= thi
        tlo_, thi_ = np.where(ok, tlo, 0.0), np.where(ok, thi, 0.0)

        def g(x):
            return f(None, np.full((K, 1), lNS), x, np.broadcast_to(u[:, None], x.shape))

        t = minimise_1d(g, tlo_, thi_, n_grid=res.n_outer * 2, iters=res.it_outer)
        v = np.where(ok, g(t[:, None])[:, 0], np.inf)
        lDT = surface.lDT(t, u)
    lDS = surface.lDS(np.full(K, lNS), t, u)
    feas = np.isfinite(v) & np.isfinite(lDS)
    loss = scorer.draws(np.full(K, lNS), np.where(feas, lDS, 0.0), u, lDT)
    bands = _bands(loss)
    df = pd.DataFrame({"N_T": np.exp(u), "D_T": np.exp(lDT), "D_S": np.exp(lDS), "score": v,
                       **bands})
    df.loc[~feas, ["D_S", "score", "median", "lower", "upper", "mean"]] = np.nan
    df["chosen"] = np.isclose(u, math.log(N_T), rtol=0, atol=1e-12)
    df.attrs["teacher_tokens"] = (f"D_T = {D_T / N_T:.3g} N_T (the chosen teacher's ratio)"
                                  if fixed_ratio else "D_T optimised for each teacher size")
    return df.reset_index(drop=True)


def _frontier_tokens(surface: _Surface, scorer: _Scorer, out: dict, res: Resolution,
                     n: int = 17) -> pd.DataFrame:
    """Best student loss for each number of distillation tokens D_S at this budget.

    For a given D_S the teacher gets what the student leaves, ``C - 3 F(N_S) D_S`` (its
    pretraining and/or logits as charged); in the best case the teacher is free and the
    budget caps D_S.
    """
    N_S, D_S = out["N_S"], out["D_S"]
    lNS = math.log(N_S)
    F_S3 = 3.0 * float(surface.fm.forward(N_S))
    lDS_max = min(math.log(surface.C / F_S3), surface.b["D_S"][1])
    lDS_lo = max(surface.b["D_S"][0], lDS_max - math.log(1000.0))
    x = np.linspace(lDS_lo, lDS_max - 1e-6, n)
    x = np.unique(np.concatenate([x, [math.log(D_S)]]))
    K = len(x)
    R = surface.C - F_S3 * np.exp(x)                     # what the teacher may use, per D_S

    def t_range(rows, lNS_rows):
        tlo = np.full(len(rows), surface.t_glob[0])
        thi = np.full(len(rows), surface.t_glob[1])
        if surface.d_pre:
            extra = np.exp(x[rows]) * float(surface.fm.forward(np.exp(surface.b["N_T"][0]))) \
                if surface.d_lgt else 0.0
            room = R[rows] - extra
            with np.errstate(invalid="ignore", divide="ignore"):
                thi = np.minimum(thi, np.where(room > 0, np.log(np.maximum(room, 1e-300)),
                                               -np.inf))
        return tlo, thi

    def u_range(k, lNS_rows, t):
        lo = np.maximum(surface.b["N_T"][0], surface.finv(t - LOG3 - surface.b["D_T"][1]))
        hi = np.minimum(surface.b["N_T"][1], surface.finv(t - LOG3 - surface.b["D_T"][0]))
        if surface.d_lgt:
            room = R[k] - (np.exp(t) if surface.d_pre else 0.0)
            Fmax = room / np.exp(x[k])
            with np.errstate(invalid="ignore", divide="ignore"):
                hi = np.where(Fmax > 0, np.minimum(hi, surface.finv(np.log(np.maximum(Fmax,
                                                                                    1e-300)))),
                              -np.inf)
        return lo, hi

    def f(rows, lNS_, t, u):
        lDT = surface.lDT(t, u)
        return scorer(lNS_, x[rows][:, None], u, lDT)

    search = _Search(surface, f, res, t_range=t_range, u_range=u_range)
    rows = np.arange(K)
    t, u, v, _ = search.solve(rows, np.full(K, lNS))
    lDT = surface.lDT(t, u)
    feas = np.isfinite(v)
    loss = scorer.draws(np.full(K, lNS), x, np.where(feas, u, 0.0), np.where(feas, lDT, 0.0))
    bands = _bands(loss)
    df = pd.DataFrame({"D_S": np.exp(x), "N_T": np.exp(u), "D_T": np.exp(lDT),
                       "teacher_budget": np.maximum(R, 0.0), "score": v, **bands})
    df.loc[~feas, ["N_T", "D_T", "score", "median", "lower", "upper", "mean"]] = np.nan
    df["chosen"] = np.isclose(x, math.log(D_S), rtol=0, atol=1e-12)
    return df.reset_index(drop=True)


# ============================================================================ scoring API
def score_allocations(posterior, candidates, *, risk: str | Risk = "mean",
                      supervised=None, group: str | None = None,
                      max_draws: int | None = 4000, seed: int = 0, threads: int | None = None,
                      precision: str = "float64", return_draws: bool = False):
    """Score explicit candidate allocations on the posterior draws (lower is better).

    ``candidates`` is a DataFrame or mapping with columns ``N_S, D_S`` and, for
    distillation, ``N_T, D_T`` (a supervised candidate has no teacher columns, or NaN
    there). Returns the risk score of each candidate, shape ``(K,)``, and with
    ``return_draws`` also the loss draws ``(S, K)``. No budget is imposed here: this is the
    scoring kernel the search uses, exposed for custom candidate sets. ``precision=
    "float32"`` scores in single precision (several times faster, ~1e-6 nats rounding);
    the loss draws returned are always float64.

    Example
    -------
    >>> from distillaw import published
    >>> from distillaw.posterior import Posterior
    >>> post = Posterior.from_params("distillation", published("busbridge2025").point())
    >>> cands = {"N_S": [0.546e9], "D_S": [20 * 0.546e9], "N_T": [1.821e9],
    ...          "D_T": [20 * 1.821e9]}
    >>> round(float(score_allocations(post, cands)[0]), 4)
    2.4238
    """
    df = pd.DataFrame({k: np.atleast_1d(np.asarray(v, float)) for k, v in dict(candidates).items()}
                      ) if not isinstance(candidates, pd.DataFrame) else candidates
    for col in ("N_S", "D_S"):
        if col not in df.columns:
            raise DecisionError(f"candidates need a column {col!r}")
    law, draws = _collect_draws(posterior, supervised, group, max_draws, seed)
    teacher = {"N_T", "D_T"} <= set(df.columns) and law == "distillation"
    vals = {c: pd.to_numeric(df[c], errors="coerce").to_numpy(float)
            for c in ("N_S", "D_S", "N_T", "D_T") if c in df.columns}
    for c, v in vals.items():
        if c in ("N_S", "D_S") and not np.all(v > 0):
            raise DecisionError(f"candidates: {c} must be positive numbers")
    n_threads = threads or _default_threads()
    with ThreadPoolExecutor(n_threads) if n_threads > 1 else _NoPool() as pool:
        scorer = _Scorer(_Params(draws), parse_risk(risk), pool if n_threads > 1 else None,
                         _precision(precision))
        args = [np.log(vals["N_S"])[None, :], np.log(vals["D_S"])[None, :]]
        if teacher:
            with np.errstate(invalid="ignore", divide="ignore"):
                args += [np.log(vals["N_T"])[None, :], np.log(vals["D_T"])[None, :]]
            sup_rows = ~(np.isfinite(args[2]) & np.isfinite(args[3]))[0]
            if sup_rows.any():      # rows without a teacher are supervised candidates
                args[2] = np.where(sup_rows, np.nan, args[2])
        score = scorer(*args)[0]
        if teacher and sup_rows.any():
            score[sup_rows] = scorer(args[0][:, sup_rows], args[1][:, sup_rows])[0]
        if not return_draws:
            return score
        if teacher:
            loss = scorer.draws(*(a[0] for a in args))
            if sup_rows.any():
                loss[:, sup_rows] = scorer.draws(args[0][0, sup_rows], args[1][0, sup_rows])
        else:
            loss = scorer.draws(args[0][0], args[1][0])
        return score, loss


def budget_surface(posterior, budget: float, *, student: float,
                   scenario: str = "best-case", risk: str | Risk = "mean", n_compute: int = 100,
                   n_size: int = 100, flops_model: FlopsModel = DEFAULT_FLOPS,
                   bounds: Mapping | None = None, supervised=None, group: str | None = None,
                   max_draws: int | None = 4000, seed: int = 0,
                   threads: int | None = None, precision: str = "mixed") -> pd.DataFrame:
    """Score a ``n_compute x n_size`` grid of allocations on the budget surface.

    Rows: the teacher's pretraining FLOPs (log-spaced over its feasible range) x teacher
    sizes (log-spaced over the sizes feasible at that compute); ``D_T`` and ``D_S`` follow
    from the budget. This is the coarse grid of the search, exposed for plots and checks
    (scored in float32 like the search's grids unless ``precision="float64"``).
    Returns a DataFrame with ``teacher_flops, N_T, D_T, D_S, score`` (``inf`` = infeasible).

    Example
    -------
    >>> from distillaw import published
    >>> from distillaw.posterior import Posterior
    >>> post = Posterior.from_params("distillation", published("busbridge2025").point())
    >>> df = budget_surface(post, 1e21, student=1e9, scenario="teacher-pretraining",
    ...                     n_compute=20, n_size=20)
    >>> len(df), bool(df["score"].min() < 2.3)
    (400, True)
    """
    risk_obj = parse_risk(risk)
    law, draws = _collect_draws(posterior, supervised, group, max_draws, seed)
    if law != "distillation":
        raise DecisionError("budget_surface needs a distillation posterior")
    surface = _Surface(float(budget), scenario, flops_model, _bounds(bounds))
    lNS = np.full(n_compute, math.log(student))
    tlo, thi = surface.t_range(lNS[:1])
    if not tlo[0] <= thi[0]:
        raise DecisionError(_infeasible_message(surface, student))
    t = np.linspace(tlo[0], thi[0], n_compute)
    ulo, uhi = surface.u_range(lNS, t)
    ok = ulo <= uhi
    ulo, uhi = np.where(ok, ulo, 0.0), np.where(ok, uhi, 0.0)
    u = ulo[:, None] + (uhi - ulo)[:, None] * np.linspace(0.0, 1.0, n_size)[None, :]
    n_threads = threads or _default_threads()
    with ThreadPoolExecutor(n_threads) if n_threads > 1 else _NoPool() as pool:
        scorer = _Scorer(_Params(draws), risk_obj, pool if n_threads > 1 else None,
                         _precision(precision))
        f = _distillation_scores(surface, scorer, False)
        score = f(None, lNS[:, None], t[:, None], u)
    score[~ok] = np.inf
    F_T = flops_model.forward(np.exp(u))
    lDS = (surface.lDS(lNS[:, None], t[:, None], u, F_T) if surface.d_lgt
           else np.broadcast_to(surface.lDS(lNS[:, None], t[:, None]), u.shape))
    return pd.DataFrame({"teacher_flops": np.repeat(np.exp(t), n_size),
                         "N_T": np.exp(u).ravel(),
                         "D_T": (np.exp(t)[:, None] / (3.0 * F_T)).ravel(),
                         "D_S": np.exp(lDS).ravel(), "score": score.ravel()})


def _precision(precision: str) -> bool:
    """``True`` when grids may be scored in float32."""
    if precision not in ("mixed", "float32", "float64"):
        raise DecisionError(f"precision must be 'mixed', 'float32' or 'float64', got "
                            f"{precision!r}")
    return precision != "float64"


def _default_threads() -> int:
    n = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, min(4, n or 1))


# ============================================================================ sweeps
def crossover(posterior, budgets, *, student: float | None = None,
              scenario: str = "best-case", risk: str | Risk = "mean",
              max_draws: int | None = 1000, seed: int = 0, skip_infeasible: bool = False,
              **kw) -> pd.DataFrame:
    """Distilled vs supervised loss over a range of budgets (for the crossover figure).

    Returns one row per budget: the allocation (N_S, D_S, N_T, D_T), student-loss bands
    (``median, lower, upper``), supervised bands (``sup_median, sup_lower, sup_upper``), the
    paired advantage ``supervised - distilled`` (``adv_median, adv_lower, adv_upper``) and
    ``p_beats``. Uses a cheaper search resolution and no regret/frontier. With
    ``skip_infeasible`` a budget too small for the scenario gives a row of NaN with
    ``feasible = False`` instead of raising.

    Example
    -------
    >>> from distillaw import published
    >>> from distillaw.posterior import Posterior
    >>> post = Posterior.from_params("distillation", published("busbridge2025").point())
    >>> df = crossover(post, [1e19, 1e23], student=1e9)
    >>> bool(df["p_beats"].iloc[0] > df["p_beats"].iloc[-1])
    True
    """
    rows = []
    kw.setdefault("resolution", Resolution().coarse())
    nan = float("nan")
    for C in np.atleast_1d(np.asarray(budgets, float)):
        try:
            a = allocate(posterior, float(C), student=student, scenario=scenario, risk=risk,
                         max_draws=max_draws, seed=seed, regret=False, frontier=False, **kw)
        except DecisionError:
            if not skip_infeasible:
                raise
            rows.append({"budget": float(C), "feasible": False})
            continue
        s, sv, adv = a.loss, a.supervised_loss, a.advantage
        rows.append({"budget": float(C), "feasible": True, "N_S": a.N_S, "D_S": a.D_S,
                     "N_T": a.N_T, "D_T": a.D_T, "median": s["median"], "lower": s["lower"],
                     "upper": s["upper"], "sup_N": a.supervised_N, "sup_D": a.supervised_D,
                     "sup_median": sv["median"], "sup_lower": sv["lower"],
                     "sup_upper": sv["upper"],
                     "adv_median": adv["median"] if adv else nan,
                     "adv_lower": adv["lower"] if adv else nan,
                     "adv_upper": adv["upper"] if adv else nan,
                     "p_beats": a.p_beats_supervised})
    cols = ["budget", "feasible", "N_S", "D_S", "N_T", "D_T", "median", "lower", "upper",
            "sup_N", "sup_D", "sup_median", "sup_lower", "sup_upper", "adv_median",
            "adv_lower", "adv_upper", "p_beats"]
    return pd.DataFrame(rows).reindex(columns=cols)


def crossover_budget(df: pd.DataFrame) -> float | None:
    """First budget where supervised training catches up with distillation: the median of
    the paired advantage (supervised - distilled loss) crosses zero, i.e. P(distillation
    beats supervised) crosses 1/2 (log-linear interpolation). ``None`` if it does not cross
    in the range.
    """
    d = df[df["adv_median"].notna()].sort_values("budget")
    adv = d["adv_median"].to_numpy()
    C = np.log(d["budget"].to_numpy())
    for i in range(len(adv) - 1):
        if adv[i] > 0 >= adv[i + 1]:
            w = adv[i] / (adv[i] - adv[i + 1])
            return float(np.exp(C[i] + w * (C[i + 1] - C[i])))
    return None


def compare_risks(posterior, budget: float, risks=None, **kw) -> dict[str, Allocation]:
    """Allocations of the same problem under several risk measures (no regret/frontier).

    Example
    -------
    >>> from distillaw import published
    >>> from distillaw.posterior import Posterior
    >>> post = Posterior.from_params("distillation", published("busbridge2025").point())
    >>> sorted(compare_risks(post, 1e21, student=1e9))
    ['cvar:0.9', 'mean', 'mean-sd:1', 'quantile:0.9']
    """
    from .risk import STANDARD

    kw.setdefault("regret", False)
    kw.setdefault("frontier", False)
    out = {}
    for r in risks or STANDARD:
        r = parse_risk(r)
        out[r.spec] = allocate(posterior, budget, risk=r, **kw)
    return out
