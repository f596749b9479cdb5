"""Calibrated fits: the folds on the fit's own compiled model vs one model per fold, in one run.

A default ``fit`` of a table with 50+ rows also calibrates its extrapolation
(:mod:`distillaw.discrepancy`): 3-5 leave-the-largest-out folds, each a NUTS fit of part
of the table. Compiling a model (nutpie, numba) costs 4-9 s, more than sampling a fold.

- ``shared`` (ours, the default): the fit's model is built once with row weights and
  compiled once; the fit samples it with every weight 1, and each fold with its held-out
  rows' weights set to 0 (``distillaw.sampling.folds._FoldModel``);
  The folds start at draws of the fit's own posterior (``_FoldModel.warm_start``), cap a
  trajectory at ``FOLD_MAXDEPTH`` and sample together in the background while the fit
  computes its ArviZ groups (``FOLDS_TOGETHER``);
- ``shared-serial`` (the method before that, 2026-12-08): the same compiled model, but
  each fold starts at the model's support point with nutpie's default depth, one fold
  after the other, after the groups;
- ``per-fold`` (the first method): each fold builds and compiles a model of its own rows
  (``distillaw.models.fold_weighted`` patched to ``False`` for the run).

All with the same seeds and settings, the first method listed as the baseline; prints per
case the wall time of the whole fit, the compile and calibration seconds (``shared``:
from the folds' start, the groups' time included), the ratios, and the calibrated
discrepancy of each (the folds' priors differ slightly under ``per-fold``, see
``_FoldModel``, and the draws differ between the three, so they should agree within the
grid posterior's own spread, not to the digit).

Measured (2026-12-08, 2 cores, ``--methods shared-serial,shared``, one process per case):

=================================  ===============  ===============  =================
case                               shared-serial    shared           x wall (x calib.)
=================================  ===============  ===============  =================
busbridge-default (5 folds)        60.2 s (31.3 s)  43.8 s (18.2 s)  1.37 (1.72)
porian, ``--draws 400`` (3 folds)  334 s (211 s)    334 s (212 s)    1.00 (1.00)
=================================  ===============  ===============  =================

(calibration seconds in brackets; ``shared``'s include the ArviZ groups, 3-4 s, computed
while its folds sample). The discrepancy's scale c: 0.0082 (90% 0.0067-0.0150) vs 0.0077
(0.0067-0.0145) on Busbridge, 0.0577 (0.0504-0.0781) for both on Porian; r_hat 1.01 or less
and 0 divergences in all four fits. Porian's folds keep the fit's diagonal metric (a
grouped table) and need 290-640 leapfrog steps per draw either way, 247 and 289 of their
2400 draws at nutpie's cap of 1023: their tuning is not where their time goes, so the warm
start buys nothing there. (An earlier run capped those folds at depth 9 too: 294 s, but a
third to two thirds of their draws stopped at the cap; the cap is now low-rank folds' only.)

Cases (``--cases``): ``epoch`` (Epoch's 240 points, supervised, chinchilla form),
``shipped`` (the shipped simulated distillation set, as notebook 02 fits it: error="iid",
target_accept 0.9), ``busbridge`` (the digitised Busbridge train split, distillation, iid
error at 0.9), ``busbridge-default`` (the same at fit's defaults), ``porian`` (Porian et
al.'s IsoFLOP points, hierarchical over configurations, heteroscedastic error).

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
CASES = ("epoch", "shipped", "busbridge", "busbridge-default", "porian")
METHODS = ("per-fold", "shared-serial", "shared")


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
    if name == "busbridge-default":  # as `distillaw fit ... --law distillation` fits it
        return (load(DATA / "busbridge_distillation_digitized" / "train-00000-of-00001.csv"),
                {"law": "distillation"})
    if name == "porian":  # hierarchical over configurations, as bench/extrapolation_holdout
        t = load(DATA / "porian2024" / "porian2024_isoflop_points.csv")
        return t, {"law": "supervised", "form": "chinchilla", "group": "group",
                   "error": "heteroscedastic"}
    raise SystemExit(f"unknown case {name!r}; choose from {', '.join(CASES)}")


@contextlib.contextmanager
def method(which: str):
    import distillaw.models as models
    from distillaw.sampling import folds

    if which not in METHODS:
        raise SystemExit(f"unknown method {which!r}; choose from {', '.join(METHODS)}")
    saved = (models.fold_weighted, folds.FOLDS_TOGETHER, folds.FOLD_MAXDEPTH,
             folds._FoldModel.warm_start)
    if which == "per-fold":
        models.fold_weighted = lambda spec: False
    if which == "shared-serial":
        folds.FOLDS_TOGETHER, folds.FOLD_MAXDEPTH = False, None
        folds._FoldModel.warm_start = lambda self, positions: None
    try:
        yield
    finally:
        (models.fold_weighted, folds.FOLDS_TOGETHER, folds.FOLD_MAXDEPTH,
         folds._FoldModel.warm_start) = saved


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", default="epoch,shipped")
    ap.add_argument("--draws", type=int, default=1000, help="draws = tune, 4 chains")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--methods", default=",".join(METHODS),
                    help="comma-separated; the first is the baseline of the ratios")
    args = ap.parse_args(argv)
    warnings.filterwarnings("ignore", message=".*BLAS.*")
    from distillaw import fit

    rows = []
    for name in args.cases.split(","):
        table, kw = case(name)
        base = None
        for which in args.methods.split(","):
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
                 "r_hat": d["r_hat_max"], "div": d["divergences"],
                 "fold steps/draw": "/".join(f"{f.get('steps_per_draw') or 0:.0f}"
                                             for f in disc.folds),
                 "fold draws at cap": sum(f.get("at_max_depth") or 0 for f in disc.folds)}
            base = base or r
            r["x wall"] = base["wall_s"] / wall
            r["x calibration"] = base["calibration_s"] / r["calibration_s"]
            rows.append(r)
            print(pd.DataFrame([r]).to_string(index=False, float_format=lambda v: f"{v:.3g}"),
                  flush=True)
    print("\nsummary (x: the first method's seconds over these; > 1 is faster):")
    print(pd.DataFrame(rows).to_string(index=False, float_format=lambda v: f"{v:.3g}"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
