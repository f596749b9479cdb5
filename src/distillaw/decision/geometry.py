"""The budget surface: which (log N_S, log C_T, log N_T) are feasible under Eq. 9."""

from __future__ import annotations

import math

import numpy as np

from ..laws.compute import (
    FlopsModel,
    scenario_deltas,
)
from .settings import LOG3


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


def _infeasible_message(surface: _Surface, student) -> str:
    who = f"a {student:.3g}-parameter student" if student is not None else "any student"
    return (f"no feasible allocation: a budget of {surface.C:.3g} FLOPs cannot pay for "
            f"{who} and a teacher under scenario {surface.scenario} within the bounds "
            f"{surface.bounds}")
