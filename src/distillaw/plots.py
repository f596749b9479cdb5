"""Figures for allocations and reports (the only module that imports matplotlib).

Free functions, data first, each returning a :class:`matplotlib.figure.Figure`. Figures are
built with the object API (``Figure``, no ``pyplot``), so nothing here touches global
state or needs a display; PNGs are rendered by the Agg canvas.

- :func:`plot_teacher_frontier` -- student loss against teacher size at the budget, with
  credible bands, the chosen (capacity-gap) optimum, Zhang et al.'s 2.5x rule and the
  supervised alternative;
- :func:`plot_token_frontier` -- the same against the distillation tokens D_S;
- :func:`plot_loss_distributions` -- distilled vs supervised student loss at the budget, and
  their difference with P(distillation beats supervised);
- :func:`plot_risk_comparison` -- the allocation chosen under each risk measure, side by side;
- :func:`plot_crossover` -- distilled and supervised loss against compute, with bands and the
  crossover marked;
- :func:`plot_fit` -- a fitted law against its runs: law and predictive bands, fitted and
  held-out runs (``dl.plot_fit``);
- :func:`plot_ppc` -- posterior predictive check of the fitted log-losses with
  ``az.plot_ppc`` (``dl.plot_ppc``).

Legends of plot_fit and plot_ppc sit outside the axes, so they never cover data.

Example
-------
>>> from distillaw import published
>>> from distillaw.posterior import Posterior
>>> from distillaw.decision import allocate
>>> post = Posterior.from_params("distillation", published("busbridge2025").point())
>>> fig = plot_teacher_frontier(allocate(post, 1e21, student=1e9, regret=False))
>>> len(fig.axes)
1
"""

from __future__ import annotations

import io
from collections.abc import Mapping

import matplotlib
import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from .decision import Allocation, crossover_budget
from .presentation import fmt_count

DISTIL = "#1f6f8b"       # teal-blue: distillation
SUPERVISED = "#e07b39"   # orange: supervised
ACCENT = "#c0392b"       # the chosen point
GREY = "#6b7280"
BAND_ALPHA = 0.22

STYLE = {
    "font.size": 9.5,
    "axes.titlesize": 10.5,
    "axes.titleweight": "bold",
    "axes.labelsize": 9.5,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.color": "#e5e7eb",
    "grid.linewidth": 0.7,
    "axes.edgecolor": "#9ca3af",
    "xtick.color": "#374151",
    "ytick.color": "#374151",
    "legend.frameon": False,
    "legend.fontsize": 8.5,
}


def _figure(w: float = 7.0, h: float = 4.2) -> Figure:
    return Figure(figsize=(w, h), dpi=110, layout="constrained")


def _tick_count(v: float) -> str:
    return f"1e{int(round(np.log10(v)))}" if v >= 1e15 else fmt_count(v)


def _count_axis(ax, axis: str = "x", numticks: int = 12) -> None:
    """Log axis with ticks as 1M, 10B, ... (powers of ten beyond 1000T)."""
    fmt = FuncFormatter(lambda v, _: _tick_count(v) if v > 0 else "")
    a = ax.xaxis if axis == "x" else ax.yaxis
    (ax.set_xscale if axis == "x" else ax.set_yscale)("log")
    a.set_major_locator(LogLocator(base=10, numticks=numticks))
    a.set_major_formatter(fmt)
    a.set_minor_formatter(NullFormatter())


def _flops_axis(ax) -> None:
    ax.set_xscale("log")
    ax.xaxis.set_major_locator(LogLocator(base=10, numticks=12))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"1e{int(round(np.log10(v)))}"
                                               if v > 0 else ""))
    ax.xaxis.set_minor_formatter(NullFormatter())


def _ci(alloc: Allocation) -> int:
    return int(round(100 * alloc.ci))


def _supervised_band(ax, alloc: Allocation, label: bool = True) -> None:
    s = alloc.supervised_loss
    ax.axhspan(s["lower"], s["upper"], color=SUPERVISED, alpha=0.12, lw=0)
    ax.axhline(s["median"], color=SUPERVISED, lw=1.6, ls="--",
               label=(f"supervised, same compute ({fmt_count(alloc.supervised_N)} on "
                      f"{fmt_count(alloc.supervised_D)} tokens)") if label else None)


def _ylim_from(ax, *arrays, pad: float = 0.08) -> None:
    vals = np.concatenate([np.asarray(a, float).ravel() for a in arrays])
    vals = vals[np.isfinite(vals)]
    if vals.size:
        lo, hi = vals.min(), vals.max()
        span = max(hi - lo, 1e-3)
        ax.set_ylim(lo - pad * span, hi + pad * span)


def plot_teacher_frontier(alloc: Allocation, *, zhang_k: float | None = 2.5,
                          title: str | None = None) -> Figure:
    """Student loss against teacher size at the budget (teacher tokens optimised per size).

    The band is the central credible interval of the student loss; the star is the chosen
    teacher (the capacity-gap optimum under the risk measure); the dotted line is Zhang et
    al.'s rule ``N_T = 2.5 N_S``; the orange line and band are the supervised alternative.
    """
    df = alloc.frontier_teacher
    if df is None:
        raise ValueError("this allocation has no teacher frontier (allocate(..., frontier=True))")
    with matplotlib.rc_context(STYLE):
        fig = _figure()
        ax = fig.add_subplot()
        ok = df["median"].notna().to_numpy()
        d = df[ok]
        ax.fill_between(d["N_T"], d["lower"], d["upper"], color=DISTIL, alpha=BAND_ALPHA, lw=0,
                        label=f"{_ci(alloc)}% credible band")
        ax.plot(d["N_T"], d["median"], color=DISTIL, lw=2.0, label="distilled student (median)")
        _supervised_band(ax, alloc)
        s = alloc.loss
        ax.plot([alloc.N_T], [s["median"]], marker="*", ms=15, color=ACCENT, mec="white",
                mew=0.8, zorder=5, ls="none",
                label=f"chosen teacher: {fmt_count(alloc.N_T)} on {fmt_count(alloc.D_T)} tokens")
        ax.axvline(alloc.N_S, color=GREY, lw=0.9, ls="-", alpha=0.6)
        ax.annotate("student size", (alloc.N_S, 0.0), xycoords=("data", "axes fraction"),
                    xytext=(-3, 3), textcoords="offset points", va="bottom", ha="right",
                    fontsize=8, color=GREY)
        if zhang_k:
            ax.axvline(zhang_k * alloc.N_S, color=GREY, lw=1.0, ls=":")
            ax.annotate(f"Zhang et al. {zhang_k:g}x", (zhang_k * alloc.N_S, 0.0),
                        xycoords=("data", "axes fraction"), xytext=(3, 3),
                        textcoords="offset points", va="bottom", fontsize=8, color=GREY)
        rule = df.attrs.get("teacher_tokens")
        if rule:
            ax.text(0.01, 0.99, f"teacher tokens: {rule}", transform=ax.transAxes,
                    ha="left", va="top", fontsize=7.5, color=GREY)
        _count_axis(ax, "x")
        ax.set_xlabel("teacher size N_T (parameters)")
        ax.set_ylabel("student loss (nats)")
        # Focus on the interesting part: the dip and the supervised line.
        sl = alloc.supervised_loss
        lo = min(np.nanmin(d["lower"]), sl["lower"])
        hi = max(sl["upper"], s["upper"])
        span = max(hi - lo, 1e-3)
        ax.set_ylim(lo - 0.15 * span, hi + 0.9 * span)
        ax.set_title(title or (f"Student loss vs teacher size ({fmt_count(alloc.N_S)} student, "
                               f"{alloc.budget:.2g} FLOPs, {alloc.scenario})"), fontsize=10)
        ax.legend(loc="upper right")
    return fig


def plot_token_frontier(alloc: Allocation, *, title: str | None = None) -> Figure:
    """Student loss against the distillation tokens D_S at the budget.

    For each D_S the teacher gets what the student leaves of the budget (as the scenario
    charges it) and is re-optimised; the star is the chosen D_S.
    """
    df = alloc.frontier_tokens
    if df is None:
        raise ValueError("this allocation has no token frontier (allocate(..., frontier=True))")
    with matplotlib.rc_context(STYLE):
        fig = _figure()
        ax = fig.add_subplot()
        d = df[df["median"].notna()]
        ax.fill_between(d["D_S"], d["lower"], d["upper"], color=DISTIL, alpha=BAND_ALPHA, lw=0,
                        label=f"{_ci(alloc)}% credible band")
        ax.plot(d["D_S"], d["median"], color=DISTIL, lw=2.0, label="distilled student (median)")
        _supervised_band(ax, alloc)
        ax.plot([alloc.D_S], [alloc.loss["median"]], marker="*", ms=15, color=ACCENT,
                mec="white", mew=0.8, zorder=5, ls="none",
                label=f"chosen: {fmt_count(alloc.D_S)} distillation tokens")
        _count_axis(ax, "x")
        ax.set_xlabel("distillation tokens D_S")
        ax.set_ylabel("student loss (nats)")
        sl = alloc.supervised_loss
        lo = min(np.nanmin(d["lower"]), sl["lower"])
        hi = max(sl["upper"], alloc.loss["upper"])
        span = max(hi - lo, 1e-3)
        ax.set_ylim(lo - 0.15 * span, hi + 1.2 * span)
        ax.set_title(title or (f"Student loss vs distillation tokens ({fmt_count(alloc.N_S)} "
                               f"student, {alloc.budget:.2g} FLOPs, {alloc.scenario})"),
                     fontsize=10)
        ax.legend(loc="best")
    return fig


def _hist(ax, x, color, label, bins):
    x = np.asarray(x, float)
    if np.ptp(x) < 1e-12:             # point mass: a line, not a histogram
        ax.axvline(x[0], color=color, lw=2.4, label=label)
        return
    ax.hist(x, bins=bins, color=color, alpha=0.45, density=True, label=label,
            edgecolor="white", linewidth=0.3)
    ax.axvline(np.median(x), color=color, lw=1.6)


def plot_loss_distributions(alloc: Allocation, *, title: str | None = None) -> Figure:
    """Distilled vs supervised student loss at the budget (left) and their difference (right)."""
    if alloc.kind != "distillation":
        raise ValueError("needs a distillation allocation")
    with matplotlib.rc_context(STYLE):
        fig = _figure(8.6, 3.8)
        a1, a2 = fig.subplots(1, 2, width_ratios=[1.25, 1])
        both = np.concatenate([alloc.loss_draws, alloc.supervised_loss_draws])
        bins = np.linspace(both.min(), both.max(), 40) if np.ptp(both) > 0 else 10
        _hist(a1, alloc.loss_draws, DISTIL, f"distilled (median {alloc.loss['median']:.3f})",
              bins)
        _hist(a1, alloc.supervised_loss_draws, SUPERVISED,
              f"supervised (median {alloc.supervised_loss['median']:.3f})", bins)
        a1.set_xlabel("student loss at the budget (nats)")
        a1.set_ylabel("posterior density")
        a1.set_title("Loss distributions")
        a1.legend(loc="upper right")
        if np.ptp(both) < 1e-12 or len(alloc.loss_draws) == 1:
            a1.set_yticks([])
        diff = alloc.supervised_loss_draws - alloc.loss_draws
        p = alloc.p_beats_supervised
        if np.ptp(diff) < 1e-12:
            a2.axvline(diff[0], color=DISTIL if diff[0] > 0 else SUPERVISED, lw=2.4)
            a2.set_yticks([])
            lim = max(abs(diff[0]) * 1.6, 1e-3)
            a2.set_xlim(-lim, lim)
        else:
            edges = np.linspace(diff.min(), diff.max(), 40)
            counts, edges = np.histogram(diff, bins=edges, density=True)
            centres = 0.5 * (edges[1:] + edges[:-1])
            colors = [DISTIL if c > 0 else SUPERVISED for c in centres]
            a2.bar(centres, counts, width=np.diff(edges), color=colors, alpha=0.6,
                   edgecolor="white", linewidth=0.3)
            a2.set_ylabel("posterior density")
        a2.axvline(0.0, color="#111827", lw=1.0)
        a2.set_xlabel("supervised minus distilled loss (nats)")
        a2.set_title(f"P(distillation beats supervised) = {p:.2f}")
        a2.text(0.98, 0.96, "distillation better \u2192", transform=a2.transAxes, ha="right",
                va="top", fontsize=8, color=DISTIL)
        a2.text(0.02, 0.96, "\u2190 supervised better", transform=a2.transAxes, ha="left",
                va="top", fontsize=8, color=SUPERVISED)
        fig.suptitle(title or (f"At {alloc.budget:.2g} FLOPs ({alloc.scenario}, "
                               f"{fmt_count(alloc.N_S)} student)"), fontsize=10.5,
                     fontweight="bold")
    return fig


def plot_risk_comparison(allocations: Mapping[str, Allocation], *,
                         highlight: str | None = None, title: str | None = None) -> Figure:
    """The allocation chosen under each risk measure, side by side.

    Panels: teacher size, teacher tokens, distillation tokens (log scales), and the student
    loss there (median with the central interval). ``highlight`` marks the measure in use.
    """
    names = list(allocations)
    if not names:
        raise ValueError("no allocations to compare")
    with matplotlib.rc_context(STYLE):
        fig = _figure(9.6, 0.55 * len(names) + 2.0)
        axes = fig.subplots(1, 4, sharey=True)
        y = np.arange(len(names))[::-1]
        cols = [ACCENT if n == highlight else DISTIL for n in names]
        for ax, key, label in zip(axes[:3], ("N_T", "D_T", "D_S"),
                                  ("teacher size N_T", "teacher tokens D_T",
                                   "distillation tokens D_S"), strict=True):
            vals = np.array([getattr(allocations[n], key) or np.nan for n in names], float)
            ax.hlines(y, np.nanmin(vals) / 3 if np.isfinite(vals).any() else 1, vals,
                      color="#d1d5db", lw=1.2)
            ax.scatter(vals, y, color=cols, s=46, zorder=3)
            for yi, v in zip(y, vals, strict=True):
                if np.isfinite(v):
                    ax.annotate(fmt_count(v), (v, yi), xytext=(0, 7), textcoords="offset points",
                                ha="center", fontsize=7.5, color="#374151")
            _count_axis(ax, "x", numticks=5)
            if np.isfinite(vals).any():
                lo, hi = np.nanmin(vals), np.nanmax(vals)
                ax.set_xlim(lo / 4, hi * 4)
            ax.set_title(label)
            ax.grid(axis="y", visible=False)
        ax = axes[3]
        for yi, n, c in zip(y, names, cols, strict=True):
            s = allocations[n].loss
            ax.errorbar(s["median"], yi, xerr=[[s["median"] - s["lower"]],
                                               [s["upper"] - s["median"]]],
                        fmt="o", color=c, ms=6, capsize=3, lw=1.4)
        a0 = allocations[names[0]]
        if a0.kind == "distillation":
            sv = a0.supervised_loss
            ax.axvspan(sv["lower"], sv["upper"], color=SUPERVISED, alpha=0.12, lw=0)
            ax.axvline(sv["median"], color=SUPERVISED, ls="--", lw=1.3, label="supervised")
            ax.legend(loc="lower right")
        ax.set_title(f"student loss, {_ci(a0)}% CI")
        ax.grid(axis="y", visible=False)
        axes[0].set_yticks(y)
        axes[0].set_yticklabels(names)
        axes[0].set_ylim(-0.7, len(names) - 0.3)
        fig.suptitle(title or "Allocation under each risk measure", fontsize=10.5,
                     fontweight="bold")
    return fig


def plot_crossover(sweep, *, budget: float | None = None, title: str | None = None,
                   ci: float = 0.9) -> Figure:
    """Distilled vs supervised loss against compute, with bands and the crossover marked.

    ``sweep`` is the DataFrame of :func:`distillaw.decision.crossover`. Top: loss of each
    (median and central interval); bottom: P(distillation beats supervised).
    """
    df = sweep[sweep["median"].notna()].sort_values("budget")
    C = df["budget"].to_numpy()
    with matplotlib.rc_context(STYLE):
        fig = _figure(7.2, 5.0)
        a1, a2 = fig.subplots(2, 1, sharex=True, height_ratios=[2.3, 1])
        a1.fill_between(C, df["lower"], df["upper"], color=DISTIL, alpha=BAND_ALPHA, lw=0)
        a1.plot(C, df["median"], color=DISTIL, lw=2.0, marker="o", ms=3.5,
                label="distillation (optimal allocation)")
        a1.fill_between(C, df["sup_lower"], df["sup_upper"], color=SUPERVISED,
                        alpha=BAND_ALPHA * 0.8, lw=0)
        a1.plot(C, df["sup_median"], color=SUPERVISED, lw=2.0, ls="--", marker="s", ms=3,
                label="supervised (same compute)")
        cross = crossover_budget(df)
        for ax in (a1, a2):
            if budget is not None:
                ax.axvline(budget, color="#111827", lw=1.0, ls="-", alpha=0.7)
            if cross is not None:
                ax.axvline(cross, color=GREY, lw=1.0, ls=":")
        if budget is not None:
            a1.annotate("your budget", (budget, 1.0), xycoords=("data", "axes fraction"),
                        xytext=(3, -3), textcoords="offset points", va="top", fontsize=8)
        if cross is not None:
            a1.annotate(f"crossover ~{cross:.1e}", (cross, 0.0),
                        xycoords=("data", "axes fraction"), xytext=(3, 4),
                        textcoords="offset points", va="bottom", fontsize=8, color=GREY)
        a1.set_ylabel("student loss (nats)")
        a1.legend(loc="upper right")
        a2.plot(C, df["p_beats"], color=DISTIL, lw=1.8, marker="o", ms=3.5)
        a2.axhline(0.5, color=GREY, lw=0.8, ls=":")
        a2.set_ylim(-0.05, 1.05)
        a2.set_ylabel("P(distil wins)")
        _flops_axis(a2)
        a2.set_xlabel("total compute (FLOPs)")
        a1.set_title(title or "Distillation vs supervised training across budgets")
    return fig


def to_png(fig: Figure, dpi: int = 130) -> bytes:
    """Render a figure to PNG bytes (Agg)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, facecolor="white")
    return buf.getvalue()


# ------------------------------------------------------------------ a fit and its data
POINTS = "#111827"      # fitted runs
HELD_OUT = "#c0392b"    # held-out runs
_MAX_CURVES = 8


def _legend_outside(ax, **kw):
    """Legend to the right of the axes: it cannot cover a band or a point (the figure's
    constrained layout makes room for it)."""
    return ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0, **kw)


def _table(data, what: str):
    import pandas as pd

    from .errors import PosteriorError

    if data is None or isinstance(data, pd.DataFrame):
        return data
    from pathlib import Path

    from .loaders import load

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

    from .errors import PosteriorError

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

    from ._compat import import_arviz
    from .errors import PosteriorError

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
