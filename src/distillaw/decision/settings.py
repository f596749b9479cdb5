"""Settings of the allocation search: bounds, resolution, constants."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from ..errors import DecisionError

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


def check_budget(budget, error: type[Exception] = DecisionError) -> float:
    """A FLOPs budget as a positive, finite float, or ``error`` saying what is wrong (the one
    budget check of allocation, reports and planning)."""
    try:
        C = float(budget)
    except (TypeError, ValueError):
        raise error(f"budget must be a number of FLOPs, got {budget!r}") from None
    if not (np.isfinite(C) and C > 0):
        raise error(f"budget must be a positive, finite number of FLOPs, got {budget!r}")
    return C
