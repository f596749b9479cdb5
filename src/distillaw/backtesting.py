r"""Backtests: fit on all but a held-out region, score the predictive intervals there.

This is how a user learns how far to trust an extrapolation: hold out the largest runs,
fit on the rest, and see whether the intervals of a *new measured run* cover what was
measured.

Held-out regions (``holdout=``):

- ``"top-compute:K"``: the K largest compute budgets. Compute is ``6 N D`` for supervised
  rows and ``6 N_S D_S`` (the student's) for distillation rows. Budgets are where the
  runs' compute piles up (modes of a kernel density of bandwidth ``budget_tol`` decades,
  default 0.05; a budget has at least 3 runs), because digitised tables rarely repeat a
  budget exactly (:func:`distillaw.discrepancy.budget_clusters`);
- ``"top-size:K"``: the K largest model (student) sizes, clustered the same way;
- ``"group:NAME"``: every row of group NAME;
- a path: a table read through :func:`distillaw.loaders.load`. Its rows whose ``run_id`` is
  in the data are held out of the fit; the others are scored as extra test rows (so a
  separate test split, e.g. Busbridge's, works as is);
- a boolean mask or a list of run ids (API only).

Scores (each a mean over held-out rows unless said otherwise), at levels 50/80/90/95%
with equal-tailed intervals from predictive draws:

- coverage: fraction of rows inside the interval;
- interval (Winkler) score of the central ``1 - a`` interval ``[l, u]``:
  :math:`(u - l) + \tfrac{2}{a}(l - y)\,1\{y < l\} + \tfrac{2}{a}(y - u)\,1\{y > u\}`;
- median interval width;
- CRPS from draws: :math:`\mathbb{E}|X - y| - \tfrac12 \mathbb{E}|X - X'|`, the CRPS of the
  empirical distribution of the S draws (``X'`` runs over the same draws, pairs ``i = j``
  included);
- median ``|log(median prediction) - log y|``.

Losses are in nats. The peers' method (Huber fit + bootstrap, :mod:`distillaw.baseline`) is
scored on the same split; its "draws" are the bootstrap refits' predictions.

Example
-------
>>> from distillaw.simulate import shipped_supervised                     # doctest: +SKIP
>>> res = backtest(shipped_supervised(), "top-compute:2", draws=200, tune=200, chains=2)
>>> res.scores["ours"]["coverage"]["0.9"]                                   # doctest: +SKIP
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .discrepancy import BUDGET_TOL, budget_clusters, row_compute
from .errors import DistillawError

LEVELS = (0.5, 0.8, 0.9, 0.95)


class BacktestError(DistillawError, ValueError):
    """A backtest request is invalid (hold-out spec, empty split, unsupported law)."""


# ------------------------------------------------------------------------------ scores
def interval_score(y, lower, upper, level: float) -> np.ndarray:
    """Winkler interval score of central ``level`` intervals, per row (lower is better).

    Example
    -------
    >>> float(interval_score([3.0], [1.0], [2.0], 0.9)[0])   # width 1 + (2/0.1) * 1
    21.0
    """
    y, lower, upper = (np.asarray(v, float) for v in (y, lower, upper))
    a = 1.0 - level
    return ((upper - lower) + (2.0 / a) * np.clip(lower - y, 0, None)
            + (2.0 / a) * np.clip(y - upper, 0, None))


def crps_draws(draws, y) -> np.ndarray:
    """CRPS of the empirical distribution of ``draws`` (S, P) at observations ``y`` (P,).

    ``E|X - y| - 0.5 E|X - X'|`` with ``X, X'`` independent picks from the S draws; the
    pair term uses the sorted-draws identity ``sum_ij |x_i - x_j| = 2 sum_i (2i - S - 1)
    x_(i)`` (i = 1..S), so it costs O(S log S) per point.

    Example
    -------
    >>> round(float(crps_draws([[0.0], [1.0]], [0.0])[0]), 3)   # 0.5 - 0.5 * 0.5
    0.25
    """
    x = np.asarray(draws, float)
    y = np.asarray(y, float)
    S = x.shape[0]
    finite = np.isfinite(x).all(axis=0)
    xf = np.where(finite[None, :], x, 0.0)
    term1 = np.abs(xf - y[None, :]).mean(axis=0)
    xs = np.sort(xf, axis=0)
    w = (2.0 * np.arange(1, S + 1) - S - 1)[:, None]
    pair = 2.0 * (w * xs).sum(axis=0) / S**2
    # A draw that overflowed (a Student-t tail with nu < 1 has no mean) makes E|X - y|
    # infinite: the CRPS is then infinite, not a number to average quietly.
    return np.where(finite, term1 - 0.5 * pair, np.inf)


def score_draws(draws, y, levels: Sequence[float] = LEVELS) -> tuple[dict, pd.DataFrame]:
    """All backtest scores of predictive ``draws`` (S, P) against measured ``y`` (P,).

    Returns ``(scores, per_row)``: ``scores`` maps ``coverage``, ``interval_score`` and
    ``width`` to ``{str(level): value}`` plus scalars ``crps`` and
    ``median_abs_log_error``; ``per_row`` has the median, each level's bounds, the
    row's CRPS and |log error|.
    """
    x = np.asarray(draws, float)
    y = np.asarray(y, float)
    if x.ndim != 2 or x.shape[1] != y.size:
        raise BacktestError(f"draws must be (S, {y.size}), got {x.shape}")
    with np.errstate(invalid="ignore"):
        med = np.median(x, axis=0)
    rows = {"observed": y, "median": med}
    cov, isc, width = {}, {}, {}
    for lev in levels:
        with np.errstate(invalid="ignore"):
            lo, hi = np.quantile(x, [(1 - lev) / 2, (1 + lev) / 2], axis=0)
        # Interpolating towards an overflowed (+inf) draw gives NaN: the bound is +inf.
        lo, hi = np.where(np.isnan(lo), np.inf, lo), np.where(np.isnan(hi), np.inf, hi)
        key = f"{lev:g}"
        rows[f"lower_{key}"], rows[f"upper_{key}"] = lo, hi
        cov[key] = float(np.mean((y >= lo) & (y <= hi)))
        isc[key] = float(np.mean(interval_score(y, lo, hi, lev)))
        width[key] = float(np.median(hi - lo))
    crps = crps_draws(x, y)
    logerr = np.abs(np.log(med) - np.log(y))
    rows["crps"], rows["abs_log_error"] = crps, logerr
    scores = {"coverage": cov, "interval_score": isc, "width": width,
              "crps": float(crps.mean()), "median_abs_log_error": float(np.median(logerr)),
              "nonfinite_draws": float(np.mean(~np.isfinite(x)))}
    return scores, pd.DataFrame(rows)


# ------------------------------------------------------------------------------ splits
def _top_clusters(values: np.ndarray, k: int, tol: float) -> np.ndarray:
    """Mask of the rows in the ``k`` largest budgets of ``values`` (one rule with the
    calibration's folds, :func:`distillaw.discrepancy.budget_clusters`)."""
    return budget_clusters(values, tol) < k


@dataclass
class Split:
    """Training rows, test rows and a description of the held-out region."""

    train: pd.DataFrame
    test: pd.DataFrame
    holdout: str
    info: dict = field(default_factory=dict)


def split(table: pd.DataFrame, holdout, *, budget_tol: float = BUDGET_TOL,
          columns: Mapping[str, str] | None = None) -> Split:
    """Split a validated run table into training rows and held-out rows (see module doc)."""
    from .loaders import load

    n = len(table)
    extra = None
    if isinstance(holdout, str | os.PathLike) and not (isinstance(holdout, str) and any(
            holdout.startswith(p) for p in ("top-compute:", "top-size:", "group:"))):
        path = Path(holdout)
        if not path.is_file():
            raise BacktestError(f"unknown hold-out {str(holdout)!r}: use top-compute:K, "
                                "top-size:K, group:NAME or a file of rows")
        rows = load(path, **({'columns': columns} if columns else {}))
        known = table["run_id"].isin(set(rows["run_id"])).to_numpy()
        extra = rows[~rows["run_id"].isin(set(table["run_id"]))]
        mask, desc = known, f"file {path}"
    elif isinstance(holdout, str):
        kind, _, arg = holdout.partition(":")
        if kind in ("top-compute", "top-size"):
            try:
                k = int(arg)
            except ValueError:
                k = 0
            if k < 1:
                raise BacktestError(f"hold-out {holdout!r}: K must be a positive integer")
            vals = row_compute(table) if kind == "top-compute" else table["N"].to_numpy(float)
            mask, desc = _top_clusters(vals, k, budget_tol), holdout
        else:  # group:NAME
            if arg not in set(table["group"]):
                raise BacktestError(f"hold-out {holdout!r}: no group {arg!r} in the data "
                                    f"(groups: {', '.join(sorted(set(table['group'])))})")
            mask, desc = (table["group"] == arg).to_numpy(), holdout
    else:
        arr = np.asarray(holdout)
        if arr.dtype == bool:
            if arr.shape != (n,):
                raise BacktestError(f"a hold-out mask needs {n} entries, got {arr.shape}")
            mask = arr
        else:
            ids = set(map(str, arr.ravel()))
            missing = ids - set(table["run_id"])
            if missing:
                raise BacktestError(f"hold-out run ids not in the data: "
                                    f"{', '.join(sorted(missing)[:5])}")
            mask = table["run_id"].isin(ids).to_numpy()
        desc = f"{int(mask.sum())} given rows"
    train = table[~mask].reset_index(drop=True)
    test = table[mask]
    if extra is not None and len(extra):
        test = pd.concat([test, extra], ignore_index=True)
    test = test.reset_index(drop=True)
    if len(test) == 0:
        raise BacktestError(f"hold-out {desc}: no rows to score")
    if len(train) == 0:
        raise BacktestError(f"hold-out {desc}: nothing left to fit on")
    c_train, c_test = row_compute(train), row_compute(test)
    info = {"n_train": len(train), "n_test": len(test),
            "train_compute_max": float(c_train.max()),
            "test_compute": [float(c_test.min()), float(c_test.max())],
            "train_N_max": float(train["N"].max()),
            "test_N": [float(test["N"].min()), float(test["N"].max())],
            "extrapolation_factor_compute": float(c_test.max() / c_train.max())}
    return Split(train, test, desc, info)


# ------------------------------------------------------------------------------ result
@dataclass
class BacktestResult:
    """Scores of our predictive intervals (and the peers', if run) on one split."""

    split: Split
    law: str
    settings: dict
    scores: dict
    rows: dict
    notes: list = field(default_factory=list)

    def ratios(self) -> dict:
        """peers / ours for the interval scores and the CRPS (> 1: ours is better)."""
        if "peers" not in self.scores:
            return {}
        o, p = self.scores["ours"], self.scores["peers"]
        out = {f"interval_score_{k}": (p["interval_score"][k] / o["interval_score"][k]
                                       if o["interval_score"][k] > 0 else None)
               for k in o["interval_score"]}
        out["crps"] = (p["crps"] / o["crps"] if 0 < o["crps"] < np.inf else None)
        return out

    def to_dict(self) -> dict:
        """JSON-ready document (what ``distillaw backtest --json`` prints); infinite or
        undefined numbers (e.g. the CRPS of draws that overflowed) become ``null``."""
        return _finite_or_none({"holdout": self.split.holdout, "law": self.law, "split": self.split.info,
                "settings": self.settings, "scores": self.scores, "ratios": self.ratios(),
                "interval": "predictive (law + every fitted error term) for ours; bootstrap "
                            "percentile of the refitted law for peers",
                "notes": list(self.notes),
                "rows": {k: v.to_dict(orient="records") for k, v in self.rows.items()}})

    def table(self) -> str:
        """Readable table: ours vs peers, and their ratio."""
        info = self.split.info
        lines = [f"backtest: {self.law} law, hold-out {self.split.holdout}: "
                 f"{info['n_train']} rows fitted, {info['n_test']} scored",
                 f"  held-out compute {info['test_compute'][0]:.3g} .. "
                 f"{info['test_compute'][1]:.3g} FLOPs (largest fitted {info['train_compute_max']:.3g}"
                 f", x{info['extrapolation_factor_compute']:.3g})", ""]
        methods = [m for m in ("ours", "peers") if m in self.scores]
        head = f"  {'score':28s}" + "".join(f"{m:>12s}" for m in methods)
        if "peers" in self.scores:
            head += f"{'peers/ours':>12s}"
        lines.append(head)

        def row(label, vals, ratio=False):
            s = f"  {label:28s}" + "".join(f"{v:12.4g}" for v in vals)
            if ratio and len(vals) == 2 and vals[0] > 0:
                s += f"{vals[1] / vals[0]:12.3g}"
            return s

        sc = [self.scores[m] for m in methods]
        for k in sc[0]["coverage"]:
            lines.append(row(f"coverage {float(k):.0%}", [s["coverage"][k] for s in sc]))
        for k in sc[0]["interval_score"]:
            lines.append(row(f"interval score {float(k):.0%}",
                             [s["interval_score"][k] for s in sc], ratio=True))
        lines.append(row("median width 90%", [s["width"].get("0.9", np.nan) for s in sc]))
        lines.append(row("CRPS (nats)", [s["crps"] for s in sc], ratio=True))
        lines.append(row("median |log error|", [s["median_abs_log_error"] for s in sc]))
        lines.append("")
        lines.append("  ours: predictive intervals (law + fitted error terms); peers: Huber fit "
                     "+ bootstrap percentile intervals")
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)


def _finite_or_none(obj):
    if isinstance(obj, dict):
        return {k: _finite_or_none(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_finite_or_none(v) for v in obj]
    if isinstance(obj, float | np.floating) and not np.isfinite(obj):
        return None
    return obj


# ------------------------------------------------------------------------------ main
def _predictive(post, test: pd.DataFrame, seed: int, group_col: str | None) -> np.ndarray:
    """Predictive draws (S, P) for the test rows, by group for a grouped posterior."""
    groups = post.groups
    if len(groups) <= 1:
        return post.predictive_draws(test, seed=seed)
    out = None
    col = group_col or "group"
    for i, g in enumerate(pd.unique(test[col].astype(str))):
        idx = np.flatnonzero((test[col].astype(str) == g).to_numpy())
        d = post.predictive_draws(test.iloc[idx].reset_index(drop=True), group=g,
                                  seed=seed + i)
        if out is None:
            out = np.empty((d.shape[0], len(test)))
        out[:, idx] = d
    return out


def _peers(sp: Split, law: str, form: str, group: str | None, grid: str, n_boot: int,
           seed: int) -> tuple[np.ndarray, list[str]]:
    """Bootstrap draws (n_boot, P) of the peers' method for the test rows.

    With ``group`` the peers fit each group on its own (as Epoch and Porian fit each
    configuration), so a group needs enough training rows of its own.
    """
    from .baseline import huber_fit

    notes = []
    if group is None:
        hf = huber_fit(sp.train, law, form=form, grid=grid, seed=seed)
        if hf.sup_source:
            notes.append(f"peers' student supervised loss: {hf.sup_source}")
        return hf.bootstrap(n_boot, seed=seed).loss_draws(sp.test), notes
    out = np.empty((n_boot, len(sp.test)))
    for i, g in enumerate(pd.unique(sp.test[group])):
        idx = np.flatnonzero((sp.test[group] == g).to_numpy())
        train = sp.train[sp.train[group] == g]
        if len(train) == 0:
            raise BacktestError(f"the peers fit each {group} on its own, and {group} {g!r} has "
                                "no training rows (use --no-peers)")
        hf = huber_fit(train, law, form=form, grid=grid, seed=seed + i)
        out[:, idx] = hf.bootstrap(n_boot, seed=seed + i).loss_draws(
            sp.test.iloc[idx].reset_index(drop=True))
    notes.append(f"peers: one Huber fit per {group}")
    return out, notes


def _fit_kwargs(fit, settings: Mapping) -> dict:
    kw = {k: v for k, v in settings.items() if v is not None}
    params = inspect.signature(fit).parameters
    if any(p.kind is p.VAR_KEYWORD for p in params.values()):
        return kw
    unknown = [k for k in kw if k not in params]
    if unknown:
        raise BacktestError(f"fit() of this version does not take {', '.join(unknown)} "
                            "(the structured error model may not be available yet)")
    return kw


def backtest(data, holdout, law: str = "supervised", *, form: str | None = None,
             group: str | None = None, error: str | None = None, likelihood: str = "student_t",
             sampler: str = "nutpie", draws: int = 500, tune: int = 500, chains: int = 4,
             seed: int = 0, levels: Sequence[float] = LEVELS, peers: bool = True,
             n_boot: int = 1000, grid: str = "full", budget_tol: float = BUDGET_TOL,
             format: str | None = None, columns: Mapping[str, str] | None = None,
             drop_highest_loss: int = 0, progressbar: bool = False, fit_fn=None,
             extrapolation: str | None = None) -> BacktestResult:
    """Fit on all but ``holdout``, score the predictive intervals on the held-out rows.

    Parameters
    ----------
    data : DataFrame or path
        A run table, or any table :func:`distillaw.loaders.load` reads (``format=``,
        ``columns=``, ``drop_highest_loss=`` as there).
    holdout : str, path, mask or run ids
        See the module docstring.
    law, form, group, error, likelihood, sampler, draws, tune, chains, seed, extrapolation
        Passed to :func:`distillaw.fit` (``error=`` and ``extrapolation=`` only when
        given; fit's default ``extrapolation="auto"`` calibrates the extrapolation
        discrepancy on the *training* rows alone, by leaving their largest out).
    levels : sequence of float
        Interval levels scored.
    peers : bool
        Also score the Huber fit + bootstrap baseline on the same split (supervised and
        distillation laws).
    n_boot, grid
        Bootstrap refits and grid of starts of the baseline (:func:`distillaw.baseline.huber_fit`).
    fit_fn : callable, optional
        Replaces :func:`distillaw.fit.fit` (tests pass a stub returning a hand-made posterior).

    Returns
    -------
    BacktestResult
        ``scores["ours"]`` (and ``scores["peers"]``), per-row predictions in ``rows``, the
        split's description, and :meth:`BacktestResult.ratios`.
    """
    from .data import validate_runs
    from .loaders import load

    if law not in ("supervised", "distillation"):
        raise BacktestError(f"backtests score losses: law must be supervised or distillation, "
                            f"not {law!r}")
    levels = tuple(float(v) for v in levels)
    if not levels or any(not 0 < v < 1 for v in levels):
        raise BacktestError(f"levels must lie in (0, 1), got {levels}")
    if n_boot < 2:
        raise BacktestError(f"n_boot must be >= 2, got {n_boot}")
    if isinstance(data, pd.DataFrame):
        table = validate_runs(data)
    else:
        table = load(data, format, drop_highest_loss=drop_highest_loss,
                     **({'columns': columns} if columns else {}))
    sp = split(table, holdout, budget_tol=budget_tol, columns=columns)
    if law == "distillation":
        test = sp.test[sp.test["kind"] == "distillation"].reset_index(drop=True)
        if len(test) < len(sp.test):
            sp.info["n_test_supervised_dropped"] = int(len(sp.test) - len(test))
        sp.test = test
        sp.info["n_test"] = len(test)
        if len(test) == 0:
            raise BacktestError(f"hold-out {sp.holdout}: no distillation rows to score")
    else:
        if (sp.test["kind"] != "supervised").any():
            raise BacktestError("the supervised law scores supervised rows only; the held-out "
                                "rows include distillation rows")
    if fit_fn is None:
        from .sampling import fit as fit_fn
    settings = {"form": form, "group": group, "error": error, "likelihood": likelihood,
                "sampler": sampler, "draws": draws, "tune": tune, "chains": chains,
                "seed": seed, "progressbar": progressbar, "extrapolation": extrapolation}
    kw = _fit_kwargs(fit_fn, settings)
    post = fit_fn(sp.train, law, **kw)
    notes: list[str] = []
    y = sp.test["L"].to_numpy(float)
    with np.errstate(over="ignore"):  # overflowed draws are counted and reported below
        pred = _predictive(post, sp.test, seed, group)
    ours, ours_rows = score_draws(pred, y, levels)
    keep = [c for c in ("run_id", "group", "N", "D", "L_T") if c in sp.test.columns]
    scores = {"ours": ours}
    if ours["nonfinite_draws"] > 0:
        notes.append(f"a fraction {ours['nonfinite_draws']:.2g} of our predictive draws "
                     "overflowed (a "
                     "Student-t noise with nu < 1 has no mean): our CRPS is infinite")
    rows = {"ours": pd.concat([sp.test[keep], ours_rows], axis=1)}
    try:
        d = post.diagnostics()
        if d.get("divergences"):
            notes.append(f"our fit had {d['divergences']} divergent transitions")
    except DistillawError:
        pass  # a hand-made posterior (tests) has no diagnostics to report
    if peers:
        draws_p, note = _peers(sp, law, post.form or "chinchilla", group, grid, n_boot, seed)
        peer, peer_rows = score_draws(draws_p, y, levels)
        scores["peers"] = peer
        rows["peers"] = pd.concat([sp.test[keep], peer_rows], axis=1)
        notes += note
    settings = {k: v for k, v in settings.items() if k != "progressbar"}
    settings.update({"law": law, "levels": list(levels), "peers": peers, "n_boot": n_boot,
                     "grid": grid, "budget_tol": budget_tol,
                     "form": post.form})
    disc = getattr(post, "discrepancy", None)
    settings["extrapolation_discrepancy"] = None if disc is None else disc.summary()
    if disc is not None:
        notes.append(disc.summary())
        reach = _calibrated_reach(post, disc, sp.test, rows["ours"], law, group)
        if reach is not None:
            scores["ours"]["calibrated_reach"], note = reach
            notes.append(note)
    return BacktestResult(sp, law, settings, scores, rows, notes)


def _calibrated_reach(post, disc, test: pd.DataFrame, ours_rows: pd.DataFrame, law: str,
                      group: str | None):
    """How many held-out rows lie farther from the fitted rows than any run the fit's
    extrapolation calibration held out (there its intervals extend the learned discrepancy
    rather than measure it), and the 90% coverage on each side: ``(dict, note)``, or
    ``None`` for a record without fold distances. Adds each row's ``distance`` to
    ``ours_rows``."""
    dmax = disc.calibrated_distance()
    if dmax is None or "constant_data" not in post.idata.groups():
        return None  # an old record, or a hand-made posterior without its fitted rows
    d = disc.distance(post.fitted_rows(), test, law, group)
    ours_rows["distance"] = d
    beyond = d > dmax
    y = test["L"].to_numpy(float)
    inside = ((ours_rows["lower_0.9"] <= y) & (y <= ours_rows["upper_0.9"])).to_numpy() \
        if "lower_0.9" in ours_rows else None

    def cov(mask):
        return None if inside is None or not mask.any() else float(inside[mask].mean())

    out = {"distance_max": dmax, "n_beyond": int(beyond.sum()), "n": int(beyond.size),
           "coverage90_within": cov(~beyond), "coverage90_beyond": cov(beyond)}
    note = (f"{out['n_beyond']} of {out['n']} held-out rows lie farther from the fitted rows "
            f"than any run the extrapolation calibration scored (distance {dmax:.2g} fitted "
            "spans): there the intervals extend the learned discrepancy")
    if inside is not None:
        parts = [f"{lab} {v:.2f}" for lab, v in (("within", out["coverage90_within"]),
                                                  ("beyond", out["coverage90_beyond"]))
                 if v is not None]
        note += f"; 90% coverage {', '.join(parts)}"
    return out, note


__all__ = ["BUDGET_TOL", "LEVELS", "BacktestError", "BacktestResult", "Split", "backtest",
           "crps_draws", "interval_score", "row_compute", "score_draws", "split"]
