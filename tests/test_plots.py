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


# ------------------------------------------------------------------ plot_fit / plot_ppc
def _legend_clear_of_data(fig):
    """Every legend lies outside every axes that holds data (no band, line or point can
    be under it), checked on the rendered figure's pixel boxes."""
    import numpy as np
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig).draw()
    r = fig.canvas.get_renderer()
    legends = [lg for a in fig.axes if (lg := a.get_legend()) is not None]
    assert legends
    checked = 0
    for lg in legends:
        box = lg.get_window_extent(r)
        for a in fig.axes:
            assert not box.overlaps(a.get_window_extent(r)), (lg, a)
            for art in [*a.collections, *a.lines]:
                ext = art.get_window_extent(r)
                if not np.all(np.isfinite(ext.get_points())) or ext.width <= 0:
                    continue  # a legend proxy: no data
                assert not box.overlaps(ext), art
                checked += 1
    assert checked


def _sim_supervised():
    import numpy as np

    from distillaw.simulate import simulate_supervised

    truth = published("epoch2024").point()
    N = np.repeat(np.geomspace(1e7, 1e9, 5), 3)
    D = N * np.tile([5.0, 20.0, 80.0], 5)
    return simulate_supervised(truth, N, D, sigma=0.01, seed=1)


def _noisy_supervised(S=200):
    import numpy as np

    rng = np.random.default_rng(0)
    p = {k: v * np.exp(rng.normal(0, 0.01, S)) for k, v in published("epoch2024").point().items()}
    p["sigma"] = np.full(S, 0.01)
    return Posterior.from_params("supervised", p)


def test_plot_fit_bands_points_holdout_and_legend_outside():
    import matplotlib.colors as mc
    import numpy as np

    df = _sim_supervised()
    post = _noisy_supervised()
    big = df["N"] == df["N"].max()
    fig = plots.plot_fit(post, df[~big], df[big], ci=0.8)
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "D/N = 5" in labels and "held-out runs (not fitted)" in labels
    assert "law, 80% credible band" in labels and "new run, 80% predictive band" in labels
    # Three curves (D/N = 5, 20, 80), each: predictive band wider than the law band.
    from matplotlib.collections import PathCollection, PolyCollection

    bands = [c for c in ax.collections if isinstance(c, PolyCollection) and
             not isinstance(c, PathCollection) and len(c.get_paths())]
    assert len(bands) == 6
    for pred, law in zip(bands[::2], bands[1::2], strict=True):
        hp = np.ptp(pred.get_paths()[0].vertices[:, 1])
        hl = np.ptp(law.get_paths()[0].vertices[:, 1])
        assert hp > hl
    held = [c for c in ax.collections if c.get_offsets().shape[0] and
            mc.to_rgba(c.get_facecolor()[0] if len(c.get_facecolor()) else "none")[3] == 0]
    assert sum(c.get_offsets().shape[0] for c in held) == int(big.sum())
    _legend_clear_of_data(fig)
    assert plots.to_png(fig, dpi=60).startswith(PNG)


def test_plot_fit_distillation_panels_and_given_axes(jittered_busbridge):
    from matplotlib.figure import Figure as F

    from distillaw.simulate import shipped_distillation

    post = jittered_busbridge(30, 2)
    import numpy as np

    post.idata.posterior["sigma"] = (("chain", "draw"), np.full((1, 30), 0.01))
    df = shipped_distillation()
    fig = plots.plot_fit(post, df)
    assert 1 < len(fig.axes) <= 4
    assert all(a.get_legend() is not None for a in fig.axes)
    _legend_clear_of_data(fig)
    ax = F(figsize=(9, 4), layout="constrained").subplots()
    assert plots.plot_fit(post, df[df["N"] == df["N"].min()], ax=ax) is ax.figure
    _legend_clear_of_data(ax.figure)


def test_plot_fit_refuses_capacity_gap():
    from distillaw.errors import PosteriorError

    cg = Posterior.from_params("capacity-gap", {"k": 2.5, "s": 1.0})
    with pytest.raises(PosteriorError, match="loss laws"):
        plots.plot_fit(cg, _sim_supervised())


def test_plot_ppc_from_draws_and_from_the_stored_group():
    import numpy as np
    import xarray as xr

    from distillaw._compat import import_arviz

    az = import_arviz()
    df = _sim_supervised()
    base = _noisy_supervised()
    cd = xr.Dataset({c: ("row", df[c].to_numpy(float)) for c in ("N", "D", "L")})
    idata = az.InferenceData(posterior=base.idata.posterior, constant_data=cd)
    post = Posterior(idata, base.spec, name="on the fly")
    fig = plots.plot_ppc(post, num_pp_samples=20)
    assert "log_L: log-loss" in fig.axes[0].get_xlabel()
    _legend_clear_of_data(fig)
    rep = np.log(post.predictive_draws(df)).reshape(1, 200, -1)
    idata.add_groups(posterior_predictive=xr.Dataset({"log_L": (("chain", "draw", "run"), rep)}),
                     observed_data=xr.Dataset({"log_L": ("run", np.log(df["L"].to_numpy()))}))
    fig = plots.plot_ppc(Posterior(idata, base.spec), num_pp_samples=20)
    assert len(fig.axes) == 1
    _legend_clear_of_data(fig)
