"""Scaling-law formulas. Each is written once and evaluates with NumPy and PyTensor.

- :mod:`.supervised`: Chinchilla ``E + A/N^a + B/D^b`` and Busbridge ``E + (...)^gamma``.
- :mod:`.distillation`: Busbridge et al. 2025 Eq. 8 (student loss from teacher loss).
- :mod:`.capacity_gap`: Zhang et al.'s optimal-teacher line and the numerical optimum of Eq. 8.
- :mod:`.compute`: forward FLOPs F(N) and the four distillation compute scenarios (Eq. 9).
"""

from .capacity_gap import PARAMS as CAPACITY_GAP_PARAMS
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
from .distillation import PARAMS as DISTILLATION_PARAMS
from .distillation import distillation_loss, log_distillation_loss
from .supervised import (
    FORMS,
    compute_optimal_allocation,
    compute_optimal_exponents,
    log_supervised_loss,
    supervised_loss,
)
from .supervised import PARAMS_BUSBRIDGE as SUPERVISED_PARAMS

# Parameter names of each law, as declared by its module (the one place they are written):
# the supervised draws always carry gamma (1 for the Chinchilla form); a distillation
# posterior also carries the supervised law, which gives its teachers' losses.
LAW_PARAMS = {
    "supervised": SUPERVISED_PARAMS,
    "distillation": (*DISTILLATION_PARAMS, *SUPERVISED_PARAMS),
    "capacity-gap": CAPACITY_GAP_PARAMS,
}
LAWS = tuple(LAW_PARAMS)
# Positive scale parameters, which the log-space law functions take as ``log_<name>``.
LOG_SCALE_PARAMS = frozenset({"E", "A", "B", "A_prime", "B_prime", "d1", "k"})

__all__ = [
    "CAPACITY_GAP_PARAMS", "DISTILLATION_PARAMS", "FORMS", "LAWS", "LAW_PARAMS", "LOG_SCALE_PARAMS",
    "SUPERVISED_PARAMS", "DEFAULT_FLOPS", "SCENARIOS", "FlopsModel", "compute_optimal_allocation",
    "compute_optimal_exponents", "distillation_flops", "distillation_loss", "forward_flops",
    "log_distillation_loss", "log_optimal_teacher_size", "log_supervised_loss",
    "optimal_teacher_loss", "optimal_teacher_size", "optimal_teacher_size_from_law",
    "scenario_deltas", "student_tokens_for_budget", "supervised_flops", "supervised_loss",
]
