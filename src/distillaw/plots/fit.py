"""Figures of a fit: its law against its runs (``plot_fit``) and a posterior predictive
check (``plot_ppc``)."""

from __future__ import annotations

import matplotlib
import numpy as np
from matplotlib.figure import Figure

from ..presentation import fmt_count
from ._style import GREY, STYLE, _count_axis, _figure

POINTS = "#111827"      # fitted runs
HELD_OUT = "#c0392b"    # held-out runs
_MAX_CURVES = 8


def _legend_outside(ax, **kw):
    """Legend to the right of the axes: it cannot cover a band or a point (the figure's
    constrained layout makes room for it)."""
    return ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0, **kw)


def _table(data, what: str):
    import pandas as pd

    from ..errors import PosteriorError

    if data is None or isinstance(data, pd.DataFrame):
        return data
    from pathlib import Path

    from ..loaders import load

    if isinstance(data, str | Path):
        return load(Path(data))
    raise PosteriorError(f"{what} must be a DataFrame or a path, got {type(data).__name__}")


def _bucket(v):
    """Values equal within ~6% share a bucket (log10 rounded to 1/40 decade)."""
    return np.round(np.log10(np.asarray(v, float)) * 40) / 40


def _curves(df):
    """How to draw a supervised table: ``(key name, key per row)`` with one law curve per
    key value, x = model size N along it: fixed tokens D, a fixed tokens-per-parameter
    ratio, or a fixed compute 6ND (IsoFLOP profiles); the first with at most
    ``_MAX_CURVES`` values, else compute in ``_MAX_CURVES`` log bins."""
    N, D = df["N"].to_numpy(float), df["D"].to_numpy(float)
    for name, v in (("D", D), ("D/N", D / N), ("C", 6 * N * D)):
        b = _bucket(v)
        if np.unique(b).size <= _MAX_CURVES:
            return name, b
    logC = np.log10(6 * N * D)
    edges = np.linspace(logC.min(), logC.max() + 1e-9, _MAX_CURVES + 1)
    return "C", np.digitize(logC, edges[1:-1]).astype(float)


def _sup_grid(key: str, rows, n: int = 60):
    """Points along one curve of :func:`_curves` (its key value is the rows' geometric
    mean) spanning the rows' N, widened by a quarter decade each side."""
    import pandas as pd

    N = rows["N"].to_numpy(float)
    g = np.geomspace(N.min() / 10 ** 0.25, N.max() * 10 ** 0.25, n)
    gm = float(np.exp(np.mean(np.log({"D": rows["D"], "D/N": rows["D"] / rows["N"],
                                      "C": 6 * rows["N"] * rows["D"]}[key].to_numpy(float)))))
    D = {"D": np.full(n, gm), "D/N": gm * g, "C": gm / (6 * g)}[key]
    label = {"D": f"D = {fmt_count(gm)}", "D/N": f"D/N = {gm:.3g}",
             "C": f"C = {gm:.2g} FLOPs"}[key]
    return pd.DataFrame({"N": g, "D": D}), g, label


def _short(text: str, width: int = 60) -> str:
    import textwrap

    return textwrap.shorten(text, width, placeholder="...")


def _spread(items: list, k: int) -> list:
    """At most ``k`` items, evenly spread over the list (first and last kept)."""
    if len(items) <= k:
        return items
    return [items[i] for i in np.unique(np.linspace(0, len(items) - 1, k).round().astype(int))]


def _draw_curves(ax, post, groups, xcol: str, key: str | None, ci: float, seed: int) -> None:
    """Bands, median curve and runs of each group (rows, label) on ``ax``."""
    import pandas as pd

    cmap = matplotlib.colormaps["viridis"]
    gcol = post.spec.get("group")
    for i, (rows, label) in enumerate(groups):
        color = cmap(i / max(len(groups) - 1, 1) * 0.9)
        if post.law == "supervised":
            grid, x, label = _sup_grid(key, rows)
        else:
            lt = rows["L_T"].to_numpy(float)
            pad = 0.1 * np.ptp(lt) + 0.02
            x = np.linspace(lt.min() - pad, lt.max() + pad, 60)
            grid = pd.DataFrame({"N": float(rows["N"].iloc[0]), "D": float(rows["D"].iloc[0]),
                                 "L_T": x})
        if gcol and gcol in rows.columns and len(post.groups) > 1:
            grid[gcol] = str(rows[gcol].iloc[0])
        law = post.predict(grid, ci, seed=seed)
        pred = post.predict(grid, ci, predictive=True, seed=seed)
        ax.fill_between(x, pred["lower"], pred["upper"], color=color, alpha=0.12, lw=0)
        ax.fill_between(x, law["lower"], law["upper"], color=color, alpha=0.35, lw=0)
        ax.plot(x, law["median"], color=color, lw=1.6, label=label)
        # The runs in the curve's colour: fitted filled, held-out hollow diamonds.
        fitted, out = rows[~rows["_held"]], rows[rows["_held"]]
        ax.scatter(fitted[xcol], fitted["L"], s=14, color=color, edgecolors=POINTS,
                   linewidths=0.4, zorder=3)
        ax.scatter(out[xcol], out["L"], s=34, marker="D", facecolors="none",
                   edgecolors=color, linewidths=1.4, zorder=4)


def _keys(ax, ci: float, held: bool, hidden: int = 0) -> None:
    """Legend keys (proxies): marker shape says fitted or held out, shade which band."""
    if hidden:
        ax.scatter([], [], s=10, color=GREY, label=f"({hidden} more curves not drawn)")
    ax.scatter([], [], s=14, color=GREY, edgecolors=POINTS, linewidths=0.4,
               label="fitted runs")
    if held:
        ax.scatter([], [], s=34, marker="D", facecolors="none", edgecolors=HELD_OUT,
                   linewidths=1.4, label="held-out runs (not fitted)")
    ax.fill_between([], [], [], color=GREY, alpha=0.35, lw=0,
                    label=f"law, {ci:.0%} credible band")
    ax.fill_between([], [], [], color=GREY, alpha=0.12, lw=0,
                    label=f"new run, {ci:.0%} predictive band")


def plot_fit(post, data=None, holdout=None, *, ax=None, ci: float = 0.9, seed: int = 0,
             title: str | None = None) -> Figure:
    """A fitted law against its data: law band, predictive band, points, held-out points.

    Parameters
    ----------
    post : Posterior
        A supervised or distillation posterior.
    data : DataFrame or path, optional
        The runs to show (default: the rows the posterior was fitted on, stored with it).
    holdout : DataFrame or path, optional
        Runs not used in the fit, drawn as hollow diamonds.
    ax : matplotlib Axes, optional
        Draw into this one axes (its figure is returned); default a new figure.
    ci : float
        Level of both bands (equal-tailed).

    For each curve, the darker band is the law's ``ci`` credible band (the mean function:
    parameter uncertainty only) and the lighter one the predictive band of a new measured
    run (with the fitted noise and, for the structured error model, every error term).
    Supervised law: loss against model size N, one curve per fixed D, tokens-per-parameter
    ratio or compute (IsoFLOP), whichever the data hold (at most 8 curves). Distillation
    law: student loss against teacher loss L_T, one panel per student size (at most 4,
    spread over the sizes) and one curve per student token count. Runs take their curve's
    colour. Legends sit outside the axes, so they never cover a band or a point.

    Example
    -------
    >>> from distillaw import published
    >>> from distillaw.posterior import Posterior
    >>> from distillaw.simulate import shipped_supervised
    >>> post = Posterior.from_params("supervised", published("epoch2024").point())
    >>> fig = plot_fit(post, shipped_supervised())
    >>> fig.axes[0].get_xscale()
    'log'
    """
    import pandas as pd

    from ..errors import PosteriorError

    if post.law == "capacity-gap":
        raise PosteriorError("plot_fit draws loss laws; a capacity-gap posterior predicts "
                             "teacher sizes")
    if not 0.0 < ci < 1.0:
        raise PosteriorError(f"ci must be in (0, 1), got {ci}")
    df = _table(data, "data")
    if df is None:
        df = post.fitted_rows()
    held = _table(holdout, "holdout")
    kind_of = "supervised" if post.law == "supervised" else "distillation"

    def rows_of(t):
        if t is None or "kind" not in t.columns:
            return t
        return t[t["kind"].astype(str) == kind_of].reset_index(drop=True)

    df, held = rows_of(df), rows_of(held)
    if df is None or len(df) == 0:
        raise PosteriorError(f"no {kind_of} rows to plot")
    has_held = held is not None and len(held) > 0
    every = pd.concat([df.assign(_held=False)] + ([held.assign(_held=True)] if has_held
                                                  else []), ignore_index=True)
    name = _short(title or f"{post.name or post.law} ({post.form} form) against its data")
    with matplotlib.rc_context(STYLE):
        if post.law == "supervised":
            key, keys = _curves(every)
            groups = [(every.iloc[np.flatnonzero(keys == k)], None) for k in np.unique(keys)]
            panels = [(groups, None)]
            xcol, xlabel = "N", "model size N (parameters)"
        else:
            key, xcol, xlabel = None, "L_T", "teacher loss L_T (nats)"
            by_size = []
            for n in sorted(every["N"].unique()):
                rows = every[every["N"] == n]
                by_size.append((n, [(rows[rows["D"] == d], d)
                                    for d in sorted(rows["D"].unique())]))
            if ax is None:  # one panel per student size, one curve per token count
                chosen = _spread(by_size, 4)
                panels = [([(r, f"D = {fmt_count(d)} tokens") for r, d in curves],
                           f"student N = {fmt_count(n)}") for n, curves in chosen]
                if len(chosen) < len(by_size):
                    name = _short(f"{name} ({len(chosen)} of {len(by_size)} student "
                                  "sizes)", 80)
            else:  # one axes: every curve on it, labelled by student
                panels = [([(r, f"student {fmt_count(n)} on {fmt_count(d)} tokens")
                            for n, curves in by_size for r, d in curves], None)]
        if ax is None:
            fig = _figure(7.6, 4.4 if len(panels) == 1 else 2.5 * len(panels) + 0.6)
            axes = list(np.atleast_1d(fig.subplots(len(panels), 1, sharex=True)))
        else:
            fig, axes = ax.figure, [ax]
        for a, (groups, panel_title) in zip(axes, panels, strict=True):
            shown = _spread(groups, _MAX_CURVES)
            _draw_curves(a, post, shown, xcol, key, ci, seed)
            hidden = len(groups) - len(shown)
            if hidden:
                rest = pd.concat([r for r, _ in groups if not any(r is s for s, _ in shown)])
                a.scatter(rest[xcol], rest["L"], s=10, color=GREY, zorder=2)
            _keys(a, ci, has_held, hidden)
            if post.law == "supervised":
                _count_axis(a, "x")
            a.set_ylabel("loss L (nats)")
            if panel_title:
                a.set_title(panel_title, fontsize=9.5, fontweight="normal", loc="left")
            _legend_outside(a)
        axes[-1].set_xlabel(xlabel)
        if len(axes) == 1 and not panels[0][1]:
            axes[0].set_title(name)
        else:
            fig.suptitle(name, fontsize=10.5, fontweight="bold")
    return fig


def plot_ppc(post, *, num_pp_samples: int = 100, ax=None, seed: int = 0,
             title: str | None = None) -> Figure:
    """Posterior predictive check of the fitted log-losses (``az.plot_ppc``).

    Uses the posterior's ``posterior_predictive`` group when it has one (``fit(...,
    posterior_predictive=True)``, ``distillaw fit --ppc``); otherwise replicates are drawn
    now from the posterior (:meth:`Posterior.predictive_draws` at the fitted rows, the
    same noise and error terms as every prediction). One panel per observed variable,
    spanning the observed values (plus a quarter of their range each side); the legend
    sits outside the axes.
    """
    import xarray as xr

    from .._compat import import_arviz
    from ..errors import PosteriorError

    az = import_arviz()
    if post.law == "capacity-gap" and not hasattr(post.idata, "posterior_predictive"):
        raise PosteriorError("no posterior_predictive group; refit with "
                             "posterior_predictive=True (fit --ppc)")
    idata = post.idata
    if hasattr(idata, "posterior_predictive") and hasattr(idata, "observed_data"):
        ppc = az.InferenceData(posterior_predictive=idata.posterior_predictive,
                               observed_data=idata.observed_data)
    else:
        rows = post.fitted_rows()
        rep = np.log(post.predictive_draws(rows, seed=seed))
        c, d = idata.posterior.sizes["chain"], idata.posterior.sizes["draw"]
        ppc = az.InferenceData(
            posterior_predictive=xr.Dataset({"log_L": (("chain", "draw", "row"),
                                                       rep.reshape(c, d, -1))}),
            observed_data=xr.Dataset({"log_L": ("row", np.log(rows["L"].to_numpy(float)))}))
    names = list(ppc.observed_data.data_vars)
    with matplotlib.rc_context(STYLE):
        if ax is None:
            fig = _figure(4.2 * len(names) + 2.0, 3.8)
            axes = np.atleast_1d(fig.subplots(1, len(names)))
        else:
            axes = np.atleast_1d(ax)
            fig = axes[0].figure
        if axes.size != len(names):
            raise PosteriorError(f"plot_ppc needs {len(names)} axes (one per observed "
                                 f"variable: {', '.join(names)})")
        az.plot_ppc(ppc, ax=axes, legend=False, num_pp_samples=num_pp_samples,
                    random_seed=seed, var_names=names)
        for a, n in zip(axes, names, strict=True):
            a.set_xlabel(f"{n}: log-loss")
            # Focus on the data: heavy-tailed (Student-t) replicates would stretch the
            # axis over a flat tail of the replicates' density.
            obs = np.asarray(ppc.observed_data[n].values, float)
            pad = 0.25 * max(float(np.ptp(obs)), 1e-3)
            a.set_xlim(float(obs.min()) - pad, float(obs.max()) + pad)
        _legend_outside(axes[-1], handles=_ppc_handles())
        fig.suptitle(_short(title or f"{post.name or post.law}: posterior predictive check"),
                     fontsize=10.5, fontweight="bold")
    return fig


def _ppc_handles():
    """Legend entries for az.plot_ppc's lines (it draws them unlabelled with legend=False):
    replicates, their mean, the observed data."""
    from matplotlib.lines import Line2D

    return [Line2D([], [], color="C0", alpha=0.4, label="replicated data (posterior draws)"),
            Line2D([], [], color="C1", ls="--", label="posterior predictive mean"),
            Line2D([], [], color="k", label="observed log-losses")]
