"""Posterior draws of the parameters the allocation needs, in the law functions' form."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from .. import hsgp
from ..draws import distillation_kwargs, supervised_kwargs
from ..draws import log_loss as _law_log_loss
from ..errors import DecisionError
from ..laws import SUPERVISED_PARAMS as SUP_PARAMS
from ..laws.distillation import PARAMS as DIS_PARAMS
from ..laws.supervised import log_supervised_loss

GP = "gp_weights"  # the draws' key of a supervised fit's GP discrepancy (error="gp")


class GPDraws:
    """Weight draws ``(..., M)`` of a supervised fit's GP discrepancy and its box: the
    supervised law's log loss gains ``f(log N, log D)`` (:func:`distillaw.hsgp.log_offsets`)
    wherever the allocation evaluates it (the baseline, the teacher, the student's own
    supervised loss inside the distillation law). Indexing and reshaping act on the draws'
    axes, so the weights travel with the parameters they were sampled with."""

    def __init__(self, weights, box):
        self.w = np.asarray(weights)
        self.box = box

    def __len__(self) -> int:
        return self.w.shape[0]

    def __getitem__(self, idx) -> GPDraws:
        return GPDraws(self.w[idx], self.box)

    def shaped(self, shape, dtype=np.float64) -> GPDraws:
        """The weights with the draws' axes reshaped to ``shape`` (the M axis kept last)."""
        return GPDraws(self.w.reshape(tuple(shape) + self.w.shape[-1:]).astype(dtype,
                                                                              copy=False),
                       self.box)

    def offset(self, lN, lD):
        return hsgp.log_offsets(self.w, lN, lD, self.box)


def _split_gp(sup: Mapping):
    """(the law's keywords, the GP's offset function or ``None``)."""
    gp = sup.get("gp")
    if gp is None:
        return sup, None
    return {k: v for k, v in sup.items() if k != "gp"}, gp.offset


def log_loss(sup: Mapping, dis, lNS, lDS, lNT=None, lDT=None):
    """:func:`distillaw.draws.log_loss` with the GP discrepancy of ``sup`` when it has one."""
    law, off = _split_gp(sup)
    return _law_log_loss(law, dis, lNS, lDS, lNT, lDT, offset=off)


def sup_log_loss(sup: Mapping, lN, lD):
    """The supervised law's log loss on draws, with its GP discrepancy when it has one."""
    law, off = _split_gp(sup)
    out = log_supervised_loss(lN, lD, **law)
    return out if off is None else out + off(lN, lD)


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


def _gp_draws(obj, d: dict) -> None:
    """Wrap a Posterior's GP weights (``d[GP]``, ``(S, M)``) with their box, in place."""
    from ..posterior import Posterior

    if GP in d:
        if not isinstance(obj, Posterior):  # the weights mean nothing without their box
            raise DecisionError("GP weights (gp_weights) need the fit's GP box: pass the "
                                "Posterior, not its draws")
        d[GP] = GPDraws(d[GP], obj._gp_box())


def _collect_draws(posterior, supervised, group, max_draws, seed) -> tuple[str, dict]:
    """Draws of every parameter the allocation needs, all of one length S.

    A supervised fit with ``error="gp"`` (the posterior, or ``supervised=``) brings its GP
    weights (key :data:`GP`, a :class:`GPDraws`), kept with the draws they belong to."""
    p = _point_or_draws(posterior, "posterior", group, max_draws, seed)
    _gp_draws(posterior, p)
    law = getattr(posterior, "law", None) or ("distillation" if "A_prime" in p else "supervised")
    if law not in ("supervised", "distillation"):
        raise DecisionError(f"allocation needs a supervised or distillation posterior, not {law}")
    sup_src = p
    if supervised is not None:
        if law != "distillation":
            raise DecisionError("supervised= only applies to a distillation posterior")
        s = _point_or_draws(supervised, "supervised", group, max_draws, seed + 1)
        _gp_draws(supervised, s)
        s.setdefault("gamma", np.ones_like(next(iter(s.values()))))
        missing = [k for k in SUP_PARAMS if k not in s]
        if missing:
            raise DecisionError(f"supervised parameters lack {', '.join(missing)}")
        p.pop(GP, None)
        sup_src = {k: s[k] for k in SUP_PARAMS + ((GP,) if GP in s else ())}
        p.update(sup_src)
    p.setdefault("gamma", np.ones_like(p["E"]) if "E" in p else np.ones(1))
    need = SUP_PARAMS + (DIS_PARAMS if law == "distillation" else ())
    missing = [k for k in need if k not in p]
    if missing:
        raise DecisionError(f"{law} allocation needs parameters: {', '.join(missing)}")
    keys = need + ((GP,) if GP in p else ())
    S = max(len(p[k]) if k == GP else np.size(p[k]) for k in keys)
    out = {}
    rng = np.random.default_rng(seed + 2)
    # Draws of separately fitted posteriors are paired at random (independence), with one
    # index per source, so each source's parameters stay jointly drawn.
    picks: dict[tuple, np.ndarray] = {}
    for k in keys:
        v = p[k] if k == GP else np.asarray(p[k], float).reshape(-1)
        n = len(v)
        if n == 1 and k != GP:
            out[k] = np.full(S, v[0])
            continue
        if n != S:
            key = (supervised is not None and k in sup_src, n)
            if key not in picks:
                picks[key] = rng.choice(n, S, replace=n < S)
            v = v[picks[key]]
        out[k] = v
    bad = [k for k in need if not np.all(np.isfinite(out[k]))]
    if GP in out and not np.all(np.isfinite(out[GP].w)):
        bad.append(GP)
    if bad:
        raise DecisionError(f"non-finite parameter draws: {', '.join(bad)}")
    return law, out


class _Params:
    """Log-scale parameter draws in the keyword form the law functions take. A GP
    discrepancy's weights (:class:`GPDraws`) ride in the supervised keywords under ``"gp"``,
    shaped like the parameters (plus their M axis): evaluate with :func:`log_loss` and
    :func:`sup_log_loss`, which take it out."""

    def __init__(self, d: Mapping[str, np.ndarray]):
        self.S = len(d["E"])
        self.sup = supervised_kwargs(d)
        self.dis = distillation_kwargs(d) if "A_prime" in d else None
        self.gp = d.get(GP)
        if self.gp is not None:
            self.sup["gp"] = self.gp

    def subset(self, idx: np.ndarray) -> _Params:
        """The same parameters for draws ``idx`` only."""
        out = object.__new__(_Params)
        out.S = len(idx)
        out.sup = {k: v[idx] for k, v in self.sup.items()}
        out.dis = None if self.dis is None else {k: v[idx] for k, v in self.dis.items()}
        out.gp = out.sup.get("gp")
        return out

    def rows(self, idx: np.ndarray, dtype=np.float64) -> tuple[dict, dict | None]:
        """Parameters of draws ``idx`` shaped ``(len(idx), 1)`` (one draw per candidate row):
        the same values as ``view(idx, dtype=dtype)``, gathered with one ``take`` from a
        stacked, cached ``(n_params, S)`` table instead of one gather and cast per parameter
        (the per-draw search asks for this on every block)."""
        key = np.dtype(dtype)
        cache = self.__dict__.setdefault("_stacked", {})
        law_sup = [k for k in self.sup if k != "gp"]
        if key not in cache:
            names = law_sup + ([] if self.dis is None else list(self.dis))
            cache[key] = (names, np.stack([np.asarray((self.sup | (self.dis or {}))[k], key)
                                           for k in names]))
        names, table = cache[key]
        got = np.take(table, idx, axis=1)[:, :, None]
        vals = dict(zip(names, got, strict=True))
        sup = {k: vals[k] for k in law_sup}
        if self.gp is not None:
            sup["gp"] = self.gp[idx].shaped((len(idx), 1), key)
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

        def gp_shape(g: GPDraws) -> GPDraws:
            if idx is None:
                n = len(g)
                return g.shaped((1,) * ndim + (n,) if last else (n,) + (1,) * ndim, dtype)
            return g[idx].shaped((-1, 1), dtype)
        sup = {k: gp_shape(v) if k == "gp" else shape(v) for k, v in self.sup.items()}
        dis = None if self.dis is None else {k: shape(v) for k, v in self.dis.items()}
        return sup, dis
