"""Figures of allocations, for reports.

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
  crossover marked.

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

from collections.abc import Mapping

import matplotlib
import numpy as np
from matplotlib.figure import Figure

from ..decision import Allocation, crossover_budget
from ..presentation import fmt_count
from ._style import (
    ACCENT,
    BAND_ALPHA,
    DISTIL,
    GREY,
    STYLE,
    SUPERVISED,
    _count_axis,
    _figure,
    _flops_axis,
)


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
        # The draws the reported numbers use (a measured run's loss where predictive).
        dist, sup = alloc.reported_loss_draws, alloc.reported_supervised_loss_draws
        both = np.concatenate([dist, sup])
        bins = np.linspace(both.min(), both.max(), 40) if np.ptp(both) > 0 else 10
        _hist(a1, dist, DISTIL, f"distilled (median {alloc.loss['median']:.3f})",
              bins)
        _hist(a1, sup, SUPERVISED,
              f"supervised (median {alloc.supervised_loss['median']:.3f})", bins)
        a1.set_xlabel("student loss of a measured run (nats)" if alloc.uncertainty ==
                      "predictive" else "student loss at the budget (nats)")
        a1.set_ylabel("posterior density")
        a1.set_title("Loss distributions")
        a1.legend(loc="upper right")
        if np.ptp(both) < 1e-12 or len(dist) == 1:
            a1.set_yticks([])
        diff = sup - dist
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
