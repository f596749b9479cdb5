r"""Compute accounting (Busbridge et al. 2025, Eq. 9 / Eq. 29 and Appendix H.1).

Forward FLOPs per token for a fixed-aspect-ratio transformer with N non-embedding
parameters (causal attention counted once, embeddings/unembedding via the vocabulary)::

    F(N) = 2N (1 + sigma1 n_ctx / N^(1/3) + sigma2 n_vocab / N^(2/3))
    sigma1 = (1 / (rho omega^2))^(1/3),  sigma2 = (rho / omega)^(1/3)

with rho = d_model / n_layers = 128 and omega = 12 (MHA, gated FFN with rho_ffn = 8/3).
Without the context/vocabulary terms, F(N) = 2N (the usual 6ND training rule).

Total FLOPs of one distillation (Eq. 9)::

    FLOPs = 3 F(N_S) D_S + F(N_T) (delta_lgt D_S + delta_pre 3 D_T)

Scenarios (Table 2): best case (0, 0), teacher inference (1, 0), teacher pretraining (0, 1),
teacher pretraining + inference (1, 1). Supervised training costs 3 F(N) D.

Check value: F(1.434e8) = 4.473e8 with n_vocab = 32768, n_ctx = 4096 (Table 13: 4.471e8).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import DecisionError

SCENARIOS: dict[str, tuple[int, int]] = {
    # name: (delta_T^Lgt: pay teacher logits on D_S, delta_T^Pre: pay teacher pretraining)
    "best-case": (0, 0),
    "teacher-inference": (1, 0),
    "teacher-pretraining": (0, 1),
    "teacher-pretraining+inference": (1, 1),
}


def scenario_deltas(scenario: str) -> tuple[int, int]:
    """Return ``(delta_lgt, delta_pre)`` for a scenario name; unknown names raise."""
    try:
        return SCENARIOS[scenario]
    except KeyError:
        raise DecisionError(
            f"unknown compute scenario {scenario!r}; choose one of {', '.join(SCENARIOS)}"
        ) from None


@dataclass(frozen=True)
class FlopsModel:
    """Forward-FLOPs-per-token model ``F(N)``.

    ``n_ctx``/``n_vocab`` set to ``None`` give the plain ``F(N) = 2N`` (hence 6ND training).
    The defaults are Busbridge et al.'s: context 4096, vocabulary 32768, aspect ratio 128,
    omega 12.
    """

    n_ctx: float | None = 4096
    n_vocab: float | None = 32768
    rho_model: float = 128.0
    omega: float = 12.0

    @classmethod
    def plain(cls) -> FlopsModel:
        """``F(N) = 2N``: the 6ND rule used by Chinchilla and Zhang et al."""
        return cls(n_ctx=None, n_vocab=None)

    @property
    def sigma1(self) -> float:
        return (1.0 / (self.rho_model * self.omega**2)) ** (1.0 / 3.0)

    @property
    def sigma2(self) -> float:
        return (self.rho_model / self.omega) ** (1.0 / 3.0)

    def forward(self, N):
        """Forward FLOPs per token, ``F(N)``.

        Example
        -------
        >>> round(float(FlopsModel().forward(1.434e8)) / 1e9, 4)
        0.4473
        """
        N = np.asarray(N, dtype=float)
        extra = 0.0
        if self.n_ctx is not None or self.n_vocab is not None:
            root = np.cbrt(N)           # once: the allocation search calls this in its loops
        if self.n_ctx is not None:
            extra = extra + self.sigma1 * self.n_ctx / root
        if self.n_vocab is not None:
            extra = extra + self.sigma2 * self.n_vocab / root ** 2
        return 2.0 * N * (1.0 + extra)

    def to_dict(self) -> dict:
        return {"n_ctx": self.n_ctx, "n_vocab": self.n_vocab, "rho_model": self.rho_model,
                "omega": self.omega}


DEFAULT_FLOPS = FlopsModel()


def forward_flops(N, flops_model: FlopsModel = DEFAULT_FLOPS):
    """Forward FLOPs per token ``F(N)`` (see :class:`FlopsModel`)."""
    return flops_model.forward(N)


def supervised_flops(N, D, flops_model: FlopsModel = DEFAULT_FLOPS):
    """Training FLOPs of a supervised run: ``3 F(N) D`` (= 6ND for the plain model)."""
    return 3.0 * flops_model.forward(N) * np.asarray(D, dtype=float)


def distillation_flops(N_S, D_S, N_T, D_T, scenario: str = "teacher-pretraining+inference",
                       flops_model: FlopsModel = DEFAULT_FLOPS):
    """Total FLOPs of one distillation under a scenario (Busbridge Eq. 9).

    ``N_T``/``D_T`` may be NaN when their term is not charged (best case).
    """
    d_lgt, d_pre = scenario_deltas(scenario)
    N_S = np.asarray(N_S, float)
    D_S = np.asarray(D_S, float)
    total = 3.0 * flops_model.forward(N_S) * D_S
    if d_lgt or d_pre:
        F_T = flops_model.forward(N_T)
        teacher = 0.0
        if d_lgt:
            teacher = teacher + D_S
        if d_pre:
            teacher = teacher + 3.0 * np.asarray(D_T, float)
        total = total + F_T * teacher
    return total


def student_tokens_for_budget(C, N_S, N_T, D_T, scenario: str,
                              flops_model: FlopsModel = DEFAULT_FLOPS):
    """Solve Eq. 9 for ``D_S`` given total budget ``C`` (Eq. 27, generalised).

    Returns NaN where the teacher's pretraining alone exceeds the budget.
    """
    d_lgt, d_pre = scenario_deltas(scenario)
    C = np.asarray(C, float)
    F_S = flops_model.forward(N_S)
    remaining = C.copy() if C.ndim else C
    denom = 3.0 * F_S
    if d_pre:
        remaining = remaining - 3.0 * flops_model.forward(N_T) * np.asarray(D_T, float)
    if d_lgt:
        denom = denom + flops_model.forward(N_T)
    D_S = remaining / denom
    return np.where(D_S > 0, D_S, np.nan)
