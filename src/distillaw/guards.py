"""Guards run before (or right after) the expensive work: problem sizes, non-finite outputs.

Each guard raises the caller's :class:`~distillaw.errors.DistillawError` subclass with a
one-line message that states the size or the place; ``decision``, ``planning`` and the CLI
call them with one line each, so the rules live here once.
"""

from __future__ import annotations

import os

import numpy as np

from .errors import DistillawError

# Candidate runs one plan may weigh. The planner keeps (draws x candidates) arrays and
# per-candidate state; 1e6 grid points took minutes before failing to allocate TiBs. The
# environment variables raise the limits for big machines (a deliberate choice, not a retry).
MAX_CANDIDATES = int(os.environ.get("DISTILLAW_MAX_CANDIDATES", "50000"))
# Bytes of one (draws x candidates) float64 array, the planner's largest per evaluation.
MAX_EVAL_BYTES = int(float(os.environ.get("DISTILLAW_MAX_EVAL_BYTES", str(2 * 1024 ** 3))))


def _gib(n: float) -> str:
    return f"{n / 1024 ** 3:.3g} GiB" if n >= 1024 ** 3 else f"{n / 1024 ** 2:.3g} MiB"


def check_candidates(n: int, draws: int, *, error: type[DistillawError] = DistillawError,
                     hint: str = "use a coarser --ranges grid or a smaller pool") -> None:
    """Refuse a candidate set too large to evaluate, before any work, stating its size."""
    n, draws = int(n), max(1, int(draws))
    need = 8 * n * draws
    if n > MAX_CANDIDATES:
        raise error(f"{n:,} candidate runs is more than the limit of {MAX_CANDIDATES:,} "
                    f"(~{_gib(need)} per evaluation at {draws} draws); {hint} "
                    "(or set DISTILLAW_MAX_CANDIDATES)")
    if need > MAX_EVAL_BYTES:
        raise error(f"{n:,} candidate runs x {draws} draws need ~{_gib(need)} per evaluation, "
                    f"more than the limit of {_gib(MAX_EVAL_BYTES)}; {hint}, or use fewer "
                    "--draws (or set DISTILLAW_MAX_EVAL_BYTES)")


def grid_size(ranges: dict) -> int:
    """Upper bound of the number of grid points of a parsed ``--ranges`` spec (product of
    the lengths of its axes), computed without building the grid."""
    n = 1
    for v in ranges.values():
        n *= max(1, len(v)) if isinstance(v, list | tuple | np.ndarray) else 1
    return n


def check_finite(values, what: str, *, error: type[DistillawError] = DistillawError,
                 rows: bool = True) -> None:
    """Raise when ``values`` hold NaN or inf: a non-number is never a printed result."""
    arr = np.asarray(values, float)
    bad = ~np.isfinite(arr)
    if bad.any():
        where = ""
        if rows and arr.ndim >= 1:
            flat = bad.reshape(bad.shape[0], -1).any(axis=1) if arr.ndim > 1 else bad
            where = f" at row {int(np.flatnonzero(flat)[0]) + 1}"
        raise error(f"{what} is not a finite number{where} (inputs outside the range where "
                    "the law is defined?)")


def empty_plan_reason(run_costs, teacher_costs, budget: float, pool_size: int) -> str:
    """Why a plan came out empty: the cheapest candidate (its run plus any new teacher)
    against the budget."""
    total = np.asarray(run_costs, float) + np.nan_to_num(np.asarray(teacher_costs, float))
    if total.size == 0:
        return "the plan is empty: the pool has no candidates"
    cheapest = float(np.min(total))
    if cheapest > budget:
        return (f"the plan is empty: no candidate fits the budget of {budget:.3g} FLOPs (the "
                f"cheapest of {pool_size} costs {cheapest:.3g}, teacher included); raise "
                "--budget or add smaller candidates")
    return "the plan is empty: no candidate was selected"
