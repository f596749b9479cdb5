"""Write ``notebooks/03_risk_aware_allocation.ipynb`` (committed without outputs).

Run from the repository root: ``.venv/bin/python notebooks/_build/make_03.py``. Edit the
cells here, not in the .ipynb, so that the notebook stays reviewable as source.
"""

from __future__ import annotations

from _nb import collector, write

CELLS, md, code = collector()

md(r"""
# 03 · Risk-aware compute allocation: distil or train supervised, and how

A team has a compute budget and a student size fixed by deployment. Should it **distil** (and
with which teacher, trained on how many tokens, distilling on how many tokens) or simply
**train the student supervised** on the whole budget? And how sure can it be?

This notebook answers that question from a *posterior* over the distillation scaling law
(Busbridge et al. 2025) rather than a point estimate, so every answer comes with its
uncertainty. It walks through:

1. the allocation for each **compute scenario** (what the budget has to pay for) and each
   **risk measure** (how much the team fears a bad outcome), as one tidy table;
2. the probability that distillation beats supervised training, per scenario;
3. how the answer changes with the budget: the **crossover** where supervised training
   catches up;
4. one request in full: the allocation **report** (HTML + figures) that `distillaw report`
   also writes, and the **teacher frontier**, student loss against teacher size (the capacity
   gap).

The posterior is the shipped `models/distillation`, fitted to the shipped *simulated*
Busbridge-scale data set (135 runs drawn from the published law, Table 6 of the paper). Because
the data are simulated, we also know the **true law** and can check each decision against the
one the truth would make: a luxury real teams do not have, but a good test of the method.

Set `DISTILLAW_FAST=1` to run with fewer posterior draws (the tests do); the conclusions are the
same, the intervals a little noisier.
""")

code(r"""
%matplotlib inline
import os
import time
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from IPython.display import Image, display

import distillaw as dl
from distillaw import plots
from distillaw.decision import fmt_count
from distillaw.laws.compute import SCENARIOS
from distillaw.risk import parse_risk

FAST = os.environ.get("DISTILLAW_FAST") == "1"
N_DRAWS = 500 if FAST else 4000        # posterior draws behind each allocation
FREE_DRAWS = 200 if FAST else 1000     # draws when the student size is searched too
SWEEP_DRAWS = 100 if FAST else 1000    # draws per budget in the crossover sweeps
N_BUDGETS = 7 if FAST else 13          # budgets from 1e19 to 1e25 FLOPs in the sweeps

BUDGET = 1e21          # total FLOPs: a ~1B model on ~140B tokens
STUDENT = 1e9          # student size fixed by deployment (parameters)
RISKS = ["mean", "quantile:0.9", "cvar:0.9", "mean-sd:1"]
MODEL_DIR = Path("../models/distillation")
OUT_DIR = Path(os.environ.get("DISTILLAW_NOTEBOOK_OUT", "../out/notebooks")) / "03_report"  # git-ignored
pd.set_option("display.width", 160)
pd.set_option("display.max_columns", 20)
T0 = time.perf_counter()
print(f"FAST={FAST}: {N_DRAWS} draws per allocation, {FREE_DRAWS} with a free student, "
      f"{SWEEP_DRAWS} per sweep budget")
""")

md(r"""
## The posterior and the truth

`dl.Posterior.load` reads a fitted posterior (the folder holds `posterior.nc` and a model
card). Decisions never re-run the sampler: they evaluate the law on the stored draws in
vectorised NumPy, so everything below takes seconds.

`truth` is a one-draw "posterior" at the published coefficients, the law the simulated data
were drawn from. We use it only to check the posterior's decisions.
""")

code(r"""
if not (MODEL_DIR / "posterior.nc").exists():
    raise FileNotFoundError(
        f"{MODEL_DIR.resolve()} has no posterior.nc; regenerate the shipped posteriors with "
        "`python -m distillaw.demo --refit-models` (or `make models`) from the repository root")
post = dl.Posterior.load(MODEL_DIR)
truth = dl.Posterior.from_params("distillation", dl.published("busbridge2025").point())
print(f"{post.law} posterior: {post.n_draws} draws ({post.sampler['engine']}), "
      f"data {post.data_hash[:12]}; using {min(N_DRAWS, post.n_draws)} draws per allocation")

# The runs it was fitted on: where the law is interpolated, and where it is extrapolated.
runs = dl.read_runs("../data/simulated/distillation.csv")
dis = runs[runs["kind"] == "distillation"]
tpp = dis["D"] / dis["N"]
print(f"fitted on {len(runs)} runs; the {len(dis)} distillations have students of "
      f"{fmt_count(dis['N'].min())}-{fmt_count(dis['N'].max())} parameters, "
      f"{tpp.min():.0f}-{tpp.max():.0f} distillation tokens per parameter, teachers up to "
      f"{fmt_count(dis['N_T'].max())}, and cost at most {dis['flops'].max():.1e} FLOPs")
""")

# ----------------------------------------------------------------------------- section 1
md(r"""
## 1. Allocations for every scenario and risk measure

**Scenarios** (Busbridge Eq. 9) say what the budget pays for besides training the student:

| scenario | teacher pretraining | teacher logits on the distillation tokens |
|---|---|---|
| `best-case` | free (teacher exists, shared by many students) | free |
| `teacher-inference` | free (teacher exists) | charged |
| `teacher-pretraining` | charged | free (logits stored and reused) |
| `teacher-pretraining+inference` | charged | charged (one teacher for one student) |

**Risk measures** say how to turn the posterior distribution of the student's loss into one
number to minimise: `mean` (risk-neutral), `quantile:0.9` (the loss we are 90% sure not to
exceed), `cvar:0.9` (the mean of the worst 10% of draws), `mean-sd:1` (mean plus one standard
deviation).

`dl.compare_risks` runs `dl.allocate` once per risk measure. Every allocation spends exactly
the budget: the distillation tokens `D_S` are whatever the student can afford after the
teacher's charged costs.
""")

code(r"""
rows, by_scenario = [], {}
for scenario in SCENARIOS:
    allocs = dl.compare_risks(post, BUDGET, risks=RISKS, student=STUDENT, scenario=scenario,
                              max_draws=N_DRAWS, seed=0)
    by_scenario[scenario] = allocs
    for risk, a in allocs.items():
        f = a.flops
        rows.append({
            "scenario": scenario, "risk": risk, "decision": a.recommendation,
            "N_T": a.N_T, "D_T": a.D_T, "D_S": a.D_S,
            "teacher_share": (f["teacher_pretraining"] + f["teacher_inference"]) / a.budget,
            "L_T": a.L_T,
            "loss": a.loss["median"], "loss_lo": a.loss["lower"], "loss_hi": a.loss["upper"],
            "sup_loss": a.supervised_loss["median"],
            "p_beats": a.p_beats_supervised, "score": a.score,
            "budget_error": a.budget_check(),
        })
grid = pd.DataFrame(rows)      # tidy: one row per (scenario, risk measure)

# Every allocation spends the budget (to rounding).
assert (grid["budget_error"] < 1e-8).all()

view = grid.assign(
    N_T=grid["N_T"].map(fmt_count), D_T=grid["D_T"].map(fmt_count),
    D_S=grid["D_S"].map(fmt_count), teacher_share=grid["teacher_share"].map("{:.0%}".format),
    student_loss=[f"{m:.3f} ({lo:.3f}-{hi:.3f})"
                  for m, lo, hi in grid[["loss", "loss_lo", "loss_hi"]].to_numpy()],
).round({"L_T": 3, "sup_loss": 3, "p_beats": 2})
view[["scenario", "risk", "decision", "N_T", "D_T", "D_S", "teacher_share", "L_T",
      "student_loss", "sup_loss", "p_beats"]]
""")

md(r"""
**How to read it.** Each row is the best distillation plan under that scenario and risk
measure: teacher size `N_T` trained on `D_T` tokens, the student distilled on `D_S` tokens,
the share of the budget the teacher costs, the teacher's loss `L_T`, the distilled student's
loss (median and 90% credible interval, nats), the loss of the same student trained supervised
on the whole budget (`sup_loss`), and `p_beats` = P(distillation beats supervised) over the
posterior draws. `decision` is `distil` when `p_beats > 0.5`.

- **The scenario decides; the risk measure barely does.** Within a scenario the four measures
  agree on the decision and on the student loss to a few thousandths of a nat, far inside the
  posterior interval. They can disagree on the teacher by up to a factor of two, because near
  the optimum the loss surface is flat: many teachers are equally good. Where the teacher's
  training is not charged the optimum is a flat ridge and `allocate` returns the cheapest
  teacher within 5e-4 nats of the best (`tie_tol`), so large `D_T` differences there mean
  "anything along the ridge", not a real preference.
- **When the teacher must be trained for this one student, train the student supervised.**
  Paying for the teacher takes most of the budget away from the student, and the distilled
  student ends up worse than a supervised one (Busbridge et al.'s main negative finding).

The next cell quantifies the first point: how far apart the risk measures are, compared with
the width of the posterior interval of the loss.
""")

code(r"""
# Per scenario: largest / smallest teacher chosen, spread of the median loss across the four
# measures, and the (average) width of the 90% interval of the loss, for scale.
by = grid.groupby("scenario", sort=False)
spread = pd.DataFrame({
    "teacher size ratio": by["N_T"].max() / by["N_T"].min(),
    "loss spread (nats)": by["loss"].max() - by["loss"].min(),
    "90% interval width (nats)": (grid["loss_hi"] - grid["loss_lo"]).groupby(grid["scenario"],
                                                                            sort=False).mean(),
})
spread.round(4)
""")

md(r"""
Each risk measure does get what it asks for. Below, the four allocations chosen in the
`teacher-pretraining` scenario (where the teacher's cost makes the optimum sharp, with no ridge
and no tie-breaking) are each scored under *every* measure on the same posterior draws: each
column is smallest on its own row. The mean-optimal plan has the lowest expected loss, the
CVaR-optimal one the lightest bad tail, and so on, but the differences are tenths of a
thousandth of a nat: for this posterior and budget, the risk measure is not what the decision
hinges on.
""")

code(r"""
allocs = by_scenario["teacher-pretraining"]
cross_scores = pd.DataFrame(
    {f"scored by {m}": [float(parse_risk(m)(a.loss_draws)) for a in allocs.values()]
     for m in RISKS},
    index=pd.Index(list(allocs), name="chosen under"))
display(cross_scores.round(5))
# Each allocation is (up to the search tolerance) the best one for its own measure.
own = np.diag(cross_scores.to_numpy())
assert np.all(own <= cross_scores.min(axis=0).to_numpy() + 1e-4)
""")

md(r"""
The same comparison as a figure, for the `teacher-inference` scenario: what each measure chose
(teacher size, teacher tokens, distillation tokens) and the student loss there, against the
supervised alternative (orange). The points move; the loss does not.
""")

code(r"""
display(plots.plot_risk_comparison(by_scenario["teacher-inference"], highlight="cvar:0.9"))
""")

# ----------------------------------------------------------------------------- section 2
md(r"""
## 2. P(distillation beats supervised), per scenario

Under the `mean` measure, with the supervised alternative at the same compute. The
*advantage* is the paired difference supervised − distilled loss on each draw (positive:
distillation better); `P(beats)` is the share of draws where it is positive. The last two
columns give what the **true law** would recommend at this budget (its own optimal
allocation), and its advantage.
""")

code(r"""
rows = []
for scenario in SCENARIOS:
    a = by_scenario[scenario]["mean"]
    t = dl.allocate(truth, BUDGET, student=STUDENT, scenario=scenario, regret=False,
                    frontier=False)
    adv = a.advantage
    rows.append({"scenario": scenario, "P(beats)": a.p_beats_supervised,
                 "advantage": adv["median"], "adv 5%": adv["lower"], "adv 95%": adv["upper"],
                 "posterior says": a.recommendation, "truth says": t.recommendation,
                 "true advantage": t.advantage["median"]})
p_table = pd.DataFrame(rows).set_index("scenario")
display(p_table.round(3))

# Robust claims (they hold for any reasonable posterior of this data, and for the truth):
# the teacher free -> distil; the teacher trained for this one student -> supervised.
assert p_table.loc["best-case", "P(beats)"] >= 0.95
assert p_table.loc["teacher-pretraining+inference", "P(beats)"] <= 0.05
assert (p_table["posterior says"] == p_table["truth says"]).all()
# Charging more of the teacher can only hurt distillation.
assert (p_table.loc["best-case", "P(beats)"]
        >= p_table.loc["teacher-pretraining+inference", "P(beats)"])
""")

md(r"""
At a 1e21-FLOP budget for a 1B student the posterior is **near certain in every scenario**, and
it agrees with the truth: distil when a teacher already exists (`best-case`,
`teacher-inference`), train supervised when the teacher has to be trained for this student.
The advantage intervals show how much is at stake: a few hundredths of a nat either way, as
large as or larger than the scatter of a single measured run (the model card's `sigma`, about
0.9% of the loss, i.e. 0.02 nats).

Here is what that looks like as distributions for one scenario, `teacher-pretraining`: the
distilled student (blue) is reliably worse than the supervised one (orange).
""")

code(r"""
display(plots.plot_loss_distributions(by_scenario["teacher-pretraining"]["mean"]))
""")

md(r"""
If the student size is **not** fixed by deployment, `student=None` searches it too, and the
supervised alternative becomes the compute-optimal model at this budget. `Allocation.summary()`
says it all in plain words. Read its last line: with a free teacher the fitted law wants a
much bigger student on very few tokens (and a trillion-parameter teacher), which ends on the
bound of 1 token per parameter, an extrapolation far outside the fitted runs. Treat such an
answer as "the law has no opinion here", not as a plan.
""")

code(r"""
free = dl.allocate(post, BUDGET, student=None, scenario="best-case", max_draws=FREE_DRAWS,
                   regret=False, frontier=False)
print(free.summary())
""")

# ----------------------------------------------------------------------------- section 3
md(r"""
## 3. Where supervised training catches up: the crossover

The answer at one budget is not the whole story: distillation's advantage shrinks as compute
grows, because with enough data the supervised student approaches what the teacher could teach
it. `dl.crossover` repeats the allocation over a range of budgets (fewer draws and a coarser
search, for speed), for the same 1B student. We run it for each scenario, and for the truth.
The second table says where the decision flips (the median of the paired advantage changes
sign), for the posterior and for the true law, and up to which budget the posterior makes a
clear call (P(beats) at least 0.95 or at most 0.05).
""")

code(r"""
budgets = np.logspace(19, 25, N_BUDGETS)
sweeps, true_sweeps = {}, {}
for scenario in SCENARIOS:
    sweeps[scenario] = dl.crossover(post, budgets, student=STUDENT, scenario=scenario,
                                    max_draws=SWEEP_DRAWS, skip_infeasible=True)
    true_sweeps[scenario] = dl.crossover(truth, budgets, student=STUDENT, scenario=scenario,
                                         skip_infeasible=True)

p_by_budget = pd.DataFrame({s: sw.set_index("budget")["p_beats"] for s, sw in sweeps.items()})
p_by_budget.index = [f"{b:.1e}" for b in p_by_budget.index]
p_by_budget.index.name = "budget (FLOPs)"
display(p_by_budget.round(2))


def flips(sweep):
    # Budgets where the median advantage (supervised - distilled) changes sign.
    d = sweep.dropna(subset=["adv_median"]).sort_values("budget")
    x, y = np.log10(d["budget"].to_numpy()), d["adv_median"].to_numpy()
    out = []
    for i in range(len(y) - 1):
        if (y[i] > 0) != (y[i + 1] > 0):
            at = 10 ** (x[i] + y[i] / (y[i] - y[i + 1]) * (x[i + 1] - x[i]))
            out.append(f"{'distil -> supervised' if y[i] > 0 else 'supervised -> distil'}"
                       f" at {at:.1g}")
    return "; ".join(out) or "no change"


def clear_up_to(sweep):
    # Largest budget up to which P(beats) stays >= 0.95 or <= 0.05 (a clear call).
    d = sweep.dropna(subset=["p_beats"]).sort_values("budget")
    clear = ((d["p_beats"] >= 0.95) | (d["p_beats"] <= 0.05)).cummin()
    return f"{d['budget'][clear].max():.1e}" if clear.any() else "-"


pd.DataFrame({
    "posterior (median advantage)": [flips(sweeps[s]) for s in SCENARIOS],
    "true law": [flips(true_sweeps[s]) for s in SCENARIOS],
    "clear call up to": [clear_up_to(sweeps[s]) for s in SCENARIOS],
}, index=pd.Index(list(SCENARIOS), name="scenario"))
""")

code(r"""
scenario = "best-case"
fig = plots.plot_crossover(sweeps[scenario], budget=BUDGET,
                           title=f"Distillation vs supervised across budgets (1B student, {scenario})")
ts = true_sweeps[scenario].dropna(subset=["median"])
top = fig.axes[0]
top.plot(ts["budget"], ts["median"], color="black", lw=0.9, ls="-", label="true law: distilled")
top.plot(ts["budget"], ts["sup_median"], color="black", lw=0.9, ls="--",
         label="true law: supervised")
top.legend(loc="upper right", fontsize=7.5)
display(fig)

fig, ax = plt.subplots(figsize=(7, 3.2), layout="constrained")
for s in SCENARIOS:
    ax.plot(sweeps[s]["budget"], sweeps[s]["p_beats"], marker="o", ms=3, label=s)
ax.axhline(0.5, color="grey", lw=0.8, ls=":")
ax.axvline(BUDGET, color="black", lw=0.8)
ax.set(xscale="log", ylim=(-0.05, 1.05), xlabel="total compute (FLOPs)",
       ylabel="P(distillation wins)", title="P(distillation beats supervised), 1B student")
ax.legend(fontsize=8, loc="center left")
plt.show()
""")

md(r"""
**How to read it.** In the top panel, the blue band is the best distilled student and the
orange band the supervised one (90% credible bands), with the true law in black. The bottom
panel, and the second figure for all scenarios, give P(distillation wins) at each budget.

- At small budgets with a free teacher, distillation wins by a wide margin: a student that
  can see few tokens learns much more from a good teacher's logits.
- As compute grows the two curves converge. The **true law** flips (supervised catches up)
  at a few 1e22 FLOPs for a 1B student in the best case, and at a few 1e21 when the teacher's
  logits are charged. The posterior's median advantage stays slightly positive instead, but
  its band overlaps the supervised one from about the same budgets on and P(beats) falls
  towards 0.7-0.8: there **the data cannot tell the two apart**, and the advantage either way
  is around 0.01 nats, below the scatter of a single measured run.
- When the teacher's pretraining is charged, supervised wins clearly up to ~1e21 FLOPs. Beyond,
  the teacher's cost becomes a small share and the two approach each other: the posterior then
  leans towards distillation (P about 0.8) while the true law keeps supervised ahead by less than
  0.01 nats. A probability of 0.8 that rests on extrapolation, for a difference smaller than
  the noise of one measured loss, is not a reason to act.

**What would change the decision.** At 1e21 FLOPs, no plausible surprise in the law: every
scenario's call is near certain, and it agrees with the truth. What flips it is *who pays for
the teacher* (the scenario) and *the budget*: a few times more compute with teacher inference
charged, or some twenty to thirty times more in the best case, and supervised training is as
good. A
bigger student pushes the crossover to larger budgets (Busbridge et al.); rerun `dl.crossover`
with your own `student=`. Past a few 1e21 FLOPs a 1B student sees hundreds to thousands of
distillation tokens per parameter, far beyond the fitted runs (at most 80, printed at the top),
which is why the posterior goes vague there. Long distillations of a small student are the
runs that would settle a large-budget decision; notebook 04 plans such runs.
""")

# ----------------------------------------------------------------------------- section 4
md(r"""
## 4. One request in full: the allocation report and the teacher frontier

Now one request in full, for the scenario a team with an existing teacher family most often
faces (`teacher-inference`: the teacher's training is sunk, but its logits on every
distillation token cost compute) and a cautious risk measure, `cvar:0.9`.

`dl.write_report` runs the allocation with everything switched on (each posterior draw's own
optimum, for the regret and the probability that the chosen plan is optimal; the loss bands
against teacher size and against `D_S`), the same problem under the four risk measures, and a
budget sweep (here the budgets of section 3), then writes one folder: `report.html` (self-contained, figures embedded),
`report.md`, the PNG figures and `allocation.json` with every number. The command line does
the same:

```
distillaw report models/distillation --budget 1e21 --student 1e9 \
    --scenario teacher-inference --risk cvar:0.9 --out out/report
```

The report goes to `out/` (git-ignored), not into the repository.
""")

code(r"""
report = dl.write_report(post, OUT_DIR, budget=BUDGET, student=STUDENT,
                         scenario="teacher-inference", risk="cvar:0.9",
                         max_draws=N_DRAWS, sweep=budgets, sweep_draws=SWEEP_DRAWS)
main = report.allocation
html = (OUT_DIR / "report.html").resolve()
print(main.summary())
print()
print("report:", html)
print("files: ", ", ".join(sorted(p.name for p in OUT_DIR.iterdir())))
assert html.stat().st_size > 10_000
assert all((OUT_DIR / f"{name}.png").exists() for name in report.figures)
""")

md(r"""
The report's own figures are PNG files next to `report.html`; here is its crossover figure for
this request (distillation vs supervised loss across budgets, with P(distillation wins) below).
Its sweep re-optimises under the request's risk measure, `cvar:0.9`, so its probabilities at
large budgets differ from the `mean` sweeps of section 3; the message does not.
""")

code(r"""
display(Image(filename=str(OUT_DIR / "crossover.png"), width=640))
""")

md(r"""
### The teacher frontier

The allocation behind the report carries the frontier: for each teacher size (its tokens
re-optimised for that size), the 90% credible band of the distilled student's loss at this
budget.
""")

code(r"""
display(plots.plot_teacher_frontier(main))
print(f"chosen teacher: {fmt_count(main.N_T)} parameters = {main.N_T / main.N_S:.2g} x the student")
print(f"expected regret: {main.expected_regret:.4f} nats, P(chosen plan optimal within "
      f"{main.optimal_tol:g} nats) = {main.p_optimal:.2f}; advantage over supervised: "
      f"{main.advantage['median']:+.4f} nats")
""")

md(r"""
**How to read it.** The curve dips and rises again: a teacher much stronger than the student
is *worse* than a moderately stronger one (the **capacity gap**), and in this scenario a bigger
teacher also costs more logits per distillation token, leaving fewer tokens for the student.
The star is the chosen teacher; the dotted line is Zhang et al.'s rule of thumb (teacher = 2.5 x
student); the orange band is the supervised alternative at the same compute.

The last printed line says how sure we are about the *plan*, not just its outcome. Each
posterior draw has its own best teacher and they disagree, so the chosen plan is exactly
optimal for few draws (a low P(optimal)); but the **expected regret**, the loss the plan gives
away on average against each draw's own optimum, is what knowing the law *exactly* would be
worth at this budget. Compare it with the advantage over supervised: more experiments could
refine the teacher, but cannot flip the decision to distil.

""")

md(r"""
## What a team should take from this

- **Who pays for the teacher decides.** With a teacher that already exists, distil: at 1e21
  FLOPs a 1B student gains a few hundredths of a nat, near certainly. If the teacher must be
  trained for this one student, train the student supervised instead.
- **The risk measure refines, it does not overturn.** Mean, 90th percentile, CVaR and mean+SD
  pick different points on a flat optimum with the same loss; use a tail measure when a bad
  outcome is costly, but do not expect it to flip the decision here.
- **The answer depends on the budget.** Distillation's edge shrinks with compute; beyond a few
  1e22 FLOPs for a 1B student the posterior cannot tell the two approaches apart. A large-budget
  decision deserves more runs in that regime first (notebook 04).
- **Know what perfect information is worth.** The expected regret bounds what more experiments
  could gain for this decision; when it is small next to the advantage, act now.
- **Check the caveats.** Free student sizes, teachers at the token cap, and budgets far outside
  the fitted runs are extrapolations; `Allocation.warnings` and the report's Caveats say so.
""")

code(r"""
print(f"notebook ran in {time.perf_counter() - T0:.0f} s (FAST={FAST})")
""")



if __name__ == "__main__":
    print(write("03_risk_aware_allocation.ipynb", CELLS))
