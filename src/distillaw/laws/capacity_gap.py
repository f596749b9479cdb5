r"""Capacity-gap law: which teacher is best for a given student.

Two views of the same question:

1. Zhang et al. (arXiv:2311.07052), the *law of capacity gap*: the optimal teacher size grows
   linearly with the student size, ``N_T* = k N_S^s`` with s = 1, k ~ 2.5 (their fit,
   reported second-hand: T* = 2.498 S - 11.498, R^2 = 0.9957). In log space::

       log N_T* = log k + s log N_S

2. The optimum implied by the distillation law (Busbridge et al. 2025, Eq. 8): for given
   (N_S, D_S) the teacher *loss* L_T* that minimises the student loss has no closed form
   (the broken-power factor matters near the optimum), so it is found numerically. If the
   teacher is itself trained by a rule (e.g. D_T = 20 N_T) its loss is L(N_T, D_T) and the
   optimum becomes a teacher *size*, which is how Busbridge recover Zhang's line.

Check values (Table 6 coefficients, spec section 1.3): N_S = 1e9, D_S = 2e10 gives
L_T* = 1.7227 and L_S(L_T*) = 2.2523; N_S = 1e10, D_S = 2e11 gives 1.5420 and 1.9079.

All functions here are NumPy-only and vectorised over posterior draws: parameters may be
arrays of shape ``(S,)`` and queries arrays of shape ``(P,)``; results have shape ``(S, P)``
(scalars where everything is scalar).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np

from .distillation import PARAMS as _DIS
from .distillation import distillation_loss
from .supervised import PARAMS_BUSBRIDGE as _SUP
from .supervised import supervised_loss

PARAMS = ("k", "s")
ZHANG_K = 2.5
ZHANG_S = 1.0


def log_optimal_teacher_size(log_NS, *, log_k, s):
    """``log N_T* = log k + s log N_S`` (works on NumPy arrays and PyTensor tensors)."""
    return log_k + s * log_NS


def optimal_teacher_size(N_S, *, k=ZHANG_K, s=ZHANG_S):
    """Zhang et al.'s capacity-gap line ``N_T* = k N_S^s``.

    Example
    -------
    >>> float(optimal_teacher_size(1e9))
    2500000000.0
    """
    return np.exp(log_optimal_teacher_size(np.log(N_S), log_k=np.log(k), s=s))


def _split(params: Mapping[str, object]) -> tuple[dict, dict]:
    missing = [p for p in _SUP + _DIS if p not in params and p != "gamma"]
    if missing:
        raise KeyError(f"parameters missing for the distillation optimum: {', '.join(missing)}")
    sup = {p: np.asarray(params[p], float) for p in _SUP if p in params}
    sup.setdefault("gamma", np.asarray(1.0))
    dis = {p: np.asarray(params[p], float) for p in _DIS}
    return sup, dis


def _expand(params: dict, nq: int | None) -> dict:
    """Parameters (S,) -> (S, 1) so they broadcast against queries (P,)."""
    if nq is None:
        return params
    return {k: (v[:, None] if v.ndim == 1 else v) for k, v in params.items()}


def minimise_1d(f: Callable[[np.ndarray], np.ndarray], lo: np.ndarray, hi: np.ndarray,
                n_grid: int = 48, iters: int = 40) -> np.ndarray:
    """Vectorised minimiser of ``f`` over ``[lo, hi]`` for a batch of independent problems.

    A coarse grid finds the best cell (robust to the sharp break of the distillation law),
    then golden-section search refines inside the two neighbouring cells. ``f`` maps an
    array ``x`` of shape ``(B, m)`` to values of the same shape; ``lo``/``hi`` have shape
    ``(B,)``. Returns the argmin, shape ``(B,)``.
    """
    lo = np.asarray(lo, float)
    hi = np.asarray(hi, float)
    t = np.linspace(0.0, 1.0, n_grid)
    xs = lo[:, None] + (hi - lo)[:, None] * t[None, :]
    vals = f(xs)
    vals = np.where(np.isfinite(vals), vals, np.inf)
    j = np.argmin(vals, axis=1)
    step = (hi - lo) / (n_grid - 1)
    a = np.maximum(lo, xs[np.arange(len(j)), j] - step)
    b = np.minimum(hi, xs[np.arange(len(j)), j] + step)
    invphi = (np.sqrt(5.0) - 1.0) / 2.0
    c = b - invphi * (b - a)
    d = a + invphi * (b - a)
    fc = f(c[:, None])[:, 0]
    fd = f(d[:, None])[:, 0]
    for _ in range(iters):
        left = fc < fd  # minimum in [a, d]
        b = np.where(left, d, b)
        a = np.where(left, a, c)
        new_c = b - invphi * (b - a)
        new_d = a + invphi * (b - a)
        # Reuse the surviving interior point; evaluate only the new one.
        fd_next = np.where(left, fc, np.nan)
        fc_next = np.where(left, np.nan, fd)
        x_eval = np.where(left, new_c, new_d)
        f_eval = f(x_eval[:, None])[:, 0]
        fc = np.where(left, f_eval, fc_next)
        fd = np.where(left, fd_next, f_eval)
        c, d = new_c, new_d
    return np.where(fc < fd, c, d)


def _chunks(NS, DS, sup: dict, dis: dict, chunk: int):
    """Slices of at most ``chunk`` flattened problems (bounded memory): the slice, the
    student sizes and tokens, both laws' parameters there, and the student's supervised
    loss ``Ltilde_S``."""
    for i in range(0, NS.size, chunk):
        sl = slice(i, i + chunk)
        s = {k: v[sl] for k, v in sup.items()}
        d = {k: v[sl] for k, v in dis.items()}
        yield sl, NS[sl], DS[sl], s, d, supervised_loss(NS[sl], DS[sl], **s)


def _flatten_problem(N_S, D_S, params):
    """Broadcast queries against draws and flatten to a batch of 1-d problems."""
    N_S = np.asarray(N_S, float)
    D_S = np.asarray(D_S, float)
    sup, dis = _split(params)
    S = max([np.size(v) for v in list(sup.values()) + list(dis.values())])
    scalar_draws = S == 1 and all(np.ndim(v) == 0 for v in list(sup.values()) + list(dis.values()))
    NS, DS = np.broadcast_arrays(N_S, D_S)
    qshape = NS.shape
    nq = NS.size
    sup_b = {k: np.broadcast_to(np.reshape(v, (-1, 1)), (S, nq)).ravel() for k, v in sup.items()}
    dis_b = {k: np.broadcast_to(np.reshape(v, (-1, 1)), (S, nq)).ravel() for k, v in dis.items()}
    NS_b = np.broadcast_to(NS.reshape(1, -1), (S, nq)).ravel()
    DS_b = np.broadcast_to(DS.reshape(1, -1), (S, nq)).ravel()
    out_shape = qshape if scalar_draws else (S,) + qshape
    return NS_b, DS_b, sup_b, dis_b, out_shape


def _col(d: dict) -> dict:
    return {k: v[:, None] for k, v in d.items()}


def optimal_teacher_loss(N_S, D_S, params: Mapping[str, object], *, bounds=None,
                         n_grid: int = 48, iters: int = 40, chunk: int = 200_000):
    """Teacher loss ``L_T*`` minimising the student loss, and that student loss.

    Parameters
    ----------
    N_S, D_S : array_like
        Student size and distillation tokens (broadcast together to the query shape).
    params : mapping
        Supervised (E, A, B, alpha, beta[, gamma]) and distillation (A_prime, ..., d1)
        coefficients; scalars or arrays of draws of shape ``(S,)``.
    bounds : (lo, hi) or None
        Range of teacher losses searched (nats). ``None`` searches
        ``[0.3, 1.5] x Ltilde_S``, wide enough for the published surface (the optimum sits at
        0.7-0.8 x Ltilde_S). Pass e.g. ``(E, 2.5)`` to restrict to achievable teachers.

    Returns
    -------
    (L_T_star, L_S_star) : arrays of shape ``(S,) + query_shape`` (query shape if all scalar).

    Example
    -------
    >>> from distillaw.published import published
    >>> LT, LS = optimal_teacher_loss(1e9, 2e10, published("busbridge2025").point())
    >>> round(float(LT), 3), round(float(LS), 4)
    (1.723, 2.2523)
    """
    NS, DS, sup, dis, out_shape = _flatten_problem(N_S, D_S, params)
    LT_out = np.empty(NS.size)
    LS_out = np.empty(NS.size)
    for sl, ns, ds, _s, d, L_tilde in _chunks(NS, DS, sup, dis, chunk):
        if bounds is None:
            lo, hi = np.log(0.3 * L_tilde), np.log(1.5 * L_tilde)
        else:
            lo = np.full(ns.shape, np.log(bounds[0]))
            hi = np.full(ns.shape, np.log(bounds[1]))
        sc, dc = _col(d), L_tilde[:, None]

        def f(log_LT, ns=ns, ds=ds, dc=dc, sc=sc):
            return distillation_loss(ns[:, None], ds[:, None], np.exp(log_LT), dc, **sc)

        x = minimise_1d(f, lo, hi, n_grid=n_grid, iters=iters)
        LT_out[sl] = np.exp(x)
        LS_out[sl] = f(x[:, None])[:, 0]
    return LT_out.reshape(out_shape), LS_out.reshape(out_shape)


def optimal_teacher_size_from_law(N_S, D_S, params: Mapping[str, object], *,
                                  tokens_per_param: float | None = 20.0, D_T=None,
                                  bounds=(1e6, 1e14), n_grid: int = 64, iters: int = 40,
                                  chunk: int = 200_000):
    """Teacher size ``N_T*`` minimising the student loss when the teacher's loss is
    ``L(N_T, D_T)`` from the supervised law.

    The teacher is trained either on ``D_T = tokens_per_param * N_T`` (default 20, i.e.
    Chinchilla-style teachers, the setting in which Busbridge et al. recover Zhang's line)
    or on a fixed ``D_T`` tokens. Returns ``(N_T_star, L_T_star, L_S_star)``; an optimum on
    a bound means the law prefers a teacher outside the searched range.
    """
    if (tokens_per_param is None) == (D_T is None):
        raise ValueError("give exactly one of tokens_per_param or D_T")
    NS, DS, sup, dis, out_shape = _flatten_problem(N_S, D_S, params)
    NT_out = np.empty(NS.size)
    LT_out = np.empty(NS.size)
    LS_out = np.empty(NS.size)
    for sl, ns, ds, s, d, L_tilde in _chunks(NS, DS, sup, dis, chunk):
        sc, dc, lt = _col(s), _col(d), L_tilde[:, None]

        def teacher_loss(log_NT, sc=sc):
            NT = np.exp(log_NT)
            DT = tokens_per_param * NT if D_T is None else np.asarray(D_T, float)
            return supervised_loss(NT, DT, **sc)

        def f(log_NT, ns=ns, ds=ds, dc=dc, lt=lt, teacher_loss=teacher_loss):
            return distillation_loss(ns[:, None], ds[:, None], teacher_loss(log_NT), lt, **dc)

        lo = np.full(ns.shape, np.log(bounds[0]))
        hi = np.full(ns.shape, np.log(bounds[1]))
        x = minimise_1d(f, lo, hi, n_grid=n_grid, iters=iters)
        NT_out[sl] = np.exp(x)
        LT_out[sl] = teacher_loss(x[:, None])[:, 0]
        LS_out[sl] = f(x[:, None])[:, 0]
    return NT_out.reshape(out_shape), LT_out.reshape(out_shape), LS_out.reshape(out_shape)


def log_capacity_gap_curve(log_NT, log_NS, *, log_k, s, log_L_min, curvature):
    """U-shaped student loss against teacher size around the capacity-gap optimum.

    ``log L_S = log L_min + curvature * (log N_T - log k - s log N_S)^2``: a quadratic in
    log teacher size (the local shape of any smooth minimum), centred on Zhang's line. Used
    by the ``capacity-gap`` model, fitted on runs that try several teachers per student.
    Works on NumPy arrays and PyTensor tensors.
    """
    dev = log_NT - log_optimal_teacher_size(log_NS, log_k=log_k, s=s)
    return log_L_min + curvature * dev * dev
