"""Scoring candidate allocations on the draws: vectorised, blocked, threaded."""

from __future__ import annotations

import contextlib
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ..errors import DecisionError
from ..risk import Risk
from .draws import _Params
from .draws import log_loss as _log_loss
from .settings import _BLOCK

# Fewest elements worth a block of their own on another thread (pool overhead ~50 us).
_MIN_SPLIT = 1 << 11


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
        self._rows_cache: dict = {}

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
                if self.pool is not None and B * m >= 2 * _MIN_SPLIT:
                    # Golden-section steps score one candidate per row (m = 1) on a few
                    # thousand rows: a single block, hence a single core, unless split.
                    n = min(self.pool._max_workers, B * m // _MIN_SPLIT)
                    rb = min(rb, -(-B // n))
                jobs = [(slice(r, r + rb), slice(None)) for r in range(0, B, rb)]

                sup_all, dis_all = self._rows(draw_rows, dt)

                def work(job):
                    rs, cs = job
                    sup = {k: v[rs] for k, v in sup_all.items()}
                    dis = None if dis_all is None else {k: v[rs] for k, v in dis_all.items()}
                    a = [_take(x, rs, cs) for x in arrays]
                    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
                        ll = _log_loss(sup, dis, a[0], a[1], *(a[2:4] if teacher else ()))
                        return job, np.broadcast_to(np.exp(ll), (len(range(B)[rs]), m))
            for (rs, cs), val in self._map(work, jobs):
                out[rs, cs] = val
        self.n_evals += B * m * (self.p.S if draw_rows is None else 1)
        return np.where(np.isfinite(out), out, np.inf)

    def _rows(self, draw_rows: np.ndarray, dt) -> tuple[dict, dict | None]:
        """Parameters of ``draw_rows`` (one draw per row), kept for the next call: a 1-d
        search scores the same rows array at every grid and golden-section step, so they
        are gathered once per search instead of once per step."""
        key = (dt, draw_rows.shape)
        hit = self._rows_cache.get(key)
        if hit is not None and hit[0] is draw_rows:
            return hit[1]
        got = self.p.rows(draw_rows, dtype=dt)
        # Holding the array itself (not its id) keeps the identity test sound.
        self._rows_cache[key] = (draw_rows, got)
        return got

    def draws(self, lNS, lDS, lNT=None, lDT=None) -> np.ndarray:
        """Loss draws ``(S, K)`` at K candidates (1-d inputs)."""
        sup, dis = self._draws
        args = [np.atleast_1d(np.asarray(a, float)) for a in (lNS, lDS, lNT, lDT)
                if a is not None]
        with np.errstate(invalid="ignore", over="ignore"):
            return np.exp(_log_loss(sup, dis, *args))


def _precision(precision: str) -> bool:
    """``True`` when grids may be scored in float32."""
    if precision not in ("mixed", "float32", "float64"):
        raise DecisionError(f"precision must be 'mixed', 'float32' or 'float64', got "
                            f"{precision!r}")
    return precision != "float64"


def _pool(threads: int | None):
    """A thread pool for the scorer, or ``nullcontext()`` (which yields ``None``) when one
    thread is asked for: the scorer then runs its blocks inline."""
    n = threads or _default_threads()
    return ThreadPoolExecutor(n) if n > 1 else contextlib.nullcontext()


def _default_threads() -> int:
    n = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, min(4, n or 1))
