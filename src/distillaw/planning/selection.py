"""Selection: greedy under a budget with teachers paid once; the baselines' orders."""

from __future__ import annotations

import numpy as np
import pandas as pd


# ============================================================================ selection
class _Budget:
    """Marginal costs with teachers paid once per batch."""

    def __init__(self, costs: dict, budget: float):
        self.run = np.asarray(costs["run"], float)
        self.teacher = np.asarray(costs["teacher"], float)
        self.key = costs["teacher_key"]
        self.budget = float(budget)
        self.spent = 0.0
        self.paid: set = set()

    def marginal(self) -> np.ndarray:
        paid = np.array([k is not None and k in self.paid for k in self.key], bool)
        return self.run + np.where(paid, 0.0, self.teacher)

    def affordable(self, chosen: np.ndarray) -> np.ndarray:
        # Compared as spent + cost, the same float sum the plan reports: never over budget.
        return (~chosen) & (self.spent + self.marginal() <= self.budget)

    def take(self, c: int) -> float:
        cost = float(self.marginal()[c])
        self.spent += cost
        if self.key[c] is not None:
            self.paid.add(self.key[c])
        return cost


def _greedy(score_fn, update_fn, budget: _Budget, k: int, cost_power: float):
    """Generic greedy: ``score_fn(cands) -> gains``; ``update_fn(c)`` after taking c.

    Each step takes the affordable candidate with the largest ``gain / cost**cost_power``
    (1: per FLOP, 0: per run)."""
    C = len(budget.run)
    chosen = np.zeros(C, bool)
    order, gains, costs, n_aff = [], [], [], []
    for _ in range(k):
        aff = budget.affordable(chosen)
        if not aff.any():
            break
        cands = np.flatnonzero(aff)
        g = score_fn(cands)
        marg = budget.marginal()[cands]
        score = g / marg ** cost_power if cost_power else g
        # Deterministic tie-break: the cheaper candidate, then pool order.
        best = np.lexsort((cands, marg, -score))[0]
        if not g[best] > 0:
            break
        c = int(cands[best])
        costs.append(budget.take(c))
        chosen[c] = True
        order.append(c)
        gains.append(float(g[best]))
        n_aff.append(len(cands))
        update_fn(c)
    return order, gains, costs, n_aff


def _log_grid_order(pool: pd.DataFrame, budget: _Budget, k: int,
                    existing: pd.DataFrame | None):
    """Greedy maximin in standardised log inputs (a space-filling 'log grid' on the pool)."""
    def feats(df):
        cols = [np.log(df["N"].to_numpy(float)), np.log(df["D"].to_numpy(float))]
        if (pool["kind"] == "distillation").any():
            NT = df["N_T"].to_numpy(float) if "N_T" in df else np.full(len(df), np.nan)
            DT = df["D_T"].to_numpy(float) if "D_T" in df else np.full(len(df), np.nan)
            LT = df["L_T"].to_numpy(float) if "L_T" in df else np.full(len(df), np.nan)
            if np.isfinite(pool["N_T"].to_numpy(float)).any():
                cols += [np.log(NT), np.log(DT)]
            else:
                cols += [np.log(LT)]
        return np.column_stack(cols)

    X = feats(pool)
    mu = np.nanmean(X, axis=0)
    sd = np.nanstd(X, axis=0)
    sd = np.where(sd > 0, sd, 1.0)
    Xs = np.nan_to_num((X - mu) / sd)
    chosen = np.zeros(len(pool), bool)
    ref = None
    if existing is not None and len(existing):
        ref = np.nan_to_num((feats(existing) - mu) / sd)
    order, costs = [], []
    for _ in range(k):
        aff = budget.affordable(chosen)
        if not aff.any():
            break
        cands = np.flatnonzero(aff)
        marg = budget.marginal()[cands]
        if ref is None:
            best = int(np.lexsort((cands, marg))[0])  # start from the cheapest run
        else:
            d = np.sqrt(((Xs[cands][:, None, :] - ref[None, :, :]) ** 2).sum(-1)).min(axis=1)
            best = int(np.lexsort((cands, marg, -np.round(d, 9)))[0])
        c = int(cands[best])
        costs.append(budget.take(c))
        chosen[c] = True
        order.append(c)
        ref = Xs[[c]] if ref is None else np.vstack([ref, Xs[[c]]])
    return order, costs
