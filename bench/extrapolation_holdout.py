"""Extrapolation backtests of the supervised law, structured vs iid error model (slow: NUTS).

Two public splits, each fitted on small compute and scored on the largest (issue 11):

- ``epoch``: Epoch's Chinchilla points (``chinchilla_epoch_tidy.csv``, Chinchilla form); the
  top ``--top`` compute budgets held out. The digitised FLOPs are noisy, so each row is
  assigned to the nearest of the paper's nine IsoFLOP budgets (6e18 ... 3e21).
- ``porian``: Porian et al.'s IsoFLOP points, hierarchical over configurations
  (group = configuration); in every configuration its largest compute budget held out.
  ``--porian-configs`` keeps the first K configurations (all by default) to bound the time.

Each error model is fitted once with the extrapolation calibrated on the training rows
(``fit(..., extrapolation="calibrate")``: leave the training rows' largest compute out,
learn how the misfit grows with distance; :mod:`distillaw.discrepancy`), and the same
posterior is scored with the learned discrepancy and without it, so the two columns differ
only by it. ``--peers`` adds the peers' Huber fit + bootstrap on the same split.

For each split and error model it prints the coverage of the 50/80/90/95% *predictive*
intervals (a new measured run: law + every fitted error term), the median width of the 90%
interval (as a ratio upper/lower - 1), the 90% interval (Winkler) score on log-loss, and the
median |log error| of the median, with the sampler's diagnostics. Target: 90% coverage in
0.85-0.95.

Run: ``PYTHONPATH=src .venv/bin/python bench/extrapolation_holdout.py [--split epoch]
[--draws 400] [--errors iid,structured] [--peers]``
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
DATA = HERE.parents[1] / "shared" / "data"
EPOCH_BUDGETS = np.array([6e18, 1e19, 3e19, 6e19, 1e20, 3e20, 6e20, 1e21, 3e21])
LEVELS = (0.5, 0.8, 0.9, 0.95)


def epoch_split(data: Path, top: int):
    from distillaw.loaders import load

    t = load(data / "epoch_chinchilla" / "chinchilla_epoch_tidy.csv")
    lc = np.log10(t["flops"].to_numpy(float))
    budget = EPOCH_BUDGETS[np.abs(lc[:, None] - np.log10(EPOCH_BUDGETS)[None]).argmin(1)]
    held = budget >= np.sort(np.unique(budget))[-top]
    return t[~held].reset_index(drop=True), t[held].reset_index(drop=True), None


def porian_split(data: Path, configs: int | None):
    from distillaw.loaders import load

    t = load(data / "porian2024" / "porian2024_isoflop_points.csv")
    if configs:
        keep = sorted(t["group"].unique())[:configs]
        t = t[t["group"].isin(keep)]
    top = t.groupby("group")["flops"].transform("max")
    held = (t["flops"] >= top).to_numpy()
    return t[~held].reset_index(drop=True), t[held].reset_index(drop=True), "group"


def scores(post, test: pd.DataFrame, seed: int = 0) -> dict:
    """Coverage at each level, 90% width and Winkler score, median |log error|."""
    draws = post.predictive_draws(test, seed=seed)
    y = np.log(test["L"].to_numpy(float))
    ld = np.log(draws)
    out = {}
    for lev in LEVELS:
        lo, hi = np.quantile(ld, [(1 - lev) / 2, (1 + lev) / 2], axis=0)
        out[f"cov{int(lev * 100)}"] = float(np.mean((lo <= y) & (y <= hi)))
        if lev == 0.9:
            a = 1 - lev
            wink = (hi - lo) + (2 / a) * np.maximum(lo - y, 0) + (2 / a) * np.maximum(y - hi, 0)
            out["width90"] = float(np.median(np.exp(hi - lo) - 1))
            out["winkler90"] = float(np.mean(wink))
    out["mae_log"] = float(np.median(np.abs(np.median(ld, axis=0) - y)))
    return out


def run(split: str, train, test, group, errors, args) -> list[dict]:
    """Fit once per error model with the extrapolation calibrated (leave-the-largest-out
    folds on the training rows only), and score the same posterior twice: with the learned
    discrepancy ("calibrated") and without it ("none", the error model alone)."""
    from distillaw import fit

    rows = []
    form = "chinchilla"
    for err in errors:
        t0 = time.perf_counter()
        post = fit(train, "supervised", form=form, group=group, error=err, draws=args.draws,
                   tune=args.tune, chains=args.chains, seed=args.seed, progressbar=False,
                   extrapolation="calibrate")
        wall = time.perf_counter() - t0
        d = post.diagnostics()
        print(f"[{split}/{err}] {post.discrepancy.summary()}", flush=True)
        bare = post.without_discrepancy()
        for extrap, p in (("none", bare), ("calibrated", post)):
            s = scores(p, test)
            rows.append({"split": split, "error": err, "extrapolation": extrap,
                         "n_train": len(train), "n_test": len(test), **s,
                         "fit_s": round(wall), "calib_s": round(d.get("calibration_seconds", 0)),
                         "divergences": d["divergences"],
                         "r_hat_max": round(d["r_hat_max"] or np.nan, 3)})
            print(pd.DataFrame([rows[-1]]).to_string(index=False,
                                                     float_format=lambda v: f"{v:.3f}"),
                  flush=True)
        if getattr(args, "peers", False):
            from distillaw.backtesting import score_draws
            from distillaw.baseline import huber_fit

            t0 = time.perf_counter()
            if group is None:
                draws = huber_fit(train, "supervised", form=form).bootstrap(
                    args.boot, seed=args.seed).loss_draws(test)
            else:
                draws = np.empty((args.boot, len(test)))
                for g in test[group].unique():
                    te = (test[group] == g).to_numpy()
                    hf = huber_fit(train[train[group] == g].reset_index(drop=True),
                                   "supervised", form=form, grid="coarse")
                    draws[:, te] = hf.bootstrap(args.boot, seed=args.seed).loss_draws(
                        test[te].reset_index(drop=True))
            sc, _ = score_draws(np.log(draws), np.log(test["L"].to_numpy(float)))
            rows.append({"split": split, "error": "peers", "extrapolation": "huber+bootstrap",
                         "n_train": len(train), "n_test": len(test),
                         "cov90": sc["coverage"]["0.9"], "winkler90":
                         sc["interval_score"]["0.9"], "mae_log": sc["median_abs_log_error"],
                         "fit_s": round(time.perf_counter() - t0)})
            print(pd.DataFrame([rows[-1]]).to_string(index=False,
                                                     float_format=lambda v: f"{v:.3f}"),
                  flush=True)
            args.peers = False  # once per split
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--split", default="epoch,porian")
    ap.add_argument("--errors", default="iid", help="error models, comma-separated "
                    "(iid, structured)")
    ap.add_argument("--peers", action="store_true", help="also score Huber + bootstrap")
    ap.add_argument("--boot", type=int, default=400)
    ap.add_argument("--top", type=int, default=2)
    ap.add_argument("--porian-configs", type=int, default=None)
    ap.add_argument("--draws", type=int, default=400)
    ap.add_argument("--tune", type=int, default=400)
    ap.add_argument("--chains", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    warnings.filterwarnings("ignore", message=".*BLAS.*")
    errors = args.errors.split(",")
    peers = args.peers
    allrows = []
    for split in args.split.split(","):
        if split == "epoch":
            train, test, group = epoch_split(args.data, args.top)
        elif split == "porian":
            train, test, group = porian_split(args.data, args.porian_configs)
        else:
            raise SystemExit(f"unknown split {split!r}")
        args.peers = peers
        allrows += run(split, train, test, group, errors, args)
    print("\nsummary (90% target coverage 0.85-0.95; lower Winkler is better):")
    print(pd.DataFrame(allrows).to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
