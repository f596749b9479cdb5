"""Sweeps of allocations: over budgets (crossover) and over risk measures."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import DecisionError
from ..risk import Risk, parse_risk
from .allocation import allocate
from .result import Allocation
from .settings import Resolution


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
    kw.setdefault("near_optimal", False)    # the sweep reports losses, not ranges
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
    from ..risk import STANDARD

    kw.setdefault("regret", False)
    kw.setdefault("frontier", False)
    out = {}
    for r in risks or STANDARD:
        r = parse_risk(r)
        out[r.spec] = allocate(posterior, budget, risk=r, **kw)
    return out
