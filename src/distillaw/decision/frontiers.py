"""Loss bands against teacher size and against distillation tokens at a budget."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ..draws import bands
from ..laws.capacity_gap import minimise_1d
from .geometry import _Surface
from .result import _Choice
from .scoring import _Scorer
from .search import _distillation_scores, _Search
from .settings import LOG3, Resolution

# ============================================================================ frontiers


def _frontier_teacher(surface: _Surface, scorer: _Scorer, out: _Choice, res: Resolution,
                      n: int = 41) -> pd.DataFrame:
    """Student loss against teacher size at this budget.

    When the teacher's training is charged or its logits are (so a bigger teacher costs
    student tokens), the teacher's tokens are re-optimised for each size. In the best case
    (teacher free) that would make every large teacher equally good (undertrain it to the
    best loss), so teachers follow the chosen teacher's tokens per parameter instead,
    ``D_T = (D_T*/N_T*) N_T``: the capacity-gap curve of Busbridge Fig. 4 / Zhang et al.
    """
    N_S, N_T, D_T = out.N_S, out.N_T, out.D_T
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
    loss_bands = bands(loss)
    df = pd.DataFrame({"N_T": np.exp(u), "D_T": np.exp(lDT), "D_S": np.exp(lDS), "score": v,
                       **loss_bands})
    df.loc[~feas, ["D_S", "score", "median", "lower", "upper", "mean"]] = np.nan
    df["chosen"] = np.isclose(u, math.log(N_T), rtol=0, atol=1e-12)
    df.attrs["teacher_tokens"] = (f"D_T = {D_T / N_T:.3g} N_T (the chosen teacher's ratio)"
                                  if fixed_ratio else "D_T optimised for each teacher size")
    return df.reset_index(drop=True)


def _frontier_tokens(surface: _Surface, scorer: _Scorer, out: _Choice, res: Resolution,
                     n: int = 17) -> pd.DataFrame:
    """Best student loss for each number of distillation tokens D_S at this budget.

    For a given D_S the teacher gets what the student leaves, ``C - 3 F(N_S) D_S`` (its
    pretraining and/or logits as charged); in the best case the teacher is free and the
    budget caps D_S.
    """
    N_S, D_S = out.N_S, out.D_S
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
    loss_bands = bands(loss)
    df = pd.DataFrame({"D_S": np.exp(x), "N_T": np.exp(u), "D_T": np.exp(lDT),
                       "teacher_budget": np.maximum(R, 0.0), "score": v, **loss_bands})
    df.loc[~feas, ["N_T", "D_T", "score", "median", "lower", "upper", "mean"]] = np.nan
    df["chosen"] = np.isclose(x, math.log(D_S), rtol=0, atol=1e-12)
    return df.reset_index(drop=True)


# ============================================================================ near-optimal set
def _near_optimal(surface: _Surface, scorer: _Scorer, out: _Choice, tol: float,
                  sizes: tuple[int, int] = (24, 48)) -> dict:
    """Every teacher within ``tol`` nats of the best risk score, for the chosen student.

    A coarse ``sizes[0]``-square grid over (teacher compute ``t``, teacher size ``u``) on
    the feasible surface, scored on all draws, only finds where the set lies; a
    ``sizes[1]``-square grid over the bounding box of its accepted cells (one coarse cell
    wider on each side) then resolves the ranges to about 1/``sizes[1]`` of that box. (Two
    48-square passes cost a third of an allocation's time, for the same box to within a
    coarse cell.) The chosen allocation always belongs to the set. Returns the ranges
    (low, high) of ``N_T``, ``D_T``, ``D_S`` and ``teacher_flops`` (pretraining
    ``3 F(N_T) D_T``), and which search bounds the set reaches.
    """
    lNS = math.log(out.N_S)
    f = _distillation_scores(surface, scorer, False)
    tlo_s, thi_s = (float(x[0]) for x in surface.t_range(np.array([lNS])))
    t_star = LOG3 + float(surface.logF(np.array(math.log(out.N_T)))) + math.log(out.D_T)
    u_star = math.log(out.N_T)
    best = float(out.score)
    box = (tlo_s, thi_s, -np.inf, np.inf)
    for n in sizes:
        w = np.linspace(0.0, 1.0, n)
        t = box[0] + (box[1] - box[0]) * w
        ulo, uhi = surface.u_range(np.full(n, lNS), t)
        ulo, uhi = np.maximum(ulo, box[2]), np.minimum(uhi, box[3])
        ok = np.isfinite(ulo) & np.isfinite(uhi) & (ulo <= uhi)
        U = np.where(ok[:, None], ulo[:, None] + (uhi - ulo)[:, None] * w[None, :], u_star)
        T = np.broadcast_to(t[:, None], U.shape)
        v = np.where(ok[:, None], f(None, np.full((n, 1), lNS), t[:, None], U), np.inf)
        best = min(best, float(np.min(v)))
        good = v <= best + tol
        tg = np.concatenate([T[good], [t_star]])
        ug = np.concatenate([U[good], [u_star]])
        dt = (box[1] - box[0]) / (n - 1)
        du = float(np.max(np.where(ok, uhi - ulo, 0.0))) / (n - 1)
        box = (max(tlo_s, tg.min() - dt), min(thi_s, tg.max() + dt), ug.min() - du,
               ug.max() + du)
    lDT = surface.lDT(tg, ug)
    lDS = surface.lDS(np.full(tg.shape, lNS), tg, ug)
    lDS = np.where(np.isfinite(lDS), lDS, math.log(out.D_S))
    ranges = {"N_T": np.exp(ug), "D_T": np.exp(lDT), "D_S": np.exp(lDS),
              "teacher_flops": np.exp(tg)}
    ranges = {k: (float(np.min(x)), float(np.max(x))) for k, x in ranges.items()}
    return {"tol": float(tol), "ranges": ranges, "student": out.N_S,
            "reaches_bound": _reaches_bound(ranges, surface.bounds)}


def _near_optimal_supervised(surface: _Surface, scorer: _Scorer, out: _Choice, tol: float,
                             n: int = 256) -> dict:
    """Every compute-optimal supervised model size within ``tol`` nats of the best risk
    score (along the budget line ``3 F(N) D = C``)."""
    lo, hi = surface.sup_u_range()
    x = np.unique(np.concatenate([np.linspace(lo, hi, n), [math.log(out.N_S)]]))
    v = scorer(x[None, :], surface.sup_lD(x)[None, :])[0]
    good = v <= min(float(out.score), float(np.min(v))) + tol
    good |= np.isclose(x, math.log(out.N_S), rtol=0, atol=1e-12)
    xs = x[good]
    ranges = {"N_S": (float(np.exp(xs.min())), float(np.exp(xs.max()))),
              "D_S": (float(np.exp(surface.sup_lD(xs.max()))),
                      float(np.exp(surface.sup_lD(xs.min()))))}
    return {"tol": float(tol), "ranges": ranges, "student": None,
            "reaches_bound": _reaches_bound(ranges, surface.bounds)}


def _reaches_bound(ranges: dict, bounds: dict) -> list[str]:
    """``"D_T upper"``-style labels of the search bounds a range touches (to 0.1%)."""
    hit = []
    for k, (lo, hi) in ranges.items():
        if k not in bounds:
            continue
        for side, val, b in (("lower", lo, bounds[k][0]), ("upper", hi, bounds[k][1])):
            if abs(math.log(val) - math.log(b)) < 1e-3:
                hit.append(f"{k} {side}")
    return hit
