"""Scaling-law formulas. Each is written once and evaluates with NumPy and PyTensor.

- :mod:`.supervised`: Chinchilla ``E + A/N^a + B/D^b`` and Busbridge ``E + (...)^gamma``.
- :mod:`.distillation`: Busbridge et al. 2025 Eq. 8 (student loss from teacher loss).
- :mod:`.capacity_gap`: Zhang et al.'s optimal-teacher line and the numerical optimum of Eq. 8.
- :mod:`.compute`: forward FLOPs F(N) and the four distillation compute scenarios (Eq. 9).
"""

from .capacity_gap import (
    log_optimal_teacher_size,
    optimal_teacher_loss,
    optimal_teacher_size,
    optimal_teacher_size_from_law,
)
from .compute import (
    DEFAULT_FLOPS,
    SCENARIOS,
    FlopsModel,
    distillation_flops,
    forward_flops,
    scenario_deltas,
    student_tokens_for_budget,
    supervised_flops,
)
from .distillation import distillation_loss, log_distillation_loss
from .supervised import (
    compute_optimal_allocation,
    compute_optimal_exponents,
    log_supervised_loss,
    supervised_loss,
)

__all__ = [
    "DEFAULT_FLOPS", "SCENARIOS", "FlopsModel", "compute_optimal_allocation",
    "compute_optimal_exponents", "distillation_flops", "distillation_loss", "forward_flops",
    "log_distillation_loss", "log_optimal_teacher_size", "log_supervised_loss",
    "optimal_teacher_loss", "optimal_teacher_size", "optimal_teacher_size_from_law",
    "scenario_deltas", "student_tokens_for_budget", "supervised_flops", "supervised_loss",
]
