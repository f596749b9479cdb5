r"""Extrapolation discrepancy learned by leaving the largest scales out (issue 11).

A law fitted on small runs is most wrong where it is used: beyond the data. How wrong is a
property of the law *and* the table, so it is learned from the table itself, the way a
user would check it by hand: fit on all but the largest runs, predict those, and see how
far the measured losses fall outside the fit's own predictive intervals, as a function of
how far the held-out runs lie from the rows that were fitted.

Model. For a new run at distance ``d`` from the fitted rows, the predictive log-loss gets
one more independent term on top of the posterior's own error model::

    log L_new = (fit's predictive log-loss) + c * d**p * t_nu,    t_nu ~ Student-t(nu)

- ``d`` combines two distances (Euclidean, ``d = hypot(d_row, d_compute)``), each in
  units of the whole table's span along its coordinates (:func:`spans`,
  :func:`compute_spans`, kept with the record: the folds' inner fits and the final
  predictions use one unit), "how far out, as a share of what was fitted":

  - ``d_row``: to the nearest fitted row of the same kind (and group, when the group was
    fitted) in ``(log10 N, log10 D)``, plus ``log10 L_T`` for distillation rows (N and D
    the student's);
  - ``d_compute``: how far the row's compute ``6 N D`` lies outside the fitted rows'
    range of compute (same kind and group), in decades. A law extrapolates in compute:
    on Epoch's IsoFLOP points a 3e21 run lies 0.03-0.1 spans from some fitted (N, D) at
    6e20 (a fitted row of the same N and a smaller D), yet misses like a run well
    outside; the folds' misses there did not track ``d_row`` (their held-out budgets'
    residuals were a smooth function of N/D along the IsoFLOP curve, as large at 0.03
    spans as at 0.2). Measured on the training rows' own folds, adding ``d_compute``
    raised the held-out top budgets' 90% coverage from 0.84 to 0.92 at the same median
    width (interval score 0.042 -> 0.040).

  A fitted row has ``d = 0``, so in-sample fits and predictive checks are unchanged: the
  term buys width only away from the data. (Records written before ``d_compute`` keep
  ``d = d_row``, the distance they were calibrated with.)
- ``(nu, p, c)`` get a grid posterior from the leave-the-largest-out folds
  (:func:`fold_masks`): each held-out row's measured log-loss is a draw from the inner
  fit's own predictive distribution there (tails included: a Student-t noise's heavy tails
  are the inner fit's width, not misfit) convolved with the discrepancy
  (:func:`calibrate`). A row held out in ``m`` folds counts ``1/m`` (one row is one piece
  of evidence, not ``m``). ``p`` (how the misfit grows with distance: 0.5 a random walk,
  1 a wrong exponent, 2 a curvature the law lacks) has a uniform prior on ``P_GRID``;
  ``nu`` (a few far-off runs, or a misfit shared by all) uniform on ``NU_GRID``; ``c``
  (log-loss per span**p) a half-normal prior of scale ``C_PRIOR`` (5% per span: weak
  next to what a few folds say).
- The folds' inner fits see fewer rows than the fit they calibrate, and a law fitted on
  less of the table (in practice: without its largest runs) can extrapolate worse than
  the whole table's fit will. So in the folds the scale is ``c * d**p * kept**-q``, with
  ``kept`` the share of the table a fold fitted, and ``q`` (uniform prior on ``Q_GRID``;
  ``q = 0``: the folds are as good as the full fit) learned with the rest. A prediction
  is from the full fit (``kept = 1``), so the record stores the posterior of ``(nu, p,
  c)`` with ``q`` summed out, and ``q``'s own weights for the card. On Porian's 15
  configurations the folds missed by 2%, 4% and 6% (rmse, log) at kept 0.89, 0.80 and
  0.71 and about the same median distance; the whole fit missed its held-out top budget
  by 0.5% (median): ``q`` found 2-4, and the 90% intervals there went from covering all
  of the held-out runs at 5.7% width to 0.97 at 3.3%.
- Predictions draw ``(nu, p, c)`` from that grid posterior, once per posterior draw, so the
  uncertainty in how fast the misfit grows is carried too.

On well-specified data the folds' residuals match the inner fits' intervals, ``c`` stays
near 0 and nothing widens (the SBC in ``bench/sbc.py`` checks that); on a misspecified law
the folds show it and the intervals widen with distance.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.special import gammaln

from .errors import DistillawError

P_GRID = (0.5, 1.0, 1.5, 2.0)
# Tails of the discrepancy: Student-t degrees of freedom (inf = Normal), uniform prior. All
# have a variance, so risk measures on the predictive draws (mean, CVaR) stay finite.
NU_GRID = (3.0, 5.0, 10.0, float("inf"))
C_MAX = 0.3  # log-loss per span**p: a 35% loss error one span out is beyond any law
C_POINTS = 240
QUANTILES = 100  # points of each held-out row's inner predictive kept for the likelihood
C_PRIOR = 0.05  # half-normal scale of c
# Points of log(extra scale) at which calibrate() evaluates each held-out row (cubic
# interpolation between them; see _row_loglik).
SIGMA_POINTS = 256
# How much worse a fold's inner fit extrapolates for fitting only a share ``kept`` of the
# table: scale x kept**-q. kept is 0.7-0.9 in the folds, so q = 4 is a factor of 1.5-4.
Q_GRID = (0.0, 1.0, 2.0, 3.0, 4.0)
SHARES = (0.1, 0.2, 0.3)  # fraction of rows held out by each fold (largest compute first)
TEACHER_SHARES = (0.15, 0.3)  # distillation: fraction held out by strongest teacher
# Distances are in units of the fitted rows' span along each coordinate (log10 N, log10 D,
# and log10 L_T for distillation rows), so a teacher-loss gap and a size gap are comparable:
# "how far out, as a share of what was fitted". A coordinate the fit saw at (nearly) one
# value has no span to measure by: these floors stand in (decades; a scaling-law grid
# steps about a decade in N and D, and 12% in teacher loss is a teacher several times
# larger).
SPAN_FLOOR = {"N": 1.0, "D": 1.0, "L_T": 0.05, "C": 1.0}
BUDGET_TOL = 0.05  # decades: the bandwidth that finds a table's budgets (budget_clusters)
MIN_BUDGET_RUNS = 3  # a budget has at least this many runs (fewer join the nearest one)
MIN_HELD = 3  # a fold must hold out at least this many rows, and keep at least twice that


class DiscrepancyError(DistillawError, ValueError):
    """The table cannot support a leave-the-largest-out calibration."""


def row_compute(table: pd.DataFrame) -> np.ndarray:
    """Training compute of each row in FLOPs: ``6 N D`` (for distillation rows N and D are
    the student's, so this is the student's ``6 N_S D_S``; teacher costs are not counted)."""
    return 6.0 * table["N"].to_numpy(float) * table["D"].to_numpy(float)


def budget_clusters(values: np.ndarray, tol: float = BUDGET_TOL,
                    min_runs: int = MIN_BUDGET_RUNS) -> np.ndarray:
    """Cluster index of each value, 0 for the largest: the compute budgets of a table.

    Budgets are where runs pile up in ``log10(values)``: each value climbs to its mode of a
    Gaussian kernel density of bandwidth ``tol`` decades (mean shift), values sharing a mode
    are one budget, and a budget of fewer than ``min_runs`` runs joins the nearest budget
    that has that many (when the table has one). Exact budgets (an IsoFLOP grid, a
    simulated design) come out as they are, as long as they lie more than about ``2 tol``
    apart. Digitised tables need the density: Epoch's digitised Chinchilla compute is
    continuous (no two runs share a value, and single linkage at 0.05 decades either chained
    1e19-1e20 into one budget or left the two largest runs alone as "the top two
    budgets"); the modes find its 3e21, 1e21, 6e20, ... budgets, with the two stray
    runs above 3e21 joined to it."""
    lv = np.log10(np.asarray(values, float))
    if lv.size == 0:
        return np.zeros(0, int)
    # Binned to tol/20 first (values that close share a mode anyway): the mean shift then
    # costs (bins)^2 per step whatever the table's size (6 decades: at most 2,400 bins).
    q = tol / 20.0
    keys, inv, cnt = np.unique(np.round(lv / q), return_inverse=True, return_counts=True)
    u = keys * q
    m = u.copy()
    for _ in range(200):  # mean shift on the bins, weighted by their counts
        w = cnt[None, :] * np.exp(-0.5 * ((m[:, None] - u[None, :]) / tol) ** 2)
        new = (w @ u) / w.sum(axis=1)
        done = np.max(np.abs(new - m)) < 1e-4 * tol
        m = new
        if done:
            break
    # Climbs that ended within a quarter bandwidth of each other reached one mode (distinct
    # modes of a density of bandwidth tol lie about 2 tol apart or more).
    order = np.argsort(m)
    label = np.zeros(u.size, int)
    label[order] = np.cumsum(np.r_[0, np.diff(m[order]) > 0.25 * tol])
    modes = np.array([m[label == k].mean() for k in range(label.max() + 1)])
    size = np.bincount(label, weights=cnt).astype(int)
    big = np.flatnonzero(size >= min_runs)
    if big.size and big.size < modes.size:
        # a lone run between budgets (a misread point, one extra-large run) joins the
        # nearest real budget rather than being a "budget" of its own
        small = np.flatnonzero(size < min_runs)
        target = big[np.argmin(np.abs(modes[small, None] - modes[None, big]), axis=1)]
        remap = np.arange(modes.size)
        remap[small] = target
        label = remap[label]
    keep = np.unique(label)
    rank = np.empty(label.max() + 1, int)  # 0 for the largest budget
    rank[keep[np.argsort(-np.array([modes[k] for k in keep]))]] = np.arange(keep.size)
    return rank[label][inv]


def _top_share(values: np.ndarray, share: float, tol: float, k_min: int = 1) -> np.ndarray:
    """Rows of the largest budgets, whole budgets at a time, nearest ``share`` of the rows
    and at least ``k_min`` budgets (so a table of few budgets still gets folds that reach
    different distances); never more than half the rows."""
    cl = budget_clusters(values, tol)
    cum = np.cumsum(np.bincount(cl))[:-1]  # rows in the top k budgets, k = 1.. (keep one)
    if cum.size == 0:
        return np.zeros(len(values), bool)
    k = max(int(np.argmin(np.abs(cum - share * len(values)))) + 1, k_min)
    if k > cum.size or cum[k - 1] > 0.5 * len(values):  # no such fold
        return np.zeros(len(values), bool)
    return cl < k


def fold_masks(table: pd.DataFrame, group_col: str | None = None,
               shares=SHARES, tol: float = BUDGET_TOL, *, law: str = "supervised",
               teacher_shares=TEACHER_SHARES) -> list[np.ndarray]:
    """Held-out masks of the leave-the-largest-out folds.

    - for each of ``shares``, the rows of the largest compute budgets (within each group
      when ``group_col`` is given), whole budgets at a time: a bigger run than any fitted;
    - distillation tables: for each of ``teacher_shares``, the distillation rows with the
      strongest teachers (lowest ``L_T``, ties together): a better teacher than any fitted,
      the other way a decision extrapolates.

    Folds holding out fewer than ``MIN_HELD`` rows, or keeping fewer than ``2 * MIN_HELD``,
    are dropped, and so are repeats."""
    comp = row_compute(table)
    candidates: list[np.ndarray] = []
    for j, share in enumerate(shares):  # fold j holds out at least j + 1 budgets
        mask = np.zeros(len(table), bool)
        if group_col is None:
            mask = _top_share(comp, share, tol, j + 1)
        else:
            labels = table[group_col].astype(str).to_numpy()
            for g in np.unique(labels):
                idx = np.flatnonzero(labels == g)
                mask[idx] = _top_share(comp[idx], share, tol, j + 1)
        candidates.append(mask)
    if law == "distillation" and "L_T" in table.columns:
        dis = _kind(table, law) == "distillation"
        lt = pd.to_numeric(table["L_T"], errors="coerce").to_numpy(float)
        ok = dis & np.isfinite(lt)
        if ok.any():
            for share in teacher_shares:
                cut = np.quantile(lt[ok], share)
                candidates.append(ok & (lt <= cut))
    out: list[np.ndarray] = []
    for mask in candidates:
        if mask.sum() < MIN_HELD or (~mask).sum() < 2 * MIN_HELD:
            continue
        if any(np.array_equal(mask, m) for m in out):
            continue
        out.append(mask)
    return out


def _coords(df: pd.DataFrame, teacher: bool) -> np.ndarray:
    cols = ("N", "D", "L_T") if teacher else ("N", "D")
    return np.column_stack([np.log10(pd.to_numeric(df[c], errors="coerce").to_numpy(float))
                            for c in cols])


def _kind(df: pd.DataFrame, law: str) -> np.ndarray:
    default = "supervised" if law == "supervised" else "distillation"
    if "kind" not in df.columns:
        return np.full(len(df), default, dtype=object)
    return df["kind"].astype(object).where(df["kind"].notna(), default).astype(str).to_numpy()


def spans(table: pd.DataFrame, law: str) -> dict[str, list[float]]:
    """Span of each distance coordinate over the rows of ``table`` of each kind (decades,
    floored by ``SPAN_FLOOR``): ``{"supervised": [N, D], "distillation": [N, D, L_T]}``.
    Computed once on the whole table and kept with the discrepancy, so the folds' inner
    fits (fewer rows, smaller spans) and the final predictions measure distance in the same
    unit."""
    kinds = _kind(table, law)
    out = {}
    for kind in np.unique(kinds):
        teacher = kind == "distillation" and "L_T" in table.columns
        c = _coords(table[kinds == kind], teacher)
        names = ("N", "D", "L_T")[:c.shape[1]]
        with np.errstate(invalid="ignore"):
            sp = np.nanmax(c, axis=0) - np.nanmin(c, axis=0)
        out[str(kind)] = [float(max(v if np.isfinite(v) else 0.0, SPAN_FLOOR[n]))
                          for v, n in zip(sp, names, strict=True)]
    return out


def compute_spans(table: pd.DataFrame, law: str) -> dict[str, float]:
    """Span of ``log10(6 N D)`` over the rows of ``table`` of each kind (decades, floored by
    ``SPAN_FLOOR["C"]``): the unit of ``d_compute`` (module doc), kept with the record."""
    kinds = _kind(table, law)
    lc = np.log10(row_compute(table))
    out = {}
    for kind in np.unique(kinds):
        v = lc[kinds == kind]
        v = v[np.isfinite(v)]
        sp = float(v.max() - v.min()) if v.size else 0.0
        out[str(kind)] = max(sp, SPAN_FLOOR["C"])
    return out


def distance(fitted: pd.DataFrame, new: pd.DataFrame, law: str,
             group_col: str | None = None, span: dict | None = None,
             compute_span: dict | None = None) -> np.ndarray:
    """Distance of each ``new`` row from the ``fitted`` rows, in units of ``span`` (default:
    :func:`spans` of ``fitted``): Euclidean in ``(log10 N, log10 D)`` for supervised rows
    and ``(log10 N_S, log10 D_S, log10 L_T)`` for distillation rows, each coordinate divided
    by its span, to the nearest fitted row of the same kind, and of the same group when the
    fit saw it (else any group). With no fitted row of its kind (a supervised baseline from
    a distillation-only table) the nearest row of any kind in ``(N, D)`` is used: the
    prior-driven law is flagged by :mod:`distillaw.extrapolation`, not here.

    With ``compute_span`` (kind -> decades, :func:`compute_spans`) the distance also counts
    how far the row's compute lies outside the compute range of those same fitted rows,
    in that unit: ``hypot(d_row, d_compute)`` (module doc). Without it, ``d_row`` alone
    (records calibrated before ``d_compute``)."""
    span = spans(fitted, law) if span is None else span
    fk, nk = _kind(fitted, law), _kind(new, law)
    fg = ng = None
    if group_col is not None and group_col in fitted.columns and group_col in new.columns:
        fg = fitted[group_col].astype(str).to_numpy()
        ng = new[group_col].astype(str).to_numpy()
    out = np.full(len(new), np.nan)
    for kind in np.unique(nk):
        teacher = kind == "distillation" and "L_T" in fitted.columns and "L_T" in new.columns
        same = fk == kind
        if not same.any():
            same, teacher = np.ones(len(fitted), bool), False
        fc = _coords(fitted[same], teacher)
        sp = span.get(str(kind)) or next(iter(span.values()))
        sp = np.asarray(sp[:fc.shape[1]], float)
        if sp.size < fc.shape[1]:  # a record without the teacher axis
            fc = fc[:, :sp.size]
        fc = fc / sp
        rows = np.flatnonzero(nk == kind)
        nc = _coords(new.iloc[rows], teacher)[:, :fc.shape[1]] / sp
        fgs = fg[same] if fg is not None else None
        cspan = None if compute_span is None else compute_span.get(
            str(kind), next(iter(compute_span.values()), None))
        if cspan is not None:
            flc = np.log10(row_compute(fitted[same]))
            nlc = np.log10(row_compute(new.iloc[rows]))
        for j, i in enumerate(rows):
            pool = np.ones(fc.shape[0], bool)
            if fgs is not None and (fgs == ng[i]).any():
                pool = fgs == ng[i]
            diff = fc[pool] - nc[j]
            out[i] = np.sqrt(np.nansum(diff ** 2, axis=1)).min()
            if cspan is not None:
                lo, hi = np.nanmin(flc[pool]), np.nanmax(flc[pool])
                outside = max(nlc[j] - hi, lo - nlc[j], 0.0) / cspan
                out[i] = np.hypot(out[i], outside)
    return out


@dataclass(frozen=True)
class Discrepancy:
    """Grid posterior of the extrapolation discrepancy: Student-t with ``nu`` degrees of
    freedom and scale ``c * d**p`` at distance ``d`` (see module doc).

    ``weights[i][j][k]`` is the posterior mass of ``(nu_grid[i], p_grid[j], c_grid[k])``
    (``nu = inf``: Normal); ``folds`` says what each fold held out and how it looked.
    """

    c_grid: tuple
    p_grid: tuple
    weights: tuple  # (len(nu_grid), len(p_grid), len(c_grid)) nested tuples
    folds: tuple = field(default=())
    span: dict = field(default_factory=dict)  # kind -> coordinate spans (distance unit)
    nu_grid: tuple = (np.inf,)
    # marginal posterior of q (fold fit worse for fitting less; summed out of ``weights``)
    q_weights: dict = field(default_factory=dict)
    # kind -> decades of compute: the unit of d_compute (empty: an older record, d_row only)
    compute_span: dict = field(default_factory=dict)

    def distance(self, fitted: pd.DataFrame, new: pd.DataFrame, law: str,
                 group_col: str | None = None) -> np.ndarray:
        """:func:`distance` in this discrepancy's unit."""
        return distance(fitted, new, law, group_col, self.span or None,
                        self.compute_span or None)

    def calibrated_distance(self) -> float | None:
        """The farthest held-out run any fold scored (in the record's distance unit): the
        discrepancy was measured up to there and is its power law beyond. ``None`` for a
        record written before folds kept it."""
        ds = [f.get("distance_max") for f in self.folds if isinstance(f, Mapping)]
        ds = [float(x) for x in ds if x is not None]
        return max(ds) if ds else None

    @property
    def _w(self) -> np.ndarray:
        return np.asarray(self.weights, float)

    def c_quantiles(self, q=(0.05, 0.5, 0.95)) -> np.ndarray:
        """Marginal posterior quantiles of ``c``."""
        wc = self._w.sum(axis=(0, 1))
        cdf = np.cumsum(wc) / wc.sum()
        c = np.asarray(self.c_grid)
        return np.array([c[min(np.searchsorted(cdf, qq), c.size - 1)] for qq in q])

    def p_weights(self) -> dict:
        return {f"{p:g}": float(w) for p, w in zip(self.p_grid, self._w.sum(axis=(0, 2)),
                                                   strict=True)}

    def nu_weights(self) -> dict:
        return {f"{n:g}": float(w) for n, w in zip(self.nu_grid, self._w.sum(axis=(1, 2)),
                                                   strict=True)}

    def sample(self, S: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``S`` draws of ``(c, p, nu)`` from the grid posterior."""
        W = self._w
        w = W.ravel()
        rng = np.random.default_rng([seed, 31])
        pick = rng.choice(w.size, size=S, p=w / w.sum())
        i, j, k = np.unravel_index(pick, W.shape)
        return (np.asarray(self.c_grid)[k], np.asarray(self.p_grid)[j],
                np.asarray(self.nu_grid, float)[i])

    def log_offsets(self, d: np.ndarray, S: int, seed: int = 0) -> np.ndarray:
        """Draws ``(S, P)`` of the extra log-loss error at distances ``d`` (P,)."""
        c, p, nu = self.sample(S, seed)
        d = np.asarray(d, float)[None, :]
        rng = np.random.default_rng([seed, 37])
        z = rng.standard_normal((S, d.shape[1]))
        finite = np.isfinite(nu)
        if finite.any():  # t = z / sqrt(chi2_nu / nu), per draw
            chi = rng.chisquare(np.where(finite, nu, 1.0)[:, None], size=z.shape)
            z = np.where(finite[:, None], z / np.sqrt(chi / np.where(finite, nu, 1.0)[:, None]),
                         z)
        return c[:, None] * d ** p[:, None] * z

    def to_dict(self) -> dict:
        return {"method": "leave-largest-out",
                "distance": ("hypot(nearest fitted row in log10 (N, D[, L_T]), compute outside "
                             "the fitted range), in fitted spans" if self.compute_span else
                             "nearest fitted row, log10 (N, D[, L_T]) in fitted spans"),
                "c_grid": list(map(float, self.c_grid)), "p_grid": list(map(float, self.p_grid)),
                "nu_grid": [None if not np.isfinite(n) else float(n) for n in self.nu_grid],
                # one line of text per (nu, p): 3,840 numbers would be 3,840 lines of the card
                "weights": [[" ".join(f"{x:.6g}" for x in row) for row in block]
                            for block in self._w],
                "folds": [dict(f) for f in self.folds],
                "span": {k: list(map(float, v)) for k, v in self.span.items()},
                **({"q_weights": dict(self.q_weights)} if self.q_weights else {}),
                **({"compute_span": {k: float(v) for k, v in self.compute_span.items()}}
                   if self.compute_span else {})}

    @classmethod
    def from_dict(cls, d: Mapping) -> Discrepancy:
        try:
            nu = tuple(np.inf if n is None else float(n) for n in d.get("nu_grid", [None]))
            w = np.asarray([[r.split() if isinstance(r, str) else r for r in block]
                            for block in d["weights"]], float)
            if w.shape != (len(nu), len(d["p_grid"]), len(d["c_grid"])):
                raise TypeError(f"weights of shape {w.shape} do not match the grids")
            return cls(tuple(d["c_grid"]), tuple(d["p_grid"]), tuple(map(tuple, w.tolist())),
                       tuple(d.get("folds", ())), dict(d.get("span") or {}), nu,
                       {str(k): float(v) for k, v in (d.get("q_weights") or {}).items()},
                       {str(k): float(v) for k, v in (d.get("compute_span") or {}).items()})
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            raise DiscrepancyError(f"malformed discrepancy record: {e}") from None

    def summary(self) -> str:
        lo, med, hi = self.c_quantiles()
        pw, nw = self.p_weights(), self.nu_weights()
        p_best, nu_best = max(pw, key=pw.get), max(nw, key=nw.get)
        tails = "Normal" if nu_best == "inf" else f"Student-t, nu = {nu_best}"
        return (f"extrapolation discrepancy: scale c * d^p at distance d from the data (in "
                f"fitted spans), c {med:.3g} (90% {lo:.3g}-{hi:.3g}), p = {p_best} most likely "
                f"({pw[p_best]:.0%}), tails {tails} ({nw[nu_best]:.0%}){self._q_phrase()}, "
                f"from {len(self.folds)} leave-the-largest-out folds{self._div_phrase()}")

    def _div_phrase(self) -> str:
        """Divergent transitions in the folds' fits (recorded since 2026-12-07): their
        predictive quantiles are what the scale was learned from, so a reader is told."""
        div = sum(int(f.get("divergences") or 0) for f in self.folds if isinstance(f, Mapping))
        return f" ({div} divergent transitions in their fits)" if div else ""

    def _q_phrase(self) -> str:
        if len(self.q_weights) < 2:
            return ""
        qw = self.q_weights
        q_best = max(qw, key=qw.get)
        return (f"; folds fitted on less of the table missed by kept^-q more, q = {q_best} "
                f"most likely ({qw[q_best]:.0%})")


def fold_quantiles(draws: np.ndarray, q: int = QUANTILES) -> np.ndarray:
    """``q`` evenly spaced quantiles ``(q, P)`` of an inner fit's predictive log-loss draws
    ``(S, P)``: the held-out rows' predictive distributions, tails included (a Student-t
    noise's heavy tails must count as the inner fit's own width, not as misfit)."""
    lp = np.log(np.asarray(draws, float))
    return np.quantile(lp, (np.arange(q) + 0.5) / q, axis=0)


def c_grid(c_max: float = C_MAX, points: int = C_POINTS) -> tuple[np.ndarray, np.ndarray]:
    """Grid of ``c`` (0, then geometric from 1e-4 to ``c_max``: fine where small scales are
    told apart) and each point's cell width (for the prior's mass)."""
    c = np.r_[0.0, np.geomspace(1e-4, c_max, points - 1)]
    edges = np.r_[0.0, 0.5 * (c[1:] + c[:-1]), c_max]
    return c, np.diff(edges)


def _logsumexp(a: np.ndarray, axis: int) -> np.ndarray:
    m = np.max(a, axis=axis, keepdims=True)
    return np.squeeze(m, axis) + np.log(np.sum(np.exp(a - m), axis=axis))


def _t_logpdf(x2: np.ndarray, var: np.ndarray, nu: float) -> np.ndarray:
    """log density of a centred Student-t (``nu = inf``: Normal) with scale^2 ``var`` at
    squared deviations ``x2``."""
    if not np.isfinite(nu):
        return -0.5 * (np.log(2 * np.pi * var) + x2 / var)
    return (gammaln((nu + 1) / 2) - gammaln(nu / 2) - 0.5 * np.log(nu * np.pi * var)
            - 0.5 * (nu + 1) * np.log1p(x2 / (nu * var)))


def _row_loglik(dev2: np.ndarray, h2: np.ndarray, nu: float, c: np.ndarray, ls: np.ndarray,
                points: int, chunk: int) -> np.ndarray:
    """Each held-out row's log-likelihood ``(A, J, R, C)`` at extra scale ``sigma = c_k
    exp(ls[a, j, r])``: ``log mean_q t_nu(dev2_qr | h2_r + sigma^2)``, a smooth function of
    ``log sigma`` alone per row, evaluated on ``points`` evenly spaced values of ``log
    sigma`` spanning what the grids reach (per row) and interpolated there by cubic
    (Catmull-Rom) splines; ``sigma = 0`` (``c = 0`` or ``d = 0``) exactly. Measured against
    the exact evaluation on the Busbridge and Epoch folds (256 points): the grid
    posterior's total variation distance 3e-5 and 5e-6, the same quantiles of c."""
    Q, R = dev2.shape
    A, J = ls.shape[:2]
    zero = np.isneginf(ls)  # d = 0: no extra scale at any c
    lsf = np.where(zero, 0.0, ls)
    lc = np.log(c[c > 0])
    lo = lc[0] + lsf.min(axis=(0, 1))
    step = np.maximum((lc[-1] + lsf.max(axis=(0, 1)) - lo) / (points - 1), 1e-9)
    u = lo[:, None] + step[:, None] * np.arange(points)  # (R, G): log sigma
    f = np.empty((R, points))
    f0 = np.empty(R)
    for r0 in range(0, R, chunk):
        sl = slice(r0, min(R, r0 + chunk))
        var = h2[sl, None] + np.exp(2 * u[sl])
        f[sl] = _logsumexp(_t_logpdf(dev2[:, sl, None], var[None], nu), axis=0) - np.log(Q)
        f0[sl] = _logsumexp(_t_logpdf(dev2[:, sl], h2[None, sl], nu), axis=0) - np.log(Q)
    t = (lc[None, None, None, :] + lsf[..., None] - lo[:, None]) / step[:, None]  # (A,J,R,C')
    k = np.clip(np.floor(t).astype(np.int64), 0, points - 2)
    x = t - k
    rows = np.arange(R)[:, None]
    p0, p1 = f[rows, np.maximum(k - 1, 0)], f[rows, k]
    p2, p3 = f[rows, k + 1], f[rows, np.minimum(k + 2, points - 1)]
    inner = p1 + 0.5 * x * (p2 - p0 + x * (2 * p0 - 5 * p1 + 4 * p2 - p3
                                           + x * (3 * (p1 - p2) + p3 - p0)))
    out = np.empty((A, J, R, c.size))
    out[..., c > 0] = np.where(zero[..., None], f0[:, None], inner)
    out[..., c == 0] = f0[:, None]
    return out


def calibrate(lq: np.ndarray, ly: np.ndarray, d: np.ndarray, weight: np.ndarray,
              folds=(), *, kept: np.ndarray | None = None, span: dict | None = None,
              compute_span: dict | None = None,
              p_grid=P_GRID, nu_grid=NU_GRID, q_grid=Q_GRID, c_max: float = C_MAX,
              points: int = C_POINTS, c_prior: float = C_PRIOR,
              chunk: int = 128, sigma_points: int | None = SIGMA_POINTS) -> Discrepancy:
    """Grid posterior of ``(nu, c, p)`` from the held-out rows of the folds (module doc).

    ``lq`` ``(Q, R)``: quantiles of each held-out row's inner predictive log-loss
    (:func:`fold_quantiles`); ``ly`` ``(R,)`` the measured log-losses; ``d`` their
    distances from the inner fit's rows; ``weight`` each row's weight; ``kept`` the share
    of the table its fold fitted (default 1: no ``q`` to learn). The likelihood of row
    ``i`` is the inner predictive (a kernel density over its quantiles, Silverman's
    bandwidth ``h_i``) convolved with the discrepancy, taken as
    ``mean_q t_nu(ly_i - lq_qi | scale^2 = h_i^2 + c^2 d_i^{2p} kept_i^{-2q})``. Heavy
    tails (small ``nu``) let a few held-out runs far off the law (a diverged run, a
    misread point) be what they are, instead of widening every interval to cover them.
    ``q`` is summed out of the stored weights (predictions are from the full fit,
    ``kept = 1``); its marginal is kept as ``q_weights``.

    ``sigma_points``: a row's likelihood depends on ``(c, p, q)`` only through its extra
    scale ``sigma = c d^p kept^-q``, so it is evaluated once per ``nu`` on that many
    points of ``log sigma`` and read off by cubic interpolation (:func:`_row_loglik`);
    ``None`` evaluates every grid point exactly (``len(q_grid) x len(p_grid)`` times the
    work: 8 s instead of 1.3 s on the digitised Busbridge folds' 428 held-out rows).
    """
    lq = np.atleast_2d(np.asarray(lq, float))
    ly, d, weight = (np.asarray(a, float).reshape(-1) for a in (ly, d, weight))
    if ly.size == 0:
        raise DiscrepancyError("no held-out rows to learn the extrapolation discrepancy from")
    kept = np.ones_like(ly) if kept is None else np.asarray(kept, float).reshape(-1)
    if kept.shape != ly.shape or np.any(~(kept > 0)) or np.any(kept > 1):
        raise DiscrepancyError("kept must give each held-out row its fold's fitted share, "
                               "in (0, 1]")
    if np.all(kept == 1.0):
        q_grid = (0.0,)  # nothing tells q apart: keep the grid (and the work) to one point
    Q = lq.shape[0]
    sd = lq.std(axis=0)
    iqr = np.subtract(*np.quantile(lq, [0.75, 0.25], axis=0))
    h2 = (0.9 * np.minimum(sd, iqr / 1.34) * Q ** -0.2) ** 2 + 1e-12  # Silverman; floor
    c, width = c_grid(c_max, points)
    log_prior = -0.5 * (c / c_prior) ** 2 + np.log(width)
    dev2 = (ly[None, :] - lq) ** 2  # (Q, R)
    logw = np.empty((len(q_grid), len(nu_grid), len(p_grid), c.size))
    if sigma_points is None:
        for a, q in enumerate(q_grid):
            for i, nu in enumerate(nu_grid):
                for j, p in enumerate(p_grid):
                    total = np.zeros(c.size)
                    for r0 in range(0, ly.size, chunk):
                        sl = slice(r0, min(ly.size, r0 + chunk))
                        scale = d[sl] ** p * kept[sl] ** -q
                        var = h2[sl, None] + (c[None, :] * scale[:, None]) ** 2  # (r, C)
                        ll = (_logsumexp(_t_logpdf(dev2[:, sl, None], var[None], nu), axis=0)
                              - np.log(Q))
                        total += (weight[sl, None] * ll).sum(axis=0)
                    logw[a, i, j] = total + log_prior
    else:
        # log scale of each row under each (q, p): sigma = c * exp(ls); -inf where d = 0
        # (sigma = 0; d**0 = 1 as in the exact path)
        logd = np.log(np.where(d > 0, d, 1.0))
        ls = np.array([[np.where(d > 0, p * logd, 0.0 if p == 0 else -np.inf)
                        - q * np.log(kept) for p in p_grid] for q in q_grid])  # (A, J, R)
        for i, nu in enumerate(nu_grid):
            ll = _row_loglik(dev2, h2, nu, c, ls, sigma_points, chunk)  # (A, J, R, C)
            logw[:, i] = np.einsum("r,ajrc->ajc", weight, ll) + log_prior
    w4 = np.exp(logw - logw.max())
    w4 /= w4.sum()
    q_weights = {f"{q:g}": round(float(x), 6) for q, x in zip(q_grid, w4.sum(axis=(1, 2, 3)),
                                                              strict=True)}
    w = w4.sum(axis=0)
    # 6 significant digits, as the record stores them: a saved and reloaded record is equal
    w = np.array([float(f"{x:.6g}") for x in w.ravel()]).reshape(w.shape)
    return Discrepancy(tuple(c), tuple(float(p) for p in p_grid), tuple(map(tuple, w.tolist())),
                       tuple(folds), dict(span or {}), tuple(float(n) for n in nu_grid),
                       q_weights, dict(compute_span or {}))


__all__ = ["Discrepancy", "DiscrepancyError", "budget_clusters", "calibrate", "compute_spans",
           "distance", "fold_masks", "fold_quantiles", "row_compute", "spans"]
