"""Array-namespace helper so each law is written once and runs on NumPy and PyTensor.

The law functions only use: + - * / **, and ``xp.exp``, ``xp.log``, ``xp.log1p``,
``xp.maximum``, ``xp.abs``. Both ``numpy`` and ``pytensor.tensor`` provide these.
"""

from __future__ import annotations

from types import ModuleType

import numpy as np


def namespace(*values) -> ModuleType:
    """Return ``pytensor.tensor`` if any value is a PyTensor variable, else ``numpy``."""
    for v in values:
        if type(v).__module__.startswith("pytensor"):
            import pytensor.tensor as pt

            return pt
    return np


def lse(a, b, xp: ModuleType = np):
    """log(exp(a) + exp(b)), stable for large |a - b|.

    Written out here rather than using ``pt.logaddexp``, which PyTensor builds as the naive
    ``log(exp(a) + exp(b))``; this way both back ends evaluate the same expression.
    """
    m = xp.maximum(a, b)
    return m + xp.log1p(xp.exp(-xp.abs(a - b)))
