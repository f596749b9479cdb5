"""Closed-loop benchmark of the planner: active vs random vs log-grid vs D-optimal.

Refits (issue 13): by default part A runs the product's own path, the one ``distillaw plan
--observed`` uses: ``distillaw.fit`` once on the seed design (default priors, Student-t
likelihood, the default heteroscedastic error model), then after every round
``distillaw.refit.update`` (importance re-weighting of the draws while their ESS is at least
150, a NUTS refit with the same priors otherwise). Benchmark and product are one code path.
``--refit mcmc`` keeps this script's older ensemble MCMC (its own Normal likelihood and
priors: fast, but a model no user fits); part B runs only with it. The pool/target protocol
on the product's path is ``bench/pool_target.py``.

Part A (simulated truth, ``distillaw.simulate``): a Chinchilla-form and a Busbridge-form
supervised ground truth. Start from a small seed design of cheap runs, then repeat
plan -> simulate -> refit. Compare methods by the compute needed to reach a given width of
the target's 90% interval and by the error of the target (log loss at three points around
the truth's compute-optimal allocation for 1e23 FLOPs, i.e. the decision-relevant region).

Part B (digitised Busbridge data, ``../shared/data/busbridge_distillation_digitized``):
pool = train split, target = test split. Each method picks runs from the pool in rounds
until it has spent 1%, 5%, 10% or 20% of the pool's total cost; a distillation-law
posterior fitted on what it picked predicts the test split; R^2 and RMSE of log-loss.

``--refit mcmc``: NUTS takes ~20-35 s per fit here and part B needs ~700 refits, so that
mode refits every method with the same cheap but exact-in-the-limit sampler: a NumPy
affine-invariant ensemble MCMC
(Goodman & Weare stretch move, as in emcee; 96 walkers) on the exact posterior (Normal
likelihood on log-loss with a fitted sigma, Normal priors on log-parameters). The first
fit runs 1500 steps from a Laplace ball at the MAP; later rounds run 300 steps warm-started
from the previous round's draws (a long cold chain on a final active design gave the same
target median and width within a few per cent). ``--refit nuts`` runs ``distillaw.fit`` from
scratch every round (slow: use ``--seeds 1 --max-rounds 4``).

Measured on the product's path (2026-12-01, ``python bench/active_loop.py --part a``: 3
seeds, 5 runs per round, 2e19 FLOPs per round, 4e19 cap; 48 NUTS fits and 95 re-weighted
updates in 632 s on 2 cores). Error of the target's median (log loss, RMSE over its three
points), median over seeds, at equal compute spent after the seed design:

=============  =========================  =========================
truth form     active at 1e19/2e19/4e19   random at 1e19/2e19/4e19
=============  =========================  =========================
Chinchilla     0.032 / 0.020 / 0.018      0.045 / 0.045 / 0.025
Busbridge      0.117 / 0.047 / 0.017      0.112 / 0.071 / 0.036
=============  =========================  =========================

Active reaches random's error for half the compute on the Chinchilla-form truth (at 5e18,
1e19 and 2e19 against random at twice that) but not on the Busbridge-form truth, where its
advantage only shows at 2e19 and beyond (2.1x lower error at 4e19). On the width of the
target's interval active is no better than random for half the compute on either (compute
ratios 0.8-1.4). D-optimal per FLOP buys the cheapest runs round after round (60 runs for
6.5e18 FLOPs) and stalls at errors of 0.04-0.09.

Re-measured 2026-12-07 (same command, plus ``--methods active-mse``: the product default
since then, criterion ``mse``; ``active`` here is criterion ``importance``, the law taken as
exact; ``active-linear`` the earlier default). Error at 2e19 / 4e19, median over 3 seeds:
Chinchilla-form truth: mse 0.100 / 0.079, linear 0.083 / 0.084, importance 0.020 / 0.014,
random 0.045 / 0.005; Busbridge-form truth: mse 0.020 / 0.027, linear 0.021 / 0.061,
importance 0.047 / 0.021, random 0.071 / 0.039. These truths *are* the fitted law (no
misfit), which is where charging runs for misfit cannot pay: mse buys 4-8 runs near the
target where importance buys 14-26, and is no better than the variance-only default; on
Epoch's real pool (``bench/pool_target.py``) it is what beats both.

With ``--refit mcmc`` part A's priors are deliberately not centred on the truth (Chinchilla
truth: prior centred on Epoch AI's refit; Busbridge-form truth: a shifted guess), so designs
that leave the target to the prior pay for it in error. The product's path uses the
package's default priors: centred on Epoch AI's refit for the Chinchilla form (not the
Chinchilla truth), and on Busbridge et al.'s Table 6 for the Busbridge form, which is that
truth: there every method starts from a prior centred on the answer, and the differences
between methods are smaller for it. Part B's prior is centred on shifted Table 6 values (the
published ones were fitted on these very runs).

Usage::

    .venv/bin/python bench/active_loop.py --part a   # the product's path, 3 seeds (~11 min)
    .venv/bin/python bench/active_loop.py --quick    # smoke run (1 seed, fewer rounds)
    .venv/bin/python bench/active_loop.py --refit mcmc   # the older own-model loop, parts A+B
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.optimize import minimize

from distillaw import published
from distillaw.laws import (
    DISTILLATION_PARAMS,
    SUPERVISED_PARAMS,
    distillation_loss,
    supervised_loss,
)
from distillaw.laws.compute import DEFAULT_FLOPS, forward_flops
from distillaw.loaders import load
from distillaw.planning import METHODS, candidate_grid, plan, pool_costs
from distillaw.posterior import Posterior
from distillaw.simulate import simulate_supervised

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data" / "busbridge_distillation_digitized"
SUP = SUPERVISED_PARAMS
DIS = DISTILLATION_PARAMS


# ============================================================================ refit
class Refit:
    """Posterior draws for a fixed prior by Laplace-proposal importance sampling.

    Parameters are positive; sampled as ``phi = log(theta)`` with Normal priors
    ``phi_i ~ N(m_i, s_i)``; ``sigma`` (log-loss noise) has prior ``log sigma ~ N(m, s)``.
    """

    def __init__(self, law: str, prior: dict[str, tuple[float, float]], fixed: dict | None = None):
        self.law = law
        self.names = list(prior)
        self.m = np.array([prior[n][0] for n in self.names])
        self.s = np.array([prior[n][1] for n in self.names])
        self.fixed = dict(fixed or {})

    def _params(self, phi: np.ndarray) -> dict:
        p = {n: np.exp(phi[:, i]) for i, n in enumerate(self.names)}
        for n, v in self.fixed.items():
            p[n] = np.full(phi.shape[0], float(v))
        return p

    @staticmethod
    def arrays(data: pd.DataFrame) -> dict:
        """Inputs of the rows as (1, n) arrays, built once per refit."""
        a = {c: data[c].to_numpy(float)[None, :] for c in ("N", "D", "L_T")}
        a["dist"] = (data["kind"] == "distillation").to_numpy()[None, :]
        a["n"] = len(data)
        return a

    def _log_mean(self, data: dict, p: dict) -> np.ndarray:
        """log f(x; theta) for every row and parameter vector, calling the laws directly
        (Posterior.loss_draws would rebuild a DataFrame per call: too slow inside MCMC)."""
        a = data
        col = {k: v[:, None] for k, v in p.items()}
        sup = {k: col[k] for k in SUP}
        L_sup = supervised_loss(a["N"], a["D"], **sup)
        if self.law == "supervised":
            return np.log(L_sup)
        LT = np.where(np.isnan(a["L_T"]), 2.0, a["L_T"])
        L_dis = distillation_loss(a["N"], a["D"], LT, L_sup, **{k: col[k] for k in DIS})
        return np.log(np.where(a["dist"], L_dis, L_sup))

    def logpost(self, phi: np.ndarray, data: dict, y: np.ndarray) -> np.ndarray:
        phi = np.atleast_2d(phi)
        p = self._params(phi)
        lp = -0.5 * (((phi - self.m) / self.s) ** 2).sum(axis=1)
        if data["n"] == 0:
            return lp
        with np.errstate(all="ignore"):
            mu = self._log_mean(data, p)
        sig = p["sigma"][:, None]
        ll = (-0.5 * ((y[None, :] - mu) / sig) ** 2 - np.log(sig)).sum(axis=1)
        out = lp + ll
        return np.where(np.isfinite(out), out, -np.inf)

    def laplace_init(self, data: pd.DataFrame, *, walkers: int, seed: int = 0,
                     starts: int = 6) -> np.ndarray:
        """Walkers from a Gaussian at the MAP with the inverse Hessian (Laplace)."""
        rng = np.random.default_rng(seed)
        y = np.log(data["L"].to_numpy(float)) if len(data) else np.zeros(0)
        data = self.arrays(data)
        d = len(self.names)

        def f(phi):
            v = -float(self.logpost(phi[None, :], data, y)[0])
            return v if np.isfinite(v) else 1e300

        def grad(phi, h=1e-5):
            pts = np.vstack([phi + h * np.eye(d), phi - h * np.eye(d)])
            v = -self.logpost(pts, data, y)
            g = (v[:d] - v[d:]) / (2 * h)
            return np.where(np.isfinite(g), g, 0.0)

        x0s = [self.m] + [self.m + self.s * rng.standard_normal(d) * 0.5 for _ in range(starts - 1)]
        best = None
        for x0 in x0s:
            r = minimize(f, x0, jac=grad, method="L-BFGS-B")
            if np.isfinite(r.fun) and (best is None or r.fun < best.fun):
                best = r
        mode = best.x
        # Hessian of -log posterior by central differences of the gradient.
        h = 1e-4
        H = np.empty((d, d))
        for i in range(d):
            e = np.zeros(d)
            e[i] = h
            H[i] = (grad(mode + e) - grad(mode - e)) / (2 * h)
        H = 0.5 * (H + H.T)
        w, V = np.linalg.eigh(H)
        w = np.maximum(w, 1e-6)
        cov = (V / w) @ V.T
        L = np.linalg.cholesky(cov + 1e-12 * np.eye(d))
        z = rng.standard_normal((walkers, d))
        return mode + z @ L.T

    def sample(self, data: pd.DataFrame, *, draws: int = 600, seed: int = 0,
               init: Posterior | None = None, walkers: int = 96, steps: int = 800,
               keep: int = 200) -> tuple[Posterior, dict]:
        """Affine-invariant ensemble MCMC (Goodman & Weare stretch move, as in emcee),
        vectorised over walkers. Starts from ``init``'s draws (warm start: the previous
        round's posterior) or from a Laplace ball around the MAP; the last ``keep`` steps
        are thinned to ``draws`` draws."""
        rng = np.random.default_rng(seed)
        raw = data
        y = np.log(data["L"].to_numpy(float)) if len(data) else np.zeros(0)
        data = self.arrays(data)
        d = len(self.names)
        if init is not None:
            p0 = init.param_draws()
            n0 = init.noise_draws()
            src = np.column_stack([np.log(n0["sigma"] if n == "sigma" else p0[n])
                                   for n in self.names])
            X = src[rng.choice(len(src), walkers, replace=len(src) < walkers)]
            X = X + 1e-3 * rng.standard_normal(X.shape)  # break ties of resampled draws
        else:
            X = self.laplace_init(raw, walkers=walkers, seed=seed)
        lp = self.logpost(X, data, y)
        half = walkers // 2
        a = 2.0
        acc = 0
        kept = []
        for t in range(steps):
            for first in (True, False):
                S_idx = np.arange(half) if first else np.arange(half, walkers)
                C_idx = np.arange(half, walkers) if first else np.arange(half)
                zz = ((a - 1.0) * rng.random(len(S_idx)) + 1.0) ** 2 / a
                partner = X[rng.choice(C_idx, len(S_idx))]
                Y = partner + zz[:, None] * (X[S_idx] - partner)
                lpY = self.logpost(Y, data, y)
                logr = (d - 1) * np.log(zz) + lpY - lp[S_idx]
                ok = np.log(rng.random(len(S_idx))) < logr
                X[S_idx[ok]] = Y[ok]
                lp[S_idx[ok]] = lpY[ok]
                acc += int(ok.sum())
            if t >= steps - keep:
                kept.append(X.copy())
        chain = np.stack(kept)  # (keep, walkers, d)
        flat = chain.reshape(-1, d)
        idx = np.sort(rng.choice(len(flat), min(draws, len(flat)), replace=False))
        p = self._params(flat[idx])
        return Posterior.from_params(self.law, p), {"acceptance": acc / (steps * walkers)}


class NutsRefit:
    """Refit with the package's own NUTS (``distillaw.fit``) and default priors."""

    def __init__(self, form: str):
        self.form = form

    def sample(self, data, *, draws=300, seed=0, init=None, steps=None, **_):
        from distillaw import fit

        post = fit(data, "supervised", form=self.form, draws=300, tune=300, chains=2,
                   seed=seed, progressbar=False)
        d = post.diagnostics()
        return post, {"acceptance": float("nan"), "r_hat_max": d["r_hat_max"],
                      "divergences": d["divergences"]}


class ProductRefit:
    """The product's own path, as ``distillaw plan --observed`` runs it: the first posterior
    is ``distillaw.fit`` (default priors, Student-t likelihood, the default error model);
    every later round folds the new runs in with :func:`distillaw.refit.update` (importance
    re-weighting of the draws while their ESS stays at least ``ess_min``, else a NUTS refit
    with the same priors)."""

    def __init__(self, form: str, ess_min: float = 150.0):
        self.form = form
        self.ess_min = ess_min
        self.refits = 0
        self.updates = 0

    def sample(self, data, *, draws=300, seed=0, init=None, steps=None, **_):
        from distillaw import fit
        from distillaw.refit import update

        kw = {"draws": 300, "tune": 300, "chains": 2, "progressbar": False,
              "extrapolation": "none"}
        if init is None:
            post = fit(data, "supervised", form=self.form, seed=seed, **kw)
            self.refits += 1
            how = "fit"
        else:
            seen = set(init.fitted_rows()["run_id"].astype(str))
            new = data[~data["run_id"].astype(str).isin(seen)]
            up = update(init, new, ess_min=self.ess_min, seed=seed, fit_kwargs=kw)
            post, how = up.posterior, up.method
            self.refits += how == "refit"
            self.updates += 1
        d = post.diagnostics() if how != "reweight" else {}
        return post, {"acceptance": float("nan"), "how": how,
                      "r_hat_max": d.get("r_hat_max"), "divergences": d.get("divergences")}


# ============================================================================ helpers
def width90(draws: np.ndarray) -> np.ndarray:
    q = np.quantile(draws, [0.05, 0.95], axis=0)
    return q[1] - q[0]


def compute_optimal_points(params: dict, C: float) -> pd.DataFrame:
    """Three points on the truth's iso-FLOP curve at C: N*/2, N*, 2N*."""
    post = Posterior.from_params("supervised", params)
    logN = np.linspace(np.log(1e8), np.log(1e12), 2000)
    N = np.exp(logN)
    D = C / (3 * forward_flops(N, DEFAULT_FLOPS))
    L = post.loss_draws({"N": N, "D": D})[0]
    n = N[int(np.argmin(L))]
    Ns = np.array([n / 2, n, 2 * n])
    return pd.DataFrame({"N": Ns, "D": C / (3 * forward_flops(Ns, DEFAULT_FLOPS))})


def first_reach(spent: np.ndarray, metric: np.ndarray, level: float) -> float:
    """Compute at which ``metric`` first falls to ``level`` (log-interpolated), else inf."""
    below = np.flatnonzero(metric <= level)
    if not len(below):
        return np.inf
    i = below[0]
    if i == 0:
        return spent[0]
    # linear interpolation in compute between the last round above the level and this one
    fa, fb = metric[i - 1], metric[i]
    t = (fa - level) / (fa - fb) if fa != fb else 1.0
    return float(spent[i - 1] + t * (spent[i] - spent[i - 1]))


# ============================================================================ part A
TRUTHS = {
    # truth, prior centre (a different published fit or a shifted truth), prior sds
    "chinchilla": dict(
        truth=published("chinchilla2022").point(),
        centre={**published("epoch2024").point()},
        sd={"E": 0.2, "A": 1.5, "B": 1.5, "alpha": 0.3, "beta": 0.3}),
    "busbridge": dict(
        truth=published("busbridge2025").supervised(),
        centre={"E": 1.35, "A": 2000.0, "B": 40000.0, "alpha": 0.38, "beta": 0.46, "gamma": 0.5},
        sd={"E": 0.2, "A": 1.5, "B": 1.5, "alpha": 0.3, "beta": 0.3, "gamma": 0.3}),
}
SEED_DESIGN = [(2e7, 5), (2e7, 40), (5e7, 20), (1.2e8, 10), (1.2e8, 40)]


def run_part_a(seeds, cap, max_rounds, k, round_budget, draws, methods, log, refit="mcmc",
               truths=tuple(TRUTHS)):
    """Closed loop per truth, seed and method until ``cap`` FLOPs beyond the seed design
    are spent (or ``max_rounds``)."""
    rows = []
    pool = candidate_grid(N=np.geomspace(2e7, 3e9, 9), M=[5, 10, 20, 40, 80, 160])
    for tname in truths:
        spec = TRUTHS[tname]
        truth = spec["truth"]
        prior = {n: (np.log(spec["centre"][n]), spec["sd"][n]) for n in spec["sd"]}
        prior["sigma"] = (np.log(0.02), 0.7)
        fixed = {} if "gamma" in spec["sd"] else {"gamma": 1.0}
        model = Refit("supervised", prior, fixed)
        if refit == "nuts":
            model = NutsRefit("busbridge" if "gamma" in spec["sd"] else "chinchilla")
        elif refit == "product":
            model = ProductRefit("busbridge" if "gamma" in spec["sd"] else "chinchilla")
        tgt = compute_optimal_points(truth, 1e23)
        true_T = np.log(Posterior.from_params("supervised", truth).loss_draws(tgt)[0])
        for seed in seeds:
            seed_runs = simulate_supervised(truth, [n for n, _ in SEED_DESIGN],
                                            [n * m for n, m in SEED_DESIGN], sigma=0.01,
                                            seed=10_000 + seed, prefix=f"seed{seed}")
            cold, fi0 = model.sample(seed_runs, draws=draws, seed=seed, steps=COLD_STEPS)
            for method in methods:
                t0 = time.perf_counter()
                data = seed_runs.copy()
                spent = 0.0
                post, fi = cold, fi0
                hist = []
                r = 0
                while True:
                    T = np.log(post.loss_draws(tgt))
                    hist.append({"truth": tname, "seed": seed, "method": method, "round": r,
                                 "spent": spent, "width": float(width90(T).mean()),
                                 "error": float(np.sqrt(np.mean(
                                     (np.median(T, axis=0) - true_T) ** 2))),
                                 "acc": fi["acceptance"], "n_runs": len(data),
                                 "refits": getattr(model, "refits", 0),
                                 "updates": getattr(model, "updates", 0)})
                    if spent >= cap or r >= max_rounds:
                        break
                    m, crit = (method, "importance")
                    if method in ("active-linear", "active-mse"):
                        m, crit = "active", method.split("-")[1]
                    p = plan(post, pool, target=tgt, k=k, budget=min(round_budget, cap - spent),
                             method=m, criterion=crit, seed=seed * 100 + r, draws=draws,
                             existing=data, run_prefix=f"r{r}")
                    r += 1
                    if len(p.runs) == 0:
                        break
                    new = simulate_supervised(truth, p.runs["N"], p.runs["D"], sigma=0.01,
                                              seed=seed * 100_000 + r * 10
                                              + METHODS_ALL.index(method), prefix=f"r{r}")
                    data = pd.concat([data, new], ignore_index=True)
                    spent += float(p.total_cost)
                    post, fi = model.sample(data, draws=draws, seed=seed * 100 + r,
                                            init=post, steps=WARM_STEPS)
                rows += hist
                log(f"  A {tname:<10} seed {seed} {method:<14} rounds {r:>2} runs "
                    f"{len(data) - len(seed_runs):>3} spent {spent:.3g} width "
                    f"{hist[-1]['width']:.4f} error {hist[-1]['error']:.4f} "
                    f"({time.perf_counter() - t0:.1f}s, acceptance "
                    f"{min(h['acc'] for h in hist):.2f}-{max(h['acc'] for h in hist):.2f})")
    return pd.DataFrame(rows)


def _state_at(s: pd.DataFrame, level: float) -> pd.Series:
    """The loop's state after the last round that had spent at most ``level`` FLOPs."""
    return s[s["spent"] <= level * (1 + 1e-9)].iloc[-1]


def summarise_part_a(df: pd.DataFrame, levels=(5e18, 1e19, 2e19, 4e19)) -> str:
    out = []
    for tname, g in df.groupby("truth", sort=False):
        seed_width = g[g["round"] == 0]["width"].median()
        fracs = (0.8, 0.65, 0.5)
        out.append(f"\n[{tname}-form truth] target: log loss at 3 points around the truth's "
                   f"compute-optimal allocation for 1e23 FLOPs; seed-design 90% width "
                   f"{seed_width:.4f}. Compute = FLOPs spent after the common seed design; "
                   "medians over seeds.")
        out.append(f"{'method':<15}" + "".join(f"{f'C to width<={f:.0%}':>18}" for f in fracs)
                   + "".join(f"{f'err@{c:.0e}':>11}" for c in levels)
                   + "".join(f"{f'wid@{c:.0e}':>11}" for c in levels))
        reach, err, wid = {}, {}, {}
        for method, gm in g.groupby("method", sort=False):
            # width levels relative to each seed's own seed-design width
            reach[method] = [float(np.median([first_reach(
                sg["spent"].to_numpy(), sg["width"].to_numpy(),
                f * sg["width"].iloc[0]) for _, sg in gm.groupby("seed")])) for f in fracs]
            err[method] = [float(np.median([_state_at(sg, c)["error"]
                                            for _, sg in gm.groupby("seed")])) for c in levels]
            wid[method] = [float(np.median([_state_at(sg, c)["width"]
                                            for _, sg in gm.groupby("seed")])) for c in levels]
            out.append(f"{method:<15}" + "".join(f"{v:>18.3g}" for v in reach[method])
                       + "".join(f"{v:>11.4f}" for v in err[method])
                       + "".join(f"{v:>11.4f}" for v in wid[method]))
        if "random" not in reach:
            continue
        out.append("ratios vs random: compute random needs / compute method needs for each "
                   "width level (>= 2 meets the goal); random's error / method's error at "
                   "equal compute")
        for method in reach:
            if method == "random":
                continue
            rr = [(a / b if np.isfinite(a) and np.isfinite(b) and b > 0 else
                   (np.inf if np.isfinite(b) else np.nan)) for a, b in zip(reach["random"],
                                                                         reach[method],
                                                                         strict=True)]
            er = [a / b for a, b in zip(err["random"], err[method], strict=True)]
            out.append(f"  {method:<13}" + "".join(f"{x:>18.2f}" for x in rr)
                       + "".join(f"{x:>11.2f}" for x in er))
        out.append("same target error for half the compute? method's error at C vs random's "
                   "at 2C:")
        for method in reach:
            if method == "random":
                continue
            msg = []
            for i, c in enumerate(levels[:-1]):
                j = levels.index(2 * c) if 2 * c in levels else None
                if j is None:
                    continue
                ok = err[method][i] <= err["random"][j]
                msg.append(f"C={c:.0e}: {err[method][i]:.4f} vs {err['random'][j]:.4f} "
                           f"({'yes' if ok else 'no'})")
            out.append(f"  {method:<13} " + "; ".join(msg))
    return "\n".join(out)


# ============================================================================ part B
def busbridge_prior():
    """Prior for part B. The published Table 6 values were fitted on (a superset of) these
    very runs, so centring on them would leak the test split: the distillation coefficients'
    prior is centred on deliberately shifted values with wide log-scale sds. The supervised
    coefficients (no supervised rows in this table) are fixed at Table 6."""
    p = published("busbridge2025").point()
    shift = {"A_prime": 2.0, "B_prime": 0.5, "alpha_prime": 1.15, "beta_prime": 0.85,
             "gamma_prime": 1.1, "c0": 0.8, "c1": 1.0, "f1": 1.2, "d1": 1.03}
    sd = {"A_prime": 1.0, "B_prime": 1.0, "alpha_prime": 0.25, "beta_prime": 0.25,
          "gamma_prime": 0.25, "c0": 0.3, "c1": 0.5, "f1": 0.3, "d1": 0.05}
    prior = {n: (np.log(p[n] * shift[n]), sd[n]) for n in shift}
    prior["sigma"] = (np.log(0.02), 0.7)
    return prior, {k: p[k] for k in SUP}


def run_part_b(seeds, fractions, k, max_rounds, draws, methods, log):
    """One trajectory per method and seed; the state is recorded when the spend reaches
    each budget fraction (rounds are sized to land on the checkpoints)."""
    train = load(SHARED / "train-00000-of-00001.csv")
    test = load(SHARED / "test-00000-of-00001.csv")
    y_test = np.log(test["L"].to_numpy(float))
    target = test.assign(L=np.nan)
    pool_all = train.assign(L=np.nan)
    cost = pool_costs(pool_all)["run"]
    total = float(cost.sum())
    prior, fixed = busbridge_prior()
    model = Refit("distillation", prior, fixed)
    cheap = np.flatnonzero(cost <= np.quantile(cost, 0.3))
    rows = []

    def score(post):
        pred = np.median(np.log(post.loss_draws(test)), axis=0)
        rmse = float(np.sqrt(np.mean((pred - y_test) ** 2)))
        r2 = float(1 - np.sum((pred - y_test) ** 2) / np.sum((y_test - y_test.mean()) ** 2))
        return rmse, r2

    for seed in seeds:
        seed_idx = np.random.default_rng(500 + seed).choice(cheap, 6, replace=False)
        seed_ids = list(train["run_id"].iloc[seed_idx])
        cold, fi0 = model.sample(train.iloc[seed_idx], draws=draws, seed=seed, steps=COLD_STEPS)
        rmse0, r20 = score(cold)
        rows.append({"fraction": 0.0, "seed": seed, "method": "seed design", "runs": 0,
                     "spent": 0.0, "rmse": rmse0, "r2": r20, "acc": fi0["acceptance"]})
        for method in methods:
            if method == "active-mse":  # part B's own-model posteriors store no fitted rows
                continue
            t0 = time.perf_counter()
            chosen = list(seed_ids)
            spent, post, accs, r = 0.0, cold, [fi0["acceptance"]], 0
            for frac in fractions:
                goal = frac * total
                while spent < goal * 0.999 and r < max_rounds:
                    avail = pool_all[~pool_all["run_id"].isin(chosen)]
                    m, crit = (method, "auto")
                    if method == "active-linear":
                        m, crit = "active", "linear"
                    p = plan(post, avail, target=target, k=k, budget=goal - spent, method=m,
                             criterion=crit, seed=seed * 100 + r, draws=draws, n_fantasies=32,
                             existing=train[train["run_id"].isin(chosen)], run_prefix=f"r{r}")
                    r += 1
                    if len(p.runs) == 0:
                        break
                    # the plan renames runs: map back to pool rows by configuration
                    key = avail.set_index(["N", "D", "L_T"])["run_id"]
                    for kk in zip(p.runs["N"], p.runs["D"], p.runs["L_T"], strict=True):
                        hit = key.loc[kk]
                        chosen.append(hit if np.ndim(hit) == 0 else hit.iloc[0])
                    spent += float(p.total_cost)
                    post, fr = model.sample(train[train["run_id"].isin(chosen)], draws=draws,
                                            seed=seed * 100 + r, init=post, steps=WARM_STEPS)
                    accs.append(fr["acceptance"])
                rmse, r2 = score(post)
                rows.append({"fraction": frac, "seed": seed, "method": method,
                             "runs": len(chosen) - len(seed_ids), "spent": spent, "rmse": rmse,
                             "r2": r2, "acc": min(accs)})
            log(f"  B seed {seed} {method:<14} " + " ".join(
                f"{x['fraction']:.0%}:{x['rmse']:.4f}" for x in rows[-len(fractions):])
                + f" ({time.perf_counter() - t0:.1f}s, {r} rounds, min acceptance "
                  f"{min(accs):.2f})")
    return pd.DataFrame(rows), total


def summarise_part_b(df: pd.DataFrame, total: float) -> str:
    out = [f"\n[digitised Busbridge] pool = train split (328 runs, total cost {total:.3g} "
           "FLOPs of student training), target = test split (26 runs); medians over seeds"]
    sd = df[df["method"] == "seed design"]
    out.append(f"common seed design (6 cheap runs, not charged): RMSE {sd['rmse'].median():.4f}, "
               f"R^2 {sd['r2'].median():.3f}")
    df = df[df["method"] != "seed design"]
    out.append(f"{'budget':>7} {'method':<15}{'runs':>6}{'spent':>8}{'RMSE(log L)':>13}"
               f"{'R^2':>8}{'RMSE/random':>13}")
    for frac, g in df.groupby("fraction"):
        rnd = g[g["method"] == "random"]["rmse"].median()
        for method, gm in g.groupby("method", sort=False):
            out.append(f"{frac:>7.2%} {method:<15}{gm['runs'].median():>6.0f}"
                       f"{gm['spent'].median() / total:>8.2%}"
                       f"{gm['rmse'].median():>13.4f}{gm['r2'].median():>8.3f}"
                       f"{gm['rmse'].median() / rnd:>13.2f}")
    # compute to match random's error at the next-larger budget
    fr = sorted(df["fraction"].unique())
    out.append("same target error for half the compute? (method's RMSE at budget b vs random's "
               "at 2b or more):")
    for method in df["method"].unique():
        if method == "random":
            continue
        msgs = []
        for i, b in enumerate(fr):
            bigger = [x for x in fr[i + 1:] if x >= 2 * b]
            if not bigger:
                continue
            b2 = bigger[0]
            a = df[(df["fraction"] == b) & (df["method"] == method)]["rmse"].median()
            r = df[(df["fraction"] == b2) & (df["method"] == "random")]["rmse"].median()
            msgs.append(f"{b:.2%} vs random@{b2:.2%}: {a:.4f} vs {r:.4f} "
                        f"({'yes' if a <= r else 'no'})")
        out.append(f"  {method:<13} " + "; ".join(msgs))
    return "\n".join(out)


METHODS_ALL = (*METHODS, "active-linear", "active-mse")
REFIT_TEXT = {
    "mcmc": ("numpy affine-invariant ensemble MCMC (stretch move, 96 walkers; first fit 1500 "
             "steps from a Laplace ball at the MAP, later rounds 300 steps warm-started from "
             "the previous posterior), Normal likelihood on log-loss with fitted sigma, Normal "
             "priors on log-parameters"),
    "nuts": "distillaw.fit (nutpie NUTS, 2 chains x 300 draws after 300 tuning steps, "
            "package default priors and Student-t likelihood)",
    "product": "the product's path: distillaw.fit once (nutpie NUTS, 2 chains x 300 draws, "
               "package default priors, likelihood and error model), then every round "
               "distillaw.refit.update (importance re-weighting while the ESS >= 150, else "
               "a NUTS refit), as `distillaw plan --observed` does",
}
COLD_STEPS = 1500  # first fit: from a Laplace ball at the MAP
WARM_STEPS = 300  # later rounds: from the previous round's draws


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--cap", type=float, default=4e19,
                    help="part A: FLOPs each method may spend after the seed design")
    ap.add_argument("--max-rounds", type=int, default=12)
    ap.add_argument("--k", type=int, default=5)
    ap.add_argument("--round-budget", type=float, default=2e19)
    ap.add_argument("--draws", type=int, default=400)
    ap.add_argument("--part", choices=("a", "b", "all"), default="all")
    ap.add_argument("--truths", default=",".join(TRUTHS), help="part A ground truths")
    ap.add_argument("--methods", default=",".join(METHODS_ALL))
    ap.add_argument("--quick", action="store_true", help="1 seed, small cap, 2 budgets")
    ap.add_argument("--refit", choices=("product", "mcmc", "nuts"), default="product",
                    help="part A refits: the product's fit + refit.update (default), this "
                         "script's numpy ensemble MCMC (its own model: fast, not the product), "
                         "or distillaw.fit NUTS every round (slow)")
    args = ap.parse_args(argv)
    seeds = list(range(1 if args.quick else args.seeds))
    cap = 1e19 if args.quick else args.cap
    methods = [m for m in args.methods.split(",") if m]
    t0 = time.perf_counter()

    def log(msg):
        print(msg, file=sys.stderr, flush=True)

    print(f"refit after every round, the same for every method: {REFIT_TEXT[args.refit]}")
    print(f"command: python bench/active_loop.py {' '.join(argv if argv is not None else sys.argv[1:])}")
    if args.part in ("a", "all"):
        a = run_part_a(seeds, cap, args.max_rounds, args.k, args.round_budget, args.draws,
                       methods, log, refit=args.refit,
                       truths=[t for t in args.truths.split(",") if t])
        print(summarise_part_a(a, tuple(c for c in (5e18, 1e19, 2e19, 4e19) if c <= cap)))
        if args.refit == "mcmc":
            print(f"ensemble-MCMC acceptance over all part-A refits: {a['acc'].min():.2f}-"
                  f"{a['acc'].max():.2f}")
        else:
            print(f"NUTS fits and refits over all part-A loops: {int(a['refits'].iloc[-1])}; "
                  f"re-weighted updates: {int(a['updates'].iloc[-1])}")
    if args.part in ("b", "all") and args.refit == "mcmc" and SHARED.is_dir():
        # 1-20% as the protocol asks, plus 0.25% and 0.5% where the methods still differ
        fr = (0.0025, 0.01) if args.quick else (0.0025, 0.005, 0.01, 0.05, 0.10, 0.20)
        b, total = run_part_b(seeds, fr, 16, 8, args.draws, methods, log)
        print(summarise_part_b(b, total))
        print(f"ensemble-MCMC acceptance over part-B refits: min {b['acc'].min():.2f}")
    print(f"\ntotal wall time {time.perf_counter() - t0:.0f}s (2 shared cores, machine loaded)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
