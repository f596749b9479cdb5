"""Colours, the house style, figure and axis helpers, PNG rendering (shared by the figures)."""

from __future__ import annotations

import io

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from ..presentation import fmt_count

DISTIL = "#1f6f8b"       # teal-blue: distillation
SUPERVISED = "#e07b39"   # orange: supervised
ACCENT = "#c0392b"       # the chosen point
GREY = "#6b7280"
BAND_ALPHA = 0.22

STYLE = {
    "font.size": 9.5,
    "axes.titlesize": 10.5,
    "axes.titleweight": "bold",
    "axes.labelsize": 9.5,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.color": "#e5e7eb",
    "grid.linewidth": 0.7,
    "axes.edgecolor": "#9ca3af",
    "xtick.color": "#374151",
    "ytick.color": "#374151",
    "legend.frameon": False,
    "legend.fontsize": 8.5,
}


def _figure(w: float = 7.0, h: float = 4.2) -> Figure:
    return Figure(figsize=(w, h), dpi=110, layout="constrained")


def _tick_count(v: float) -> str:
    return f"1e{int(round(np.log10(v)))}" if v >= 1e15 else fmt_count(v)


def _count_axis(ax, axis: str = "x", numticks: int = 12) -> None:
    """Log axis with ticks as 1M, 10B, ... (powers of ten beyond 1000T)."""
    fmt = FuncFormatter(lambda v, _: _tick_count(v) if v > 0 else "")
    a = ax.xaxis if axis == "x" else ax.yaxis
    (ax.set_xscale if axis == "x" else ax.set_yscale)("log")
    a.set_major_locator(LogLocator(base=10, numticks=numticks))
    a.set_major_formatter(fmt)
    a.set_minor_formatter(NullFormatter())


def _flops_axis(ax) -> None:
    ax.set_xscale("log")
    ax.xaxis.set_major_locator(LogLocator(base=10, numticks=12))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"1e{int(round(np.log10(v)))}"
                                               if v > 0 else ""))
    ax.xaxis.set_minor_formatter(NullFormatter())


def to_png(fig: Figure, dpi: int = 130) -> bytes:
    """Render a figure to PNG bytes (Agg)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, facecolor="white")
    return buf.getvalue()


