"""Posterior draws as the decision and planning code use them: names, law keywords,
thinning and summaries, written once.

Parameter names are declared once per law, in :mod:`distillaw.laws` (``PARAMS`` of each law
module, gathered in :data:`distillaw.laws.LAW_PARAMS`). Draws travel as a mapping
``name -> array (S,)`` on the natural scale (``E``, ``A``, ..., as the paper writes them);
the law functions take positive scale parameters by their logarithm (``log_E``...). This
module converts between the two (:func:`law_kwargs`), evaluates the supervised and
distillation laws on draws (:func:`log_loss`), thins draws (:func:`thin_index`, the same
subset for every quantity of one posterior and seed) and summarises them
(:func:`interval`, :func:`summarize`).

Example
-------
>>> import numpy as np
>>> kw = law_kwargs({"E": np.array([1.69]), "alpha": np.array([0.34])})
>>> sorted(kw), round(float(kw["log_E"][0]), 4)
(['alpha', 'log_E'], 0.5247)
>>> [round(v, 6) for v in interval(np.arange(101.0), 0.9)]
[50.0, 5.0, 95.0]
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from scipy.special import gammaln

from .laws import LOG_SCALE_PARAMS, SUPERVISED_PARAMS
from .laws.distillation import PARAMS as DISTILLATION_PARAMS
from .laws.distillation import log_distillation_loss
from .laws.supervised import log_supervised_loss

CI = 0.9


# ---------------------------------------------------------------------------- law keywords
def law_kwargs(params: Mapping[str, object], names=None) -> dict:
    """Keyword arguments of the log-space law functions from natural-scale draws.

    Positive scale parameters (:data:`distillaw.laws.LOG_SCALE_PARAMS`) become ``log_<name>``
    = their logarithm; exponents and offsets pass unchanged. ``names`` picks (and orders)
    the parameters; by default every one given.
    """
    out = {}
    for k in (params if names is None else names):
        v = params[k]
        if k in LOG_SCALE_PARAMS:
            out[f"log_{k}"] = np.log(v)
        else:
            out[k] = v
    return out


def supervised_kwargs(params: Mapping[str, object]) -> dict:
    """Keywords of :func:`~distillaw.laws.log_supervised_loss` (``gamma`` defaults to 1)."""
    p = dict(params)
    if "gamma" not in p:
        p["gamma"] = np.ones_like(np.asarray(p["E"], float))
    return law_kwargs(p, SUPERVISED_PARAMS)


def distillation_kwargs(params: Mapping[str, object]) -> dict:
    """Keywords of :func:`~distillaw.laws.log_distillation_loss`."""
    return law_kwargs(params, DISTILLATION_PARAMS)


def log_loss(sup: Mapping, dis: Mapping | None, lNS, lDS, lNT=None, lDT=None, offset=None):
    """Log loss on draws: the distillation law's student loss (teacher ``(N_T, D_T)``
    trained under the supervised law), or the supervised loss when there is no teacher.

    ``sup``/``dis`` are keyword forms (:func:`supervised_kwargs`,
    :func:`distillation_kwargs`) shaped to broadcast against the log inputs. ``offset``:
    ``f(lN, lD)``, a discrepancy added to every supervised log loss (the student's own and
    the teacher's), for a supervised fit with ``error="gp"``.
    """
    lLt = log_supervised_loss(lNS, lDS, **sup)
    if offset is not None:
        lLt = lLt + offset(lNS, lDS)
    if dis is None or lNT is None:
        return lLt
    lLT = log_supervised_loss(lNT, lDT, **sup)
    if offset is not None:
        lLT = lLT + offset(lNT, lDT)
    return log_distillation_loss(lNS, lDS, lLT, lLt, **dis)


# ---------------------------------------------------------------------------- thinning
def thin_index(n: int, max_draws: int | None, seed: int = 0) -> np.ndarray | None:
    """Indices of a fixed random subset of at most ``max_draws`` of ``n`` draws (sorted),
    or ``None`` when all draws are kept. The same ``(n, max_draws, seed)`` always gives the
    same subset, so separately thinned quantities of one posterior stay paired."""
    if max_draws is None or max_draws >= n:
        return None
    return np.sort(np.random.default_rng(seed).choice(n, max_draws, replace=False))


def thin(draws: Mapping[str, np.ndarray], max_draws: int | None,
         seed: int = 0) -> dict[str, np.ndarray]:
    """The same subset (:func:`thin_index`) of every array of ``draws`` (all of length S)."""
    draws = dict(draws)
    if not draws:
        return draws
    idx = thin_index(len(next(iter(draws.values()))), max_draws, seed)
    return draws if idx is None else {k: v[idx] for k, v in draws.items()}


# ---------------------------------------------------------------------------- summaries
def interval(x, ci: float = CI, axis=None):
    """Median and central ``ci`` interval: ``(median, lower, upper)`` over ``axis``
    (floats for ``axis=None``, arrays otherwise)."""
    q = np.quantile(np.asarray(x, float), [0.5, (1 - ci) / 2, (1 + ci) / 2], axis=axis)
    if axis is None:
        return float(q[0]), float(q[1]), float(q[2])
    return q[0], q[1], q[2]


def summarize(x, ci: float = CI) -> dict:
    """``{"median", "lower", "upper", "mean", "sd"}`` of all values of ``x``."""
    x = np.asarray(x, float)
    m, lo, hi = interval(x, ci)
    return {"median": m, "lower": lo, "upper": hi, "mean": float(x.mean()), "sd": float(x.std())}


def bands(x, ci: float = CI) -> dict:
    """Per-column bands of draws ``(S, K)``: ``median, lower, upper, mean`` arrays ``(K,)``."""
    x = np.asarray(x, float)
    m, lo, hi = interval(x, ci, axis=0)
    return {"median": m, "lower": lo, "upper": hi, "mean": x.mean(axis=0)}


# ---------------------------------------------------------------------------- likelihood
def noise_log_const(sigma: np.ndarray, nu: np.ndarray | None) -> np.ndarray:
    """Normalising constant of the log-loss noise density (Normal, or Student-t with
    ``nu``), per draw."""
    if nu is None:
        return -np.log(sigma) - 0.5 * np.log(2 * np.pi)
    return gammaln((nu + 1) / 2) - gammaln(nu / 2) - 0.5 * np.log(nu * np.pi) - np.log(sigma)


def noise_loglik(y, mu, sigma, nu, const) -> np.ndarray:
    """Log density of observed log-losses ``y`` given law means ``mu`` (broadcasting):
    the likelihood of :mod:`distillaw.models` (``pm.StudentT`` / ``pm.Normal`` on log L),
    written once for the NumPy side (the planner's fantasies and :func:`distillaw.refit.update`)."""
    z = (y - mu) / sigma
    if nu is None:
        return const - 0.5 * z * z
    return const - 0.5 * (nu + 1.0) * np.log1p(z * z / nu)


def residual_scale_trend(resid, compute) -> tuple[float, float]:
    """How the size of the residuals changes with compute: ``b`` in
    ``resid ~ Normal(0, exp(a + b log10 compute))`` by maximum likelihood (natural-log units
    per decade: -0.46 means the residuals halve every decade), and ``b`` over its standard
    error. Fisher scoring, whose information is diagonal once ``log10 compute`` is centred:
    ``se(b) = 1 / sqrt(2 sum x^2)``, about 1.6x tighter than regressing ``log |r|`` on ``x``
    (40 runs over three decades whose noise falls 4x: 5 standard errors instead of 3). A
    single scale for every run (the iid model) is ``b = 0``; ``error="heteroscedastic"``
    learns ``b``. Fewer than 8 usable rows, or one compute, give ``(0, 0)``."""
    r = np.asarray(resid, float)
    x = np.log10(np.asarray(compute, float))
    ok = np.isfinite(r) & np.isfinite(x)
    r, x = r[ok], x[ok] - x[ok].mean()
    if r.size < 8 or not np.any(x) or not np.any(r):
        return 0.0, 0.0
    r2, sxx = r ** 2, float(x @ x)
    a, b = 0.5 * float(np.log(np.mean(r2))), 0.0
    for _ in range(50):
        u = r2 * np.exp(-2 * (a + b * x)) - 1.0  # score terms: d/da = 2 sum u, d/db = 2 sum xu
        da, db = float(u.mean()) / 2, float(x @ u) / (2 * sxx)
        a, b = a + da, b + db
        if abs(da) + abs(db) < 1e-12:
            break
    return b, float(b * np.sqrt(2 * sxx))
