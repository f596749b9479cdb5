"""Posterior draws of the parameters the allocation needs, in the law functions' form."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ..draws import distillation_kwargs, supervised_kwargs
from ..errors import DecisionError
from ..laws import SUPERVISED_PARAMS as SUP_PARAMS
from ..laws.distillation import PARAMS as DIS_PARAMS


# ============================================================================ draws
def _point_or_draws(obj, what: str, group: str | None, max_draws: int | None,
                    seed: int) -> dict[str, np.ndarray]:
    """Parameter draws from a Posterior, published Coefficients or a mapping."""
    from ..posterior import Posterior
    from ..published import Coefficients

    if isinstance(obj, Posterior):
        return obj.param_draws(group, max_draws=max_draws, seed=seed)
    if isinstance(obj, Coefficients):
        return {k: np.atleast_1d(np.asarray(v, float)) for k, v in obj.point().items()}
    if isinstance(obj, Mapping):
        try:
            return {k: np.atleast_1d(np.asarray(v, float)) for k, v in obj.items()}
        except (TypeError, ValueError):
            raise DecisionError(f"{what}: parameter values must be numbers or arrays") from None
    raise DecisionError(f"{what} must be a Posterior, published coefficients or a mapping of "
                        f"parameters, got {type(obj).__name__}")


def _collect_draws(posterior, supervised, group, max_draws, seed) -> tuple[str, dict]:
    """Draws of every parameter the allocation needs, all of one length S."""
    p = _point_or_draws(posterior, "posterior", group, max_draws, seed)
    if "gp_weights" in p:  # never dropped silently: the allocation evaluates the law alone
        raise DecisionError("allocation does not yet use a GP discrepancy (error='gp'); decide "
                            "on a fit with error='heteroscedastic'")
    law = getattr(posterior, "law", None) or ("distillation" if "A_prime" in p else "supervised")
    if law not in ("supervised", "distillation"):
        raise DecisionError(f"allocation needs a supervised or distillation posterior, not {law}")
    if supervised is not None:
        if law != "distillation":
            raise DecisionError("supervised= only applies to a distillation posterior")
        s = _point_or_draws(supervised, "supervised", group, max_draws, seed + 1)
        if "gp_weights" in s:  # only its law parameters are taken below: refuse, not drop
            raise DecisionError("supervised=: allocation does not yet use a GP discrepancy "
                                "(error='gp'); pass a supervised fit with "
                                "error='heteroscedastic'")
        s.setdefault("gamma", np.ones_like(next(iter(s.values()))))
        missing = [k for k in SUP_PARAMS if k not in s]
        if missing:
            raise DecisionError(f"supervised parameters lack {', '.join(missing)}")
        p.update({k: s[k] for k in SUP_PARAMS})
    p.setdefault("gamma", np.ones_like(p["E"]) if "E" in p else np.ones(1))
    need = SUP_PARAMS + (DIS_PARAMS if law == "distillation" else ())
    missing = [k for k in need if k not in p]
    if missing:
        raise DecisionError(f"{law} allocation needs parameters: {', '.join(missing)}")
    sizes = {np.size(p[k]) for k in need}
    S = max(sizes)
    out = {}
    rng = np.random.default_rng(seed + 2)
    for k in need:
        v = np.asarray(p[k], float).reshape(-1)
        if v.size == 1:
            v = np.full(S, v[0])
        elif v.size != S:
            # Draws of separately fitted posteriors: pair them at random (independence).
            v = v[rng.choice(v.size, S, replace=v.size < S)]
        out[k] = v
    bad = [k for k in need if not np.all(np.isfinite(out[k]))]
    if bad:
        raise DecisionError(f"non-finite parameter draws: {', '.join(bad)}")
    return law, out


class _Params:
    """Log-scale parameter draws in the keyword form the law functions take."""

    def __init__(self, d: Mapping[str, np.ndarray]):
        self.S = len(d["E"])
        self.sup = supervised_kwargs(d)
        self.dis = distillation_kwargs(d) if "A_prime" in d else None

    def subset(self, idx: np.ndarray) -> _Params:
        """The same parameters for draws ``idx`` only."""
        out = object.__new__(_Params)
        out.S = len(idx)
        out.sup = {k: v[idx] for k, v in self.sup.items()}
        out.dis = None if self.dis is None else {k: v[idx] for k, v in self.dis.items()}
        return out

    def rows(self, idx: np.ndarray, dtype=np.float64) -> tuple[dict, dict | None]:
        """Parameters of draws ``idx`` shaped ``(len(idx), 1)`` (one draw per candidate row):
        the same values as ``view(idx, dtype=dtype)``, gathered with one ``take`` from a
        stacked, cached ``(n_params, S)`` table instead of one gather and cast per parameter
        (the per-draw search asks for this on every block)."""
        key = np.dtype(dtype)
        cache = self.__dict__.setdefault("_stacked", {})
        if key not in cache:
            names = list(self.sup) + ([] if self.dis is None else list(self.dis))
            cache[key] = (names, np.stack([np.asarray((self.sup | (self.dis or {}))[k], key)
                                           for k in names]))
        names, table = cache[key]
        got = np.take(table, idx, axis=1)[:, :, None]
        vals = dict(zip(names, got, strict=True))
        sup = {k: vals[k] for k in self.sup}
        dis = None if self.dis is None else {k: vals[k] for k in self.dis}
        return sup, dis

    def view(self, idx=None, ndim: int = 2, dtype=np.float64,
             last: bool = False) -> tuple[dict, dict | None]:
        """Parameters reshaped to broadcast against candidate arrays of ``ndim`` dims.

        ``idx=None`` gives shape ``(S,) + (1,) * ndim`` (all draws against every candidate),
        or with ``last`` ``(1,) * ndim + (S,)`` (draws on the last, contiguous axis); an
        index array gives ``(len(idx), 1)`` (one draw per candidate row).
        """
        def shape(v):
            if idx is None:
                sh = (1,) * ndim + (-1,) if last else (-1,) + (1,) * ndim
                return v.reshape(sh).astype(dtype, copy=False)
            return v[idx].reshape(-1, 1).astype(dtype, copy=False)
        sup = {k: shape(v) for k, v in self.sup.items()}
        dis = None if self.dis is None else {k: shape(v) for k, v in self.dis.items()}
        return sup, dis



