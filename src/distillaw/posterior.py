"""Posterior: posterior draws + the model spec, enough to predict without the original code path.

A :class:`Posterior` wraps an ArviZ ``InferenceData`` whose ``posterior`` group holds the
law's parameters on their natural scale under their canonical names:

- supervised: ``E, A, B, alpha, beta`` (+ ``gamma`` for the Busbridge form);
- distillation: ``A_prime, B_prime, alpha_prime, beta_prime, gamma_prime, c0, c1, f1, d1``
  *and* the supervised parameters used for the student's supervised loss and for teachers;
- capacity-gap: ``k, s``.

Hierarchical parameters carry a ``group`` dimension. Everything downstream (predict,
decision, planning, reports) works on :meth:`Posterior.param_draws` in vectorised NumPy and
never needs the PyMC model.

Saved as a folder: ``posterior.nc`` (the draws) + ``card.json`` (spec, data hash, sampler
settings, diagnostics, package version) + ``card.md`` (the same for people).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from . import cards, hsgp
from ._compat import import_arviz
from .cards import GROUP_DIM, SAVED_FILES, check_save_target, draws_hash, interval_columns
from .draws import thin_index
from .errors import PosteriorError
from .laws import LAW_PARAMS, LAWS
from .laws import SUPERVISED_PARAMS as SUP_PARAMS
from .laws.capacity_gap import log_optimal_teacher_size
from .laws.distillation import PARAMS as DIS_PARAMS
from .laws.distillation import distillation_loss
from .laws.supervised import supervised_loss
from .teachers import OptimalTeacher, capacity_gap_from_distillation, optimal_teacher

GP_WEIGHTS = "gp_weights"  # error="gp": HSGP basis weights per draw (see distillaw.hsgp)

# Re-exported: callers import the saved-folder helpers from here too.
__all__ = ["GROUP_DIM", "SAVED_FILES", "OptimalTeacher", "Posterior",
           "capacity_gap_from_distillation", "check_save_target", "draws_hash",
           "interval_columns"]


def _as_frame(points) -> pd.DataFrame:
    if isinstance(points, pd.DataFrame):
        return points.reset_index(drop=True)
    if isinstance(points, Mapping):
        return pd.DataFrame({k: np.atleast_1d(v) for k, v in points.items()})
    raise PosteriorError(f"points must be a DataFrame or a mapping, got {type(points).__name__}")


def _col(df: pd.DataFrame, name: str, why: str) -> np.ndarray:
    if name not in df.columns:
        raise PosteriorError(f"points need a column {name!r} ({why})")
    v = pd.to_numeric(df[name], errors="coerce").to_numpy(float)
    return v


class Posterior:
    """Posterior draws of one law plus the spec that produced them.

    Parameters
    ----------
    idata : arviz.InferenceData
        Must have a ``posterior`` group with the law's parameters (natural scale).
    spec : dict
        At least ``{"law": ..., "form": ...}``; the fit module adds priors, likelihood,
        grouping and settings. Stored verbatim in ``card.json``.
    data_hash : str, optional
        :func:`distillaw.data.data_hash` of the table the posterior was fitted on.
    sampler : dict, optional
        Sampler settings (engine, draws, tune, chains, seed), for provenance.
    diagnostics : dict, optional
        ``r_hat_max``, ``ess_bulk_min``, ``ess_tail_min``, ``divergences`` (see
        :func:`distillaw.sampling.compute_diagnostics`).
    model_info : dict, optional
        What the fit resolved from the data: priors, reference sizes, rows used, notes,
        prior-vs-posterior contraction.
    """

    def __init__(self, idata, spec: Mapping, *, data_hash: str | None = None,
                 sampler: Mapping | None = None, diagnostics: Mapping | None = None,
                 name: str | None = None, model_info: Mapping | None = None):
        if "law" not in spec or spec["law"] not in LAWS:
            raise PosteriorError(f"spec['law'] must be one of {', '.join(LAWS)}")
        if not hasattr(idata, "posterior"):
            raise PosteriorError("idata has no posterior group")
        self.idata = idata
        self.spec = dict(spec)
        self.data_hash = data_hash
        self.sampler = dict(sampler or {})
        self._diagnostics = dict(diagnostics) if diagnostics else None
        self.name = name
        # What the fit resolved from the data (priors, reference sizes, rows used, notes,
        # prior-vs-posterior contraction). Not part of the spec: never fed back into it.
        self.model_info = dict(model_info) if model_info else {}

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_params(cls, law: str, params: Mapping[str, object], *, form: str | None = None,
                    spec: Mapping | None = None, name: str | None = None) -> Posterior:
        """A posterior built by hand from parameter values or draws.

        Scalars give a point-mass posterior (one draw); arrays of shape ``(S,)`` give S
        draws (one chain). Useful for published coefficients, tests and what-if analyses.

        Example
        -------
        >>> from distillaw import published
        >>> post = Posterior.from_params("distillation", published("busbridge2025").point())
        >>> post.n_draws
        1
        """
        az = import_arviz()

        if law not in LAWS:
            raise PosteriorError(f"unknown law {law!r}; choose one of {', '.join(LAWS)}")
        arrays = {k: np.atleast_1d(np.asarray(v, float)) for k, v in params.items()}
        sizes = {a.shape[0] for a in arrays.values()}
        if len(sizes - {1}) > 1:
            raise PosteriorError(f"parameter draws have different lengths: {sorted(sizes)}")
        S = max(sizes)
        arrays = {k: np.broadcast_to(a, (S,) + a.shape[1:]).copy() for k, a in arrays.items()}
        if law in ("supervised", "distillation") and "gamma" not in arrays and "E" in arrays:
            arrays["gamma"] = np.ones(S)
        if form is None:
            form = "busbridge" if law == "distillation" else (
                "chinchilla" if law == "supervised" and np.all(arrays.get("gamma", 1.0) == 1.0)
                else "busbridge" if law == "supervised" else "power")
        missing = [p for p in LAW_PARAMS[law] if p not in arrays]
        if missing:
            raise PosteriorError(f"{law} posterior needs parameters: {', '.join(missing)}")
        idata = az.from_dict(posterior={k: v[None, ...] for k, v in arrays.items()})
        full_spec = {"law": law, "form": form, "source": "from_params", **(spec or {})}
        return cls(idata, full_spec, name=name)

    # ------------------------------------------------------------------ draws
    @property
    def law(self) -> str:
        return self.spec["law"]

    @property
    def form(self) -> str | None:
        return self.spec.get("form")

    @property
    def error(self) -> str:
        """Error model: ``"iid"`` (also specs saved before it existed),
        ``"heteroscedastic"`` or ``"structured"``."""
        return self.spec.get("error") or "iid"

    @property
    def groups(self) -> list[str]:
        """Group labels of a hierarchical posterior (empty if not grouped)."""
        post = self.idata.posterior
        if GROUP_DIM in post.coords:
            return [str(g) for g in post.coords[GROUP_DIM].values]
        return []

    @property
    def n_draws(self) -> int:
        post = self.idata.posterior
        return int(post.sizes["chain"] * post.sizes["draw"])

    def param_draws(self, group: str | None = None, *, max_draws: int | None = None,
                    seed: int = 0) -> dict[str, np.ndarray]:
        """Natural-scale parameter draws by canonical name, each of shape ``(S,)``.

        Parameters with a ``group`` dimension are taken for ``group`` (required when the
        posterior has more than one group). ``max_draws`` thins to at most that many draws
        (a fixed random subset for a given ``seed``), for fast decision/planning loops.
        """
        post = self.idata.posterior
        names = [p for p in LAW_PARAMS[self.law] if p in post.data_vars]
        missing = [p for p in LAW_PARAMS[self.law] if p not in post.data_vars and p != "gamma"]
        if missing:
            raise PosteriorError(f"posterior lacks parameters: {', '.join(missing)}")
        groups = self.groups
        if group is not None and not groups:  # never silently ignored
            raise PosteriorError(f"group {group!r} given, but this {self.law} posterior is not "
                                 "hierarchical (it has no groups)")
        if group is not None and groups and group not in groups:
            # A group never seen in the fit: its parameters come from the population, so its
            # draws carry the between-group spread.
            out = self._population_draws(str(group), seed)
            if max_draws is not None and max_draws < self.n_draws:
                idx = np.sort(np.random.default_rng(seed).choice(self.n_draws, max_draws,
                                                                 replace=False))
                out = {k: v[idx] for k, v in out.items()}
            return out
        out: dict[str, np.ndarray] = {}
        for p in names:
            da = post[p]
            if GROUP_DIM in da.dims:
                if group is None:
                    if len(groups) != 1:
                        raise PosteriorError(
                            f"parameter {p!r} varies by group; pass group= one of "
                            f"{', '.join(groups)}")
                    da = da.isel({GROUP_DIM: 0})
                else:
                    da = da.sel({GROUP_DIM: group})
            extra = [d for d in da.dims if d not in ("chain", "draw")]
            if extra:
                raise PosteriorError(f"parameter {p!r} has unexpected dims {extra}")
            out[p] = np.asarray(da.values, float).reshape(-1)
        if "gamma" not in out and "E" in out:
            out["gamma"] = np.ones_like(out["E"])
        if GP_WEIGHTS in post.data_vars:
            # error="gp": the discrepancy's basis weights, (S, M), thinned with the rest
            out[GP_WEIGHTS] = np.asarray(post[GP_WEIGHTS].transpose("chain", "draw", ...).values,
                                         float).reshape(self.n_draws, -1)
        idx = thin_index(self.n_draws, max_draws, seed)
        return out if idx is None else {k: v[idx] for k, v in out.items()}

    def _population_draws(self, group: str, seed: int = 0) -> dict[str, np.ndarray]:
        """Canonical draws for a group the fit never saw: each pooled sampled parameter
        (``log_X`` with hyperparameters ``log_X_mu``, ``log_X_sigma``) drawn as
        ``mu + sigma z`` per posterior draw, then mapped to the natural scale as the model
        does (prefactors at the reference sizes stored on the card)."""
        post = self.idata.posterior
        pooled = [v for v in post.data_vars if GROUP_DIM in post[v].dims and
                  f"{v}_mu" in post.data_vars and f"{v}_sigma" in post.data_vars]
        if not pooled:
            raise PosteriorError(f"unknown group {group!r} and this posterior stores no "
                                 f"population (hyperparameters) to predict a new group from; "
                                 f"posterior groups: {', '.join(self.groups)}")
        ref = (self.model_info or {}).get("reference") or {}
        if not ({"N"} if self.law == "capacity-gap" else {"N", "D"}) <= set(ref):
            raise PosteriorError("predicting a new group needs the reference sizes of the fit "
                                 "(card 'model.reference'); this posterior has none")

        def flat(name):
            return np.asarray(post[name].values, float).reshape(-1)

        # Seeded by the group's name so that one group gets the same draws everywhere.
        rng = np.random.default_rng([seed, *map(ord, group)])
        S = self.n_draws
        sampled = {v: flat(f"{v}_mu") + flat(f"{v}_sigma") * rng.standard_normal(S)
                   for v in pooled}
        out = self.param_draws(self.groups[0], seed=seed)

        def get(name):
            return sampled[name] if name in sampled else flat(name)

        if self.law == "capacity-gap":
            # N_T* = k N_S^s with log k = log k_ref + (1 - s) log N_ref (as the model builds it).
            s = get("s")
            out["s"] = s
            out["k"] = np.exp(get("log_k_ref") + (1.0 - s) * np.log(ref["N"]))
            return out
        exps = ("E", "alpha", "beta", "gamma", "alpha_prime", "beta_prime", "gamma_prime", "c0")
        for c in exps:
            if f"log_{c}" in sampled:
                out[c] = np.exp(sampled[f"log_{c}"])
        lN, lD = np.log(ref["N"]), np.log(ref["D"])
        for c, lsize, expo in (("A", lN, "alpha"), ("B", lD, "beta"),
                               ("A_prime", lN, "alpha_prime"), ("B_prime", lD, "beta_prime")):
            pref = f"log_{c}_ref"
            if c in out and (pref in sampled or f"log_{expo}" in sampled):
                out[c] = np.exp(get(pref) + out[expo] * lsize)
        return out

    def noise_draws(self, *, max_draws: int | None = None, seed: int = 0) -> dict[str, np.ndarray]:
        """Observation-noise draws on log-loss: ``sigma`` and, for a Student-t likelihood,
        ``nu`` (absent for a Normal likelihood), each of shape ``(S,)``.

        Thinned with the same ``max_draws``/``seed`` as :meth:`param_draws`, so the two line up.
        """
        post = self.idata.posterior
        if "sigma" not in post.data_vars:
            raise PosteriorError("posterior has no observation-noise parameter 'sigma'")
        out = {k: np.asarray(post[k].values, float).reshape(-1)
               for k in ("sigma", "nu", "sigma_trend") if k in post.data_vars}
        idx = thin_index(self.n_draws, max_draws, seed)
        return out if idx is None else {k: v[idx] for k, v in out.items()}

    def noise_scale(self, points, *, max_draws: int | None = None,
                    seed: int = 0) -> np.ndarray:
        """Noise scale ``(S, P)`` of log-loss at each point: ``sigma`` everywhere, or under
        ``error="heteroscedastic"`` ``sigma * exp(sigma_trend * log10(C / C_ref))`` with
        ``C = 6ND`` at the point (the student's for distillation rows) and ``C_ref`` from
        the fit's reference sizes (on the card)."""
        df = _as_frame(points)
        noise = self.noise_draws(max_draws=max_draws, seed=seed)
        sigma = noise["sigma"][:, None] * np.ones((1, len(df)))
        if "sigma_trend" in noise:
            ref = (self.model_info or {}).get("reference") or {}
            if not {"N", "D"} <= set(ref):
                raise PosteriorError("a heteroscedastic posterior needs its reference sizes "
                                     "(model_info['reference'], on the card) to scale its noise")
            N = _col(df, "N", "model or student size")
            D = _col(df, "D", "training or distillation tokens")
            x10 = np.log10(N / float(ref["N"])) + np.log10(D / float(ref["D"]))
            sigma = sigma * np.exp(noise["sigma_trend"][:, None] * x10[None, :])
        return sigma

    def supervised_params(self, group: str | None = None, **kw) -> dict[str, np.ndarray]:
        """The supervised-law draws (E, A, B, alpha, beta, gamma) of this posterior."""
        d = self.param_draws(group, **kw)
        if "E" not in d:
            raise PosteriorError(f"a {self.law} posterior has no supervised-law parameters")
        return {k: d[k] for k in SUP_PARAMS}

    # ------------------------------------------------------------------ prediction
    def loss_draws(self, points, *, group: str | None = None,
                   params: Mapping[str, np.ndarray] | None = None) -> np.ndarray:
        """Draws of the law's output at each point: array of shape ``(S, P)``.

        - supervised: columns ``N, D`` -> loss;
        - distillation: columns ``N, D`` (student) and ``L_T`` or ``N_T, D_T`` (teacher
          loss then comes from the supervised law) -> student loss. Rows with
          ``kind == "supervised"`` get the supervised loss;
        - capacity-gap: column ``N`` (student) -> optimal teacher size ``N_T*``.
        """
        df = _as_frame(points)
        gcol = self.spec.get("group")
        if (params is None and group is None and len(self.groups) > 1 and gcol is not None
                and gcol in df.columns):
            # Each row is predicted for its own group (a group never seen in the fit from
            # the population).
            labels = df[gcol].astype(str).to_numpy()
            out = None
            for g in dict.fromkeys(labels):
                rows = np.flatnonzero(labels == g)
                part = self.loss_draws(df.iloc[rows].reset_index(drop=True), group=g)
                if out is None:
                    out = np.empty((part.shape[0], len(df)))
                out[:, rows] = part
            return out
        p = dict(params) if params is not None else self.param_draws(group)
        col = {k: np.asarray(v, float)[:, None] for k, v in p.items()}
        if self.law == "capacity-gap":
            NS = _col(df, "N", "student size")
            return np.exp(log_optimal_teacher_size(np.log(NS)[None, :], log_k=np.log(col["k"]),
                                                   s=col["s"]))
        N = _col(df, "N", "model or student size")[None, :]
        D = _col(df, "D", "training or distillation tokens")[None, :]
        sup = {k: col[k] for k in SUP_PARAMS}
        L_sup = supervised_loss(N, D, **sup)
        if self.law == "supervised":
            if GP_WEIGHTS in p:  # error="gp": the law plus its fitted discrepancy surface
                L_sup = L_sup * np.exp(hsgp.offsets(p[GP_WEIGHTS], N[0], D[0], self._gp_box()))
            return L_sup
        sup_rows = ((df["kind"].astype(str) == "supervised").to_numpy() if "kind" in df.columns
                    else np.zeros(len(df), bool))
        if "L_T" in df.columns and df["L_T"].notna().to_numpy()[~sup_rows].all():
            # (supervised rows of a mixed table need no teacher: their L_T is ignored)
            LT = np.where(sup_rows, 1.0, _col(df, "L_T", "teacher loss"))[None, :]
        elif {"N_T", "D_T"} <= set(df.columns):
            LT = supervised_loss(_col(df, "N_T", "")[None, :], _col(df, "D_T", "")[None, :],
                                 **sup)
            if "L_T" in df.columns:  # measured teacher losses where known
                known = df["L_T"].notna().to_numpy()
                LT = np.where(known[None, :], _col(df, "L_T", "")[None, :], LT)
        elif "kind" in df.columns and (df["kind"] == "supervised").all():
            LT = L_sup  # unused below
        else:
            raise PosteriorError("distillation points need L_T, or N_T and D_T")
        dis = {k: col[k] for k in DIS_PARAMS}
        L_dist = distillation_loss(N, D, LT, L_sup, **dis)
        if "kind" in df.columns:
            is_sup = (df["kind"].astype(str) == "supervised").to_numpy()[None, :]
            return np.where(is_sup, L_sup, L_dist)
        return L_dist

    def _gp_box(self) -> dict:
        bx = (self.model_info or {}).get("gp")
        if not bx:
            raise PosteriorError("this posterior has GP weights but no GP box (card "
                                 "'model.gp'); it cannot evaluate its discrepancy")
        return bx

    def predict(self, points, ci: float = 0.9, *, group: str | None = None,
                predictive: bool = False, seed: int = 0) -> pd.DataFrame:
        """Median and equal-tailed ``ci`` interval of the law's output at each point.

        Returns ``points`` with columns ``median, lower, upper`` added (losses in nats;
        optimal teacher size for a capacity-gap posterior).

        ``predictive=True`` gives the interval of a *new measured run* (the law plus the
        fitted observation noise on log-loss, Student-t or Normal), which is what to
        compare held-out runs with; the default is the interval of the law itself.

        Example
        -------
        >>> from distillaw import published
        >>> post = Posterior.from_params("supervised", published("epoch2024").point())
        >>> round(float(post.predict({"N": [7e10], "D": [1.4e12]})["median"][0]), 3)
        1.974
        """
        if not 0.0 < ci < 1.0:
            raise PosteriorError(f"ci must be in (0, 1), got {ci}")
        df = _as_frame(points)
        if predictive:
            draws = self.predictive_draws(df, group=group, seed=seed)
        else:
            draws = self.loss_draws(df, group=group)
        q = np.quantile(draws, [0.5, (1 - ci) / 2, (1 + ci) / 2], axis=0)
        out = df.copy()
        out["median"], out["lower"], out["upper"] = q[0], q[1], q[2]
        return out

    def predictive_draws(self, points, *, group: str | None = None,
                         seed: int = 0) -> np.ndarray:
        """Draws ``(S, P)`` of the loss a *new measured run* at each point would show: the
        law plus every error term of the fitted model. This is the one entry point for
        comparing with measured runs (backtests, coverage, decisions on measured losses).

        With the structured error model (``spec["error"] == "structured"``) the draws include
        the systematic offset of a new run at the point, conditioned on each draw's residuals
        on the fitted rows: its curve's and teacher's offsets (fitted if the fit saw them,
        else drawn from the population) and the discrepancy at the point's distance from
        the fitted compute and teacher losses (:func:`distillaw.error_terms.offset_draws`).
        A posterior fitted with ``extrapolation="calibrate"`` (the default for tables of 50+
        rows) adds the discrepancy learned by leaving the largest runs out, at each point's
        distance from the fitted rows (:mod:`distillaw.discrepancy`).
        A group never seen in the fit gets its parameters from the population."""
        df = _as_frame(points)
        gcol = self.spec.get("group")
        if gcol is not None and gcol not in df.columns and group is not None:
            df = df.assign(**{gcol: group})
        draws = self.loss_draws(df, group=group)
        if self.error == "structured":
            from .error_terms import offset_draws

            fitted = self.fitted_rows()
            resid = (np.log(fitted["L"].to_numpy(float))[None, :]
                     - np.log(self.loss_draws(fitted)))
            off = offset_draws(self.idata.posterior, fitted, resid, df, self.law, gcol, seed)
            draws = draws * np.exp(off)
        disc = self.discrepancy
        if disc is not None:
            d = disc.distance(self.fitted_rows(), df, self.law, gcol)
            draws = draws * np.exp(disc.log_offsets(d, draws.shape[0], seed))
        return self._add_noise(draws, seed, df)

    def without_discrepancy(self) -> Posterior:
        """The same posterior (draws, card, diagnostics) without its extrapolation
        discrepancy: what its error model alone says (to compare the two, as the benches
        do)."""
        spec = {k: v for k, v in self.spec.items() if k != "discrepancy"}
        return Posterior(self.idata, spec, data_hash=self.data_hash, sampler=self.sampler,
                         diagnostics=self._diagnostics, name=self.name,
                         model_info=self.model_info)

    @property
    def discrepancy(self):
        """The extrapolation discrepancy learned at fit time
        (:class:`distillaw.discrepancy.Discrepancy`), or ``None``."""
        rec = self.spec.get("discrepancy")
        if rec is None:
            return None
        from .discrepancy import Discrepancy

        return Discrepancy.from_dict(rec)

    def fitted_rows(self) -> pd.DataFrame:
        """The rows the posterior was fitted on (stored with the draws as ``constant_data``)."""
        if not hasattr(self.idata, "constant_data") or "L" not in self.idata.constant_data:
            raise PosteriorError("this posterior does not store its fitted rows (constant_data),"
                                 " which the structured error model needs to predict")
        cd = self.idata.constant_data
        return pd.DataFrame({k: np.asarray(cd[k].values) for k in cd.data_vars})

    def _add_noise(self, draws: np.ndarray, seed: int, points=None) -> np.ndarray:
        """Multiply loss draws (S, P) by exp(sigma * eps), eps from the fitted likelihood
        (Student-t with the fitted nu, or Normal), drawn independently per draw and point."""
        if self.law == "capacity-gap":
            raise PosteriorError("predictive intervals are for losses; a capacity-gap "
                                 "posterior predicts teacher sizes (use predictive=False)")
        noise = self.noise_draws()
        S, P = draws.shape
        if len(noise["sigma"]) != S:
            raise PosteriorError("noise draws do not line up with parameter draws")
        sigma = self.noise_scale(points) if points is not None else noise["sigma"][:, None]
        rng = np.random.default_rng(seed)
        if "nu" in noise:
            eps = rng.standard_t(noise["nu"][:, None], size=(S, P))
        else:
            eps = rng.standard_normal((S, P))
        return draws * np.exp(sigma * eps)

    # ------------------------------------------------------------------ decisions on draws
    def optimal_teacher(self, N_S, D_S=None, *, tokens_per_param: float | None = 20.0,
                        D_T=None, bounds=None, ci: float = 0.9, max_draws: int | None = 1000,
                        seed: int = 0) -> OptimalTeacher:
        """Distribution of the optimal teacher for students ``(N_S, D_S)``:
        :func:`distillaw.teachers.optimal_teacher` of this posterior (its docstring has the
        method).

        Example
        -------
        >>> from distillaw import published
        >>> post = Posterior.from_params("distillation", published("busbridge2025").point())
        >>> ot = post.optimal_teacher([1e9], [2e10])
        >>> round(float(ot.draws["L_T"][0, 0]), 3)
        1.723
        """
        return optimal_teacher(self, N_S, D_S, tokens_per_param=tokens_per_param, D_T=D_T,
                               bounds=bounds, ci=ci, max_draws=max_draws, seed=seed)

    # ------------------------------------------------------------------ diagnostics
    def diagnostics(self) -> dict:
        """Stored sampler diagnostics: ``r_hat_max``, ``ess_bulk_min``, ``ess_tail_min``,
        ``divergences`` (plus steps per draw, wall time and ESS/s)."""
        if self._diagnostics is None:
            raise PosteriorError("this posterior has no sampler diagnostics (built by hand?)")
        return dict(self._diagnostics)

    def check(self, max_rhat: float = 1.01, min_ess: float = 400,
              max_divergences: int = 0) -> Posterior:
        """Raise :class:`~distillaw.errors.DiagnosticsError` if the fit is not trustworthy.

        Checks divergences, the largest r_hat and the smallest bulk and tail ESS over all
        sampled quantities. Returns ``self`` so calls can be chained.

        Example
        -------
        >>> post.check(max_rhat=1.01, min_ess=400)                        # doctest: +SKIP
        """
        from .errors import DiagnosticsError

        d = self.diagnostics()
        problems = []
        if d.get("divergences", 0) > max_divergences:
            problems.append(f"{d['divergences']} divergent transitions (max {max_divergences})")
        rhat = d.get("r_hat_max")
        if rhat is not None and not rhat <= max_rhat:
            problems.append(f"r_hat {rhat:.3f} > {max_rhat}")
        if rhat is None and d.get("n_chains", 2) < 2 and max_rhat is not None:
            problems.append("r_hat needs at least 2 chains")
        for key, label in (("ess_bulk_min", "bulk ESS"), ("ess_tail_min", "tail ESS")):
            v = d.get(key)
            if v is not None and v < min_ess:
                problems.append(f"{label} {v:.0f} < {min_ess:g}")
        if problems:
            raise DiagnosticsError(f"{self.name or self.law} posterior failed checks: "
                                   + "; ".join(problems))
        return self

    def summary(self, ci: float = 0.95, *, interval: str = "eti") -> pd.DataFrame:
        """``az.summary`` of the law's canonical parameters (and noise), interval named.

        Columns: ``mean, sd, median``, the interval bounds named with their level and kind
        (``eti_2.5%, eti_97.5%`` for the default equal-tailed 95% interval, the interval
        every prediction of this package uses; ``interval="hdi"`` gives ArviZ's
        ``hdi_2.5%, hdi_97.5%``), then ``mcse_mean, mcse_sd, ess_bulk, ess_tail, r_hat``
        (NaN where a posterior has one chain or one draw, e.g. :meth:`from_params`).
        Grouped parameters get one row per group (index ``name[group]``).

        Example
        -------
        >>> import numpy as np
        >>> rng = np.random.default_rng(0)
        >>> post = Posterior.from_params("supervised", {"E": rng.normal(1.7, 0.01, 400),
        ...     "A": 400.0, "B": 410.0, "alpha": 0.34, "beta": 0.28})
        >>> list(post.summary(0.9).columns[:5])
        ['mean', 'sd', 'median', 'eti_5%', 'eti_95%']
        """
        if not 0.0 < ci < 1.0:
            raise PosteriorError(f"ci must be in (0, 1), got {ci}")
        if interval not in ("eti", "hdi"):
            raise PosteriorError(f"interval must be 'eti' or 'hdi', got {interval!r}")
        az = import_arviz()
        post = self.idata.posterior
        names = [p for p in LAW_PARAMS[self.law] if p in post.data_vars]
        names += [p for p in ("sigma", "nu", "gp_eta", "gp_ls_N", "gp_ls_D") if p in post.data_vars]
        diag_cols = ("mcse_mean", "mcse_sd", "ess_bulk", "ess_tail", "r_hat")
        if post.sizes["chain"] >= 2 and post.sizes["draw"] >= 4:
            out = az.summary(self.idata, var_names=names, hdi_prob=ci, round_to="none")
        else:  # one chain (e.g. from_params): ArviZ's diagnostics need two; NaN says so
            out = az.summary(self.idata, var_names=names, hdi_prob=ci, round_to="none",
                             kind="stats")
            for c in diag_cols:
                out[c] = np.nan
        hdi = [c for c in out.columns if c.startswith("hdi_")]
        rows = {}
        for p in names:
            da = post[p]
            if GROUP_DIM in da.dims:
                for g in da.coords[GROUP_DIM].values:
                    rows[f"{p}[{g}]"] = np.asarray(da.sel({GROUP_DIM: g}).values).ravel()
            else:
                rows[p] = np.asarray(da.values).ravel()
        out = out.loc[list(rows)]
        lo_name, hi_name = interval_columns(ci, interval)
        q = np.array([np.quantile(v, [0.5, (1 - ci) / 2, (1 + ci) / 2]) for v in rows.values()])
        out.insert(2, "median", q[:, 0])
        if interval == "eti":
            out = out.drop(columns=hdi)
            out.insert(3, lo_name, q[:, 1])
            out.insert(4, hi_name, q[:, 2])
        else:
            out = out.rename(columns=dict(zip(hdi, (lo_name, hi_name), strict=True)))
        out.index.name = "parameter"
        return out

    # ------------------------------------------------------------------ persistence
    # The card, the folder format and its checks live in :mod:`distillaw.cards`.
    def card(self) -> dict:
        """Machine-readable model card (what ``card.json`` holds)."""
        return cards.make_card(self)

    def card_markdown(self, card: Mapping | None = None) -> str:
        """Human-readable model card."""
        return cards.card_markdown(self, card)

    def save(self, directory: str | os.PathLike) -> Path:
        """Write ``posterior.nc``, ``card.json`` and ``card.md`` into ``directory``, swapped
        in as a whole folder (see :func:`distillaw.cards.save`)."""
        return cards.save(self, directory)

    @classmethod
    def load(cls, directory: str | os.PathLike) -> Posterior:
        """Read a posterior saved by :meth:`save`; a card and draws that do not belong
        together are refused (see :func:`distillaw.cards.load`)."""
        return cards.load(cls, directory)

    def __repr__(self) -> str:
        g = f", groups={len(self.groups)}" if self.groups else ""
        return f"Posterior(law={self.law!r}, form={self.form!r}, draws={self.n_draws}{g})"
