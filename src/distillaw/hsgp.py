r"""Gaussian-process discrepancy in (log10 N, log10 D) for ``error="gp"`` (issue 11).

The law is the mean; ``error="gp"`` adds a smooth surface ``f`` to it::

    log L_i = law(N_i, D_i) + f(log10 N_i, log10 D_i) + eps_i

with ``f ~ GP(0, eta^2 ExpQuad(ls_N, ls_D))`` and ``eps`` the heteroscedastic noise. Why: on
Epoch's IsoFLOP points the law's held-out misses are a smooth function of where a run sits
along its IsoFLOP curve (about -1% at the small-N end, +2-4% at the large-N end), the same
shape in-sample and out of sample. Independent noise cannot express that, and a discrepancy
that depends only on distance from the data (:mod:`distillaw.discrepancy`) cannot shift the
centre of an interval. A GP over (log N, log D) can: near the data it carries the fitted
misfit's shape (and shifts the prediction with it); away from the data it reverts to its
prior, so the interval widens to ``eta`` whatever the law says. The scales ``eta`` and the
length scales are learned from how the residuals co-vary in the fitted rows: no hand-set
extrapolation penalty.

Hilbert-space approximation (Solin & Sarkka 2020; Riutort-Mayol et al. 2023, as PyMC's
``HSGP``), written here once for NumPy and PyTensor so that the fit and every prediction
evaluate the same basis: on the box ``[c - L, c + L]`` (per coordinate, in decades)

    f(x) = sum_j phi_j(x) w_j,   w_j = sqrt(S(sqrt(lambda_j))) z_j,   z_j ~ Normal(0, 1)

with ``phi_j`` products of ``sin(pi k (x - c + L) / (2 L)) / sqrt(L)`` and ``S`` the
squared-exponential spectral density. In the model the weights are conditioned to be
orthogonal, over the fitted rows, to the law's gradient in its parameters
(:func:`orthogonal_weights`): the law keeps every direction it can explain, the GP takes
only the rest. The weights are stored with the draws (``gp_weights``), the box on the card
(``model.gp``), so a reloaded posterior predicts at any (N, D) without the model. The box
is the fitted rows' range widened ``BOUNDARY`` times about its centre, and at least
``MARGIN`` decades past the data; outside it ``f`` is 0, the law alone (a prediction that
far out also carries the extrapolation warning).

Measured (``distillaw backtest ../shared/data/epoch_chinchilla/svg_extracted_data.csv
--holdout top-compute:2 --form chinchilla --error gp``, seeds 0-2): 0 divergences, 16
leapfrog steps per draw with nutpie's low-rank mass matrix; 90% coverage of the 39 held-out
runs 1.00 (heteroscedastic: 0.82), interval width 5.0% (5.9%), CRPS 0.0077 (0.0092
unorthogonalised GP).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping

import numpy as np

from ._xp import namespace

# Box half-width = BOUNDARY x the fitted rows' half-range (per coordinate), and at least
# MARGIN decades beyond the data. The HSGP is exact only well inside its box: a point within
# about two length scales of the boundary has its prior variance cut (Dirichlet boundary),
# and the length-scale prior reaches 2 decades; a prediction one span beyond the data must
# also be inside.
BOUNDARY = 2.5
MARGIN = 2.0  # decades
HALF_RANGE_FLOOR = 0.5  # decades: a coordinate fitted at (nearly) one value
BASIS_PER_DIM = 7
COORDS = ("N", "D")


def box(N, D, *, m: int = BASIS_PER_DIM, boundary: float = BOUNDARY,
        margin: float = MARGIN) -> dict:
    """The HSGP box of the fitted rows: centre and half-width ``L`` per coordinate (decades
    of N and D) and ``m`` basis functions per coordinate. JSON-ready (stored on the card)."""
    out = {"center": [], "L": [], "m": [int(m)] * 2}
    for v in (N, D):
        x = np.log10(np.asarray(v, float))
        lo, hi = float(np.min(x)), float(np.max(x))
        out["center"].append(0.5 * (lo + hi))
        half = max(0.5 * (hi - lo), HALF_RANGE_FLOOR)
        out["L"].append(max(boundary * half, half + margin))
    return out


def _index(bx: Mapping) -> np.ndarray:
    """``(M, 2)`` frequency indices (1-based) of the tensor-product basis."""
    return np.array(list(itertools.product(*(range(1, int(k) + 1) for k in bx["m"]))), float)


def basis(N, D, bx: Mapping) -> np.ndarray:
    """``(P, M)`` basis functions at the points (NumPy; the data are constants in the fit).
    Zero outside the box (the approximation's own boundary condition). The 2-D functions
    are products of 1-D ones, in the order of :func:`_index`."""
    xN = np.log10(np.asarray(N, float)).reshape(-1)
    xD = np.log10(np.asarray(D, float)).reshape(-1)
    sN, sD = _both(xN, xD, bx)
    return np.ascontiguousarray((sN[:, None] * sD[None, :]).reshape(-1, xN.size).T)


def _sines(x, c, L, m: int, dt, recurrence: bool = False) -> np.ndarray:
    """The 1-D basis ``sin(pi k (x - c + L) / (2 L)) / sqrt(L)``, ``k = 1..m``, zero outside
    ``|x - c| <= L``: shape ``(m,) + x.shape`` (one contiguous array per frequency).

    ``recurrence``: sin(k th) for k = 2..m by the Chebyshev recurrence sin(k th) =
    2 cos(th) sin((k-1) th) - sin((k-2) th), two transcendentals per point instead of m
    (the decision search evaluates the basis at millions of candidates; equal to the direct
    form to ~1e-15). The fit and the posterior's predictions use the direct form, whose
    last bits the recorded fits were sampled with."""
    u = x.astype(dt, copy=False) - dt.type(c)
    inside = np.abs(u) <= L
    if not recurrence:
        k = np.arange(1, m + 1, dtype=dt).reshape((m,) + (1,) * x.ndim)
        out = np.sin(dt.type(np.pi) * k * (u + dt.type(L)) / dt.type(2 * L)) / dt.type(
            math.sqrt(L))
        return out * inside
    th = dt.type(np.pi) * ((u + dt.type(L)) / dt.type(2 * L))
    out = np.empty((m,) + x.shape, dt)
    out[0] = np.sin(th)
    two_c = 2 * np.cos(th)
    if m > 1:
        out[1] = two_c * out[0]
    for k in range(2, m):
        out[k] = two_c * out[k - 1] - out[k - 2]
    out *= (inside / math.sqrt(L)).astype(dt)
    return out


def _both(xN, xD, bx: Mapping, recurrence: bool = False):
    xN, xD = np.broadcast_arrays(np.asarray(xN), np.asarray(xD))
    dt = np.result_type(xN.dtype, np.float32)
    (cN, cD), (LN, LD) = ((float(v) for v in bx["center"]), (float(v) for v in bx["L"]))
    mN, mD = (int(k) for k in bx["m"])
    return (_sines(xN, cN, LN, mN, dt, recurrence), _sines(xD, cD, LD, mD, dt, recurrence))


def log_offsets(weights, lN, lD, bx: Mapping) -> np.ndarray:
    """``f`` at natural-log sizes and tokens ``lN, lD`` (broadcastable to shape ``P``) for
    weight draws of shape ``Q + (M,)``; the result has the broadcast shape of ``P`` and
    ``Q`` (the decision search's candidate blocks against its draws).

    Where every axis is spanned by the points or by the draws, never both (all draws at
    every candidate), this is one matrix product with the ``(P, M)`` basis. Otherwise (one
    draw per candidate row: each draw's own optimum) ``f = sN^T W sD`` is contracted one
    coordinate at a time, never forming the ``M`` products per point (memory-bound)."""
    w = np.asarray(weights)
    ln10 = math.log(10.0)
    lN, lD = np.broadcast_arrays(np.asarray(lN), np.asarray(lD))
    sN, sD = _both(lN / ln10, lD / ln10, bx, recurrence=True)
    P, Q = lN.shape, w.shape[:-1]
    n = max(len(P), len(Q))
    P, Q = (1,) * (n - len(P)) + P, (1,) * (n - len(Q)) + Q
    mN, mD = sN.shape[0], sD.shape[0]
    if any(p > 1 and q > 1 for p, q in zip(P, Q, strict=True)):
        Wm = w.reshape(Q + (mN, mD))
        T = np.einsum("a...,...ab->...b", sN.reshape((mN,) + P), Wm)
        return np.einsum("...b,b...->...", T, sD.reshape((mD,) + P))
    M = mN * mD
    phi = (sN[:, None] * sD[None, :]).reshape(M, -1)
    R = phi.T @ w.reshape(-1, M).T  # (prod P, prod Q)
    pa = [i for i in range(n) if P[i] > 1]
    qa = [i for i in range(n) if Q[i] > 1]
    R = R.reshape([P[i] for i in pa] + [Q[i] for i in qa])
    # R's axes are P's then Q's; put them back in the output's order.
    src = {a: j for j, a in enumerate(pa + qa)}
    R = R.transpose([src[a] for a in sorted(src)])
    return R.reshape(tuple(max(p, q) for p, q in zip(P, Q, strict=True)))


def orthogonal_weights(a, lam, C):
    """Weights ``w = a - Lam C^T (C Lam C^T)^-1 C a``: prior draws ``a ~ N(0, Lam)`` of the
    basis weights conditioned on ``C w = 0`` (PyTensor in the model; NumPy for checks).

    With ``C = U^T Phi`` (``U`` the directions in which the law at the fitted rows moves
    with its parameters, :func:`distillaw.models.supervised.law_directions`; ``Phi`` the
    basis there) the discrepancy is orthogonal, over the fitted rows, to every direction
    the law's own parameters can move: the law keeps what it can explain and
    the GP takes only the rest (Plumlee 2017, "Bayesian calibration with orthogonal
    discrepancy"). Why: an unconstrained GP with a 0.8-decade length scale can imitate the
    law's floor and exponents, and on Epoch's points the law then drifted (beta 0.66 against
    0.37 alone) and one chain in four stuck in another mode (r_hat 1.96, 51 divergences)."""
    xp = namespace(a, lam)
    if xp is np:
        G = (C * lam) @ C.T
        return a - lam * (C.T @ np.linalg.solve(G, C @ a))
    import pytensor.tensor as pt

    G = pt.dot(C * lam[None, :], C.T)
    # jitter relative to G's own scale: C has full row rank, this only guards rounding
    G = G + 1e-10 * pt.mean(pt.diag(G)) * pt.eye(C.shape[0])
    return a - lam * pt.dot(C.T, pt.linalg.solve(G, pt.dot(C, a), assume_a="pos"))


def sqrt_spectral(eta, ls_N, ls_D, bx: Mapping):
    """``sqrt(S(sqrt(lambda_j)))`` of the squared-exponential kernel (scale ``eta``, length
    scales in decades) at each basis frequency: ``(M,)`` for scalars, ``(S, M)`` for draws
    of shape ``(S, 1)``. NumPy or PyTensor, whichever the inputs are."""
    xp = namespace(eta, ls_N, ls_D)
    j = _index(bx)
    L = np.asarray(bx["L"], float)
    w = np.pi * j / (2 * L)  # (M, 2) square roots of the eigenvalues
    # S(w) = eta^2 (2 pi)^(d/2) ls_N ls_D exp(-(ls_N^2 w_N^2 + ls_D^2 w_D^2) / 2), d = 2
    log_s = (2 * xp.log(eta) + math.log(2 * math.pi) + xp.log(ls_N) + xp.log(ls_D)
             - 0.5 * (ls_N ** 2 * w[:, 0] ** 2 + ls_D ** 2 * w[:, 1] ** 2))
    return xp.exp(0.5 * log_s)


def offsets(weights: np.ndarray, N, D, bx: Mapping) -> np.ndarray:
    """Draws ``(S, P)`` of ``f`` at the points from the weight draws ``(S, M)``."""
    return np.asarray(weights, float) @ basis(N, D, bx).T


def n_basis(bx: Mapping) -> int:
    return int(np.prod(bx["m"]))


__all__ = ["BASIS_PER_DIM", "BOUNDARY", "MARGIN", "basis", "box", "log_offsets",
           "n_basis", "offsets", "orthogonal_weights", "sqrt_spectral"]
