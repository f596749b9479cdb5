"""Is nutpie's low-rank mass matrix a safe default for some tables? Diagonal vs low-rank on
the same tables, seeds and draws (4 chains x 1000 + 1000, ``extrapolation="none"``), one
line each: max r_hat, divergences, leapfrog steps per draw, min bulk ESS, ESS per second.

Tables (all ungrouped supervised fits, the case where low-rank paid on Epoch):
Epoch's 240 Chinchilla points; Epoch's training split of ``extrapolation_holdout.py`` (207
points) with ``error="heteroscedastic"``; one Porian configuration (113 runs); simulated
Epoch-law tables of 60 and 120 runs (1% noise, log-uniform sizes around 20 tokens/param).

Run: ``.venv/bin/python bench/mass_matrix.py`` (about 2 minutes on 2 cores). Measured
2026-12-01: low-rank diverged on 4 of the 5 (1, 3, 6 and 2 divergences) where the diagonal
one gave none; only Epoch's 240 points were clean (steps per draw 51 -> 6). So the default
stays diagonal and low-rank stays opt-in (``fit(mass_matrix="low-rank")``).
"""

from __future__ import annotations

import sys
import time
import warnings
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
DATA = HERE.parent.parent / "shared" / "data"


def tables() -> dict:
    sys.path.insert(0, str(HERE))
    import extrapolation_holdout as eh

    from distillaw.loaders import load
    from distillaw.published import published
    from distillaw.simulate import simulate_supervised

    out = {}
    ep = load(DATA / "epoch_chinchilla" / "chinchilla_epoch_tidy.csv")
    out["epoch240"] = (ep.sort_values("L").iloc[:240], "iid")  # Epoch drop the 5 highest
    train, _, _ = eh.epoch_split(DATA, 2)
    out["epoch207-het"] = (train, "heteroscedastic")
    po = load(DATA / "porian2024" / "porian2024_isoflop_points.csv")
    first = sorted(po["group"].unique())[0]
    out["porian-config"] = (po[po["group"] == first].drop(columns=["group"]), "iid")
    p = published("epoch2024").point()
    for n in (60, 120):
        C = np.repeat(np.geomspace(1e17, 1e20, n // 6), 6)
        rng = np.random.default_rng(n)
        N = (C / 6 / 20) ** 0.5 * np.exp(rng.uniform(-1.5, 1.5, n))
        out[f"sim{n}"] = (simulate_supervised(p, N, C / (6 * N), sigma=0.01, seed=n), "iid")
    return out


def main() -> int:
    warnings.filterwarnings("ignore")
    import distillaw as dl

    print(f"{'table':14s} {'rows':>5s} {'mass':8s} {'r_hat':>6s} {'div':>4s} {'steps':>6s} "
          f"{'ESS min':>8s} {'ESS/s':>8s} {'wall s':>7s}")
    for name, (t, err) in tables().items():
        for mm in ("diag", "low-rank"):
            t0 = time.perf_counter()
            post = dl.fit(t, "supervised", form="chinchilla", error=err, draws=1000,
                          tune=1000, chains=4, mass_matrix=mm, progressbar=False,
                          extrapolation="none", seed=0)
            d = post.diagnostics()
            print(f"{name:14s} {len(t):5d} {mm:8s} {d['r_hat_max']:6.3f} {d['divergences']:4d} "
                  f"{d['steps_per_draw']:6.0f} {d['ess_bulk_min']:8.0f} "
                  f"{d['ess_bulk_per_second']:8.0f} {time.perf_counter() - t0:7.1f}",
                  flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
