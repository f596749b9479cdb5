"""Sampler geometry: NUTS efficiency of each mass-matrix adaptation on real tables, in one run.

For each case (a real table and the model ``distillaw fit`` builds for it) it fits once per
mass matrix, the baseline first (``diag``: nutpie's diagonal adaptation, the default until
this bench), with the same seed and draws, and prints one table:

- ``steps/draw``: mean leapfrog steps per draw (each costs one gradient);
- ``ESS``: the smallest bulk ESS over every sampled quantity (``min_ess``);
- ``ESS/s``: that ESS per second of sampling (tuning + draws, compile excluded);
- ``ESS/kgrad``: the same per 1000 gradient evaluations (draws only), which does not move
  with the machine's load (this machine's 2 cores are shared);
- r_hat max, divergences, and the ratio of ESS/s and ESS/kgrad to the baseline's.

A variant counts only with r_hat <= 1.01 and 0 divergences (the table marks it).

Coordinates (``--coords``, distillation cases only): ``shifted`` is the model as built
(kappa_ref, log(alpha' gamma'), log(beta' gamma') and the student term's level/tilt vector
``student_level_ref`` sampled: ``distillaw.models.distillation``, ``SHIFTS`` and
``student_level``); ``exponents`` keeps the shifts but samples log A'_ref, log B'_ref
directly (the model before the level coordinates); ``unshifted`` samples kappa, log alpha',
log beta' and the prefactors directly. Variants are mass matrix x coordinates, the first
listed of each the baseline.

Cases (``--cases``, comma-separated):

- ``busbridge``: distillation law on the digitised Busbridge train split (328 rows, no
  supervised rows, iid Student-t noise), 2 chains;
- ``busbridge-hetero``: the same with the default ``error="heteroscedastic"``;
- ``busbridge-structured``: the same with ``error="structured"``;
- ``epoch``: supervised Chinchilla law on Epoch's 240 points, 4 chains;
- ``porian``: hierarchical supervised law over Porian et al.'s configurations, 2 chains.

Measured 2026-12-07 (busbridge, the model as built, 4 chains x 1000 draws after 1000 tuning
steps, 2 cores; nutpie's own options passed straight to ``nutpie.sample`` in a scratch
script, not through ``fit``):

======================================================  ==========  ========  ====  =====  ====
mass matrix (target_accept)                             steps/draw  sample s  ESS   r_hat  div
======================================================  ==========  ========  ====  =====  ====
diagonal, gradient-based (0.9; the default)             658         187       657   1.01   0
diagonal, draw variance (use_grad_based_mass_matrix=F)  1010        270       988   1.01   0
diagonal, gradient-based (0.8)                          551         153       594   1.00   0
low-rank, cutoff 10, gamma 1e-3 (0.9), seeds 1, 2       96-98       30        389+  1.01   5, 2
low-rank, cutoff 10, gamma 1e-3 (0.95)                  126         41        485   1.02   2
low-rank, cutoff 3, gamma 1e-3 (0.95), seeds 1-4        74-86       24-29     261+  1.02   0, 4, 13, 1
PyMC dense (init="jitter+adapt_full", 0.9), 2 x 500     118         52        357   1.02   4
======================================================  ==========  ========  ====  =====  ====

Low-rank is 4-7x the ESS per second, but every variant diverges on some seeds, and the
divergent draws sit in one place: the tail of large gamma' (log gamma' at +1.7 to +2.8 sd)
with small A'_ref and B'_ref, where the student term ``(A' N^-alpha' + B' D^-beta')^gamma'``
trades its level between gamma' and the prefactors: a funnel.

Level coordinates (``student_level_ref``, sampled since 2026-12-07, second session; same
protocol, 4 x 1000 after 1000 tuning steps, target_accept 0.9; "before" is ``--coords
exponents``, the model as it was; "sim" is the shipped simulated table, 135 rows with
supervised runs; final version, tilt unscaled, except the sim rows and the "scaled tilt"
row, measured with the tilt scaled by gamma'):

=============================  ============  ==========  ========  ========  ========  ========
case, error                    coords, mass  steps/draw  sample s  min ESS   r_hat     div
=============================  ============  ==========  ========  ========  ========  ========
busbridge, iid                 before, diag  658         187       657       1.01      0
busbridge, iid                 level, diag   201         64        710       1.006     0
busbridge, iid (seeds 1-4)     level, l-r    14          7-9       670-1069  <= 1.005  0 (all)
  scaled tilt (seeds 1-8)      level, l-r    15          8-10      475-972   <= 1.008  0 (all)
busbridge, heteroscedastic*    before, diag  658         206       653       1.006     0
busbridge, heteroscedastic*    level, diag   299-301     94-100    777-932   <= 1.007  0, 0
busbridge, heteroscedastic*    level, l-r    16          10-11     585-627   <= 1.017  0,3,2,1
busbridge, structured          before, diag  315         195       617       1.011     5
busbridge, structured          level, diag   121         74        590       1.005     0
busbridge, structured          level, l-r    16          18        12        1.26      373
sim, heteroscedastic*          before, diag  213         39        970       1.003     0
sim, heteroscedastic*          level, diag   167-174     32-33     836-946   <= 1.007  0, 0
sim, heteroscedastic*          level, l-r    41-42       15-17     114-313   1.02-1.04 0, 0
=============================  ============  ==========  ========  ========  ========  ========

(* the default error model; seeds 1 and 2 where two values are given; scratch scripts
calling ``fit(..., extrapolation="none")`` with these settings.) The level coordinates
remove the funnel: the diagonal metric needs 2.2-3.3x fewer steps on the Busbridge table,
with no divergences anywhere (the structured model's 5 are gone), and low-rank is clean on
the iid model. Low-rank still diverges under the default heteroscedastic error (in the
small-gamma' tail and on the kappa_ref / 1/f1 / c0 ridge of the broken power law), badly
under the structured error, and mixes the supervised law worse than diagonal where the table
has supervised rows (sim). The default stays diagonal; ``mass_matrix="low-rank"`` is the
fast option for iid fits of distillation-only tables.

The tilt was first scaled by gamma' too; on notebook 04's runner table (39 rows, log B'_ref
prior-dominated) that gave 1 divergence in 7 seeds of 4 x 1500 (0 in 4 with the prefactors
sampled directly), deep in the log B'_ref tail: a scaled tilt's spread there grows with
gamma', a small funnel of its own. Unscaled: 0 in seeds 0-3, 40-41 steps per draw against
44-46 direct.

Tried and not kept (busbridge, iid, diag, seed 1, 4 x 1000): the thinnest direction left is
the level against log c0 (linear correlation 0.99: the second addend's log at the reference is
``level - c0 log L_T,ref - exp(kappa_ref)``). Shifting the level by ``-c0 log L_T,ref -
exp(kappa_ref)`` gave r_hat 1.60 and min ESS 7 at 285 steps per draw; sampling ``kappa_ref +
log(1/f1)`` (the broken power law's slope in log L_T, uncorrelated with 1/f1) gave 217 steps
per draw against 204. Linear decorrelation alone did not pay; removing the funnel did.

The default heteroscedastic fit under low-rank, by target_accept (2026-12-07, seventh
session; 4 chains x 1000 draws after 1000 tuning steps unless said; ``fit(...,
mass_matrix="low-rank", target_accept=TA, extrapolation="none")`` in a scratch loop, the
same as ``--cases busbridge-hetero --mass low-rank --target-accept TA --draws 1000``):

================  ==========  ========  =========  =====================  ========================
TA (draws)        steps/draw  sample s  min ESS    r_hat > 1.01           divergences
================  ==========  ========  =========  =====================  ========================
0.95, seeds 0-9   21-24       11-15     451-733    3 of 10 (<= 1.015)     1 (seed 6: large gamma')
0.98, seeds 0-7   32-33       15-19     388-708    2 of 8 (1.011, 1.019)  0
0.98 (2000), 2,4  32-33       22*       1004-1155  0 (<= 1.006)           0
diag (0.8), 0     245         79        ~800       0 (1.004)              0
================  ==========  ========  =========  =====================  ========================

(* on an idle machine through ``distillaw fit --mass-matrix low-rank --target-accept 0.98
--draws 2000``: min ESS 802, r_hat 1.003; the table's other sample times ran beside another
job.) The slowest direction under low-rank is the student term's level/tilt and log(beta'
gamma'): a curved ridge the low-rank metric cannot straighten, so per draw it mixes worse
than the diagonal metric's long trajectories, and at 1000 draws r_hat can pass 1.01. 2000
low-rank draws give the diagonal's ESS in about a third of the sampling time. Since
2026-12-08 that is the default for distillation-only tables (``distillaw.sampling.fitting.
DISTILLATION_ONLY_SAMPLER``: low-rank at 0.98, 2 x draws, every second kept). Seeds 0-7
through ``fit(..., extrapolation="none")`` with no mass matrix given (scratch loop, 2 cores;
seeds 0, 1, 3, 5, 6, 7 ran beside another job, hence their sample times): steps per draw
31.6-32.6, sample 22 s (idle; 41-47 s shared), 0 divergences, r_hat 1.0015-1.0065, min bulk
ESS 802-1402 on the kept 1000 draws (the 2000 drawn: within 5%). Subsets of 60 rows (seeds
0-3): low-rank 57-73 steps per draw, r_hat 1.004-1.017, ESS 426-601; diagonal 206-244
steps, r_hat 1.005-1.020, ESS 409-493, 0 divergences either way. The calibration's folds, whose output is predictive quantiles,
sample with low-rank at 0.98 (``distillaw.sampling.folds.FOLD_MASS_MATRIX``).

The default against the diagonal metric in one run (2026-12-08, seed 0, the case's 2 chains
x 1000 kept draws after 1000 tuning steps, idle 2 cores; ``--cases busbridge-hetero --mass
diag,auto --draws 1000 --tune 1000 --coords shifted``):

=================================  ==========  ========  ===  =====  ==========  =====  ===
mass matrix                        steps/draw  sample s  ESS  ESS/s  ESS/kgrad   r_hat  div
=================================  ==========  ========  ===  =====  ==========  =====  ===
diag (0.8)                         300         48.6      527  10.8   0.88        1.01   0
auto: low-rank 0.98, thin 2        32.9        9.9       301  30.4   2.29        1.01   0
=================================  ==========  ========  ===  =====  ==========  =====  ===

2.8x the ESS per second, 2.6x per gradient (the thinned fit's gradients counted over the
2000 draws it made).

Run: ``PYTHONPATH=src .venv/bin/python bench/geometry.py [--cases busbridge,epoch]
[--mass diag,low-rank] [--coords unshifted,shifted] [--draws 400] [--target-accept 0.98]``
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
DATA = HERE.parents[1] / "shared" / "data"
CASES = ("busbridge", "busbridge-hetero", "busbridge-structured", "epoch", "porian")


def case(name: str, data: Path):
    """``(table, fit keyword arguments, chains)`` of a case."""
    from distillaw.loaders import load

    if name.startswith("busbridge"):
        t = load(data / "busbridge_distillation_digitized" / "train-00000-of-00001.csv")
        err = {"busbridge-structured": "structured",
               "busbridge-hetero": "heteroscedastic"}.get(name, "iid")
        # target_accept 0.9 as the shipped distillation fits use.
        return t, {"law": "distillation", "error": err, "target_accept": 0.9}, 2
    if name == "epoch":
        t = load(data / "epoch_chinchilla" / "svg_extracted_data.csv", drop_highest_loss=5)
        return t, {"law": "supervised", "form": "chinchilla"}, 4
    if name == "porian":
        t = load(data / "porian2024" / "porian2024_isoflop_points.csv")
        return t, {"law": "supervised", "form": "chinchilla", "group": "group"}, 2
    raise SystemExit(f"unknown case {name!r}; choose from {', '.join(CASES)}")


COORDS = ("unshifted", "exponents", "shifted")


@contextlib.contextmanager
def coordinates(which: str):
    """The distillation model's sampled coordinates for one run (see the module doc)."""
    from distillaw.models import distillation

    if which not in COORDS:
        raise SystemExit(f"unknown coordinates {which!r}; choose from {', '.join(COORDS)}")
    saved = distillation.SHIFTS
    saved, level = distillation.SHIFTS, distillation.SAMPLE_LEVEL
    distillation.SHIFTS = {} if which == "unshifted" else saved
    distillation.SAMPLE_LEVEL = which == "shifted"
    try:
        yield
    finally:
        distillation.SHIFTS, distillation.SAMPLE_LEVEL = saved, level


def measure(table, kw: dict, *, mass: str, chains: int, draws: int, tune: int,
            seed: int, coords: str = "shifted") -> dict:
    from distillaw import fit

    if mass == "auto":  # fit's own choice (DISTILLATION_ONLY_SAMPLER and the rest)
        kw = {k: v for k, v in kw.items() if k != "target_accept" or kw.get("_ta_given")}
    kw = {k: v for k, v in kw.items() if k != "_ta_given"}
    with coordinates(coords):
        post = fit(table, progressbar=False, draws=draws, tune=tune, chains=chains,
                   seed=seed, mass_matrix=None if mass == "auto" else mass,
                   extrapolation="none", **kw)
    d = post.diagnostics()
    steps = float(d["steps_per_draw"])
    ess = float(d["ess_bulk_min"])
    grads = steps * d.get("n_draws_sampled", draws) * chains  # thinned fits draw more
    if mass == "auto":
        s = post.sampler
        mass = f"auto: {s['mass_matrix']} {s['target_accept']}, thin {s.get('thin', 1)}"
    return {"mass": mass, "coords": coords, "compile_s": d["compile_seconds"],
            "sample_s": d["sampling_seconds"], "steps/draw": round(steps, 1),
            "ESS": round(ess), "ESS/s": ess / d["sampling_seconds"],
            "ESS/kgrad": 1000 * ess / grads, "r_hat": d["r_hat_max"],
            "div": d["divergences"],
            "ok": bool(d["r_hat_max"] <= 1.01 and d["divergences"] == 0)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--cases", default="busbridge,epoch,porian")
    ap.add_argument("--mass", default="diag,low-rank",
                    help="mass matrices, the baseline first (comma-separated); auto: what "
                         "fit picks with none given (and its target_accept)")
    ap.add_argument("--coords", default="exponents,shifted",
                    help="distillation cases: sampled coordinates, the baseline first")
    ap.add_argument("--draws", type=int, default=None,
                    help="draws = tune per chain (default: 1000 for epoch, 500 otherwise)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--target-accept", type=float, default=None,
                    help="override every case's target_accept (busbridge: 0.9)")
    ap.add_argument("--tune", type=int, default=None, help="tuning steps (default: draws)")
    args = ap.parse_args(argv)
    warnings.filterwarnings("ignore", message=".*BLAS.*")
    rows = []
    for name in args.cases.split(","):
        table, kw, chains = case(name, args.data)
        if args.target_accept is not None:
            kw = {**kw, "target_accept": args.target_accept, "_ta_given": True}
        draws = args.draws or (1000 if name == "epoch" else 500)
        base = None
        coords = args.coords.split(",") if kw["law"] == "distillation" else ["shifted"]
        for mass, co in itertools.product(args.mass.split(","), coords):
            t0 = time.perf_counter()
            r = {"case": name, "n": len(table), "chains x draws": f"{chains}x{draws}",
                 **measure(table, kw, mass=mass, chains=chains, draws=draws,
                           tune=draws if args.tune is None else args.tune,
                           seed=args.seed, coords=co)}
            r["wall_s"] = round(time.perf_counter() - t0)
            base = base or r
            r["x ESS/s"] = r["ESS/s"] / base["ESS/s"]
            r["x ESS/kgrad"] = r["ESS/kgrad"] / base["ESS/kgrad"]
            rows.append(r)
            print(pd.DataFrame([r]).to_string(index=False, float_format=lambda v: f"{v:.3g}"),
                  flush=True)
    print("\nsummary (ok: r_hat <= 1.01 and 0 divergences; x: ratio to the case's first "
          "variant, the baseline):")
    print(pd.DataFrame(rows).to_string(index=False, float_format=lambda v: f"{v:.3g}"))
    return 0 if all(np.isfinite(r["ESS/s"]) for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
