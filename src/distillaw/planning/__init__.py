r"""Active sampling: which runs to do next to learn most about a decision within a budget.

Given a :class:`~distillaw.posterior.Posterior`, a *pool* of runnable candidate experiments
and a *target* quantity, :func:`plan` picks a batch of at most ``k`` runs, costing at most
``budget`` FLOPs in total, that is expected to shrink the target's posterior uncertainty the
most.

Targets (each a function of the parameters, evaluated on every posterior draw)
-------------------------------------------------------------------------------
``"allocation"``
    log student loss at the allocation :func:`distillaw.decision.allocate` would choose now
    for the final training budget ``alloc_budget`` (with its ``student``, ``scenario`` and
    ``risk``): the decision-relevant number. For a supervised posterior ``allocate`` returns
    the compute-optimal (N, D) and the target is the log loss there. The chosen point is
    held fixed and the target evaluated on the planner's own draws.
``"teacher"``
    log of the optimal teacher size N_T* for a given student (N_S, D_S) under the
    distillation law with teachers trained on 20 tokens per parameter
    (:func:`distillaw.laws.optimal_teacher_size_from_law`).
points (DataFrame or CSV path)
    log loss at a set of expensive points (a "target region"); the criterion averages over
    the points.

The same targets as objects: ``Target.allocation(budget=..., student=...)`` (or
``Target.allocation(alloc)`` at a given ``Allocation``), ``Target.teacher(N_S)``,
``Target.points(df_or_path)``; ``plan(target=...)`` converts whatever it is given to one of
these once (:func:`~distillaw.planning.targets.as_target`).

Package layout: ``pools`` (candidate grids, pool files, costs), ``targets``, ``criteria``
(gain estimators), ``selection`` (greedy under the budget, baselines' orders), ``planner``
(:func:`plan`), ``result`` (:class:`Plan`).

Criterion: expected variance reduction by importance re-weighting of draws
--------------------------------------------------------------------------
For a candidate batch B the gain is ``Var[T] - E_y[Var[T | y_B]]`` (averaged over target
points), with T the target on the log scale. It is estimated from the S posterior draws by
nested Monte Carlo with *fantasy* outcomes:

1. draw J scenarios; scenario j takes a reference draw ``theta_(s_j)`` and simulates the
   log-loss of every observable (each candidate run, and each new teacher's own supervised
   run) as ``log f(x; theta_(s_j)) + sigma_(s_j) eps`` with Normal or, when the posterior has
   ``nu``, Student-t noise (the fit's likelihood, from :meth:`Posterior.noise_draws`; under
   ``error="heteroscedastic"`` sigma is each run's own, at its compute:
   :meth:`Posterior.noise_scale`);
2. in scenario j, each draw s gets weight ``w_js ∝ prod_(b in B) p(y_jb | theta_s)``
   (the same likelihood), excluding the reference draw itself so inner and outer samples
   are independent (leave-one-out);
3. ``E_y[Var[T | y_B]] ≈ mean_j Var_(w_j)[T]``.

Why this and not a linearised Gaussian: scaling-law posteriors are curved (power laws with
uncertain exponents, an irreducible loss near a floor, the sharp broken power law of the
distillation law with a barely identified c1), so the relation between a run's outcome and
the target is nonlinear and the outcome's predictive distribution skewed. Re-weighting the
posterior's own draws needs no Jacobians, respects these shapes and the Student-t noise, and
becomes exact Gaussian conditioning in the linear-Gaussian case (tested against the conjugate
formula). Its cost is O(candidates x J x S) per greedy step in vectorised NumPy.

Its weakness: importance weights degenerate when a batch is far more informative than the
posterior has draws for (early in a study, when the posterior is still close to the prior).
The default ``criterion="auto"`` therefore uses the importance estimate while the median
effective sample size after a candidate stays at least ``ess_min`` (25 draws), and from the
first step where it does not, the linear-Gaussian estimate (condition the joint Gaussian of
target and outcomes, moments taken over the draws: exact for linear-Gaussian models, a lower
bound on the gain otherwise, never degenerate) for the rest of the batch. Which estimator
scored each run is in its ``reason`` and in ``Plan.info["criterion_per_run"]``;
``criterion="importance"`` or ``"linear"`` forces one.

Selection: greedy with fantasies, budget-aware look-ahead
---------------------------------------------------------
Each greedy step adds the affordable candidate with the largest *marginal* gain divided by
``cost**p`` given the runs already chosen; the scenario weights carry the chosen runs'
fantasy outcomes, so a second run that would tell us what the first already does gets
little credit (no redundant runs). A candidate is affordable when its marginal cost fits in
what is left of ``budget``; the batch never exceeds ``budget`` and never holds a pool
candidate twice. Selection stops at ``k`` runs, when nothing affordable remains, or when no
candidate has a positive gain.

Which ``p``: per-FLOP greedy (``p = 1``) is the classic heuristic for a budgeted
submodular gain, but alone it can be arbitrarily bad: it fills a budget with cheap runs
whose gains together are less than one expensive run near the target (measured: on Epoch's
Chinchilla pool it bought dozens of runs near the seed and never the expensive region it
had to extrapolate to). Gain-only greedy (``p = 0``) fails the other way. The default
``cost_power="auto"`` builds the batch for ``p`` in 1, 0.5, 0.25, 0 and keeps the one with
the largest *total* expected gain (one estimator for all: a fresh state replays each batch),
which contains the best of both (Krause & Guestrin's budgeted rule) and what lies between.
MSPE (Li et al. 2026, PlanarG/active-sl) fixes ``p = 0.4``; here the budget decides.

The law's extrapolation discrepancy (``drift``)
-----------------------------------------------
Both estimators above take the law as exact: then runs far below the target in compute
pin its parameters as well as runs close to it, only cheaper. Real tables disagree with
the law in a way that grows with distance (the structured error model's ``tau_rw``: a
Brownian motion in ``log N + log D``). With ``drift`` (default ``"auto"``: the posterior's
``tau_rw`` or that term's prior scale, for loss targets of fitted posteriors) the Gaussian
estimator adds that discrepancy, anchored at the fitted data's largest compute, to the
target and to every candidate: a run can only remove the part of the target's discrepancy
it shares, i.e. the walk up to its own compute. ``auto`` then scores by Gaussian
conditioning (re-weighting cannot carry a correlated discrepancy).

Bias-aware default: expected squared error with the law's misfit (criterion ``mse``)
-------------------------------------------------------------------------------------
Conditioning on the discrepancy (criterion ``linear`` with a drift) assumes the fit will
model it. The fit that follows a round does not: it takes the law as exact, so a run's
misfit leaks into the prediction. A design chosen for variance alone then puts its runs
where the law's parameters move most (cheap runs far below the target, corners of the
(N, D) plane) and the fit extrapolates from them with their misfit (measured on Epoch's
Chinchilla pool: every such plan over-predicted the target by 2-6%, while random designs
spread over the pool did not; the classic result is Box & Draper 1959: when bias is
comparable to variance, designs for variance alone are far from MSE-optimal). With a
discrepancy (the default ``drift="auto"`` on a fitted posterior) ``criterion="auto"``
therefore scores by the expected squared error at the target of the *law-only* fit,
linearised with the draws' moments ``Sigma``::

    G = Sigma_TZ Sigma_ZZ^-1                      (how the fit moves the target, runs Z)
    MSE = mean_p [Sigma_TT - G Sigma_ZT]_pp       (variance)
        + mean_p [G K_ZZ G' - 2 G K_ZT + K_TT]_pp (bias from the misfit delta ~ N(0, K))

``K`` is the drift above plus a smooth misfit surface in (log10 N, log10 D) (the
``error="gp"`` kernel at its prior scales: sd 0.02, length scale 1 decade), pinned at the
fitted rows. A run close to the target in compute *and* along its IsoFLOP shares its
misfit and removes bias; a run far from it adds its own. ``expected_gain`` is then the
reduction of that expected squared error, and greedy stops early when no affordable run
lowers it (``Plan.info["warning"]`` says so). A posterior fitted with ``error="gp"``
carries the surface in its draws, so only the drift is added.

Finished runs: :func:`distillaw.refit.update`
---------------------------------------------
A round's measured runs are folded into the posterior by importance re-weighting of its
draws with the fit's own likelihood, and by a NUTS refit (:func:`distillaw.fit`) when the
effective sample size drops below ``ess_min``. ``distillaw plan --observed RUNS.csv`` and
``bench/pool_target.py`` use that one function.

Cost model (FLOPs, :mod:`distillaw.laws.compute`)
-------------------------------------------------
- supervised run: ``3 F(N) D``;
- distillation: student training ``3 F(N_S) D_S`` plus teacher logits ``F(N_T) D_S``
  (the runner computes them on the fly; not charged when N_T is unknown, as in the digitised
  Busbridge data where only the teacher's loss is known);
- a *new* teacher (row without ``L_T``, with ``N_T`` and ``D_T``) adds its pretraining
  ``3 F(N_T) D_T``, **paid once per batch**: teachers are keyed by ``teacher_id`` (or by
  N_T, D_T) and the runner trains each teacher once and reuses it for every student in the
  plan. The first planned run using a teacher carries its pretraining in ``cost``; later ones
  only their own. A new teacher's run also yields its own supervised loss, which counts as a
  second observation (once per teacher) in the criterion. Teachers with a known ``L_T`` exist
  already and cost no pretraining.

Plan columns: the run-table schema with ``L`` empty (``flops`` = the run's own compute:
student training + teacher logits), plus ``cost`` (marginal FLOPs charged to the budget,
including a new teacher's pretraining the first time), ``predicted_median/lower/upper``
(90% credible interval of the law's loss, nats), ``expected_gain`` (marginal expected
reduction of the target's variance on the log scale; of its expected squared error under
criterion ``mse``), ``gain_share`` (that gain as a share of
the target's current variance), ``rank`` and ``reason``.

Baselines (same pool, budget, k and cost model)
-----------------------------------------------
``random``
    affordable candidates in a random order (seeded);
``log-grid``
    space filling in log inputs: greedy maximin over standardised ``log N, log D`` (and
    ``log N_T, log D_T`` or ``L_T``), starting from the cheapest candidate (or from the
    ``existing`` runs when given);
``d-optimal``
    pseudo-Bayesian D-optimal design on the linearised model: finite-difference Jacobians of
    the log-loss in log-parameters at a subset of draws, Fisher information averaged over
    those draws, greedy gain in ``log det(Sigma_post^-1 + sum Fisher)`` per FLOP. It learns
    all parameters, not the target.

Every method's batch is reported with the same gain estimator, so plans compare.
Everything runs on posterior draws in NumPy; no PyMC. Deterministic for a seed.

Evidence: ``bench/pool_target.py`` (pool/target protocol on Epoch's Chinchilla points and
the digitised Busbridge split, on the product's own model: ``fit``, ``refit.update``,
``plan``); ``bench/active_loop.py`` (older closed loop with its own ensemble sampler).

Example
-------
>>> import numpy as np
>>> from distillaw.posterior import Posterior
>>> rng = np.random.default_rng(0)
>>> post = Posterior.from_params("supervised", {
...     "E": rng.normal(1.7, 0.05, 300), "A": np.exp(rng.normal(6, 0.2, 300)),
...     "B": np.exp(rng.normal(6, 0.2, 300)), "alpha": rng.normal(0.34, 0.02, 300),
...     "beta": rng.normal(0.28, 0.02, 300), "sigma": np.full(300, 0.01)})
>>> pool = candidate_grid(N=[1e7, 1e8, 1e9], M=[10, 20, 40])
>>> p = plan(post, pool, target="allocation", alloc_budget=1e22, k=3, budget=1e20)
>>> len(p.runs) <= 3 and p.total_cost <= 1e20
True
"""

from __future__ import annotations

from .criteria import expected_variance_reduction
from .planner import plan
from .pools import candidate_grid, pool_costs, read_points, read_pool
from .result import Plan
from .settings import CI, COST_POWERS, CRITERIA, DEFAULT_DRAWS, DEFAULT_FANTASIES, METHODS, TARGETS
from .targets import Target, make_target

__all__ = ["CI", "COST_POWERS", "CRITERIA", "DEFAULT_DRAWS", "DEFAULT_FANTASIES", "METHODS",
           "TARGETS", "Plan", "Target", "candidate_grid", "expected_variance_reduction",
           "make_target", "plan", "pool_costs", "read_points", "read_pool"]
