r"""Structured error model: covariance of the systematic error (NumPy; used to fit and predict).

The law is the mean; what the data show beyond it is put where it lives (issue 11)::

    log L_i = law_i + e_i + eps_i,      eps_i ~ Normal(0, sigma)  (iid noise)
    e ~ Normal(0, K),  K_ij = [same block] (tau_curve^2 [distillation]
                                            + tau_rw^2 BM(x_i, x_j; x_ref)
                                            + tau_lt^2 BM(t_i, t_j; t_ref[block]))

- a *block* is a distillation curve, i.e. one student configuration ``(N_S, D_S)`` (its
  rows differ only by teacher: a digitised curve or a training setup shares one bias), or
  all supervised rows of a track (kind, plus the group in grouped fits);
- ``BM(a, b; r) = min(|a - r|, |b - r|)`` when ``a, b`` lie on the same side of ``r`` (else
  0) is a Brownian motion anchored at ``r``;
- ``x = log N + log D`` is log compute, anchored at the fitted rows' median: a curve's
  offset has variance ``tau_curve^2 + tau_rw^2 |x - x_ref|``, and supervised rows wander
  with compute as a Brownian motion (held at ``N_NODES`` nodes spanning the block's fitted
  compute, linearly interpolated in between, so its rank stays small), so the law's misfit
  grows like ``tau_rw sqrt(distance)`` away from the data;
- ``t = log L_T`` inside a curve, anchored at the curve's median fitted teacher loss: the
  misfit along the teacher axis (e.g. the break near ``L_T ~ d1 Ltilde_S``) grows for
  teachers beyond the ones the curve was fitted with.

The scales are learned from how the residuals co-vary in the fitted data; none is a
hand-set extrapolation penalty. The systematic terms are Gaussian, so the model integrates
them out exactly (one multivariate normal per block): no latent offsets to sample, no
funnels, and blocks stay cheap (a curve: small and dense; a track of supervised rows: low
rank, by Woodbury; see :mod:`distillaw.models.error`). Teachers shared
*across* curves would couple the blocks into one dense n x n covariance (measured: a
300-row dense marginal took several minutes to sample on this machine), so there is no
separate per-teacher term: the teacher axis is the ``t`` discrepancy within each curve.

A prediction for a new run (:func:`offset_draws`) is the Gaussian conditional of its ``e``
given each draw's residuals on its block's fitted rows: a seen curve carries its fitted
offset and its fitted teacher range; an unseen curve or track carries the population
spread at its distance from the data. The fitted rows are stored with the posterior
(``constant_data``), so a reloaded posterior predicts identically.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

TAUS = ("tau_curve", "tau_rw", "tau_lt")
JITTER = 1e-12  # on the covariance diagonal, over sigma^2
N_NODES = 12  # nodes of a supervised block's compute walk (its rank)


def _kinds(df: pd.DataFrame, law: str) -> np.ndarray:
    default = "supervised" if law == "supervised" else "distillation"
    if "kind" in df.columns:
        k = df["kind"].astype(object).where(df["kind"].notna(), default)
        return k.astype(str).to_numpy()
    return np.full(len(df), default, dtype=object).astype(str)


@dataclass
class Keys:
    """Per-row block label, kind flag and coordinates of the error terms."""

    block: np.ndarray  # str
    is_curve: np.ndarray  # bool: a distillation curve (has the curve offset)
    x: np.ndarray  # log compute
    t: np.ndarray  # log teacher loss (nan where none)

    def take(self, idx) -> Keys:
        return Keys(self.block[idx], self.is_curve[idx], self.x[idx], self.t[idx])


def row_keys(df: pd.DataFrame, law: str, group_col: str | None) -> Keys:
    """Block, curve flag, log compute and log teacher loss of each row."""
    n = len(df)
    kinds = _kinds(df, law)
    if group_col is None:
        track = kinds
    else:
        g = (df[group_col].astype(object).where(df[group_col].notna(), "").astype(str)
             .to_numpy() if group_col in df.columns else np.full(n, ""))
        track = np.array([f"{k}|{gg}" for k, gg in zip(kinds, g, strict=True)])
    N = pd.to_numeric(df["N"], errors="coerce").to_numpy(float)
    D = pd.to_numeric(df["D"], errors="coerce").to_numpy(float)
    LT = (pd.to_numeric(df["L_T"], errors="coerce").to_numpy(float) if "L_T" in df.columns
          else np.full(n, np.nan))
    dist = kinds == "distillation"
    block = np.array([f"{tr}|N={a:.4g},D={b:.4g}" if d else str(tr)
                      for tr, a, b, d in zip(track, N, D, dist, strict=True)])
    with np.errstate(invalid="ignore", divide="ignore"):
        t = np.where(dist & (LT > 0), np.log(LT), np.nan)
    return Keys(block, dist, np.log(N) + np.log(D), t)


@dataclass
class Anchors:
    x_ref: float
    t_ref: dict  # block -> median fitted log L_T
    t_all: float  # for blocks the fit never saw
    nodes: dict  # supervised block -> node positions of its compute walk (anchor excluded)


def anchors(fitted: Keys) -> Anchors:
    """Anchors of the Brownian motions, recomputed from the stored fitted rows."""
    t = fitted.t[np.isfinite(fitted.t)]
    t_ref = {}
    for b in np.unique(fitted.block):
        tb = fitted.t[(fitted.block == b) & np.isfinite(fitted.t)]
        if tb.size:
            t_ref[str(b)] = float(np.median(tb))
    x_ref = float(np.median(fitted.x))
    nodes = {}
    for b in np.unique(fitted.block[~fitted.is_curve]):
        xb = fitted.x[fitted.block == b]
        grid = np.linspace(xb.min(), xb.max(), min(N_NODES, np.unique(xb).size))
        nodes[str(b)] = np.unique(np.r_[grid, x_ref])
    return Anchors(x_ref, t_ref, float(np.median(t)) if t.size else 0.0, nodes)


def node_weights(x: np.ndarray, nodes: np.ndarray, x_ref: float):
    """Linear-interpolation weights of ``x`` on the walk's nodes ``(len(x), nodes)`` and the
    variance a point beyond the outer nodes adds (the walk goes on independently there)."""
    W = np.zeros((x.size, nodes.size))
    xc = np.clip(x, nodes[0], nodes[-1])
    k = np.clip(np.searchsorted(nodes, xc, side="right") - 1, 0, max(nodes.size - 2, 0))
    if nodes.size == 1:
        W[:, 0] = 1.0
    else:
        w = (xc - nodes[k]) / (nodes[k + 1] - nodes[k])
        W[np.arange(x.size), k] = 1 - w
        W[np.arange(x.size), k + 1] += w
    extra = np.abs(x - xc)
    return W, extra


def walk_factor(x: np.ndarray, nodes: np.ndarray, x_ref: float):
    """``U0`` with ``U0 U0^T`` the compute walk's covariance at ``x`` (points inside the
    nodes' span), plus the extra variance beyond it: the walk is a Brownian motion at the
    nodes, linearly interpolated in between (rank = number of nodes, so the likelihood is
    O(n m^2) by Woodbury instead of O(n^3))."""
    W, extra = node_weights(x, nodes, x_ref)
    keep = np.abs(nodes - x_ref) > 1e-12  # the anchor node is fixed at 0
    Kn = _bm(nodes[keep], nodes[keep], x_ref)
    Ln = np.linalg.cholesky(Kn + 1e-12 * np.eye(Kn.shape[0])) if keep.any() else \
        np.zeros((0, 0))
    return W[:, keep] @ Ln, extra


def _bm(a: np.ndarray, b: np.ndarray, r) -> np.ndarray:
    """Brownian-motion kernel anchored at ``r`` (a scalar, or one anchor per row of ``a``:
    only pairs in one block, which share their anchor, are used)."""
    r = np.asarray(r, float).reshape(-1, 1) if np.ndim(r) else float(r)
    da, db = a[:, None] - r, b[None, :] - r
    k = np.where(np.sign(da) == np.sign(db), np.minimum(np.abs(da), np.abs(db)), 0.0)
    return np.nan_to_num(k)


def _t_refs(k: Keys, refs: Anchors) -> np.ndarray:
    return np.array([refs.t_ref.get(str(b), refs.t_all) for b in k.block])


def _walk(a: Keys, b: Keys, refs: Anchors) -> np.ndarray:
    """Compute-walk covariance between rows of ``a`` and ``b`` in one block: a curve's rows
    share one compute (variance ``|x - x_ref|``); a supervised block uses its node walk
    (off-diagonal only: a new point's own variance is :func:`components_diag`'s)."""
    out = _bm(a.x, b.x, refs.x_ref)
    for blk, nodes in refs.nodes.items():
        ia, ib = np.flatnonzero(a.block == blk), np.flatnonzero(b.block == blk)
        if ia.size and ib.size:
            Ua, _ = walk_factor(a.x[ia], nodes, refs.x_ref)
            Ub, _ = walk_factor(b.x[ib], nodes, refs.x_ref)
            out[np.ix_(ia, ib)] = Ua @ Ub.T
    return out


def components(a: Keys, b: Keys, refs: Anchors) -> dict[str, np.ndarray]:
    """The kernel components between the rows of ``a`` and ``b`` (unit scales)."""
    same = (a.block[:, None] == b.block[None, :]).astype(float)
    curve = same * (a.is_curve[:, None] & b.is_curve[None, :])
    # Within a block both rows share the block's anchor, so either side's anchor serves.
    return {"tau_curve": curve, "tau_rw": same * _walk(a, b, refs),
            "tau_lt": curve * _bm(a.t, b.t, _t_refs(a, refs))}


def components_diag(a: Keys, refs: Anchors) -> dict[str, np.ndarray]:
    """Diagonal of :func:`components` ``(a, a)``: a new row's own prior variance (beyond a
    supervised block's fitted compute the walk goes on: the variance keeps growing)."""
    rw = np.abs(a.x - refs.x_ref)
    for blk, nodes in refs.nodes.items():
        ia = np.flatnonzero(a.block == blk)
        if ia.size:
            U, extra = walk_factor(a.x[ia], nodes, refs.x_ref)
            rw[ia] = np.sum(U * U, axis=1) + extra
    return {"tau_curve": a.is_curve.astype(float), "tau_rw": rw,
            "tau_lt": a.is_curve * np.nan_to_num(np.abs(a.t - _t_refs(a, refs)))}


def _flat(ds, name: str) -> np.ndarray:
    return np.asarray(ds[name].values, float).reshape(-1)


def offset_draws(post, fitted: pd.DataFrame, resid: np.ndarray, new: pd.DataFrame, law: str,
                 group_col: str | None, seed: int = 0, chunk: int = 64) -> np.ndarray:
    """Draws ``(S, P)`` of the systematic log-loss offset ``e`` of a new run at each row of
    ``new``: per posterior draw, the Gaussian conditional given the draw's residuals
    ``resid`` ``(S, n)`` (log L - law) on the ``fitted`` rows of the same block; a block
    the fit never saw gets the prior spread at its distance from the data.

    ``post`` is the posterior ``xarray.Dataset`` (``sigma`` and the ``tau_*`` draws).
    """
    S = resid.shape[0]
    fk, nk = row_keys(fitted, law, group_col), row_keys(new, law, group_col)
    refs = anchors(fk)
    tau2 = {k: (_flat(post, k) ** 2 if k in post.data_vars else np.zeros(S)) for k in TAUS}
    sig2 = _flat(post, "sigma") ** 2
    rng = np.random.default_rng([seed, 11])
    z = rng.standard_normal((S, len(new)))
    out = np.zeros((S, len(new)))
    for block in np.unique(nk.block):
        pi = np.flatnonzero(nk.block == block)
        fi = np.flatnonzero(fk.block == block)
        pk = nk.take(pi)
        dg = components_diag(pk, refs)
        prior_var = sum(tau2[k][:, None] * dg[k][None, :] for k in TAUS)  # (S, p)
        if fi.size == 0:
            out[:, pi] = np.sqrt(prior_var) * z[:, pi]
            continue
        fkk = fk.take(fi)
        cff = components(fkk, fkk, refs)
        cpf = components(pk, fkk, refs)
        r = resid[:, fi]
        for s0 in range(0, S, chunk):
            sl = slice(s0, min(S, s0 + chunk))
            Kff = sum(tau2[k][sl, None, None] * cff[k][None] for k in TAUS)
            Kff = Kff + (sig2[sl, None, None] + JITTER) * np.eye(fi.size)[None]
            Kpf = sum(tau2[k][sl, None, None] * cpf[k][None] for k in TAUS)  # (s, p, f)
            L = np.linalg.cholesky(Kff)
            v = np.linalg.solve(L, np.swapaxes(Kpf, 1, 2))  # L^-1 K_fp  (s, f, p)
            a = np.linalg.solve(L, r[sl, :, None])[..., 0]  # L^-1 r     (s, f)
            mean = np.einsum("sfp,sf->sp", v, a)
            var = np.maximum(prior_var[sl] - np.einsum("sfp,sfp->sp", v, v), 0.0)
            out[sl, pi] = mean + np.sqrt(var) * z[sl][:, pi]
    return out
