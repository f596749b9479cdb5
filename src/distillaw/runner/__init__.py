"""PyTorch distillation runner: train teachers, distil students, append fresh data points.

Optional extra: ``pip install 'distillaw[runner]'`` (torch). Nothing else in distillaw imports
torch; the CLI imports this package inside ``distillaw run``.

Modules: :mod:`.model` (one-file transformer, shape helper, parameter/FLOP accounting),
:mod:`.data` (synthetic Markov source with exact entropy rate, memory-mapped corpora),
:mod:`.train` (the loop: supervised and distillation, checkpoints, devices, DDP),
:mod:`.plan` (plan execution, teacher cache, run-table rows), :mod:`.slurm` (job arrays).

Example
-------
>>> from distillaw.runner import run_pair, TrainConfig          # doctest: +SKIP
>>> run_pair(3e4, 1e6, 1e5, 2e6, "runs.csv", corpus="synthetic")  # doctest: +SKIP
"""

from __future__ import annotations

# ruff: noqa: E402  (the package imports come after the check that torch is installed)
from ..errors import DistillawError


class RunnerUnavailable(DistillawError, ImportError):
    """torch is not installed."""


try:
    import torch  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised only without torch
    raise RunnerUnavailable(
        "the runner needs PyTorch: pip install 'distillaw[runner]'") from exc

from .data import MemmapCorpus, SyntheticMarkov, open_corpus, open_source, parse_synthetic
from .executor import (
    PlanSummary,
    default_cache_dir,
    git_commit,
    pair_plan,
    run_pair,
    run_plan,
)
from .model import GPT, GPTConfig, ModelShape, model_flops_per_token, shape_for_params
from .slurm import emit_slurm
from .store import ModelStore
from .train import (
    Runtime,
    TrainConfig,
    TrainOutcome,
    distillation_objective,
    evaluate,
    resolve_runtime,
    train_model,
)

__all__ = [
    "GPT", "GPTConfig", "MemmapCorpus", "ModelShape", "ModelStore", "PlanSummary",
    "RunnerUnavailable", "Runtime", "SyntheticMarkov", "TrainConfig", "TrainOutcome",
    "default_cache_dir", "distillation_objective", "emit_slurm", "evaluate", "git_commit",
    "model_flops_per_token", "open_corpus", "open_source", "pair_plan", "parse_synthetic",
    "resolve_runtime", "run_pair", "run_plan", "shape_for_params", "train_model",
]
