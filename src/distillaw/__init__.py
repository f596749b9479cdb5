"""distillaw: Bayesian scaling laws for knowledge distillation.

Fit posteriors over the distillation scaling law (Busbridge et al. 2025) and the law of
capacity gap (Zhang et al.), turn them into risk-aware compute allocations, plan the next
experiments, and run them with a PyTorch distillation runner.

The light parts (laws, run table, loaders, simulator, published coefficients) import
eagerly; the PyMC-based parts load on first use so that ``distillaw --help`` stays fast.
"""

from __future__ import annotations

from importlib import import_module

from . import laws
from ._version import __version__
from .data import append_runs, read_runs, validate_runs, write_runs
from .errors import (
    DecisionError,
    DiagnosticsError,
    DistillawError,
    FormatError,
    ModelError,
    PlanningError,
    PosteriorError,
    PriorError,
    RunTableError,
)
from .laws.compute import SCENARIOS
from .loaders import load
from .published import published

# name -> module that defines it, imported on first attribute access (PyMC is slow to import).
_LAZY = {
    "Posterior": "distillaw.posterior",
    "fit": "distillaw.sampling",
    "ModelSpec": "distillaw.models",
    "allocate": "distillaw.decision",
    "compare_risks": "distillaw.decision",
    "crossover": "distillaw.decision",
    "build_report": "distillaw.report",
    "write_report": "distillaw.report",
    "candidate_grid": "distillaw.planning",
    "plan": "distillaw.planning",
    "simulate": "distillaw.simulate",
    "backtest": "distillaw.backtesting",
    "capacity_gap_from_distillation": "distillaw.teachers",
    "parse_risk": "distillaw.risk",
    "fmt_count": "distillaw.presentation",
    "plots": "distillaw.plots",
    "compare": "distillaw.comparing",
    "loo": "distillaw.comparing",
    "plot_fit": "distillaw.plots",
    "plot_ppc": "distillaw.plots",
}


def __getattr__(name: str):
    if name in _LAZY:
        mod = import_module(_LAZY[name])
        return mod if name == mod.__name__.rsplit(".", 1)[-1] else getattr(mod, name)
    raise AttributeError(f"module 'distillaw' has no attribute {name!r}")


__all__ = [
    "DecisionError", "DiagnosticsError", "DistillawError", "FormatError", "ModelError",
    "PlanningError", "PosteriorError", "PriorError", "RunTableError", "SCENARIOS", "__version__",
    "append_runs", "laws", "load", "published", "read_runs", "validate_runs", "write_runs",
    *_LAZY,
]
