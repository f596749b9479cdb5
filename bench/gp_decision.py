"""Cost of deciding on a gp fit: the same allocation with the GP discrepancy and without it.

A supervised fit with ``error="gp"`` (Epoch's svg points, chinchilla form, 2 chains x 300
draws) is the supervised baseline of the shipped distillation posterior's README query
(``models/distillation``, budget 1e21, 1B student, teacher inference, CVaR-90%, 4000 draws,
regret and frontiers on). The allocation runs twice: with the gp fit (every supervised loss
is law x exp(GP)) and with the same draws without their GP weights (the law alone). Each is
called twice and the second call timed; the table gives wall seconds, their ratio, and what
each decides.

Run: ``PYTHONPATH=src .venv/bin/python bench/gp_decision.py`` (about 2 minutes, the fit
included). Measured 2026-12-07 on 2 cores: 5.4 s with the GP, 2.4 s without (2.2x); the GP
moves the teacher's tokens from 90T to 543B and P(distillation beats supervised) from
0.950 to 0.987.
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
DATA = HERE.parents[1] / "shared" / "data"


def main() -> int:
    warnings.filterwarnings("ignore")
    from distillaw import Posterior, fit
    from distillaw.decision import allocate
    from distillaw.loaders import load

    t = load(DATA / "epoch_chinchilla" / "svg_extracted_data.csv")
    gp = fit(t, "supervised", form="chinchilla", error="gp", draws=300, tune=400, chains=2,
             seed=1, progressbar=False, extrapolation="none")
    print("gp fit:", {k: gp.diagnostics()[k] for k in ("divergences", "r_hat_max")})
    dist = Posterior.load(HERE.parent / "models" / "distillation")
    law = {k: v for k, v in gp.param_draws().items() if k != "gp_weights"}
    rows = []
    for name, sup in (("gp", gp), ("law only", law)):
        for _ in range(2):
            t0 = time.perf_counter()
            a = allocate(dist, budget=1e21, student=1e9, scenario="teacher-inference",
                         risk="cvar:0.9", supervised=sup)
            wall = time.perf_counter() - t0
        rows.append((name, wall, a))
        print(f"{name:9s} {wall:6.2f} s  N_T {a.N_T:.3g}  D_T {a.D_T:.3g}  D_S {a.D_S:.3g}  "
              f"P(beats supervised) {a.p_beats_supervised:.3f}  supervised loss "
              f"{np.median(a.reported_supervised_loss_draws):.4f}")
    print(f"ratio gp / law only: {rows[0][1] / rows[1][1]:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
