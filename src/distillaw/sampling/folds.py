"""The extrapolation calibration's folds (:mod:`distillaw.discrepancy`): fit each
leave-the-largest-out fold, predict its held-out runs, learn the discrepancy."""

from __future__ import annotations

import contextlib
import dataclasses
import time
import warnings

import numpy as np
import pandas as pd

from .._compat import import_arviz
from ..errors import InterruptedFit
from ..posterior import Posterior
from .engine import _BLAS_WARNING, _check_complete, _compile_nutpie, _start_nutpie, _wait
from .groups import _drop_internal

EXTRAPOLATION = ("auto", "calibrate", "none")
# "auto" calibrates tables of at least this many rows: below it each fold holds out a
# handful of runs, the grid posterior of the discrepancy is mostly its prior, and the
# extra fits cost more than the table is worth (pass extrapolation="calibrate" to force).
AUTO_MIN_ROWS = 50
# Inner fits of the calibration: their predictive medians and 90% widths are what is used,
# which 2 chains x 400 draws estimate well (the full fit keeps the user's settings).
INNER_MAX = {"draws": 400, "tune": 400, "chains": 2}
# Tuning steps of a fold sampled on the one compiled fold model (row-wise error models):
# it starts from the same model as the fit, only some row weights set to 0. Measured
# (2 x 400 draws, diag, 2 cores): digitised Busbridge's five folds 0 divergences at 200 and
# at 400, 5% more leapfrog steps per draw, 77 s instead of 101 s; Epoch's three 4.9 s
# instead of 5.9 s; two folds' held-out 5/50/95% predictive quantiles moved by at most
# 0.001 (log-loss) from 400 to 200, as much as between two seeds at 400.
FOLD_MODEL_TUNE = 200
# The folds' metric where the fit's was the default diagonal one and the table is not
# grouped: nutpie's low-rank modified mass matrix at target_accept 0.98. The folds' output
# is predictive quantiles, not a posterior a user reads, and the low-rank metric takes far
# fewer leapfrog steps there. Measured on the digitised Busbridge train split (default
# heteroscedastic fit, seed 0): five folds 31-140 steps per draw instead of 291-402,
# calibration 45 s instead of 103 s, 0 divergences, fold rmse and coverage within 0.0006
# and 0.02, the discrepancy's scale 0.0077 vs 0.0082 and every test-row interval equal to
# 1e-3 nats. 0.98 because at 0.9-0.95 the same metric diverged on the full table in some
# seeds (1 in 10 at 0.95, 0 in 8 at 0.98). A grouped table keeps the fit's metric: low-rank
# diverged on hierarchical tables (Porian). A mass matrix the caller chose is kept too.
FOLD_MASS_MATRIX = "low-rank"
FOLD_TARGET_ACCEPT = 0.98
# Folds on the one compiled fold model start where the fit's posterior is
# (:meth:`_FoldModel.warm_start`), and under the low-rank metric cap a trajectory at 2**9 - 1
# leapfrog steps. A fold's tuning began at the model's support point with the identity
# metric, and its first 50 tuning draws averaged 400-540 steps, some at nutpie's cap of
# 1023: tuning was 60-70% of a fold's gradients. Measured on the digitised Busbridge train
# split (default fit, 2 x 400 draws after 200 tuning, 2 cores, five low-rank folds): 24.6 s
# cold-started, 17.2 s warm-started, 15.1 s warm-started at maxdepth 9 (no draw at the cap;
# at 8 the strongest-teachers fold, 90 steps per draw, hit it in 5% of its draws), 0
# divergences throughout. Folds under the diagonal metric keep nutpie's cap (10): Porian's
# hierarchical folds need 340-430 steps per draw, and at 9 a third to two thirds of their
# draws stopped at the cap.
FOLD_MAXDEPTH = 9
NUTPIE_MAXDEPTH = 10  # nutpie's own cap
# Folds on the one compiled fold model sample together (see :class:`_Calibration`); False
# runs them one at a time, with the same draws.
FOLDS_TOGETHER = True


def _fold_maxdepth(mass_matrix: str) -> int | None:
    """A fold's tree-depth cap (``None``: nutpie's own); see :data:`FOLD_MAXDEPTH`."""
    return FOLD_MAXDEPTH if mass_matrix == "low-rank" else None


def fold_sampler(sampler_kw: dict, spec, *, explicit_mass: bool) -> dict:
    """The folds' mass matrix and target_accept (see :data:`FOLD_MASS_MATRIX`)."""
    if (explicit_mass or sampler_kw.get("sampler") != "nutpie" or spec.group is not None
            or sampler_kw.get("mass_matrix") != "diag"):
        return dict(sampler_kw)
    return {**sampler_kw, "mass_matrix": FOLD_MASS_MATRIX,
            "target_accept": FOLD_TARGET_ACCEPT}


def _calibrate_extrapolation(table: pd.DataFrame, spec, *, sampler_kw: dict,
                             progressbar: bool, fit, explicit_mass: bool = False,
                             fold_model: _FoldModel | None = None):
    """The leave-the-largest-out folds of :mod:`distillaw.discrepancy`: fit ``spec`` on
    each fold's smaller runs (same priors, same sampler), predict the held-out larger ones
    with the inner posterior's own predictive draws, and return the grid posterior of the
    discrepancy (``None`` when the table allows no fold). The folds sample one compiled,
    row-weighted model (:class:`_FoldModel`) where it applies; else each fold builds and
    compiles its own through ``fit`` (:func:`distillaw.fit`, passed in: this module is
    below it). ``explicit_mass``: the caller chose the fit's mass matrix, and the folds
    keep it (else :func:`fold_sampler` picks theirs). ``fold_model``: the folds' model,
    when the caller built and compiled it already (fit samples its own draws on it).
    :func:`_start_calibration` then :meth:`_Calibration.finish`, with nothing between."""
    pending = _start_calibration(table, spec, sampler_kw=sampler_kw, progressbar=progressbar,
                                 fit=fit, explicit_mass=explicit_mass, fold_model=fold_model)
    return None if pending is None else pending.finish()


def _start_calibration(table: pd.DataFrame, spec, *, sampler_kw: dict, progressbar: bool,
                       fit, explicit_mass: bool = False,
                       fold_model: _FoldModel | None = None) -> _Calibration | None:
    """Start the folds of :func:`_calibrate_extrapolation` (``None`` when the table allows
    no fold). Where every fold samples the one compiled fold model, all of them start now,
    in the background, and the caller may do other work (fit computes its ArviZ groups)
    before :meth:`_Calibration.finish`; otherwise the folds run one by one in ``finish``."""
    from .. import discrepancy as dc

    masks = dc.fold_masks(table, spec.group, law=spec.law)
    if not masks:
        return None
    inner_kw = {k: min(v, INNER_MAX[k]) if k in INNER_MAX else v
                for k, v in fold_sampler(sampler_kw, spec,
                                         explicit_mass=explicit_mass).items()}
    if fold_model is None:
        fold_model = _FoldModel.make(table, spec, sampler_kw["sampler"])
    return _Calibration(table, spec, masks, inner_kw, fold_model, fit, progressbar)


class _Calibration:
    """The calibration's folds, started (:func:`_start_calibration`).

    All folds on the one compiled fold model sample together, each its 2 chains: a fold
    finishes when its slower chain does, and chains' tuning differs by up to 2x, so one at
    a time left a core idle at the end of each fold; together they also keep both cores
    busy while fit computes its ArviZ groups (single-threaded Python). Measured on the
    digitised Busbridge train split (five folds, 2 cores): 15.6-16.2 s one at a time,
    14.8-15.2 s together, the same draws (each fold's seed fixes its chains)."""

    def __init__(self, table, spec, masks, inner_kw, fold_model, fit, progressbar):
        self.table, self.spec, self.masks = table, spec, masks
        self.inner_kw, self.fold_model, self.fit = inner_kw, fold_model, fit
        self.progressbar = progressbar
        self.running: dict[int, object] = {}
        self.t0 = time.perf_counter()
        if (FOLDS_TOGETHER and fold_model is not None
                and all(fold_model.serves(self._inner(m)) for m in masks)):
            if progressbar:
                held = ", ".join(str(int(m.sum())) for m in masks)
                self._say(f"{len(masks)} folds sampling together ({held} of {len(table)} "
                          "rows held out)")
            try:
                for i, mask in enumerate(masks):
                    self.running[i] = fold_model.start(self._inner(mask), self._kw(i))
            except BaseException:
                self.cancel()
                raise

    def _inner(self, mask):
        return self.table[~mask].reset_index(drop=True)

    def _kw(self, i: int) -> dict:
        kw = {**self.inner_kw, "seed": self.inner_kw["seed"] + 1 + i}
        if self.fold_model is not None:
            kw["tune"] = min(int(kw["tune"]), FOLD_MODEL_TUNE)
        return kw

    def _say(self, msg: str) -> None:
        import sys

        print(f"calibrating the extrapolation: {msg}", file=sys.stderr, flush=True)

    def cancel(self) -> None:
        """Stop every fold still sampling (Ctrl-C or an error elsewhere in the fit)."""
        for bg in self.running.values():
            with contextlib.suppress(Exception):
                bg.cancel()
        self.running.clear()

    def finish(self):
        """Wait for (or run) every fold, predict its held-out runs and return the grid
        posterior of the discrepancy."""
        try:
            return self._finish()
        finally:
            self.cancel()

    def _finish(self):
        from .. import discrepancy as dc

        table, spec, masks = self.table, self.spec, self.masks
        group = spec.group
        span = dc.spans(table, spec.law)  # one distance unit for every fold and prediction
        cspan = dc.compute_spans(table, spec.law)
        lqs, lys, ds, held_ids, folds, kept = [], [], [], [], [], []
        for i, mask in enumerate(masks):
            t0 = time.perf_counter()
            inner_rows = self._inner(mask)
            held = table[mask].reset_index(drop=True)
            fold_kw = self._kw(i)
            if i in self.running:
                inner, stats = self.fold_model.collect(self.running.pop(i), fold_kw)
                seconds = time.perf_counter() - self.t0  # they all started at t0
                if self.progressbar:
                    self._say(f"fold {i + 1}/{len(masks)} done ({seconds:.0f} s)")
            else:
                if self.progressbar:
                    self._say(f"fold {i + 1}/{len(masks)}, {int(mask.sum())} of "
                              f"{len(table)} rows held out")
                if self.fold_model is not None and self.fold_model.serves(inner_rows):
                    inner, stats = self.fold_model.fit(inner_rows, fold_kw)
                else:
                    inner = self.fit(inner_rows, spec, **fold_kw, progressbar=False,
                                     extrapolation="none")
                    diag = inner.diagnostics()
                    stats = {"divergences": int(diag.get("divergences", 0)),
                             "steps_per_draw": diag.get("steps_per_draw")}
                seconds = time.perf_counter() - t0
            lq = dc.fold_quantiles(inner.predictive_draws(held, seed=i))
            ly = np.log(held["L"].to_numpy(float))
            d = dc.distance(inner_rows, held, spec.law, group, span, cspan)
            lqs.append(lq)
            lys.append(ly)
            ds.append(d)
            held_ids.append(np.flatnonzero(mask))
            kept.append(np.full(int(mask.sum()), (~mask).sum() / len(table)))
            lo, hi = lq[int(0.05 * lq.shape[0])], lq[int(0.95 * lq.shape[0]) - 1]
            folds.append({
                "held_out": int(mask.sum()), "fitted": int((~mask).sum()),
                "distance_median": round(float(np.median(d)), 4),
                # how far out the calibration saw: a prediction beyond it is the
                # discrepancy's power law extrapolated (distillaw.extrapolation says so)
                "distance_max": round(float(np.max(d)), 4),
                "rmse_log": round(float(np.sqrt(np.mean((ly - np.median(lq, 0)) ** 2))), 5),
                "inner_coverage90": round(float(np.mean((lo <= ly) & (ly <= hi))), 3),
                # the fold's sampler: a reader can see whether its quantiles are sound
                "mass_matrix": fold_kw["mass_matrix"],
                "divergences": stats["divergences"],
                "steps_per_draw": (None if stats["steps_per_draw"] is None
                                   else round(float(stats["steps_per_draw"]), 1)),
                "at_max_depth": stats.get("at_max_depth"),
                # folds sampled together: seconds from their common start until this one's
                # draws were collected (in fold order, so an upper bound on its own time)
                "seconds": round(seconds, 1)})
        ids = np.concatenate(held_ids)
        weight = 1.0 / np.bincount(ids, minlength=len(table))[ids]  # a row is one piece of evidence
        return dc.calibrate(np.concatenate(lqs, axis=1), np.concatenate(lys),
                            np.concatenate(ds), weight, folds, kept=np.concatenate(kept),
                            span=span, compute_span=cspan)


@contextlib.contextmanager
def _interrupted_fold():
    """Ctrl-C in a fold is the fit's: :class:`InterruptedFit`, as a fold built through
    ``fit`` raises it (the calibrated fit is not returned, so nothing is saved)."""
    try:
        yield
    except KeyboardInterrupt:
        raise InterruptedFit("fit interrupted (Ctrl-C) while calibrating the extrapolation; "
                             "nothing was saved") from None


class _FoldModel:
    """The calibration's folds as one compiled model: the fit's model on the whole table,
    built with row weights (:func:`distillaw.models._common.likelihood`) and compiled once
    by nutpie; a fold sets its held-out rows' weights to 0 and samples. Its priors and
    reference sizes are the whole table's (a fold built on its own rows differed only in
    data-scaled prior centres, whose sds are 0.5-1.5, and in where the prefactors are
    sampled). Measured on Epoch's 240 points (default fit, 4 x 500 draws): four
    compilations of 4-9 s each were most of the fit's time (bench/calibration_speed.py).

    Only for nutpie and the row-wise error models (:func:`distillaw.models.fold_weighted`);
    a fold whose fitted rows lack a kind of row the table has (all supervised rows held
    out) is built on its own rows, since its priors then change (Busbridge Table 6)."""

    def __init__(self, built, compiled):
        self.built, self.compiled = built, compiled
        self.positions: np.ndarray | None = None  # the fit's posterior draws to start from
        rows = built.table
        self.kinds = set(rows["kind"].astype(str))
        self.ids = {name: np.asarray(ids).astype(str) for name, ids in built.fold_rows.items()}

    @classmethod
    def make(cls, table: pd.DataFrame, spec, sampler: str) -> _FoldModel | None:
        """The folds' model, or ``None`` where it does not apply (each fold is then built
        and compiled on its own rows)."""
        from ..models import build, fold_weighted

        if sampler != "nutpie" or not fold_weighted(spec):
            return None
        with warnings.catch_warnings(), _interrupted_fold():
            warnings.filterwarnings("ignore", message=_BLAS_WARNING, category=UserWarning)
            built = build(spec, table, fold_weights=True)
            return cls(built, _compile_nutpie(built.model))

    def warm_start(self, positions: np.ndarray) -> None:
        """Start each fold's chains at draws of the fit's own posterior (``positions``:
        draws x dim, in this compiled model's unconstrained coordinates) instead of the
        model's support point. A fold drops a few of the fit's rows, so its posterior is
        near; tuning then adapts the metric instead of first finding the typical set.
        Each chain's start is the draw its seed picks (nutpie asks per chain and retries
        with another seed if the log-density is not finite there)."""
        positions = np.ascontiguousarray(positions, dtype=float)
        if positions.ndim != 2 or positions.shape[1] != self.compiled.n_dim:
            raise ValueError(f"warm_start: positions of shape {positions.shape}, the model "
                             f"has {self.compiled.n_dim} unconstrained dimensions")
        self.positions = positions

    def _compiled_for(self, weights: dict):
        compiled = self.compiled.with_data(**weights)
        if self.positions is None:
            return compiled
        start = self.positions

        def initial_point(seed):
            rng = np.random.default_rng(int(seed) % 2**64)
            return start[int(rng.integers(len(start)))].copy()

        return dataclasses.replace(compiled, initial_point_func=initial_point)

    def serves(self, inner_rows: pd.DataFrame) -> bool:
        return set(inner_rows["kind"].astype(str)) >= self.kinds

    def fit(self, inner_rows: pd.DataFrame, kw: dict) -> tuple[Posterior, dict]:
        """The fold's posterior and its sampler's ``divergences``, ``steps_per_draw`` and
        ``at_max_depth`` (:meth:`start`, then :meth:`collect`)."""
        return self.collect(self.start(inner_rows, kw), kw)

    def start(self, inner_rows: pd.DataFrame, kw: dict):
        """Start sampling the fold that fits ``inner_rows`` (in the background)."""
        keep = set(inner_rows["run_id"].astype(str))
        weights = {name: np.isin(ids, list(keep)).astype(float)
                   for name, ids in self.ids.items()}
        with warnings.catch_warnings(), _interrupted_fold():
            warnings.filterwarnings("ignore", message=_BLAS_WARNING, category=UserWarning)
            return _start_nutpie(self._compiled_for(weights), draws=int(kw["draws"]),
                                 tune=int(kw["tune"]), chains=int(kw["chains"]),
                                 seed=int(kw["seed"]), progressbar=False,
                                 target_accept=kw.get("target_accept"), cores=kw.get("cores"),
                                 mass_matrix=kw["mass_matrix"],
                                 maxdepth=_fold_maxdepth(kw["mass_matrix"]))

    def collect(self, running, kw: dict) -> tuple[Posterior, dict]:
        """Wait for a fold :meth:`start` began; its posterior and sampler stats."""
        az = import_arviz()
        with warnings.catch_warnings(), _interrupted_fold():
            warnings.filterwarnings("ignore", message=_BLAS_WARNING, category=UserWarning)
            idata = _wait(running)
        _check_complete(idata, draws=int(kw["draws"]), chains=int(kw["chains"]),
                        interrupted=False)
        ss = idata.sample_stats
        depth = _fold_maxdepth(kw["mass_matrix"]) or NUTPIE_MAXDEPTH
        stats = {"divergences": int(ss["diverging"].sum()),
                 "steps_per_draw": float(ss["n_steps"].mean()) if "n_steps" in ss else None,
                 # draws whose trajectory stopped at the cap: the cap cost mixing there
                 "at_max_depth": (int((ss["n_steps"] >= 2 ** depth - 1).sum())
                                  if "n_steps" in ss else None)}
        return Posterior(az.InferenceData(posterior=_drop_internal(idata.posterior)),
                         self.built.spec.to_dict(), model_info=self.built.info()), stats
