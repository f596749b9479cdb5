r"""Risk-aware compute allocation on posterior draws: distil or train supervised, and how.

The question (Busbridge et al. 2025, Eq. 10 / Eq. 28, Section 5.3): with a total budget of
``C`` FLOPs, a student of ``N_S`` parameters (fixed by deployment, or free), how large a
teacher ``N_T`` trained on how many tokens ``D_T``, and how many distillation tokens ``D_S``::

    min_{N_T, D_T, D_S}  risk_s[ L_S(N_S, D_S, L_T = L(N_T, D_T)) ]
    s.t.  3 F(N_S) D_S + F(N_T) (delta_lgt D_S + delta_pre 3 D_T) = C          (Eq. 9)

with ``L`` the supervised law and ``L_S`` the distillation law evaluated on every posterior
draw ``s`` (:mod:`distillaw.laws`), ``risk`` one of :mod:`distillaw.risk` (mean, quantile,
CVaR, mean + lambda SD) and the scenario flags of :data:`distillaw.laws.SCENARIOS`:
best case (teacher free), teacher inference (pay its logits on ``D_S``), teacher
pretraining (pay ``3 F(N_T) D_T``), or both. The supervised alternative spends the same
``C`` on the student alone: ``D = C / (3 F(N_S))`` (or the compute-optimal ``N`` when the
student size is free). Units: parameters and tokens as raw counts, FLOPs, losses in nats.

Search space and bounds
-----------------------
The teacher is always a *trainable* model ``(N_T, D_T)``, so its loss is ``L(N_T, D_T) > E``
on every draw: no draw can ask for a teacher better than its own irreducible loss. As in the
paper, ``N_T, D_T, D_S`` (and a free ``N_S``) lie in ``[1e6, 1e17]`` (the token cap is
deliberately above available data); change them with ``bounds=``. ``D_S`` is never searched:
it is what the budget leaves (:func:`distillaw.laws.student_tokens_for_budget`), so the
budget holds exactly at every candidate, and it is checked again at the answer.

The teacher is searched in ``t = log C_T`` (its pretraining FLOPs ``C_T = 3 F(N_T) D_T``)
and ``u = log N_T``: an outer 1-d problem over ``t`` whose value is the inner minimum over
``u`` (both a coarse grid then golden-section refinement,
:func:`distillaw.laws.capacity_gap.minimise_1d`, robust to the sharp break of the law),
and, for a free student, a third level over ``log N_S``. All candidates of a level are
scored at once on all draws, in vectorised NumPy (no PyMC), in cache-sized blocks spread
over threads. The coarse grids (most of the work) are scored in float32, which NumPy
evaluates several times faster; golden-section refinement and every reported number use
float64 (``precision="float64"`` does everything in float64).

A free student's size is chosen on a random subset of at most ``FREE_DRAWS`` (500) draws
(the teacher for it, and everything reported, use all draws) and kept to at least
``bounds["M_S"][0]`` = 1 token per parameter: left alone, the fitted law trades data for
size far beyond any fitted run (a trillion-parameter student on millions of tokens).

When the teacher's pretraining is not charged (best case, teacher inference) many teachers
reach the same student loss: a bigger compute never hurts, so the optimum is a flat ridge.
Risk-score differences below ``tie_tol`` nats (default 5e-4, far below run-to-run noise
of a measured loss) are treated as ties, and the answer is the *cheapest* teacher (least
pretraining FLOPs) among them. This also keeps tail measures (quantile, CVaR) estimated from
finitely many draws from wandering along the ridge to absurd teachers. ``tie_tol=0``
returns the raw optimum instead (in the teacher-inference scenario that is the overtrained
teacher at the ``D_T`` cap the paper reports).

A supervised fit with ``error="gp"`` (the posterior of a supervised allocation, or
``supervised=``) adds its GP discrepancy to every supervised loss the search evaluates:
the baseline, the teacher's loss and the student's own supervised loss inside the
distillation law are ``law x exp(f(log N, log D))`` on each draw, with that draw's GP
weights (:class:`~distillaw.decision.draws.GPDraws`). Separately fitted posteriors of
different lengths are paired at random with one index per posterior, so each keeps its
parameters (and GP weights) jointly drawn.

Fragility
---------
Every allocation also carries its *near-optimal set*: the teachers (for the chosen student;
the model sizes of a supervised allocation) whose risk score is within ``optimal_tol`` nats
of the best, as ranges of ``N_T``, ``D_T``, ``D_S`` (``Allocation.near_optimal``, and
``near_optimal`` in ``to_dict()``). A range wider than a factor of 2 is a *flat ridge*
(the posterior does not pin that quantity down), and a set that reaches a search bound may
extend beyond it; both are stated in ``Allocation.warnings``, hence in the report, in
``allocation.json`` and on the command line.

Package layout: ``settings`` (bounds, resolution, the budget check), ``draws`` (the
parameter draws an allocation needs), ``scoring`` (candidates on all draws, blocked and
threaded), ``geometry`` (the budget surface), ``search`` (nested minimisation), ``result``
(:class:`Allocation`, a dataclass; its sentences are written by :mod:`distillaw.presentation`),
``allocate``, ``frontiers``, ``candidates`` (explicit candidates, the budget grid, the
choice among existing teachers: :func:`choose_teacher`), ``sweeps``
(crossover over budgets, comparison of risk measures).

What comes back (:class:`Allocation`)
-------------------------------------
The allocation and its FLOPs split, the draws of the student loss there (median and 90%
interval), the supervised alternative at the same compute, ``P(distillation beats
supervised)``, the regret of the choice against each draw's own optimum (same search per
draw) with its mean and ``P(regret <= optimal_tol)`` -- the probability that the chosen
allocation is optimal, up to ``optimal_tol`` nats -- and the frontier: loss bands against
teacher size and against ``D_S`` at this budget. Deterministic for a given ``seed`` (it
only picks the draw subset).

Example
-------
>>> from distillaw import published
>>> from distillaw.posterior import Posterior
>>> post = Posterior.from_params("distillation", published("busbridge2025").point())
>>> a = allocate(post, 1e21, student=1e9, scenario="teacher-pretraining",
...              regret=False, frontier=False)
>>> a.recommendation
'supervised'
"""

from __future__ import annotations

from ..laws import SUPERVISED_PARAMS as SUP_PARAMS
from ..presentation import fmt_count, fmt_flops, fmt_small
from .allocation import allocate
from .candidates import budget_surface, choose_teacher, read_teachers, score_allocations
from .result import Allocation, TeacherChoice
from .settings import CI, DEFAULT_BOUNDS, FREE_DRAWS, Resolution
from .sweeps import compare_risks, crossover, crossover_budget

__all__ = [
    "CI", "DEFAULT_BOUNDS", "FREE_DRAWS", "SUP_PARAMS", "Allocation", "Resolution",
    "TeacherChoice", "allocate", "budget_surface", "choose_teacher", "compare_risks",
    "crossover", "crossover_budget", "fmt_count", "fmt_flops", "fmt_small", "read_teachers",
    "score_allocations",
]
