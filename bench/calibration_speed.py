"""Calibrated fits: the folds on the fit's own compiled model vs one model per fold, in one run.

A default ``fit`` of a table with 50+ rows also calibrates its extrapolation
(:mod:`distillaw.discrepancy`): 3-5 leave-the-largest-out folds, each a NUTS fit of part
of the table. Compiling a model (nutpie, numba) costs 4-9 s, more than sampling a fold.

- ``shared`` (ours, the default): the fit's model is built once with row weights and
  compiled once; the fit samples it with every weight 1, and each fold with its held-out
  rows' weights set to 0 (``distillaw.sampling.folds._FoldModel``);
- ``per-fold`` (the baseline, the method before it): each fold builds and compiles a model
  of its own rows (``distillaw.models.fold_weighted`` patched to ``False`` for the run).

Both with the same seeds and settings, the baseline first; prints per case the wall time
of the whole fit, the compile and calibration seconds, the ratio, and the calibrated
discrepancy of each (the folds' priors differ slightly, see ``_FoldModel``, so the two
should agree within the grid posterior's own spread, not to the digit).

Cases (``--cases``): ``epoch`` (Epoch's 240 points, supervised, chinchilla form),
``shipped`` (the shipped simulated distillation set, as notebook 02 fits it: error="iid",
target_accept 0.9), ``busbridge`` (the digitised Busbridge train split, distillation).

Run: ``PYTHONPATH=src .venv/bin/python bench/calibration_speed.py [--cases epoch,shipped]
[--draws 1000]``
"""

from __future__ import annotations

import argparse
import contextlib
import time
import warnings
from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent
DATA = HERE.parents[1] / "shared" / "data"
CASES = ("epoch", "shipped", "busbridge")


def case(name: str):
    from distillaw.loaders import load
    from distillaw.simulate import shipped_distillation

    if name == "epoch":
        return (load(DATA / "epoch_chinchilla" / "svg_extracted_data.csv"),
                {"law": "supervised", "form": "chinchilla"})
    if name == "shipped":
        return shipped_distillation(), {"law": "distillation", "error": "iid",
                                        "target_accept": 0.9}
    if name == "busbridge":
        return (load(DATA / "busbridge_distillation_digitized" / "train-00000-of-00001.csv"),
                {"law": "distillation", "error": "iid", "target_accept": 0.9})
    raise SystemExit(f"unknown case {name!r}; choose from {', '.join(CASES)}")


@contextlib.contextmanager
def method(which: str):
    import distillaw.models as models

    saved = models.fold_weighted
    if which == "per-fold":
        models.fold_weighted = lambda spec: False
    try:
        yield
    finally:
        models.fold_weighted = saved


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", default="epoch,shipped")
    ap.add_argument("--draws", type=int, default=1000, help="draws = tune, 4 chains")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    warnings.filterwarnings("ignore", message=".*BLAS.*")
    from distillaw import fit

    rows = []
    for name in args.cases.split(","):
        table, kw = case(name)
        base = None
        for which in ("per-fold", "shared"):
            with method(which):
                t0 = time.perf_counter()
                post = fit(table, draws=args.draws, tune=args.draws, chains=4, seed=args.seed,
                           progressbar=False, extrapolation="calibrate", **kw)
                wall = time.perf_counter() - t0
            d = post.diagnostics()
            disc = post.discrepancy
            lo, med, hi = disc.c_quantiles((0.05, 0.5, 0.95))
            r = {"case": name, "rows": len(table), "folds": len(disc.folds), "method": which,
                 "wall_s": wall, "compile_s": d["compile_seconds"],
                 "sampling_s": d["sampling_seconds"],
                 "calibration_s": d["calibration_seconds"],
                 "c (90%)": f"{med:.4f} ({lo:.4f}-{hi:.4f})",
                 "r_hat": d["r_hat_max"], "div": d["divergences"]}
            base = base or r
            r["x wall"] = base["wall_s"] / wall
            r["x calibration"] = base["calibration_s"] / r["calibration_s"]
            rows.append(r)
            print(pd.DataFrame([r]).to_string(index=False, float_format=lambda v: f"{v:.3g}"),
                  flush=True)
    print("\nsummary (x: the per-fold baseline's seconds over these; > 1 is faster):")
    print(pd.DataFrame(rows).to_string(index=False, float_format=lambda v: f"{v:.3g}"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
