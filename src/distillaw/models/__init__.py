"""PyMC models of the three laws, built from a :class:`ModelSpec` and a run table.

``build(spec, table)`` returns a :class:`Built` (the ``pm.Model`` plus what was resolved
from the data: priors, reference sizes, rows used); ``build_model`` returns the model only.
Only :mod:`distillaw.sampling` (``distillaw.fit``) samples these models.

Example
-------
>>> from distillaw.simulate import shipped_supervised
>>> m = build_model(ModelSpec("supervised"), shipped_supervised())
>>> sorted(v.name for v in m.free_RVs)[:3]
['log_A_ref', 'log_B_ref', 'log_E']
"""

from __future__ import annotations

import pandas as pd

from ..data import validate_runs
from ..errors import ModelError
from ._common import Built
from .spec import ModelSpec, default_form

__all__ = ["Built", "ModelSpec", "build", "build_model", "default_form"]


def build(spec: ModelSpec, table: pd.DataFrame) -> Built:
    """Build the PyMC model of ``spec`` on ``table`` (a run table; validated here)."""
    if not isinstance(spec, ModelSpec):
        raise ModelError(f"spec must be a ModelSpec, got {type(spec).__name__}")
    if not isinstance(table, pd.DataFrame):
        raise ModelError(f"table must be a pandas DataFrame, got {type(table).__name__}")
    table = validate_runs(table)  # RunTableError names row and column
    if spec.law == "supervised":
        from .supervised import build_supervised

        return build_supervised(spec, table)
    if spec.law == "distillation":
        from .distillation import build_distillation

        return build_distillation(spec, table)
    from .capacity_gap import build_capacity_gap

    return build_capacity_gap(spec, table)


def build_model(spec: ModelSpec, table: pd.DataFrame):
    """The ``pm.Model`` of ``spec`` on ``table`` (see :func:`build` for the resolved parts)."""
    return build(spec, table).model
