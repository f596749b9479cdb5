"""Nested minimisation over teacher compute, teacher size and a free student size."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..laws.capacity_gap import minimise_1d
from .geometry import _Surface
from .scoring import _Scorer
from .settings import LOG3, Resolution


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
        seen = []

        def profile(tau):          # tau (B, m) in [0, 1] -> inner minima (B, m)
            m = tau.shape[1]
            t = (tlo[:, None] + (thi - tlo)[:, None] * tau).ravel()
            r = np.repeat(rows, m)
            _, v = self.inner(r, np.repeat(lNS, m), t, res)
            v = v.reshape(B, m)
            if not seen:           # minimise_1d's first call: its grid over [0, 1]
                seen.append(v)
            return v

        tau = minimise_1d(profile, np.zeros(B), np.ones(B), n_grid=res.n_outer,
                          iters=res.it_outer)
        t = tlo + (thi - tlo) * tau
        u, v = self.inner(rows, lNS, t, res)
        v_best = np.where(ok, v, np.inf)
        if tie_tol:
            # The tie search scans the same grid at the same resolution: hand it the values.
            same = res == self.res
            t, u, v = self._cheapest(rows, lNS, tlo, thi, tau, v, tie_tol,
                                     seen[0] if same else None, u if same else None)
            v_best = np.minimum(v_best, v)
        v = np.where(ok, v, np.inf)
        return t, u, v, v_best

    def _cheapest(self, rows, lNS, tlo, thi, tau_best, v_best, tol, grid_v=None,
                  u_best=None):
        """Smallest teacher compute whose inner minimum is within ``tol`` of the best.

        ``grid_v``: the inner minima on the outer grid when the caller has them (the
        same ``linspace(0, 1, n_outer)`` grid :func:`minimise_1d` starts with); ``u_best``:
        the teacher size at ``tau_best`` (``v_best`` is its value).
        """
        B = len(rows)
        n = self.res.n_outer
        grid = np.linspace(0.0, 1.0, n)
        if grid_v is None:
            tt = tlo[:, None] + (thi - tlo)[:, None] * grid[None, :]
            _, vg = self.inner(np.repeat(rows, n), np.repeat(lNS, n), tt.ravel())
            vg = vg.reshape(B, n)
        else:
            vg = grid_v
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
            ub, vb = ((u_best, v_best) if u_best is not None
                      else self.inner(rows, lNS, t_best))
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
