"""Figures render on Agg from real allocations (multi-draw and point-mass posteriors)."""

from __future__ import annotations

import pytest
from matplotlib.figure import Figure

from distillaw import plots
from distillaw.decision import Resolution, allocate, compare_risks, crossover
from distillaw.posterior import Posterior
from distillaw.published import published

COARSE = Resolution().coarse()
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def allocs(jittered_busbridge):
    multi = jittered_busbridge(40, 1)
    single = Posterior.from_params("distillation", published("busbridge2025").point())
    out = {}
    for name, post in (("multi", multi), ("point", single)):
        out[name] = allocate(post, 1e21, student=1e9, scenario="teacher-pretraining",
                             resolution=COARSE, regret=False)
    out["risks"] = compare_risks(multi, 1e21, student=1e9, scenario="teacher-pretraining",
                                 resolution=COARSE)
    out["sweep"] = crossover(single, [1e10, 1e19, 1e21, 1e23], student=1e9,
                             scenario="teacher-pretraining", skip_infeasible=True)
    return out


@pytest.mark.parametrize("which", ["multi", "point"])
def test_allocation_figures(allocs, which):
    a = allocs[which]
    for fn in (plots.plot_teacher_frontier, plots.plot_token_frontier,
               plots.plot_loss_distributions):
        fig = fn(a)
        assert isinstance(fig, Figure) and fig.axes
        png = plots.to_png(fig, dpi=60)
        assert png.startswith(PNG) and len(png) > 5000


def test_teacher_frontier_marks_the_choice(allocs):
    a = allocs["multi"]
    ax = plots.plot_teacher_frontier(a).axes[0]
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert any("chosen teacher" in s for s in labels)
    assert any("supervised" in s for s in labels)
    assert ax.get_xscale() == "log"


def test_risk_comparison_and_crossover(allocs):
    fig = plots.plot_risk_comparison(allocs["risks"], highlight="mean")
    assert len(fig.axes) == 4
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == list(allocs["risks"])
    sweep = allocs["sweep"]
    assert not sweep["feasible"].iloc[0]                 # 1e10 FLOPs pays for no teacher
    fig = plots.plot_crossover(sweep, budget=1e21)
    assert len(fig.axes) == 2 and plots.to_png(fig, dpi=60).startswith(PNG)


def test_plots_need_what_they_draw(allocs):
    a = allocate(Posterior.from_params("distillation", published("busbridge2025").point()),
                 1e21, student=1e9, regret=False, frontier=False, resolution=COARSE)
    with pytest.raises(ValueError, match="frontier"):
        plots.plot_teacher_frontier(a)
    with pytest.raises(ValueError, match="no allocations"):
        plots.plot_risk_comparison({})
