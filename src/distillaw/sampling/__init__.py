"""fit(): the one place that samples (``distillaw.fit`` is this package's :func:`fit`). Run
table + law -> :class:`~distillaw.posterior.Posterior`.

Modules: :mod:`.fitting` (``fit``), :mod:`.engine` (the engines, Ctrl-C and partial-draw
guards), :mod:`.digamma` (a cacheable digamma for the numba backend), :mod:`.folds` (the
extrapolation calibration's folds), :mod:`.groups` (diagnostics and the ArviZ groups a fit
stores).

Engines (``sampler=``), never swapped silently:

- ``"nutpie"`` (default): nutpie's NUTS on the model compiled with PyTensor's numba backend.
  Measured on Epoch's 240 Chinchilla points (4 chains x 1000+1000, shared 2-core machine):
  10-26 s to compile (nutpie's numba wrappers are not cached across processes; PyTensor's
  own cache makes later runs faster: with :mod:`.digamma` the whole Student-t log-density
  is cacheable, and a refit of the same table compiles in ~3 s instead of ~5.5 s), 5-20 s
  to sample depending on load; PyMC's own NUTS
  took ~80 s for the same draws; nutpie's JAX backend compiled in 5 s but sampled ~20x
  slower on CPU (per-call overhead on this small model). The mass matrix is the diagonal
  one by default; nutpie's low-rank modified one (``mass_matrix="low-rank"``: the diagonal
  plus the few directions in which the posterior is strongly correlated) is opt-in.
  ``bench/geometry.py``, same seeds and draws, shared 2-core machine: on Epoch's 240 points
  (4x1000) low-rank took steps per draw 48 -> 6, min bulk ESS per second 17x, 0 divergences,
  r_hat 1.00; on the digitised Busbridge train split (2x500) 820 -> 48 steps per draw, ESS/s
  3.4x, but r_hat 1.02 and one divergence in the distillation recovery test; on Porian's
  configurations (hierarchical, 2x500) 10 divergences, r_hat 1.05. On a small supervised
  table (14 runs, 2x1000, the refit test's) it gave 9 divergences and r_hat 1.03 where the
  diagonal one gave none (r_hat 1.004): not a safe default. Nor by table size: at 4x1000 on
  ungrouped supervised tables it diverged on Epoch's 207-point training split with
  ``error="heteroscedastic"`` (1), one Porian configuration (113 runs: 3, r_hat 1.024) and
  simulated tables of 60 and 120 runs (6 and 2), where the diagonal one gave none; only
  Epoch's 240 points were clean (measured for issue 13, December 2026), and those only at
  seed 0: seeds 1-5 gave 0-4 divergences at nutpie's target_accept 0.8, none at 0.9,
  which ``fit`` now uses with the low-rank metric unless told otherwise. Since the
  distillation model samples its student term's level coordinates, low-rank fits the
  digitised Busbridge table with iid error in 15 steps per draw, clean in 8 seeds of 8, but
  still diverges now and then under the default heteroscedastic error and the structured one
  (``bench/geometry.py``'s table). At target_accept 0.98 it is clean under the
  heteroscedastic error too, but mixes the student term's curved ridge slowly per draw: a
  distillation-only table therefore samples by default under low-rank at 0.98, twice the
  draws, every second kept, trajectories capped at 255 leapfrog steps (a cap that binds
  only while the first tuning windows still use the identity metric)
  (:data:`.fitting.DISTILLATION_ONLY_SAMPLER`; the digitised Busbridge table: 19 s of
  sampling instead of 79 s at the same ESS). Elsewhere it stays opt-in.
- ``"pymc"``: PyMC's NUTS (C backend), for machines without nutpie.
- ``"numpyro"``: JAX NUTS through PyMC, for large hierarchical fits on a GPU.

Every fit records the sampler settings, the data hash, the resolved priors and reference
sizes, and diagnostics (max r_hat, min bulk/tail ESS, divergences) on the Posterior.
"""

from __future__ import annotations

from ..errors import DistillawError
from .engine import MASS_MATRICES, SAMPLERS
from .fitting import fit
from .folds import AUTO_MIN_ROWS, EXTRAPOLATION
from .groups import compute_diagnostics

__all__ = ["AUTO_MIN_ROWS", "EXTRAPOLATION", "MASS_MATRICES", "SAMPLERS", "DistillawError",
           "compute_diagnostics", "fit"]
