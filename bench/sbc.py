"""Simulation-based calibration of the supervised model (too slow for CI: ~20 NUTS fits each).

Truths are drawn from the model's own default priors (resolved once for a fixed design and
data scale, and passed explicitly to every fit so they cannot move with the simulated data),
data are simulated from the law with the prior's noise (Student-t on log-loss), and each
data set is fitted with nutpie. For a correct model and sampler, nominal 90% intervals
cover the truth 90% of the time; with 20 data sets x 5 parameters we expect 80-98%.

Each error model (``--errors structured,iid,heteroscedastic``) is calibrated on data from
its own prior (structured: the law times a Brownian compute discrepancy with Normal noise;
iid: Student-t noise; heteroscedastic: Student-t noise whose scale changes with compute by
the drawn ``sigma_trend``; gp: the heteroscedastic truth with no discrepancy at all, i.e.
the GP's amplitude at the edge of its prior, the case where it must not widen the intervals
-- its own draws are orthogonalised against the law at the fitted rows, a data-dependent
prior that an exact SBC cannot simulate from). Besides parameter coverage it prints the coverage and median width of the 90%
predictive interval of a new run at 10x the largest fitted compute, so the two models'
widths can be compared: the structured model must not buy coverage by being wide. Every
fit also calibrates the extrapolation (``extrapolation="calibrate"``): on these
well-specified data the learned discrepancy should add little width, which the last lines
print (coverage and width of the same posteriors with and without it).

Run: ``.venv/bin/python bench/sbc.py [--sims 20] [--draws 400] [--form chinchilla]``
Prints per-parameter coverage, the pooled coverage and rank histograms (SBC ranks of the
truth among thinned posterior draws), and divergences.
"""

from __future__ import annotations

import argparse
import math
import time
import warnings

import numpy as np


def _bm(x, r, tau, rng):
    """A Brownian motion anchored at ``r`` evaluated at ``x`` (the structured model's
    compute discrepancy, :mod:`distillaw.error_terms`)."""
    f = np.zeros(x.size)
    for side in (x > r, x < r):
        idx = np.flatnonzero(side)
        order = idx[np.argsort(np.abs(x[idx] - r))]
        steps = np.diff(np.r_[0.0, np.abs(x[order] - r)])
        f[order] = np.cumsum(tau * np.sqrt(steps) * rng.standard_normal(order.size))
    return f


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sims", type=int, default=20)
    ap.add_argument("--draws", type=int, default=400)
    ap.add_argument("--tune", type=int, default=400)
    ap.add_argument("--chains", type=int, default=2)
    ap.add_argument("--form", default="chinchilla", choices=["chinchilla", "busbridge"])
    ap.add_argument("--no-calibrate", dest="calibrate", action="store_false",
                    help="skip the extrapolation calibration")
    ap.add_argument("--errors", default="structured,iid",
                    help="error models, comma-separated; each is calibrated on data simulated "
                         "from its own prior")
    ap.add_argument("--mass", choices=("diag", "low-rank"), default=None,
                    help="mass matrix (default: fit()'s own choice for the error model)")
    ap.add_argument("--seed", type=int, default=2025)
    ap.add_argument("--ci", type=float, default=0.9)
    args = ap.parse_args(argv)
    warnings.filterwarnings("ignore", message=".*BLAS.*")
    for err in args.errors.split(","):
        print(f"\n=== error model: {err} ===", flush=True)
        calibrate(args, err)
    return 0


def calibrate(args, error: str) -> None:
    import pymc as pm

    from distillaw import fit
    from distillaw.posterior import interval_columns
    from distillaw.priors import resolve_priors
    from distillaw.simulate import simulate_supervised

    # Design: 7 sizes x 3 tokens-per-parameter ratios (21 runs), mid-scale.
    N = np.repeat(np.geomspace(1e7, 1e9, 7), 3)
    D = N * np.tile([5.0, 20.0, 80.0], 7)
    ref = {"N": float(np.exp(np.log(N).mean())), "D": float(np.exp(np.log(D).mean()))}
    scale = {"N_ref": ref["N"], "D_ref": ref["D"], "L_ref": 3.0}
    likelihood = "normal" if error == "structured" else "student_t"
    priors = resolve_priors("supervised", args.form, scale=scale, likelihood=likelihood,
                            error=error)
    # Held-out point for the predictive check: 10x the largest fitted compute.
    N_new, D_new = 3e9, 3e9 * 20 * 10 / 3
    x = np.log(np.r_[N * D, N_new * D_new])
    x_ref = float(np.median(x[:-1]))
    with pm.Model():
        rvs = [priors[n].create_variable(n) for n in priors]
        prior_draws = pm.draw(rvs, draws=50 * args.sims, random_seed=args.seed)
    prior_draws = dict(zip(priors, prior_draws, strict=True))

    def natural(i):
        t = {"E": math.exp(prior_draws["log_E"][i]),
             "alpha": math.exp(prior_draws["log_alpha"][i]),
             "beta": math.exp(prior_draws["log_beta"][i])}
        t["A"] = math.exp(prior_draws["log_A_ref"][i] + t["alpha"] * math.log(ref["N"]))
        t["B"] = math.exp(prior_draws["log_B_ref"][i] + t["beta"] * math.log(ref["D"]))
        t["gamma"] = math.exp(prior_draws["log_gamma"][i]) if "log_gamma" in prior_draws else 1
        return t

    params = ["E", "A", "B", "alpha", "beta"] + (["gamma"] if args.form == "busbridge" else [])
    hits = {p: [] for p in params}
    ranks = {p: [] for p in params}
    pred_hits, pred_widths = [], []
    cal_hits, cal_widths = [], []  # the same posterior with the learned discrepancy
    divergences, walls, used, i = 0, [], 0, -1
    while used < args.sims:
        i += 1
        truth = natural(i)
        sigma = float(prior_draws["sigma"][i])
        nu = float(prior_draws["nu"][i]) if "nu" in prior_draws else None
        rng = np.random.default_rng([args.seed, i])
        # Structured truth: the law times exp(compute discrepancy), at the design and at the
        # held-out point (one walk), plus the noise.
        disc = (_bm(x, x_ref, float(prior_draws["tau_rw"][i]), rng) if error == "structured"
                else np.zeros(x.size))
        allN, allD = np.r_[N, N_new], np.r_[D, D_new]
        df_all = simulate_supervised(truth, allN, allD, sigma=sigma, nu=nu, seed=args.seed + i)
        if "sigma_trend" in prior_draws:
            # Heteroscedastic truth: the noise scale times exp(trend * log10(C / C_ref)),
            # C_ref = N_ref * D_ref as in the model (exact SBC: the trend is drawn too).
            eps = np.log(df_all["L"].to_numpy() / df_all["L_true"].to_numpy())
            x10 = np.log10(allN / ref["N"]) + np.log10(allD / ref["D"])
            trend = float(prior_draws["sigma_trend"][i])
            df_all["L"] = df_all["L_true"].to_numpy() * np.exp(eps * np.exp(trend * x10))
        df_all["L"] = df_all["L"] * np.exp(disc)
        df, new = df_all.iloc[:-1].reset_index(drop=True), df_all.iloc[-1:]
        if not np.all((df_all["L"] > 0.05) & (df_all["L"] < 50)):
            # Prior draws producing absurd losses are skipped (counted below); this trims
            # the prior's extreme tail only.
            continue
        used += 1
        t0 = time.perf_counter()
        post = fit(df, "supervised", form=args.form, priors=priors, reference=ref,
                   error=error, likelihood=likelihood, draws=args.draws, tune=args.tune,
                   chains=args.chains, seed=i, progressbar=False, mass_matrix=args.mass,
                   extrapolation="calibrate" if args.calibrate else "none")
        bare = post.without_discrepancy() if args.calibrate else post
        y_new = float(new["L"].iloc[0])
        for j, (p_, hits_, widths_) in enumerate(((bare, pred_hits, pred_widths),
                                                  (post, cal_hits, cal_widths))):
            if j == 1 and not args.calibrate:  # bare *is* post then: score it once
                continue
            pr = p_.predict(new, args.ci, predictive=True)
            hits_.append(float(pr["lower"].iloc[0]) <= y_new <= float(pr["upper"].iloc[0]))
            widths_.append(float(pr["upper"].iloc[0] / pr["lower"].iloc[0] - 1))
        walls.append(time.perf_counter() - t0)
        d = post.diagnostics()
        divergences += d["divergences"]
        summ = post.summary(args.ci)
        draws = post.param_draws()
        for p in params:
            lo, hi = (summ.loc[p, c] for c in interval_columns(args.ci))
            hits[p].append(lo <= truth[p] <= hi)
            thin = draws[p][:: max(1, len(draws[p]) // 99)][:99]
            ranks[p].append(int(np.sum(thin < truth[p])))
        print(f"sim {used:2d}/{args.sims}: sigma={sigma:.3g} nu={nu or float('inf'):.3g} "
              f"covered {sum(hits[p][-1] for p in params)}/{len(params)} "
              f"r_hat={d['r_hat_max']:.3f} div={d['divergences']} ({walls[-1]:.0f} s)",
              flush=True)
    print(f"\nskipped prior draws with absurd losses: {i + 1 - used}")
    print(f"nominal {args.ci:.0%} intervals, {args.sims} data sets:")
    allhits = []
    for p in params:
        allhits += hits[p]
        hist = np.histogram(ranks[p], bins=5, range=(0, 100))[0]
        print(f"  {p:6s} coverage {np.mean(hits[p]):.2f}   rank histogram (5 bins) {hist}")
    print(f"pooled coverage: {np.mean(allhits):.3f} ({sum(allhits)}/{len(allhits)}); "
          f"target 0.80-0.98")
    print(f"predictive {args.ci:.0%} interval of a new run at 10x the largest fitted compute: "
          f"coverage {np.mean(pred_hits):.2f}, median width {np.median(pred_widths):.4f} "
          f"(upper/lower - 1)")
    if cal_hits:
        print(f"  with the extrapolation discrepancy learned by leave-the-largest-out "
              f"(fit(extrapolation='calibrate'), same posteriors): coverage "
              f"{np.mean(cal_hits):.2f}, median width {np.median(cal_widths):.4f}; width "
              f"ratio calibrated / error model alone {np.median(cal_widths) / np.median(pred_widths):.2f}")
    print(f"divergences in all fits: {divergences}; mean wall per fit {np.mean(walls):.1f} s "
          "(includes nutpie compile)")


if __name__ == "__main__":
    raise SystemExit(main())
