"""Writes notebooks/01_supervised_posterior.ipynb (clean, no outputs)."""

from __future__ import annotations

from _nb import code, md, write

CELLS = [
    md(r"""
    # 01 · A Bayesian posterior for the Chinchilla scaling law

    Hoffmann et al. (2022) fitted the supervised scaling law

    $$L(N, D) = E + \frac{A}{N^{\alpha}} + \frac{B}{D^{\beta}}$$

    (loss $L$ in nats, $N$ parameters, $D$ training tokens) and concluded that compute should be
    split roughly equally between model size and data. Epoch AI (Besiroglu et al. 2024) read the
    points back off Hoffmann's Figure 4, refitted them, and found that the published estimates were
    not the optimum of Hoffmann's own objective and that their confidence intervals were far too
    narrow. Their refit, with 95% bootstrap intervals, is the reference here.

    This notebook

    1. loads Epoch's digitised points,
    2. fits the law by NUTS, which gives a posterior (a joint distribution over $E, A, B, \alpha,
       \beta$) instead of a point estimate plus a bootstrap,
    3. looks at that posterior and sets it against Epoch's published intervals,
    4. turns it into what people use the law for: the compute-optimal number of **tokens per
       parameter**, with its uncertainty, against the "20 tokens per parameter" rule of thumb,
    5. fits a **hierarchical** law across the 15 training configurations of Porian et al. (2024),
       where each configuration gets its own law and the configurations share a population.

    **Run mode.** The test suite sets `DISTILLAW_FAST=1` (2 chains x 300 draws, about a minute in
    all). Unset it for the full run (4 chains x 1000 draws, a few minutes on 2 cores).
    """),
    code(r"""
    import os
    from pathlib import Path

    import matplotlib.pyplot as plt
    import numpy as np
    import pandas as pd

    import distillaw as dl

    FAST = os.environ.get("DISTILLAW_FAST") == "1"  # set by the test suite: small draws
    DRAWS, TUNE, CHAINS = (300, 300, 2) if FAST else (1000, 1000, 4)
    PROGRESS = not FAST
    # Public tables live beside the repository (see ../../shared/data/MANIFEST.md).
    SHARED = Path(os.environ.get("DISTILLAW_SHARED_DATA", "../../shared/data"))

    print(f"distillaw {dl.__version__}; {'fast' if FAST else 'full'} mode: "
          f"{CHAINS} chains x {DRAWS} draws after {TUNE} tuning steps")
    """),
    md(r"""
    ## 1. The data: Hoffmann et al.'s runs, as digitised by Epoch AI

    `epoch_chinchilla/svg_extracted_data.csv` holds 245 runs read off the SVG of Hoffmann et al.'s
    Figure 4: parameters $N$, training FLOPs $C$ and final loss. Tokens follow from $D = C / 6N$.
    As Epoch did, we drop the 5 highest-loss points (n = 240). `dl.load` recognises the format from
    its columns.

    If the public-data folder is missing, the notebook says so and falls back to the shipped
    simulated set (40 runs drawn from Busbridge et al.'s supervised law); everything still runs,
    but the comparison with Epoch's numbers is then only a demonstration.
    """),
    code(r"""
    EPOCH_FILE = SHARED / "epoch_chinchilla" / "svg_extracted_data.csv"
    USING_EPOCH = EPOCH_FILE.is_file()
    if USING_EPOCH:
        runs = dl.load(EPOCH_FILE, drop_highest_loss=5)
    else:
        print(f"NOTE: {EPOCH_FILE} not found. Set DISTILLAW_SHARED_DATA to the folder that holds "
              "epoch_chinchilla/ to use Epoch's data; falling back to the shipped simulated set.")
        runs = dl.simulate.shipped_supervised()

    C_runs = 6 * runs["N"] * runs["D"]
    print(f"{len(runs)} runs from {runs['source'].iloc[0]}: N {runs['N'].min():.2g}-"
          f"{runs['N'].max():.2g} parameters, D {runs['D'].min():.2g}-{runs['D'].max():.2g} "
          f"tokens, C {C_runs.min():.2g}-{C_runs.max():.2g} FLOPs, "
          f"loss {runs['L'].min():.2f}-{runs['L'].max():.2f} nats")
    runs[["run_id", "N", "D", "L"]].head()
    """),
    md(r"""
    Each point is one training run. At a fixed compute budget (one colour) loss first falls and
    then rises again as the model grows, because a bigger model at the same budget sees fewer
    tokens: the bottom of each of these "IsoFLOP" valleys is the compute-optimal model size.
    """),
    code(r"""
    fig, ax = plt.subplots(figsize=(7, 4.2))
    pts = ax.scatter(runs["N"], runs["L"], c=np.log10(C_runs), cmap="viridis", s=14)
    fig.colorbar(pts, ax=ax, label="log10 training FLOPs, C = 6ND")
    ax.set(xscale="log", xlabel="parameters N", ylabel="final loss (nats)",
           title="Training runs" + (" (Hoffmann et al. 2022, digitised by Epoch AI)"
                                    if USING_EPOCH else " (shipped simulated set)"))
    plt.show()
    """),
    md(r"""
    ## 2. The posterior

    The model is the law on the log scale with robust noise,

    $$\log L_i = \log\!\big(E + A N_i^{-\alpha} + B D_i^{-\beta}\big) + \sigma\,\varepsilon_i,
    \qquad \varepsilon_i \sim \text{Student-}t_\nu ,$$

    the Bayesian counterpart of Epoch's Huber loss: heavy tails keep a few badly digitised points
    from pulling the fit. The priors are weakly informative and scaled to the data (the prefactors
    are sampled at reference sizes in the middle of the data, which keeps NUTS away from the
    banana-shaped ridge between $A$ and $\alpha$). `dl.fit` compiles the model (10-20 s) and
    samples with nutpie.
    """),
    code(r"""
    post = dl.fit(runs, "supervised", form="chinchilla", error="iid", draws=DRAWS, tune=TUNE,
                  chains=CHAINS,
                  seed=0, progressbar=PROGRESS, name="epoch-chinchilla")
    diag = post.diagnostics()
    print(post)
    print(f"divergences {diag['divergences']}, max r_hat {diag['r_hat_max']:.3f}, "
          f"min bulk ESS {diag['ess_bulk_min']:.0f}, min tail ESS {diag['ess_tail_min']:.0f}, "
          f"compile {diag['compile_seconds']:.0f} s, sampling {diag['sampling_seconds']:.0f} s")
    assert diag["divergences"] == 0, "NUTS diverged: the posterior below cannot be trusted"
    """),
    md(r"""
    No divergent transitions and $\hat R$ close to 1: the chains agree. (In fast mode the ESS is
    small, so the 2.5% and 97.5% quantiles below are rough; the full run gives several thousand
    draws. `post.check()` raises if a fit misses the usual thresholds.)

    ### Against Epoch's 95% intervals

    `dl.published("epoch2024")` holds Epoch's estimates and bootstrap intervals, typed in with their
    citation. The table puts the posterior median and 95% credible interval next to them.
    """),
    code(r"""
    epoch = dl.published("epoch2024")
    summ = post.summary(ci=0.95)
    PARAMS = ["E", "A", "B", "alpha", "beta"]
    rows = {}
    for name in PARAMS:
        lo, hi = epoch.interval(name)
        med, low, up = summ.loc[name, ["median", "lower", "upper"]]
        rows[name] = {
            "posterior median": f"{med:.4g}",
            "posterior 95% CI": f"{low:.4g} - {up:.4g}",
            "Epoch estimate": f"{epoch.point()[name]:.4g}",
            "Epoch 95% CI": f"{lo:.4g} - {hi:.4g}",
            "median inside Epoch CI": bool(lo <= med <= hi),
            "width / Epoch width": round((up - low) / (hi - lo), 2),
        }
    comparison = pd.DataFrame(rows).T
    comparison
    """),
    code(r"""
    hoffmann = dl.published("chinchilla2022").point()
    if USING_EPOCH:  # the key claims: the posterior agrees with Epoch's refit, not Hoffmann's
        assert comparison["median inside Epoch CI"].all(), comparison
        assert not summ.loc["beta", "lower"] <= hoffmann["beta"] <= summ.loc["beta", "upper"]
    print("Hoffmann et al.'s published values:", {k: round(v, 4) for k, v in hoffmann.items()})
    """),
    md(r"""
    The posterior medians sit inside Epoch's intervals: a Bayesian fit with a robust likelihood
    reproduces their correction of Hoffmann et al. (Hoffmann's own estimates, e.g. $\beta = 0.28$
    and $B = 411$, lie far outside).

    The credible intervals are *narrower* than Epoch's bootstrap intervals (last column). The two
    answer different questions: the bootstrap refits resampled points with a Huber loss, so its
    spread includes how much the optimiser's answer moves; the posterior assumes the Student-$t$
    noise model is right. Neither knows that digitisation errors are correlated between nearby
    points, so read both as lower bounds on the real uncertainty.

    The marginals below show the whole distributions, with Epoch's interval shaded.
    """),
    code(r"""
    draws = post.param_draws()
    fig, axes = plt.subplots(1, 5, figsize=(14, 3), layout="constrained")
    for ax, name in zip(axes, PARAMS, strict=True):
        lo, hi = epoch.interval(name)
        ax.axvspan(lo, hi, color="C1", alpha=0.15, label="Epoch 95% CI")
        ax.hist(draws[name], bins=40, color="C0", label="posterior")
        ax.axvline(epoch.point()[name], color="C1", lw=2, label="Epoch estimate")
        ax.set(title=name, yticks=[])
    fig.legend(*axes[0].get_legend_handles_labels(), loc="outside upper right", ncol=3)
    fig.suptitle("Posterior marginals", x=0.02, ha="left")
    plt.show()
    """),
    md(r"""
    The parameters are strongly correlated, which is why single-parameter intervals look wide
    while predictions are sharp: a larger $A$ is compensated by a larger $\alpha$, and the two
    exponents trade off against each other.
    """),
    code(r"""
    pairs = [("alpha", "A"), ("beta", "B"), ("alpha", "beta")]
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.4), layout="constrained")
    for ax, (x, y) in zip(axes, pairs, strict=True):
        ax.scatter(draws[x], draws[y], s=3, alpha=0.3)
        r = np.corrcoef(draws[x], np.log(draws[y]) if y in ("A", "B") else draws[y])[0, 1]
        ax.set(xlabel=x, ylabel=y, yscale="log" if y in ("A", "B") else "linear",
               title=f"correlation {r:+.2f}")
    plt.show()
    """),
    md(r"""
    ### Does the law describe the runs?

    Curves of the fitted law (median and 90% credible band) at four compute budgets, over the
    runs. A posterior predictive interval (law plus the fitted noise) should cover about 90% of
    the runs.
    """),
    code(r"""
    budgets = [1e19, 1e20, 1e21, 1e22]
    N_grid = np.geomspace(runs["N"].min() / 2, runs["N"].max() * 2, 80)
    fig, ax = plt.subplots(figsize=(7, 4.2))
    ax.scatter(runs["N"], runs["L"], c=np.log10(C_runs), cmap="viridis", s=10, alpha=0.6)
    cmap = plt.get_cmap("viridis")
    lc = np.log10(C_runs)
    for C in budgets:
        band = post.predict({"N": N_grid, "D": C / (6 * N_grid)}, ci=0.9)
        color = cmap((np.log10(C) - lc.min()) / (lc.max() - lc.min()))
        ax.fill_between(N_grid, band["lower"], band["upper"], color=color, alpha=0.3)
        ax.plot(N_grid, band["median"], color=color, lw=1.5, label=f"C = {C:.0e} FLOPs")
    ax.set(xscale="log", xlabel="parameters N", ylabel="loss (nats)",
           ylim=(runs["L"].min() - 0.1, runs["L"].max() + 0.1),
           title="Fitted law at fixed compute (median, 90% band)")
    ax.legend(fontsize=8)
    plt.show()

    check = post.predict(runs, ci=0.9, predictive=True)
    covered = ((check["lower"] <= runs["L"]) & (runs["L"] <= check["upper"])).mean()
    print(f"90% posterior predictive intervals cover {covered:.0%} of the {len(runs)} runs")
    """),
    md(r"""
    ## 3. Compute-optimal allocation: tokens per parameter

    Minimising $L$ under a budget $C = 6ND$ gives (Hoffmann et al., Eq. 4)

    $$N_\text{opt} = G\,(C/6)^{a},\quad D_\text{opt} = G^{-1}(C/6)^{b},\quad
    a = \frac{\beta}{\alpha+\beta},\; b = \frac{\alpha}{\alpha+\beta},\;
    G = \Big(\frac{\alpha A}{\beta B}\Big)^{1/(\alpha+\beta)} .$$

    `dl.laws.compute_optimal_allocation` evaluates this for every posterior draw at once, so the
    uncertainty in $(E, A, B, \alpha, \beta)$ becomes uncertainty in the recommendation. Chinchilla
    itself (70B parameters, 1.4T tokens, $C \approx 5.9\times10^{23}$) was trained at 20 tokens per
    parameter; Epoch's point estimate gives about 18 there, Hoffmann's published coefficients
    about 60-90.
    """),
    code(r"""
    law = ("A", "B", "alpha", "beta")
    chinchilla_C = 6 * 70e9 * 1.4e12
    table_C = np.array([1e21, 1e22, 1e23, chinchilla_C, 1e24])
    N_opt, D_opt = dl.laws.compute_optimal_allocation(table_C[None, :],
                                                      **{k: draws[k][:, None] for k in law})
    tpp = D_opt / N_opt  # draws x budgets
    epoch_law = {k: epoch.point()[k] for k in law}
    N_epoch, D_epoch = dl.laws.compute_optimal_allocation(table_C, **epoch_law)
    q = np.quantile(tpp, [0.5, 0.05, 0.95], axis=0)
    allocation = pd.DataFrame({
        "budget C (FLOPs)": [f"{c:.2e}" for c in table_C],
        "N_opt (median)": [f"{v:.3g}" for v in np.median(N_opt, axis=0)],
        "tokens/param median": q[0].round(1),
        "tokens/param 90% CI": [f"{lo:.1f} - {hi:.1f}" for lo, hi in zip(q[1], q[2], strict=True)],
        "Epoch point estimate": (D_epoch / N_epoch).round(1),
    })
    a, b = dl.laws.compute_optimal_exponents(draws["alpha"], draws["beta"])
    print(f"N_opt ~ C^a with a = {np.median(a):.3f} (90% CI {np.quantile(a, 0.05):.3f}-"
          f"{np.quantile(a, 0.95):.3f}); Epoch: {epoch.derived['a'].value} "
          f"(SE {epoch.derived['a'].se}); Hoffmann approach 3: 0.46")
    allocation
    """),
    code(r"""
    C_grid = np.geomspace(1e19, 1e25, 60)
    N_g, D_g = dl.laws.compute_optimal_allocation(C_grid[None, :],
                                                  **{k: draws[k][:, None] for k in law})
    band = np.quantile(D_g / N_g, [0.05, 0.25, 0.5, 0.75, 0.95], axis=0)
    N_e, D_e = dl.laws.compute_optimal_allocation(C_grid, **epoch_law)

    fig, ax = plt.subplots(figsize=(7, 4.2))
    ax.fill_between(C_grid, band[0], band[4], alpha=0.2, color="C0", label="posterior 90%")
    ax.fill_between(C_grid, band[1], band[3], alpha=0.35, color="C0", label="posterior 50%")
    ax.plot(C_grid, band[2], color="C0", label="posterior median")
    ax.plot(C_grid, D_e / N_e, color="C1", ls="--", label="Epoch point estimate")
    ax.axhline(20, color="k", lw=1, ls=":", label="20 tokens/parameter rule")
    ax.scatter([chinchilla_C], [1.4e12 / 70e9], color="k", zorder=3, label="Chinchilla 70B")
    ax.axvspan(C_runs.min(), C_runs.max(), color="0.9", zorder=0, label="budgets in the data")
    ax.set(xscale="log", yscale="log", xlabel="training compute C (FLOPs)",
           ylabel="compute-optimal tokens per parameter",
           title="How many tokens per parameter?")
    ax.legend(fontsize=8, loc="upper left")
    plt.show()
    """),
    md(r"""
    Two things to read off the plot. First, 20 tokens per parameter is a fair rule near
    Chinchilla's budget, and the posterior says how fair: the band is the range of ratios the data
    cannot tell apart. Second, the ratio drifts with budget because $a \ne b$, and the band widens
    away from the grey region that the runs cover: extrapolating the law to budgets 100x beyond the
    data is where its uncertainty matters most.

    ## 4. A hierarchical fit across training configurations

    Kaplan et al. (2020) and Hoffmann et al. (2022) disagree on $a$ (0.73 against 0.5). Porian et
    al. (2024) retrained one model family under 15 configurations (dataset, tuned or default
    hyper-parameters, warm-up, learning-rate decay, how parameters are counted, train or validation
    loss) and traced the gap to those choices. Their IsoFLOP points are in
    `porian2024/porian2024_isoflop_points.csv`; `dl.load` labels each run with its configuration.

    Fitting 15 separate laws would let configurations with few runs run wild; one pooled law would
    erase the differences we are looking for. A hierarchical model sits in between: each
    configuration has its own $E, A, B, \alpha, \beta$, drawn from a population whose mean and
    spread are learned too, so data-poor configurations borrow strength from the rest. We give each
    configuration only a handful of runs (8 in fast mode, 40 in full mode) to make the point.
    """),
    code(r"""
    PORIAN_FILE = SHARED / "porian2024" / "porian2024_isoflop_points.csv"
    PER_GROUP = 8 if FAST else 40
    if PORIAN_FILE.is_file():
        porian = dl.load(PORIAN_FILE)
        grouped = porian.groupby("group").sample(n=PER_GROUP, random_state=0).reset_index(drop=True)
    else:
        print(f"NOTE: {PORIAN_FILE} not found; simulating 6 configurations instead.")
        rng = np.random.default_rng(0)
        frames = []
        for g in range(6):
            alpha, beta = 0.34 + 0.03 * rng.standard_normal(2)
            truth = {"E": 2.0, "A": 400.0, "B": 2000.0, "alpha": alpha, "beta": beta}
            N = np.geomspace(1e6, 1e9, PER_GROUP)
            D = N * rng.choice([5.0, 20.0, 80.0], PER_GROUP)
            frames.append(dl.simulate.simulate_supervised(truth, N, D, sigma=0.01, seed=g,
                                                          group=f"config-{g}", prefix=f"c{g}"))
        grouped = pd.concat(frames, ignore_index=True)
    print(f"{len(grouped)} runs in {grouped['group'].nunique()} configurations")

    hier = dl.fit(grouped, "supervised", form="chinchilla", group="group", error="iid",
                  draws=DRAWS, tune=TUNE,
                  chains=CHAINS, seed=1, progressbar=PROGRESS, name="porian-hierarchical")
    hd = hier.diagnostics()
    print(f"{hier}: divergences {hd['divergences']}, max r_hat {hd['r_hat_max']:.3f}, "
          f"min bulk ESS {hd['ess_bulk_min']:.0f}")
    """),
    md(r"""
    For each configuration, the posterior of the compute-optimal exponent
    $a = \beta/(\alpha+\beta)$, coloured by how parameters are counted. Where the authors' own
    estimate is available (`porian2024_fit_results.csv`, a power law through the IsoFLOP minima)
    it is marked with a cross, and the rows are sorted by it.
    """),
    code(r"""
    FIT_FILE = SHARED / "porian2024" / "porian2024_fit_results.csv"
    theirs = {}
    if FIT_FILE.is_file():
        fr = pd.read_csv(FIT_FILE)
        fr = fr[fr["fit"] == "basic"]
        keys = fr[["dataset", "hparams", "warmup", "decay", "param_count", "loss_split"]]
        theirs = dict(zip(keys.astype(str).agg("/".join, axis=1), fr["n_exponent"], strict=True))

    per_group = []
    for g in hier.groups:
        d = hier.param_draws(g)
        a_g, _ = dl.laws.compute_optimal_exponents(d["alpha"], d["beta"])
        per_group.append((g, *np.quantile(a_g, [0.5, 0.05, 0.95]), theirs.get(g, np.nan)))
    per_group = pd.DataFrame(per_group, columns=["configuration", "median", "lower", "upper",
                                                 "Porian et al."])
    per_group = per_group.sort_values("Porian et al." if theirs else "median")
    if theirs:
        rank = per_group[["median", "Porian et al."]].corr(method="spearman").iloc[0, 1]
        print(f"rank correlation between our medians and Porian et al.'s estimates: {rank:.2f}")

    conventions = sorted({g.split("/")[4] if g.count("/") >= 4 else "simulated"
                          for g in per_group["configuration"]})
    colors = {c: f"C{i}" for i, c in enumerate(conventions)}
    fig, ax = plt.subplots(figsize=(7.5, 0.3 * len(per_group) + 1.2))
    y = np.arange(len(per_group))
    for yi, row in zip(y, per_group.itertuples(index=False), strict=True):
        conv = row.configuration.split("/")[4] if row.configuration.count("/") >= 4 else "simulated"
        ax.plot([row.lower, row.upper], [yi, yi], color=colors[conv], lw=2)
        ax.plot(row.median, yi, "o", color=colors[conv])
    ax.plot(per_group["Porian et al."], y, "kx", label="Porian et al. (IsoFLOP minima)")
    for conv, c in colors.items():
        ax.plot([], [], "o-", color=c, label=f"parameters counted: {conv}")
    ax.axvline(0.5, color="0.5", ls=":", lw=1)
    ax.set(yticks=y, yticklabels=per_group["configuration"], xlabel="a = beta / (alpha + beta)",
           title="Compute-optimal exponent per configuration (median, 90% interval)")
    ax.legend(fontsize=7, loc="lower right")
    plt.show()
    """),
    md(r"""
    With a few runs per configuration the intervals are wide; they narrow in the full run (40 runs
    each). The configurations that count parameters Kaplan's way (embeddings excluded) get some of
    the largest exponents, as Porian et al. found. The two estimates need not agree value for
    value: ours fits one parametric surface through every run of a configuration, theirs is a line
    through the minima of its IsoFLOP curves, and the choice of estimator alone moves $a$
    noticeably (Hoffmann et al.'s own three approaches disagree with each other; the
    *(Mis)fitting* survey of 2025 collects many such cases). The posterior makes the statistical
    part of the uncertainty explicit; the estimator part is a modelling choice.

    `hier.param_draws(group)` gives any configuration's law, with its uncertainty, for predictions
    and allocations downstream.

    **Next:** `02_distillation_posterior.ipynb` does the same for the distillation scaling law,
    where the question is not how big a model to train but which teacher to distil from.
    """),
]

if __name__ == "__main__":
    print(write("01_supervised_posterior.ipynb", CELLS))
