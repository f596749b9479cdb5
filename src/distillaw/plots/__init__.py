"""Figures (this package is the only importer of matplotlib).

Modules: :mod:`.allocation` (figures of allocations, for reports), :mod:`.fit` (a fit
against its data; its posterior predictive check), :mod:`._style` (colours, house style,
PNG rendering). Free functions, data first, each returning a :class:`matplotlib.figure.Figure`. Figures are
built with the object API (``Figure``, no ``pyplot``), so nothing here touches global
state or needs a display; PNGs are rendered by the Agg canvas.

- :func:`plot_teacher_frontier` -- student loss against teacher size at the budget, with
  credible bands, the chosen (capacity-gap) optimum, Zhang et al.'s 2.5x rule and the
  supervised alternative;
- :func:`plot_token_frontier` -- the same against the distillation tokens D_S;
- :func:`plot_loss_distributions` -- distilled vs supervised student loss at the budget, and
  their difference with P(distillation beats supervised);
- :func:`plot_risk_comparison` -- the allocation chosen under each risk measure, side by side;
- :func:`plot_crossover` -- distilled and supervised loss against compute, with bands and the
  crossover marked;
- :func:`plot_fit` -- a fitted law against its runs: law and predictive bands, fitted and
  held-out runs (``dl.plot_fit``);
- :func:`plot_ppc` -- posterior predictive check of the fitted log-losses with
  ``az.plot_ppc`` (``dl.plot_ppc``).

Legends of plot_fit and plot_ppc sit outside the axes, so they never cover data.

Examples are in :mod:`distillaw.plots.allocation` and :func:`plot_fit`.
"""

from __future__ import annotations

from ._style import ACCENT, BAND_ALPHA, DISTIL, GREY, STYLE, SUPERVISED, to_png
from .allocation import (
    plot_crossover,
    plot_loss_distributions,
    plot_risk_comparison,
    plot_teacher_frontier,
    plot_token_frontier,
)
from .fit import plot_fit, plot_ppc

__all__ = ["ACCENT", "BAND_ALPHA", "DISTIL", "GREY", "STYLE", "SUPERVISED", "plot_crossover",
           "plot_fit", "plot_loss_distributions", "plot_ppc", "plot_risk_comparison",
           "plot_teacher_frontier", "plot_token_frontier", "to_png"]
