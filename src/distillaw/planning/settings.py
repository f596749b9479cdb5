"""Settings of the planner: methods, criteria, target kinds, sizes of the work."""

from __future__ import annotations

METHODS = ("active", "random", "log-grid", "d-optimal")
CRITERIA = ("auto", "importance", "linear", "mse")
TARGETS = ("allocation", "teacher")
CI = 0.9
# Cost powers tried by the budget-aware look-ahead (plan(cost_power="auto")): gain per FLOP,
# per sqrt FLOP, per FLOP^0.25, per run.
COST_POWERS = (1.0, 0.5, 0.25, 0.0)
DEFAULT_DRAWS = 1000
DEFAULT_FANTASIES = 64
# Most fitted rows that pin the misfit surface of criterion mse (one dense solve of this size).
SURFACE_ROWS = 2000
# Elements per chunk of the (candidates x scenarios x draws) weight tensor (~32 MB float64).
_CHUNK_ELEMS = 4_000_000
# Cache all observables' log-likelihoods when they fit in this many bytes (float32).
_CACHE_BYTES = 300_000_000
