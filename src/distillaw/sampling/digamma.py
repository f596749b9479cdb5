"""A cacheable digamma for PyTensor's numba backend, so that a model's whole log-density
can come from PyTensor's on-disk compile cache.

Why: the Student-t likelihood's gradient in ``nu`` has digamma (``Psi``) in it. PyTensor's
numba backend implements ``Psi`` by calling SciPy's Cython function through a pointer, and
such a function cannot be cached; one uncacheable op makes the whole log-density graph
uncacheable, so every fit compiled the logp-and-gradient function from scratch (3.7 s of
a 7.6 s fit of Epoch's 240 points, ``bench/fit_speed.py``), even for a table fitted
before. With this implementation (pure numba, no pointer) the graph is cached by PyTensor
like any other, keyed by the graph and its constants: refitting the same table, in this
process or a later one, loads it from disk.

The cost is disk: each distinct (model, table) leaves its compiled log-density in
PyTensor's numba cache (``~/.pytensor/numba``; 0.6-2 MB each for our models, measured),
as PyTensor already did for every Normal-likelihood fit, and PyTensor does not evict
those entries. ``PYTENSOR_FLAGS=numba__cache=False`` turns PyTensor's numba caching off
(this dispatch included); deleting that folder is always safe.

``register()`` adds a dispatch for ``Psi`` through PyTensor's public registration
decorator. It takes over float64 nodes only (our models are float64); any other dtype
goes to PyTensor's own implementation, unchanged. Accuracy against
``scipy.special.digamma``: tests/test_sampling_engine.py.
"""

from __future__ import annotations

import math

import numpy as np

# Bumped whenever the implementation below changes: it is part of the cache key, so a
# changed function is never served from an old cache entry.
_VERSION = "distillaw-digamma-1"
# psi(x) for x >= _ASYMPTOTIC from the asymptotic series (terms to B_16); below it the
# recurrence psi(x) = psi(x + 1) - 1/x moves x up. At x = 10 the first omitted term,
# B_18 / (18 x^18), is 3e-18: below float64 resolution.
_ASYMPTOTIC = 10.0

_registered = False


def digamma(x: float) -> float:
    """psi(x) in float64: reflection for x < 0, recurrence up to 10, asymptotic series.
    NaN at the poles (0, -1, -2, ...), as SciPy returns +-inf or nan there."""
    x = float(x)
    if x <= 0.0 and x == math.floor(x):
        return np.nan
    res = 0.0
    if x < 0.0:
        # psi(1 - x) - psi(x) = pi cot(pi x); tan has period pi, so reduce x first
        # (x - round(x) is exact, pi * x for large |x| is not)
        res = -math.pi / math.tan(math.pi * (x - round(x)))
        x = 1.0 - x
    while x < _ASYMPTOTIC:
        res -= 1.0 / x
        x += 1.0
    f = 1.0 / (x * x)
    tail = f * (-1.0 / 12 + f * (1.0 / 120 + f * (-1.0 / 252 + f * (
        1.0 / 240 + f * (-1.0 / 132 + f * (691.0 / 32760 + f * (-1.0 / 12 + f * 3617.0 / 8160)))))))
    return res + math.log(x) - 0.5 / x + tail


def register() -> None:
    """Register the dispatch once per process (idempotent)."""
    global _registered
    if _registered:
        return
    from pytensor.link.numba.dispatch import basic as numba_basic
    from pytensor.link.numba.dispatch.scalar import numba_funcify_ScalarOp, scalar_op_cache_key
    from pytensor.scalar.math import Psi

    jitted = numba_basic.numba_njit(digamma)

    @numba_basic.register_funcify_and_cache_key(Psi)
    def _numba_funcify_psi(op, node, **kwargs):
        dtypes = {v.type.dtype for v in (*node.inputs, *node.outputs)}
        if dtypes != {"float64"}:
            return numba_funcify_ScalarOp(op, node, **kwargs)
        return jitted, scalar_op_cache_key(op, cache_version=_VERSION)

    _registered = True
