r"""Risk measures: turn posterior draws of a loss into one score per candidate (lower = better).

A risk measure is a small callable ``(loss_draws) -> score`` that reduces axis 0 (posterior
draws) of an array of losses in nats; an array of shape ``(S, K)`` (S draws of K candidate
allocations) gives ``K`` scores. This is the shape of pymc-marketing's utility functions,
with the sign flipped: a loss is to be minimised, so every score here is "lower is better".

=================  ===========================================================================
``mean()``         expected loss, :math:`E[L]` (risk neutral)
``quantile(q)``    the ``q``-quantile of the loss, e.g. ``q = 0.9``: "90% sure it is at most"
``cvar(alpha)``    conditional value at risk: mean of the worst ``1 - alpha`` tail of the
                   loss, :math:`E[L \mid L \ge \mathrm{VaR}_\alpha]` (Rockafellar & Uryasev 2000)
``mean_sd(lam)``   :math:`E[L] + \lambda\,\mathrm{SD}[L]` (mean-variance style)
=================  ===========================================================================

For the empirical distribution of S draws, CVaR is exact: the mean of the worst
``(1 - alpha) S`` draws, the boundary draw counted with its fractional weight, so it moves
continuously with ``alpha`` and is never below the mean or above the maximum. With two
equally likely draws, ``cvar(0.5)`` is the worse of the two (minimax).

:func:`parse_risk` reads the command-line spelling ``mean | quantile:Q | cvar:A | mean-sd:L``.

Example
-------
>>> import numpy as np
>>> draws = np.array([[2.0, 2.1], [2.4, 2.2]])      # 2 draws x 2 candidates
>>> mean()(draws), cvar(0.5)(draws)
(array([2.2 , 2.15]), array([2.4, 2.2]))
>>> parse_risk("quantile:0.9").spec
'quantile:0.9'
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from .errors import DecisionError

RISK_HELP = "mean | quantile:Q (0<Q<1) | cvar:A (0<=A<1) | mean-sd:L (L>=0)"


@dataclass(frozen=True)
class Risk:
    """A named risk measure; call it on loss draws ``(S, ...)`` to get scores ``(...)``.

    ``name`` is one of ``mean, quantile, cvar, mean-sd`` (or ``custom``) and ``param`` its
    number; :attr:`spec` gives back the string :func:`parse_risk` reads.
    """

    name: str
    param: float | None
    fn: Callable[[np.ndarray], np.ndarray] = field(repr=False, compare=False)

    def __call__(self, loss_draws) -> np.ndarray:
        return self.fn(np.asarray(loss_draws, dtype=float))

    @property
    def spec(self) -> str:
        """Command-line spelling, e.g. ``"cvar:0.9"``."""
        return self.name if self.param is None else f"{self.name}:{self.param:g}"

    @property
    def label(self) -> str:
        """Plain-words description for reports."""
        if self.name == "mean":
            return "expected loss"
        if self.name == "quantile":
            return f"{100 * self.param:g}th percentile of the loss"
        if self.name == "cvar":
            worst = 100 * (1 - self.param)
            return f"CVaR {100 * self.param:g}% (mean of the worst {worst:.3g}% of draws)"
        if self.name == "mean-sd":
            return f"mean + {self.param:g} x SD of the loss"
        return "custom risk measure"

    def __str__(self) -> str:
        return self.spec


def _mean(x: np.ndarray) -> np.ndarray:
    return x.mean(axis=0)


def mean() -> Risk:
    """Expected loss over the posterior (risk neutral).

    Example
    -------
    >>> float(mean()([2.0, 3.0]))
    2.5
    """
    return Risk("mean", None, _mean)


def quantile(q: float) -> Risk:
    """The ``q``-quantile of the loss over the draws (linear interpolation), ``0 < q < 1``.

    Example
    -------
    >>> float(quantile(0.5)([2.0, 3.0, 10.0]))
    3.0
    """
    q = _number(q, "quantile level")
    if not 0.0 < q < 1.0:
        raise DecisionError(f"quantile level must be in (0, 1), got {q:g}")

    def fn(x: np.ndarray) -> np.ndarray:
        return np.quantile(x, q, axis=0)

    return Risk("quantile", q, fn)


def cvar(alpha: float) -> Risk:
    """Mean of the worst ``1 - alpha`` tail of the loss, ``0 <= alpha < 1``.

    ``alpha = 0`` is the mean; as ``alpha -> 1`` it tends to the worst draw.

    Example
    -------
    >>> float(cvar(0.5)([2.0, 3.0, 4.0, 5.0]))   # worst half: (4 + 5) / 2
    4.5
    >>> float(cvar(0.9)([2.0, 3.0]))              # tail smaller than one draw: the worst
    3.0
    """
    alpha = _number(alpha, "CVaR level")
    if not 0.0 <= alpha < 1.0:
        raise DecisionError(f"CVaR level must be in [0, 1), got {alpha:g}")

    def fn(x: np.ndarray) -> np.ndarray:
        S = x.shape[0]
        tail = (1.0 - alpha) * S          # number of draws in the tail (fractional)
        k = int(np.floor(tail + 1e-9))    # whole draws in the tail
        frac = tail - k if tail - k > 1e-9 else 0.0
        if k >= S:
            return x.mean(axis=0)
        # Partition so the top k+1 values sit at the end (index S-k-1 = the boundary draw).
        part = np.partition(x, S - k - 1, axis=0)
        top = part[S - k:].sum(axis=0) if k else 0.0
        return (top + frac * part[S - k - 1]) / (k + frac)

    return Risk("cvar", alpha, fn)


def mean_sd(lam: float) -> Risk:
    """``E[L] + lam * SD[L]`` over the draws, ``lam >= 0``.

    Example
    -------
    >>> float(mean_sd(1.0)([2.0, 4.0]))
    4.0
    """
    lam = _number(lam, "mean-sd weight")
    if not (lam >= 0.0 and np.isfinite(lam)):
        raise DecisionError(f"mean-sd weight must be a finite number >= 0, got {lam:g}")

    def fn(x: np.ndarray) -> np.ndarray:
        return x.mean(axis=0) + lam * x.std(axis=0)

    return Risk("mean-sd", lam, fn)


def custom(fn: Callable[[np.ndarray], np.ndarray], name: str = "custom") -> Risk:
    """Wrap any ``(loss_draws (S, K)) -> (K,)`` callable (lower is better) as a :class:`Risk`."""
    if not callable(fn):
        raise DecisionError("a custom risk measure must be callable")
    return Risk(name, None, fn)


def _number(v, what: str) -> float:
    try:
        out = float(v)
    except (TypeError, ValueError):
        raise DecisionError(f"{what} must be a number, got {v!r}") from None
    if not np.isfinite(out):
        raise DecisionError(f"{what} must be finite, got {v!r}")
    return out


_FACTORIES: dict[str, Callable[[float], Risk]] = {
    "quantile": quantile, "cvar": cvar, "mean-sd": mean_sd,
}


def parse_risk(spec: str | Risk | Callable) -> Risk:
    """Read a risk measure from ``mean | quantile:Q | cvar:A | mean-sd:L`` (or pass one through).

    Raises :class:`~distillaw.errors.DecisionError` naming the accepted spellings on an
    unknown name, a missing/extra number or an out-of-range value.

    Example
    -------
    >>> parse_risk("cvar:0.95")
    Risk(name='cvar', param=0.95)
    >>> parse_risk("mean").spec
    'mean'
    """
    if isinstance(spec, Risk):
        return spec
    if callable(spec) and not isinstance(spec, str):
        return custom(spec)
    if not isinstance(spec, str):
        raise DecisionError(f"risk measure must be a string ({RISK_HELP}), got {spec!r}")
    text = spec.strip().lower()
    name, sep, arg = text.partition(":")
    name = name.strip().replace("_", "-")
    if name == "mean":
        if sep:
            raise DecisionError(f"risk measure 'mean' takes no number, got {spec!r}")
        return mean()
    if name not in _FACTORIES:
        raise DecisionError(f"unknown risk measure {spec!r}; use {RISK_HELP}")
    if not arg.strip():
        raise DecisionError(f"risk measure {name!r} needs a number, e.g. {name}:0.9 "
                            f"({RISK_HELP})")
    try:
        value = float(arg)
    except ValueError:
        raise DecisionError(f"risk measure {spec!r}: {arg.strip()!r} is not a number "
                            f"({RISK_HELP})") from None
    return _FACTORIES[name](value)


STANDARD = ("mean", "quantile:0.9", "cvar:0.9", "mean-sd:1")
"""The risk measures a report compares side by side."""
