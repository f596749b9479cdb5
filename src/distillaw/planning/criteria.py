"""Gain estimators: importance re-weighting, linear-Gaussian, D-optimal."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from ..draws import noise_log_const, noise_loglik
from ..errors import PlanningError
from ..posterior import Posterior
from .settings import _CACHE_BYTES, _CHUNK_ELEMS

# ============================================================================ criterion
# The fit's likelihood on log-loss, written once in distillaw.draws (also used to fold
# finished runs into a posterior).
_loglik = noise_loglik
_ll_const = noise_log_const


class _Fantasies:
    """Scenario outcomes of every observable and their log-likelihood under every draw."""

    def __init__(self, mu_obs: np.ndarray, sigma: np.ndarray, nu: np.ndarray | None,
                 n_fantasies: int, rng: np.random.Generator):
        S, O = mu_obs.shape
        J = int(n_fantasies)
        self.S, self.O, self.J = S, O, J
        self.ref = rng.choice(S, J, replace=J > S)
        eps = (rng.standard_normal((J, O)) if nu is None
               else rng.standard_t(nu[self.ref][:, None], (J, O)))
        # sigma (S,) is one noise scale per draw; (S, O) a scale per draw and observable
        # (a heteroscedastic fit's noise at each run's compute)
        sigma = np.asarray(sigma, float)
        sigma = np.broadcast_to(sigma[:, None] if sigma.ndim == 1 else sigma, (S, O))
        self.y = mu_obs[self.ref] + sigma[self.ref] * eps  # (J, O)
        self.mu = mu_obs
        self.sigma = sigma
        self.nu = nu
        self.const = _ll_const(sigma, None if nu is None else nu[:, None])  # (S, O)
        self._cache = None
        if O * J * S * 4 <= _CACHE_BYTES:
            self._cache = np.stack([self._compute(o) for o in range(O)]).astype(np.float32)

    def _compute(self, o: int) -> np.ndarray:
        nu = None if self.nu is None else self.nu[None, :]
        return _loglik(self.y[:, o][:, None], self.mu[None, :, o], self.sigma[None, :, o], nu,
                       self.const[None, :, o])

    def ll(self, o: int) -> np.ndarray:
        """(J, S) log-likelihood of observable ``o``'s fantasy outcomes."""
        if self._cache is not None:
            return self._cache[o]
        return self._compute(o)

    def initial_logw(self) -> np.ndarray:
        logw = np.zeros((self.J, self.S))
        # Leave the reference draw out of its own scenario: independent inner/outer samples.
        if self.S > 1:
            logw[np.arange(self.J), self.ref] = -np.inf
        return logw


def _normalised(logw: np.ndarray) -> np.ndarray:
    lw = logw - logw.max(axis=-1, keepdims=True)
    # Weights below e^-40 of the largest change no sum; their denormal exponentials would
    # slow every later operation on the array by two orders of magnitude.
    w = np.exp(lw, out=np.zeros_like(lw), where=lw > -40.0)
    w /= w.sum(axis=-1, keepdims=True)
    return w


def _weighted_var(logw: np.ndarray, Tc: np.ndarray, Tc2: np.ndarray,
                  with_ess: bool = False):
    """Mean over scenarios and target points of the weighted variance; logw (..., J, S).

    With ``with_ess`` also the median over scenarios of the effective sample size."""
    w = _normalised(logw)
    # One 2-D GEMM: stacked (..., J, S) @ (S, P) matmuls are far slower in NumPy.
    flat = w.reshape(-1, w.shape[-1])
    shape = w.shape[:-1] + (Tc.shape[1],)
    m1 = (flat @ Tc).reshape(shape)
    m2 = (flat @ Tc2).reshape(shape)
    var = np.maximum(m2 - m1 * m1, 0.0).mean(axis=(-2, -1))
    if with_ess:
        return var, np.median(1.0 / (w * w).sum(axis=-1), axis=-1)
    return var


def _ess(logw: np.ndarray) -> np.ndarray:
    w = _normalised(logw)
    return 1.0 / (w * w).sum(axis=-1)


def expected_variance_reduction(mu: np.ndarray, target: np.ndarray, sigma, nu=None, *,
                                batch: Sequence[int] = (), n_fantasies: int = 256,
                                seed: int = 0) -> np.ndarray:
    """Expected reduction of the target's variance from observing each candidate, given
    ``batch`` already observed, by importance re-weighting of draws (see module docstring).

    Parameters
    ----------
    mu : (S, C) per-draw mean outcome of each candidate (log-loss).
    target : (S,) or (S, P) per-draw target.
    sigma, nu : noise scale and Student-t degrees of freedom, scalars or (S,); ``nu=None``
        for Normal noise.

    Returns
    -------
    (C,) expected variance reduction (averaged over target points).

    Example
    -------
    >>> rng = np.random.default_rng(1)
    >>> th = rng.standard_normal(2000)
    >>> g = expected_variance_reduction(np.c_[th, 0 * th], th, 1.0)
    >>> bool(abs(g[0] - 0.5) < 0.1), bool(abs(g[1]) < 0.02)
    (True, True)
    """
    mu = np.asarray(mu, float)
    S, C = mu.shape
    T = np.asarray(target, float).reshape(S, -1)
    sig = np.broadcast_to(np.asarray(sigma, float), (S,)).copy()
    nu_a = None if nu is None else np.broadcast_to(np.asarray(nu, float), (S,)).copy()
    fan = _Fantasies(mu, sig, nu_a, n_fantasies, np.random.default_rng(seed))
    Tc = T - T.mean(axis=0)
    Tc2 = Tc * Tc
    logw = fan.initial_logw()
    for b in batch:
        logw = logw + fan.ll(int(b))
    base = _weighted_var(logw, Tc, Tc2)
    return np.array([base - _weighted_var(logw + fan.ll(c), Tc, Tc2) for c in range(C)])


class _ImportanceState:
    def __init__(self, fan: _Fantasies, T: np.ndarray, cand_obs: list[list[int]]):
        self.fan = fan
        self.Tc = T - T.mean(axis=0)
        self.Tc2 = self.Tc * self.Tc
        self.cand_obs = cand_obs
        self.logw = fan.initial_logw()
        self.observed: set[int] = set()
        self.var0 = float(_weighted_var(self.logw, self.Tc, self.Tc2))
        self.current = self.var0

    def _new_obs(self, c: int) -> list[int]:
        return [o for o in self.cand_obs[c] if o not in self.observed]

    def scores(self, cands: np.ndarray) -> np.ndarray:
        J, S = self.logw.shape
        chunk = max(1, _CHUNK_ELEMS // (J * S))
        out = np.empty(len(cands))
        self.last_ess = np.empty(len(cands))
        for i in range(0, len(cands), chunk):
            sub = cands[i:i + chunk]
            lw = np.empty((len(sub), J, S))
            for m, c in enumerate(sub):
                lw[m] = self.logw
                for o in self._new_obs(int(c)):
                    lw[m] += self.fan.ll(o)
            var, ess = _weighted_var(lw, self.Tc, self.Tc2, with_ess=True)
            out[i:i + chunk] = self.current - var
            self.last_ess[i:i + chunk] = ess
        return out

    def update(self, c: int) -> None:
        for o in self._new_obs(c):
            self.logw = self.logw + self.fan.ll(o)
            self.observed.add(o)
        self.current = float(_weighted_var(self.logw, self.Tc, self.Tc2))


def _joint_cov(mu_obs: np.ndarray, T: np.ndarray, noise_var) -> np.ndarray:
    """Covariance over the draws of (target points, observables), the observables' noise
    (a scalar, or one variance per observable: heteroscedastic) on their diagonal."""
    P = T.shape[1]
    Z = np.concatenate([T, mu_obs], axis=1)
    cov = np.cov(Z, rowvar=False).reshape(Z.shape[1], Z.shape[1])
    cov[P:, P:] += np.diag(np.broadcast_to(np.asarray(noise_var, float), (mu_obs.shape[1],)))
    return cov


class _LinearState:
    """Gaussian conditioning of (target, outcomes) with moments from the draws."""

    def __init__(self, mu_obs: np.ndarray, T: np.ndarray, noise_var,
                 cand_obs: list[list[int]], extra_cov: np.ndarray | None = None):
        # noise_var: a scalar, or (O,) one per observable (heteroscedastic noise)
        P = T.shape[1]
        cov = _joint_cov(mu_obs, T, noise_var)
        if extra_cov is not None:  # the law's discrepancy (see _drift_cov)
            cov = cov + extra_cov
        self.cov = cov
        self.P = P
        self.cand_obs = cand_obs
        self.observed: set[int] = set()
        self.var0 = float(np.trace(cov[:P, :P]) / P)
        self.current = self.var0

    def _gain(self, obs: list[int]) -> float:
        idx = [self.P + o for o in obs if o not in self.observed]
        if not idx:
            return 0.0
        Soo = self.cov[np.ix_(idx, idx)]
        Sto = self.cov[:self.P, idx]
        sol = np.linalg.solve(Soo + 1e-15 * np.eye(len(idx)), Sto.T)
        return float(np.einsum("pi,ip->", Sto, sol) / self.P)

    def scores(self, cands: np.ndarray) -> np.ndarray:
        return np.array([self._gain(self.cand_obs[int(c)]) for c in cands])

    def update(self, c: int) -> None:
        for o in self.cand_obs[c]:
            if o in self.observed:
                continue
            i = self.P + o
            col = self.cov[:, i].copy()
            self.cov = self.cov - np.outer(col, col) / max(col[i], 1e-300)
            self.observed.add(o)
        self.current = float(np.trace(self.cov[:self.P, :self.P]) / self.P)


def _drift_cov(x: np.ndarray, anchor: float, tau: float) -> np.ndarray:
    """Covariance of the law's discrepancy at log computes ``x`` (targets, then
    observables): a Brownian motion in ``x = log N + log D`` anchored at the fitted data's
    compute frontier, scale ``tau`` per sqrt(e-fold) (the structured error model's
    ``tau_rw`` term, :mod:`distillaw.error_terms`)."""
    from ..error_terms import _bm

    return tau ** 2 * _bm(x, x, anchor)


class _AutoState:
    """Importance estimate while the draws support it, else the linear-Gaussian one.

    At each greedy step the importance gains are used when the median (over candidates) of
    the scenario-median effective sample size after adding a candidate is at least
    ``ess_min``; otherwise this step and all later ones use Gaussian conditioning (sticky,
    so one batch does not flip between estimators). ``modes`` records the choice per step.
    """

    def __init__(self, imp: _ImportanceState | None, lin, ess_min: float,
                 lin_name: str = "linear"):
        # lin: the Gaussian estimator, _LinearState or (criterion "mse") _MSEState
        self.imp, self.lin, self.ess_min = imp, lin, ess_min
        self.lin_name = lin_name
        self.mode = "importance" if imp is not None else "linear"
        self.modes: list[str] = []

    def scores(self, cands: np.ndarray) -> np.ndarray:
        if self.mode == "importance":
            g = self.imp.scores(cands)
            if self.lin is None or np.median(self.imp.last_ess) >= self.ess_min:
                self.modes.append("importance")
                return g
            self.mode = "linear"
        self.modes.append(self.lin_name)
        return self.lin.scores(cands)

    def update(self, c: int) -> None:
        for st in (self.imp, self.lin):
            if st is not None:
                st.update(c)

    @property
    def var0(self) -> float:
        return (self.imp or self.lin).var0

    @property
    def current(self) -> float:
        return (self.imp if self.mode == "importance" else self.lin).current


class _DOptState:
    """Pseudo-Bayesian D-optimality on finite-difference Jacobians over a subset of draws."""

    def __init__(self, jac: np.ndarray, noise_var, prior_prec: np.ndarray,
                 cand_obs: list[list[int]]):
        # jac: (O, R, p) Jacobians of each observable at R draws; noise_var scalar or (O,).
        nv = np.broadcast_to(np.asarray(noise_var, float), (jac.shape[0],))
        self.fisher = (np.einsum("orp,orq->opq", jac, jac)
                       / (jac.shape[1] * nv[:, None, None]))
        self.A = prior_prec
        self.cand_obs = cand_obs
        self.observed: set[int] = set()

    def scores(self, cands: np.ndarray) -> np.ndarray:
        _, ld0 = np.linalg.slogdet(self.A)
        Ms = np.stack([self.A + sum((self.fisher[o] for o in self.cand_obs[int(c)]
                                     if o not in self.observed), np.zeros_like(self.A))
                       for c in cands])
        _, ld = np.linalg.slogdet(Ms)
        return 0.5 * (ld - ld0)

    def update(self, c: int) -> None:
        for o in self.cand_obs[c]:
            if o not in self.observed:
                self.A = self.A + self.fisher[o]
                self.observed.add(o)


def _observables(posterior: Posterior, pool: pd.DataFrame, params_by_group: dict,
                 keys: np.ndarray):
    """Per-draw log means of every observable: candidates, then each new teacher's own run."""
    S = next(iter(next(iter(params_by_group.values())).values())).shape[0]
    mu_c = np.empty((S, len(pool)))
    for g, p in params_by_group.items():
        rows = np.flatnonzero(pool["_pgroup"].to_numpy() == g)
        if len(rows):
            mu_c[:, rows] = np.log(posterior.loss_draws(pool.iloc[rows], params=p))
    teachers = list(dict.fromkeys(k for k in keys if k is not None))
    mu_t = np.empty((S, len(teachers)))
    for j, key in enumerate(teachers):
        i = int(np.flatnonzero(keys == key)[0])
        row = pool.iloc[[i]]
        pts = pd.DataFrame({"kind": ["supervised"], "N": row["N_T"].to_numpy(float),
                            "D": row["D_T"].to_numpy(float)})
        mu_t[:, j] = np.log(posterior.loss_draws(pts, params=params_by_group[
            row["_pgroup"].iloc[0]]))[:, 0]
    tindex = {k: len(pool) + j for j, k in enumerate(teachers)}
    cand_obs = [[c] + ([tindex[keys[c]]] if keys[c] is not None else []) for c in range(len(pool))]
    return np.concatenate([mu_c, mu_t], axis=1), cand_obs, teachers


def _observable_points(pool: pd.DataFrame, keys: np.ndarray, teachers: list) -> pd.DataFrame:
    """(N, D) of every observable of :func:`_observables`, in its order: each candidate run
    (the student's for a distillation run), then each new teacher's own run."""
    n = pool["N"].to_numpy(float).tolist()
    d = pool["D"].to_numpy(float).tolist()
    for key in teachers:
        i = int(np.flatnonzero(keys == key)[0])
        n.append(float(pool["N_T"].iloc[i]))
        d.append(float(pool["D_T"].iloc[i]))
    return pd.DataFrame({"N": n, "D": d})


def _jacobians(posterior: Posterior, pool: pd.DataFrame, params_by_group: dict,
               keys: np.ndarray, rows: np.ndarray):
    """Finite-difference d log f / d log theta for every observable at draws ``rows``."""
    g0 = next(iter(params_by_group))
    names = [n for n, v in params_by_group[g0].items()
             if np.all(v > 0) and np.std(np.log(v)) > 1e-10]
    if not names:
        raise PlanningError("d-optimal: the posterior has no varying parameters")
    sub = {g: {n: v[rows] for n, v in p.items()} for g, p in params_by_group.items()}
    base, _, _ = _observables(posterior, pool, sub, keys)
    h = 1e-4
    jac = np.empty((base.shape[1], len(rows), len(names)))
    for i, n in enumerate(names):
        pert = {g: {**p, n: p[n] * np.exp(h)} for g, p in sub.items()}
        up, _, _ = _observables(posterior, pool, pert, keys)
        jac[:, :, i] = ((up - base) / h).T
    logs = np.log(np.column_stack([params_by_group[g0][n] for n in names]))
    cov = np.atleast_2d(np.cov(logs, rowvar=False))
    cov = cov + np.eye(len(names)) * 1e-10 * max(np.trace(cov), 1e-12)
    return np.nan_to_num(jac), np.linalg.inv(cov)


class _MSEState:
    """Expected squared error at the target of the law-only fit, discrepancy included.

    Box & Draper (1959): when the law is only an approximation, the error of a fit that
    takes it as exact is variance *plus bias*, and a design chosen for variance alone puts
    its runs where the law's parameters move most (far corners, many cheap runs), whose
    discrepancy then leaks into the prediction. Linearised (Gaussian conditioning with the
    draws' moments ``Sigma``), the fit after observing runs Z moves the target by
    ``G (y_Z - mu_Z)`` with ``G = Sigma_TZ Sigma_ZZ^-1``; with a discrepancy ``delta`` of
    covariance ``K`` that the fit does not model, its expected squared error is

        mean_p [Sigma_TT - G Sigma_ZT]_pp + mean_p [G K_ZZ G' - 2 G K_ZT + K_TT]_pp.

    A run helps when it shrinks the first term more than it grows the second: runs whose
    discrepancy is shared with the target's (close to it in compute and along its IsoFLOP)
    remove bias, runs far from it add their own. Adding one observable is a rank-one update
    of ``G`` (block inverse), so every candidate is scored in one vectorised step.
    """

    def __init__(self, mu_obs: np.ndarray, T: np.ndarray, noise_var,
                 cand_obs: list[list[int]], disc_cov: np.ndarray):
        P = T.shape[1]
        self.S, self.K, self.P = (_joint_cov(mu_obs, T, noise_var),
                                  np.asarray(disc_cov, float), P)
        self.cand_obs = cand_obs
        self.observed: list[int] = []
        self._refresh()
        self.var0 = self.current

    def _mse(self, Z: list[int]) -> tuple[float, np.ndarray]:
        """(expected squared error, gain matrix G) after observing observables ``Z``."""
        P, S, K = self.P, self.S, self.K
        t = np.arange(P)
        if not Z:
            return float(np.mean(np.diag(S)[:P] + np.diag(K)[:P])), np.zeros((P, 0))
        z = P + np.asarray(Z)
        Szz = S[np.ix_(z, z)] + 1e-15 * np.eye(len(z))
        G = np.linalg.solve(Szz, S[np.ix_(z, t)]).T  # (P, |Z|)
        var = np.diag(S)[:P] - np.einsum("pz,zp->p", G, S[np.ix_(z, t)])
        bias = (np.einsum("pz,zy,py->p", G, K[np.ix_(z, z)], G)
                - 2 * np.einsum("pz,zp->p", G, K[np.ix_(z, t)]) + np.diag(K)[:P])
        return float(np.mean(var + bias)), G

    def _refresh(self) -> None:
        self.current, self.G = self._mse(self.observed)
        z = self.P + np.asarray(self.observed, int)
        self._z = z
        Szz = self.S[np.ix_(z, z)] + 1e-15 * np.eye(len(z))
        self._A = np.linalg.inv(Szz) if len(z) else np.zeros((0, 0))

    def scores(self, cands: np.ndarray) -> np.ndarray:
        P, S, K, G, z = self.P, self.S, self.K, self.G, self._z
        t = np.arange(P)
        out = np.empty(len(cands))
        single = np.array([len([o for o in self.cand_obs[int(c)] if o not in self.observed])
                           == 1 for c in cands], bool)
        for i in np.flatnonzero(~single):  # a new teacher's run: two observables, exactly
            new = [o for o in self.cand_obs[int(cands[i])] if o not in self.observed]
            out[i] = self.current - self._mse(self.observed + new)[0] if new else 0.0
        if single.any():
            c = P + np.array([next(o for o in self.cand_obs[int(x)] if o not in self.observed)
                              for x in cands[single]])
            W = self._A @ S[np.ix_(z, c)]  # (|Z|, C)
            s = np.diag(S)[c] - np.einsum("zc,zc->c", S[np.ix_(z, c)], W)
            s = np.maximum(s, 1e-300)
            R = S[np.ix_(t, c)] - G @ S[np.ix_(z, c)]  # (P, C)
            HZ = K[np.ix_(z, z)] @ G.T - K[np.ix_(z, t)]  # (|Z|, P)
            Hc = K[np.ix_(c, z)] @ G.T - K[np.ix_(c, t)]  # (C, P)
            eh = Hc - W.T @ HZ  # (C, P)
            eKe = (np.einsum("zc,zc->c", W, K[np.ix_(z, z)] @ W)
                   - 2 * np.einsum("zc,zc->c", W, K[np.ix_(z, c)]) + np.diag(K)[c])
            g = R ** 2 / s - 2 * R * eh.T / s - R ** 2 * eKe / s ** 2
            out[single] = g.mean(axis=0)
        return out

    def update(self, c: int) -> None:
        new = [o for o in self.cand_obs[c] if o not in self.observed]
        if new:
            self.observed.extend(new)
            self._refresh()


def _surface_cov(z: np.ndarray, z_fit: np.ndarray, eta: float, ls, noise_var: float
                 ) -> np.ndarray:
    """Covariance at points ``z`` (rows of (log10 N, log10 D)) of a smooth discrepancy
    surface (squared-exponential, sd ``eta``, length scales ``ls`` in decades: the
    ``error="gp"`` model's kernel) given its values at the fitted rows ``z_fit``, seen with
    noise variance ``noise_var``: near the fitted data it is pinned, away from it it
    reverts to ``eta``."""
    ls = np.broadcast_to(np.asarray(ls, float), (2,))

    def k(a, b):
        d = (a[:, None, :] - b[None, :, :]) / ls
        return eta ** 2 * np.exp(-0.5 * np.einsum("abk,abk->ab", d, d))

    Kzz = k(z, z)
    if not len(z_fit):
        return Kzz
    Kff = k(z_fit, z_fit) + noise_var * np.eye(len(z_fit))
    Kzf = k(z, z_fit)
    return Kzz - Kzf @ np.linalg.solve(Kff, Kzf.T)
