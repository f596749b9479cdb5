"""Number formatting and confidence words shared by the report, the plots and the
allocation summaries."""

from __future__ import annotations

import numpy as np


def fmt_count(x: float | None, unit: str = "") -> str:
    """Human count: 2.1e9 -> '2.1B' (K, M, B, T; beyond 1000T in powers of ten).

    Example
    -------
    >>> fmt_count(999999999.99), fmt_count(4.8e10, "tokens"), fmt_count(3e17)
    ('1B', '48B tokens', '3e+17')
    """
    if x is None or not np.isfinite(x):
        return "n/a"
    x = float(f"{x:.3g}")                     # round first so 999.99M reads as 1B
    tail = f" {unit}" if unit else ""
    for div, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "K")):
        if abs(x) >= div:
            v = x / div
            if v >= 1000:
                return f"{x:.3g}{tail}"
            return f"{v:.3g}{suffix}{tail}"
    return f"{x:.3g}{tail}"


def fmt_small(x: float) -> str:
    """A small non-negative quantity: 2 significant digits, or '< 1e-6'."""
    return "< 1e-6" if x < 1e-6 else f"{x:.2g}"


def fmt_flops(x: float) -> str:
    """'1e+21' -> '1.0e21 FLOPs'."""
    m, e = f"{x:.2e}".split("e")
    return f"{float(m):.3g}e{int(e)} FLOPs"


def _confidence(p: float) -> str:
    q = max(p, 1 - p)
    word = ("near certain" if q >= 0.99 else "very likely" if q >= 0.95 else
            "likely" if q >= 0.8 else "more likely than not" if q >= 0.6 else "a coin flip")
    side = "distillation wins" if p >= 0.5 else "supervised wins"
    return side + ", " + word if word != "a coin flip" else word
