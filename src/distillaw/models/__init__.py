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

__all__ = ["Built", "ModelSpec", "build", "build_model", "default_form", "fold_weighted"]


def build(spec: ModelSpec, table: pd.DataFrame, *, fold_weights: bool = False) -> Built:
    """Build the PyMC model of ``spec`` on ``table`` (a run table; validated here).

    ``fold_weights``: give each likelihood row a weight the extrapolation calibration sets
    per fold (:func:`distillaw.models._common.likelihood`); iid and heteroscedastic errors
    of the supervised and distillation laws only."""
    if not isinstance(spec, ModelSpec):
        raise ModelError(f"spec must be a ModelSpec, got {type(spec).__name__}")
    if not isinstance(table, pd.DataFrame):
        raise ModelError(f"table must be a pandas DataFrame, got {type(table).__name__}")
    table = validate_runs(table)  # RunTableError names row and column
    if fold_weights and not fold_weighted(spec):
        raise ModelError(f"fold weights apply to the supervised and distillation laws with "
                         f"iid or heteroscedastic errors, not {spec.law}/{spec.error}")
    if spec.law == "supervised":
        from .supervised import build_supervised

        return build_supervised(spec, table, fold_weights=fold_weights)
    if spec.law == "distillation":
        from .distillation import build_distillation

        return build_distillation(spec, table, fold_weights=fold_weights)
    from .capacity_gap import build_capacity_gap

    return build_capacity_gap(spec, table)


def fold_weighted(spec: ModelSpec) -> bool:
    """Whether ``build(spec, ..., fold_weights=True)`` applies: row-wise likelihoods only
    (the structured error's blocks and the GP's law directions depend on the rows fitted)."""
    return spec.law in ("supervised", "distillation") and spec.error in ("iid",
                                                                         "heteroscedastic")


def build_model(spec: ModelSpec, table: pd.DataFrame):
    """The ``pm.Model`` of ``spec`` on ``table`` (see :func:`build` for the resolved parts)."""
    return build(spec, table).model
