"""Full posterior (distillaw.fit, NUTS) vs the peers' intervals (Huber + L-BFGS grid + bootstrap).

Same data for both: Epoch AI's digitised Chinchilla points (240 after dropping the 5
highest losses), Chinchilla form. The baseline is the procedure of Hoffmann et al. as
replicated by Epoch AI (Besiroglu et al. 2024):

- Huber loss, delta = 1e-3, on log-loss residuals of the log-sum-exp form, summed;
- L-BFGS-B from every point of Hoffmann's grid of starts (alpha, beta in {0, .5, ..., 2},
  e in {-1, -.5, ..., 1}, a, b in {0, 5, ..., 25}: 4500 starts), best solution kept;
- 4000 bootstrap resamples, each refitted by BFGS from the full-data optimum (Epoch
  refitted by BFGS from a single start too); percentile intervals.

Gradients for the baseline from PyTensor's autodiff of the law in distillaw.laws (the
baseline lives in distillaw.baseline), so it is not handicapped. Ours: ``fit()`` with
nutpie with the opt-in low-rank mass matrix (``fit(mass_matrix="low-rank")``, which sets
target_accept 0.9: at nutpie's 0.8 it diverged 1-4 times in 5 of 6 seeds on these points),
4 chains x 1000 draws after 1000 tuning steps, compile included, timed twice in one
process: the first fit (cold: nutpie's numba wrappers are built per process, PyTensor's
disk cache may be warm from earlier runs) and the second (warm cache: the logp graph comes
from PyTensor's disk cache, which :mod:`distillaw.sampling.digamma` made possible), which
is the one the ratio uses; the cold ratio is printed next to it. Prints wall time of each,
their ratio, and effective samples per second (min bulk ESS / s for NUTS; bootstrap
resamples / s for the baseline, which are independent draws).

Measured 2026-12-07 (sixth session), 2 shared cores, ``--seed 0/1/2``: see the closing
note of issue 13; before the cacheable digamma the warm fit compiled for 5.5 s of its 7.2 s
(8.9-9.6x).

Run: ``.venv/bin/python bench/fit_speed.py [--data PATH] [--boot 4000] [--grid full|coarse]
[--seed 0]``
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
DEFAULT_DATA = HERE.parents[1] / "shared" / "data" / "epoch_chinchilla" / "svg_extracted_data.csv"


def peers(df, n_boot: int, grid: str, seed: int = 42):
    """The baseline of :mod:`distillaw.baseline` (written once there), timed in two parts."""
    from distillaw.baseline import huber_fit

    t0 = time.perf_counter()
    best = huber_fit(df, "supervised", form="chinchilla", grid=grid)
    t_grid = time.perf_counter() - t0
    t1 = time.perf_counter()
    boots = best.bootstrap(n_boot, seed=seed)
    t_boot = time.perf_counter() - t1
    return best, boots, t_grid, t_boot, best.n_starts


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--boot", type=int, default=4000)
    ap.add_argument("--grid", choices=["full", "coarse"], default="full")
    ap.add_argument("--draws", type=int, default=1000)
    ap.add_argument("--tune", type=int, default=1000)
    ap.add_argument("--chains", type=int, default=4)
    ap.add_argument("--seed", type=int, default=0, help="our sampler's seed")
    ap.add_argument("--mass", choices=["low-rank", "diag"], default="low-rank",
                    help="our sampler's mass matrix (diag: the default before bench/geometry.py)")
    args = ap.parse_args(argv)
    warnings.filterwarnings("ignore", message=".*BLAS.*")

    from distillaw import fit
    from distillaw.loaders import load

    df = load(args.data, drop_highest_loss=5)
    print(f"data: {args.data.name}, {len(df)} points; machine load may inflate both timings")

    def ours(mass):
        t0 = time.perf_counter()
        post = fit(df, "supervised", form="chinchilla", draws=args.draws, tune=args.tune,
                   chains=args.chains, seed=args.seed, progressbar=False, mass_matrix=mass,
                   # like for like with the peers' single fit + bootstrap: the
                   # extrapolation calibration's extra fits are timed apart (--calibrate)
                   extrapolation="none")
        return post, time.perf_counter() - t0

    # The first fit of the process compiles cold (PyTensor's on-disk cache may be warm from
    # earlier runs; nutpie's numba wrappers are rebuilt per process); the timed fit follows
    # it, on a warm cache, as a user's second fit of the session would.
    post_cold, t_cold = ours(args.mass)
    d_cold = post_cold.diagnostics()
    post, t_ours = ours(args.mass)
    d = post.diagnostics()
    print(f"cold first fit: {t_cold:.1f} s wall (compile {d_cold['compile_seconds']:.1f} s, "
          f"sampling {d_cold['sampling_seconds']:.1f} s); warm fit below")

    best, boots, t_grid, t_boot, n_starts = peers(df, args.boot, args.grid)
    t_peer = t_grid + t_boot

    summ = post.summary(0.95)
    nat_best, nat_boot = best.params(), boots.params()
    print("\n95% intervals   ours (posterior)                  peers (bootstrap percentile)")
    for p in ("E", "A", "B", "alpha", "beta"):
        lo, hi = np.percentile(nat_boot[p], [2.5, 97.5])
        print(f"  {p:6s} {summ.loc[p, 'median']:9.4g} [{summ.loc[p, 'eti_2.5%']:9.4g}, "
              f"{summ.loc[p, 'eti_97.5%']:9.4g}]   {float(nat_best[p][0]):9.4g} [{lo:9.4g}, "
              f"{hi:9.4g}]")
    ess = d["ess_bulk_min"]
    print(f"\nours : {t_ours:7.1f} s wall (whole fit: nutpie compile {d['compile_seconds']:.1f} s, "
          f"sampling {d['sampling_seconds']:.1f} s), {args.chains}x{args.draws} draws, min bulk "
          f"ESS {ess:.0f}, {ess / t_ours:.1f} ESS/s of wall ({ess / d['sampling_seconds']:.1f} "
          f"ESS/s of sampling), r_hat max {d['r_hat_max']:.3f}, divergences {d['divergences']}")
    print(f"peers: {t_peer:7.1f} s wall (grid {n_starts} starts {t_grid:.1f} s + "
          f"{args.boot} bootstrap refits {t_boot:.1f} s), {args.boot / t_peer:.1f} "
          "bootstrap samples/s")
    ok = d["r_hat_max"] <= 1.01 and d["divergences"] == 0
    print(f"ratio peers / ours wall time: {t_peer / t_ours:.2f}x (warm compile cache; "
          f"{t_peer / t_cold:.2f}x with the cold first fit){'' if ok else ' [NOT VALID: r_hat > 1.01 or divergences]'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
