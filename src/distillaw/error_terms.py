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


@dataclass
class Block:
    """One independent block of the structured error model's likelihood: its rows ``idx``
    and either its dense kernel components ``comps`` (a distillation curve) or the low-rank
    factor ``U0`` of its compute walk (a supervised track; ``U0 U0^T`` is the walk's
    covariance, zero columns when the track sits at one compute)."""

    idx: np.ndarray
    comps: dict | None
    U0: np.ndarray | None


def blocks(rows: pd.DataFrame, law: str, group_col: str | None) -> list[Block]:
    """The likelihood's blocks over ``rows`` (the rows the posterior stores, in order), as
    :func:`distillaw.models.error.marginal_likelihood` builds them."""
    keys = row_keys(rows, law, group_col)
    refs = anchors(keys)
    out = []
    for block in sorted(set(keys.block)):
        idx = np.flatnonzero(keys.block == block)
        k = keys.take(idx)
        if block in refs.nodes:
            out.append(Block(idx, None, walk_factor(k.x, refs.nodes[block], refs.x_ref)[0]))
        else:
            out.append(Block(idx, components(k, k, refs), None))
    return out


def _block_cov(b: Block, sig2: np.ndarray, tau2: dict) -> np.ndarray:
    """Dense covariances ``(S, n, n)`` of a curve block, one per draw."""
    n = b.idx.size
    cov = (sig2[:, None, None] + JITTER) * np.eye(n)[None]
    for t in TAUS:
        cov = cov + tau2[t][:, None, None] * b.comps[t][None]
    return cov


def _scales(post, S: int) -> tuple[np.ndarray, dict]:
    return _flat(post, "sigma") ** 2, {k: (_flat(post, k) ** 2 if k in post.data_vars
                                           else np.zeros(S)) for k in TAUS}


def loo_log_likelihood(post, mu: np.ndarray, y: np.ndarray, rows: pd.DataFrame, law: str,
                       group_col: str | None, chunk: int = 256) -> np.ndarray:
    """Pointwise log-likelihood ``(S, n)`` for leave-one-out under the structured error model.

    Rows in a block are correlated, so the log density of row ``i`` is the Gaussian
    conditional ``log p(y_i | y_-i, theta)`` (Buerkner, Gabry & Vehtari 2021, "Efficient
    leave-one-out cross-validation for Bayesian non-factorized normal and Student-t
    models"): with ``Q = Sigma^-1`` and ``g = Q (y - mu)``,
    ``-0.5 log 2 pi + 0.5 log Q_ii - 0.5 g_i^2 / Q_ii``. PSIS-LOO on these values is the
    exact-LOO estimate for this model; their sum is not the joint log-likelihood.

    ``post`` is the posterior ``xarray.Dataset`` (``sigma``, ``tau_*``), ``mu`` the law's
    log-loss ``(S, n)`` on ``rows`` and ``y`` the observed log-losses.
    """
    S, n = mu.shape
    sig2, tau2 = _scales(post, S)
    r = y[None, :] - mu
    out = np.empty((S, n))
    for b in blocks(rows, law, group_col):
        for s0 in range(0, S, chunk):
            sl = slice(s0, min(S, s0 + chunk))
            rb = r[sl][:, b.idx]
            a = sig2[sl] + JITTER  # (s,)
            if b.U0 is not None:
                # Woodbury: Q = (I - (t/a) U M^-1 U^T) / a with M = I + (t/a) U^T U.
                U = b.U0
                ta = tau2["tau_rw"][sl] / a
                M = np.eye(U.shape[1])[None] + ta[:, None, None] * (U.T @ U)[None]
                Minv = np.linalg.inv(M)
                UMU = np.einsum("im,smk,ik->si", U, Minv, U)  # diag of U M^-1 U^T
                Ur = rb @ U  # (s, m)
                corr = np.einsum("im,smk,sk->si", U, Minv, Ur)  # U M^-1 U^T r
                qii = (1.0 - ta[:, None] * UMU) / a[:, None]
                g = (rb - ta[:, None] * corr) / a[:, None]
            else:
                Q = np.linalg.inv(_block_cov(b, sig2[sl], {k: v[sl] for k, v in tau2.items()}))
                qii = np.diagonal(Q, axis1=1, axis2=2)
                g = np.einsum("sij,sj->si", Q, rb)
            out[sl][:, b.idx] = (-0.5 * np.log(2 * np.pi) + 0.5 * np.log(qii)
                                 - 0.5 * g ** 2 / qii)
    return out


def replicate(post, mu: np.ndarray, rows: pd.DataFrame, law: str, group_col: str | None,
              seed: int = 0, chunk: int = 256) -> np.ndarray:
    """Posterior-predictive replicates ``(S, n)`` of the log-losses on ``rows``: per draw,
    ``mu`` plus a fresh draw of every block's correlated error (iid noise, curve offset,
    walks), i.e. new runs at the fitted settings."""
    S, n = mu.shape
    sig2, tau2 = _scales(post, S)
    rng = np.random.default_rng([seed, 23])
    out = mu + np.sqrt(sig2 + JITTER)[:, None] * rng.standard_normal((S, n))
    for b in blocks(rows, law, group_col):
        if b.U0 is not None:
            w = rng.standard_normal((S, b.U0.shape[1]))
            out[:, b.idx] += np.sqrt(tau2["tau_rw"])[:, None] * (w @ b.U0.T)
            continue
        for s0 in range(0, S, chunk):
            sl = slice(s0, min(S, s0 + chunk))
            K = sum(tau2[t][sl, None, None] * b.comps[t][None] for t in TAUS)
            # Rank-deficient (a curve offset is all-ones): a relative jitter for Cholesky.
            scale = np.maximum(np.max(np.diagonal(K, axis1=1, axis2=2), axis=1), 1e-300)
            K = K + 1e-10 * scale[:, None, None] * np.eye(b.idx.size)[None]
            z = rng.standard_normal((K.shape[0], b.idx.size))
            sub = out[sl]  # a view: adding into it fills ``out``
            sub[:, b.idx] += np.einsum("sij,sj->si", np.linalg.cholesky(K), z)
    return out
