r"""The peers' method, as a baseline: Huber fit on log-loss + bootstrap intervals.

This is the procedure of Hoffmann et al. (2022, approach 3) as replicated by Epoch AI
(Besiroglu et al. 2024) and used by Busbridge et al. (2025) for the distillation law:

- minimise :math:`\sum_i \mathrm{Huber}_\delta(\log \hat L_i - \log L_i)`, ``delta = 1e-3``,
  with the law evaluated in its log-sum-exp form;
- L-BFGS-B from every point of a grid of starts, best solution kept;
- bootstrap: resample the rows with replacement, refit from the full-data optimum (BFGS),
  and take percentile intervals of whatever is predicted.

The law is never written here: predictions go through :mod:`distillaw.laws` (the same
functions the PyMC models use), on PyTensor variables, and the gradient comes from PyTensor's
autodiff. So the baseline always fits exactly the formula the Bayesian model fits.

Supported: the supervised law (Chinchilla or Busbridge form) and the distillation law
(Eq. 8). For the distillation law the student's supervised loss ``Ltilde_S`` is fixed first,
as Busbridge et al. did: from a Huber fit of the supervised law on the table's supervised
rows when there are any, else from their published Table 6 coefficients.

Parameters are optimised on these scales (Epoch's parameterisation for Chinchilla):

- supervised: ``a = log A, b = log B, e = log E, alpha, beta`` (+ ``log gamma`` for the
  Busbridge form);
- distillation: the logs of ``A', B', alpha', beta', gamma', c0, c1, f1, d1``.

Example
-------
>>> from distillaw.simulate import shipped_supervised                     # doctest: +SKIP
>>> fit = huber_fit(shipped_supervised(), "supervised", form="chinchilla", grid="coarse")
>>> boot = fit.bootstrap(200, seed=0)                                       # doctest: +SKIP
>>> boot.loss_draws({"N": [1e10], "D": [2e11]}).shape                       # doctest: +SKIP
(200, 1)
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import pandas as pd
from scipy.optimize import minimize

from .errors import ModelError
from .laws.distillation import PARAMS as DIS_PARAMS
from .laws.distillation import log_distillation_loss
from .laws.supervised import log_supervised_loss

DELTA = 1e-3
GRIDS = ("full", "coarse")
# Hoffmann et al.'s grid of starts (as Epoch replicated it): 6 x 6 x 5 x 5 x 5 = 4500.
_SUP_GRID_FULL = (np.arange(0, 26, 5.0), np.arange(0, 26, 5.0), np.arange(-1, 1.01, 0.5),
                  np.arange(0, 2.01, 0.5), np.arange(0, 2.01, 0.5))
_SUP_GRID_COARSE = (np.array([0.0, 10, 20]), np.array([0.0, 10, 20]), np.array([-1.0, 0, 1]),
                    np.array([0.0, 1]), np.array([0.0, 1]))
_GAMMA_STARTS = (0.0, np.log(0.5))
SUP_THETA = ("log_A", "log_B", "log_E", "alpha", "beta", "log_gamma")
DIS_THETA = tuple(f"log_{p}" for p in DIS_PARAMS)


@lru_cache(maxsize=8)
def _objective(kind: str, delta: float):
    """Compiled ``theta, inputs -> (summed Huber loss, gradient)`` for one law.

    ``kind``: ``"chinchilla"``, ``"busbridge"`` (supervised forms) or ``"distillation"``.
    The prediction is the law's own log-space function from :mod:`distillaw.laws`.
    """
    import warnings

    with warnings.catch_warnings():
        # PyTensor warns on import that it found no BLAS; these graphs are elementwise.
        warnings.filterwarnings("ignore", message=".*could not link to a BLAS.*")
        import pytensor
        import pytensor.tensor as pt

    theta = pt.dvector("theta")
    y = pt.dvector("log_L")
    if kind == "distillation":
        lN, lD, lLT, lLt = (pt.dvector(n) for n in ("log_N", "log_D", "log_LT", "log_Lt"))
        ex = [pt.exp(theta[i]) for i in range(len(DIS_THETA))]
        pred = log_distillation_loss(
            lN, lD, lLT, lLt, log_A_prime=theta[0], log_B_prime=theta[1], alpha_prime=ex[2],
            beta_prime=ex[3], gamma_prime=ex[4], c0=ex[5], c1=ex[6], f1=ex[7],
            log_d1=theta[8])
        inputs = [lN, lD, lLT, lLt]
    else:
        lN, lD = pt.dvector("log_N"), pt.dvector("log_D")
        gamma = pt.exp(theta[5]) if kind == "busbridge" else 1.0
        pred = log_supervised_loss(lN, lD, log_E=theta[2], log_A=theta[0], log_B=theta[1],
                                   alpha=theta[3], beta=theta[4], gamma=gamma)
        inputs = [lN, lD]
    r = pred - y
    absr = pt.abs(r)
    loss = pt.switch(absr <= delta, 0.5 * r * r, delta * (absr - 0.5 * delta)).sum()
    grad = pt.grad(loss, theta)
    f = pytensor.function([theta, *inputs, y], [loss, grad])
    pred_f = pytensor.function([theta, *inputs], pred)
    return f, pred_f


def _minimise(f, theta0, args, method: str):
    # Tight tolerances: with delta = 1e-3 the summed Huber loss is tiny and flat, and
    # scipy's default tolerances stop L-BFGS-B near its start (the non-convergence Epoch
    # diagnosed in Hoffmann's fit); a bootstrap with default tolerances gives intervals
    # ~100x too narrow. These settings reproduce Epoch's bootstrap SEs.
    opts = ({"maxiter": 10000, "gtol": 1e-12, "ftol": 1e-15} if method == "L-BFGS-B"
            else {"gtol": 1e-8})

    def fun(t):
        v, g = f(t, *args)
        return float(v), np.asarray(g, float)

    with np.errstate(over="ignore", invalid="ignore"):
        res = minimize(fun, np.asarray(theta0, float), jac=True, method=method, options=opts)
    return res.x, float(res.fun)


def _sup_starts(form: str, grid: str) -> np.ndarray:
    axes = _SUP_GRID_FULL if grid == "full" else _SUP_GRID_COARSE
    if form == "busbridge":
        axes = (*axes, np.array(_GAMMA_STARTS))
    return np.array(list(itertools.product(*axes)), float)


def _dis_starts(grid: str, seed: int) -> np.ndarray:
    """Starts for the distillation law: Busbridge's published point and log-normal
    perturbations of it (a full grid over 9 parameters is not affordable)."""
    from .published import published

    point = published("busbridge2025").point()
    centre = np.log([point[p] for p in DIS_PARAMS])
    n = 64 if grid == "full" else 8
    rng = np.random.default_rng(seed)
    return np.vstack([centre, centre + rng.normal(0.0, 0.5, (n - 1, centre.size))])


@dataclass
class HuberFit:
    """A Huber point fit of one law to a run table (see the module docstring).

    ``theta`` is the optimum on the optimisation scales; :meth:`params` gives the
    natural-scale parameters under the canonical names; :meth:`bootstrap` gives the
    peers' intervals.
    """

    law: str
    form: str
    theta: np.ndarray
    objective: float
    n_starts: int
    table: pd.DataFrame = field(repr=False)
    sup_params: dict = field(default_factory=dict, repr=False)
    sup_source: str | None = None
    delta: float = DELTA

    @property
    def kind(self) -> str:
        return "distillation" if self.law == "distillation" else self.form

    def _args(self, table: pd.DataFrame) -> tuple:
        lN = np.log(table["N"].to_numpy(float))
        lD = np.log(table["D"].to_numpy(float))
        if self.law != "distillation":
            return (lN, lD)
        lLT = np.log(table["L_T"].to_numpy(float))
        lLt = np.log(_sup_loss(self.sup_params, table))
        return (lN, lD, lLT, lLt)

    def params(self, theta: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """Natural-scale parameters of ``theta`` (rows of draws allowed), canonical names."""
        t = np.atleast_2d(self.theta if theta is None else theta)
        if self.law == "distillation":
            out = {p: np.exp(t[:, i]) for i, p in enumerate(DIS_PARAMS)}
            out.update({k: np.broadcast_to(v, t.shape[:1]).copy()
                        for k, v in self.sup_params.items()})
            return out
        out = {"A": np.exp(t[:, 0]), "B": np.exp(t[:, 1]), "E": np.exp(t[:, 2]),
               "alpha": t[:, 3], "beta": t[:, 4]}
        out["gamma"] = np.exp(t[:, 5]) if self.form == "busbridge" else np.ones(len(t))
        return out

    def bootstrap(self, n_boot: int = 1000, *, seed: int = 0) -> HuberBootstrap:
        """Refit on ``n_boot`` resamples of the rows (BFGS from the optimum)."""
        if n_boot < 2:
            raise ModelError(f"n_boot must be >= 2, got {n_boot}")
        f, _ = _objective(self.kind, self.delta)
        args = self._args(self.table)
        y = np.log(self.table["L"].to_numpy(float))
        rng = np.random.default_rng(seed)
        n = len(y)
        thetas = np.empty((n_boot, self.theta.size))
        for i in range(n_boot):
            idx = rng.integers(0, n, n)
            thetas[i], _ = _minimise(f, self.theta, (*(a[idx] for a in args), y[idx]), "BFGS")
        return HuberBootstrap(self, thetas)

    def predict_log(self, points, theta: np.ndarray | None = None) -> np.ndarray:
        """Log-loss predictions ``(S, P)`` for rows of ``theta`` (default: the optimum)."""
        _, pred_f = _objective(self.kind, self.delta)
        table = _points(points, self.law)
        args = self._args(table)
        t = np.atleast_2d(self.theta if theta is None else theta)
        return np.vstack([pred_f(row, *args) for row in t])


@dataclass
class HuberBootstrap:
    """Bootstrap refits of a :class:`HuberFit`: the peers' uncertainty."""

    fit: HuberFit
    thetas: np.ndarray

    def loss_draws(self, points) -> np.ndarray:
        """Predicted loss ``(n_boot, P)`` at each point: one row per bootstrap refit.

        Percentile intervals of these are the peers' intervals (they carry parameter
        uncertainty only: the method has no noise model for a new run).
        """
        return np.exp(self.fit.predict_log(points, self.thetas))

    def params(self) -> dict[str, np.ndarray]:
        return self.fit.params(self.thetas)


def _points(points, law: str) -> pd.DataFrame:
    df = points if isinstance(points, pd.DataFrame) else pd.DataFrame(
        {k: np.atleast_1d(v) for k, v in points.items()})
    need = ("N", "D", "L_T") if law == "distillation" else ("N", "D")
    for c in need:
        if c not in df.columns or df[c].isna().any():
            raise ModelError(f"the Huber baseline needs column {c!r} on every row")
    return df.reset_index(drop=True)


def _sup_loss(sup: dict, table: pd.DataFrame) -> np.ndarray:
    from .laws.supervised import supervised_loss

    return np.asarray(supervised_loss(table["N"].to_numpy(float), table["D"].to_numpy(float),
                                      **sup), float).reshape(-1)


def huber_fit(table: pd.DataFrame, law: str = "supervised", *, form: str = "chinchilla",
              grid: str = "full", delta: float = DELTA, seed: int = 0,
              starts=None) -> HuberFit:
    """Huber fit of ``law`` on a run table, best of a grid of L-BFGS-B starts.

    Parameters
    ----------
    table : DataFrame
        A validated run table. Supervised law: its supervised rows. Distillation law: its
        distillation rows (``L_T`` required); the supervised rows, if any, fix ``Ltilde_S``.
    law : {"supervised", "distillation"}
    form : {"chinchilla", "busbridge"}
        Supervised-law form (also of ``Ltilde_S`` inside the distillation law).
    grid : {"full", "coarse"}
        ``full``: Hoffmann's 4500 starts (supervised) / 64 starts (distillation);
        ``coarse``: 108 / 8 starts, for quick runs.
    starts : array (k, p), optional
        Explicit starts on the optimisation scales (overrides ``grid``).
    """
    if law not in ("supervised", "distillation"):
        raise ModelError(f"the Huber baseline handles the supervised and distillation laws, "
                         f"not {law!r}")
    if form not in ("chinchilla", "busbridge"):
        raise ModelError(f"unknown form {form!r}; choose chinchilla or busbridge")
    if grid not in GRIDS:
        raise ModelError(f"unknown grid {grid!r}; choose one of {', '.join(GRIDS)}")
    kind = table["kind"].astype(str)
    sup = table[kind == "supervised"].reset_index(drop=True)
    if law == "supervised":
        if len(sup) < 6:
            raise ModelError(f"the Huber baseline needs at least 6 supervised rows, got {len(sup)}")
        starts = _sup_starts(form, grid) if starts is None else np.atleast_2d(starts)
        fit = HuberFit(law, form, np.zeros(starts.shape[1]), np.inf, len(starts), sup,
                       delta=delta)
    else:
        dist = table[kind == "distillation"].reset_index(drop=True)
        if len(dist) < 10:
            raise ModelError(f"the Huber baseline needs at least 10 distillation rows, "
                             f"got {len(dist)}")
        if len(sup) >= 6:
            sfit = huber_fit(sup, "supervised", form=form, grid=grid, delta=delta)
            sup_params = {k: float(v[0]) for k, v in sfit.params().items()}
            source = "Huber fit on the table's supervised rows"
        else:
            from .published import published

            point = published("busbridge2025").point()
            sup_params = {k: float(point[k]) for k in ("E", "A", "B", "alpha", "beta")}
            sup_params["gamma"] = float(point["gamma"]) if form == "busbridge" else 1.0
            source = "Busbridge et al. Table 6 (no supervised rows in the table)"
        starts = _dis_starts(grid, seed) if starts is None else np.atleast_2d(starts)
        fit = HuberFit(law, form, np.zeros(starts.shape[1]), np.inf, len(starts), dist,
                       sup_params=sup_params, sup_source=source, delta=delta)
    width = len(DIS_THETA) if law == "distillation" else 5 + (form == "busbridge")
    if starts.ndim != 2 or starts.shape[1] != width:
        raise ModelError(f"starts must have shape (k, {width}) for this law, got {starts.shape}")
    f, _ = _objective(fit.kind, delta)
    args = fit._args(fit.table)
    y = np.log(fit.table["L"].to_numpy(float))
    best, best_f = None, np.inf
    for start in starts:
        x, v = _minimise(f, start, (*args, y), "L-BFGS-B")
        if np.isfinite(v) and v < best_f:
            best, best_f = x, v
    if best is None:
        raise ModelError("the Huber baseline found no finite optimum from any start")
    fit.theta, fit.objective = best, best_f
    return fit


__all__ = ["DELTA", "GRIDS", "HuberBootstrap", "HuberFit", "huber_fit"]
