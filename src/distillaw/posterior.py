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

import json
import os
import shutil
import tempfile
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from ._compat import import_arviz
from ._version import __version__
from .errors import PosteriorError
from .laws.capacity_gap import log_optimal_teacher_size
from .laws.distillation import PARAMS as DIS_PARAMS
from .laws.distillation import distillation_loss
from .laws.supervised import supervised_loss

LAWS = ("supervised", "distillation", "capacity-gap")
SUP_PARAMS = ("E", "A", "B", "alpha", "beta", "gamma")
LAW_PARAMS = {
    "supervised": ("E", "A", "B", "alpha", "beta", "gamma"),
    "distillation": (*DIS_PARAMS, *SUP_PARAMS),
    "capacity-gap": ("k", "s"),
}
GROUP_DIM = "group"


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
    """

    def __init__(self, idata, spec: Mapping, *, data_hash: str | None = None,
                 sampler: Mapping | None = None, diagnostics: Mapping | None = None,
                 name: str | None = None):
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
        if group is not None and groups and group not in groups:
            raise PosteriorError(f"unknown group {group!r}; posterior groups: {', '.join(groups)}")
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
        if max_draws is not None and max_draws < self.n_draws:
            idx = np.sort(np.random.default_rng(seed).choice(self.n_draws, max_draws,
                                                             replace=False))
            out = {k: v[idx] for k, v in out.items()}
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
               for k in ("sigma", "nu") if k in post.data_vars}
        if max_draws is not None and max_draws < self.n_draws:
            idx = np.sort(np.random.default_rng(seed).choice(self.n_draws, max_draws,
                                                             replace=False))
            out = {k: v[idx] for k, v in out.items()}
        return out

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
            return L_sup
        if "L_T" in df.columns and df["L_T"].notna().all():
            LT = _col(df, "L_T", "teacher loss")[None, :]
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

    def predict(self, points, ci: float = 0.9, *, group: str | None = None) -> pd.DataFrame:
        """Median and equal-tailed ``ci`` interval of the law's output at each point.

        Returns ``points`` with columns ``median, lower, upper`` added (losses in nats;
        optimal teacher size for a capacity-gap posterior).
        """
        if not 0.0 < ci < 1.0:
            raise PosteriorError(f"ci must be in (0, 1), got {ci}")
        df = _as_frame(points)
        draws = self.loss_draws(df, group=group)
        q = np.quantile(draws, [0.5, (1 - ci) / 2, (1 + ci) / 2], axis=0)
        out = df.copy()
        out["median"], out["lower"], out["upper"] = q[0], q[1], q[2]
        return out

    # ------------------------------------------------------------------ diagnostics
    def diagnostics(self) -> dict:
        """Stored sampler diagnostics (max r_hat, min bulk/tail ESS, divergences)."""
        if self._diagnostics is None:
            raise PosteriorError("this posterior has no sampler diagnostics (built by hand?)")
        return dict(self._diagnostics)

    # ------------------------------------------------------------------ persistence
    def card(self) -> dict:
        """Machine-readable model card (what ``card.json`` holds)."""
        return {
            "name": self.name, "law": self.law, "form": self.form, "spec": self.spec,
            "data_hash": self.data_hash, "sampler": self.sampler,
            "diagnostics": self._diagnostics, "n_draws": self.n_draws, "groups": self.groups,
            "distillaw_version": __version__,
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
        }

    def card_markdown(self, card: Mapping | None = None) -> str:
        """Human-readable model card."""
        card = card or self.card()
        lines = [f"# Model card: {card.get('name') or self.law}", "",
                 f"- law: {card['law']} (form: {card.get('form')})",
                 f"- draws: {card['n_draws']}",
                 f"- data hash (sha256): {card.get('data_hash')}",
                 f"- distillaw version: {card['distillaw_version']}",
                 f"- created: {card['created']}", ""]
        if card.get("sampler"):
            lines += ["## Sampler", ""] + [f"- {k}: {v}" for k, v in card["sampler"].items()] + [""]
        if card.get("diagnostics"):
            lines += ["## Diagnostics", ""] + [f"- {k}: {v}" for k, v in
                                               card["diagnostics"].items()] + [""]
        return "\n".join(lines) + "\n"

    def save(self, directory: str | os.PathLike) -> Path:
        """Write ``posterior.nc``, ``card.json`` and ``card.md`` into ``directory``.

        Files are written to a temporary folder first and moved into place, so an
        interrupted save never leaves a half-written posterior.
        """
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        card = self.card()
        tmp = Path(tempfile.mkdtemp(prefix=".saving-", dir=directory))
        try:
            idata = self.idata.copy()
            idata.posterior.attrs["distillaw_spec"] = json.dumps(self.spec, default=str)
            idata.to_netcdf(str(tmp / "posterior.nc"))
            (tmp / "card.json").write_text(json.dumps(card, indent=2, default=str) + "\n")
            (tmp / "card.md").write_text(self.card_markdown(card))
            for f in ("posterior.nc", "card.json", "card.md"):
                os.replace(tmp / f, directory / f)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return directory

    @classmethod
    def load(cls, directory: str | os.PathLike) -> Posterior:
        """Read a posterior saved by :meth:`save` (no PyMC model is rebuilt)."""
        az = import_arviz()

        directory = Path(directory)
        nc, cj = directory / "posterior.nc", directory / "card.json"
        if not directory.is_dir():
            raise PosteriorError(f"{directory}: no such model directory")
        if not nc.is_file() or not cj.is_file():
            raise PosteriorError(f"{directory}: not a saved posterior (needs posterior.nc and "
                                 "card.json)")
        try:
            card = json.loads(cj.read_text())
            idata = az.from_netcdf(str(nc))
            for g in idata.groups():
                getattr(idata, g).load()
        except (OSError, ValueError, KeyError) as exc:
            raise PosteriorError(f"{directory}: cannot read posterior ({exc})") from None
        return cls(idata, card["spec"], data_hash=card.get("data_hash"),
                   sampler=card.get("sampler"), diagnostics=card.get("diagnostics"),
                   name=card.get("name"))

    def __repr__(self) -> str:
        g = f", groups={len(self.groups)}" if self.groups else ""
        return f"Posterior(law={self.law!r}, form={self.form!r}, draws={self.n_draws}{g})"
