r"""Supervised scaling law, two forms.

Chinchilla (Hoffmann et al. 2022, approach 3)::

    L(N, D) = E + A / N^alpha + B / D^beta

Busbridge et al. 2025 (arXiv:2502.08606, Eq. 1)::

    L(N, D) = E + (A / N^alpha + B / D^beta)^gamma

Chinchilla is the special case gamma = 1. Units: N = non-embedding parameters (raw count),
D = training tokens (raw count), L = cross-entropy in nats.

Evaluated in log space as in the papers (Busbridge Eq. 44, typo-corrected)::

    log L = LSE(log E, gamma * LSE(log A - alpha log N, log B - beta log D))

Check value (Busbridge Table 6 coefficients): L(1.821e9, 20 * 1.821e9) = 2.2508.

Compute-optimal allocation under C = k N D (k = 6 for 6ND): because ``x -> x^gamma`` is
monotone, gamma does not move the optimum, and for both forms::

    G = (alpha A / (beta B))^(1/(alpha+beta)),
    N_opt = G (C/k)^a,  D_opt = (C/k)^b / G,  a = beta/(alpha+beta),  b = alpha/(alpha+beta)
"""

from __future__ import annotations

import numpy as np

from .._xp import lse, namespace

PARAMS_CHINCHILLA = ("E", "A", "B", "alpha", "beta")
PARAMS_BUSBRIDGE = ("E", "A", "B", "alpha", "beta", "gamma")
FORMS = ("chinchilla", "busbridge")


def log_supervised_loss(log_N, log_D, *, log_E, log_A, log_B, alpha, beta, gamma=1.0):
    """Log of the supervised loss, from log inputs and log prefactors.

    This is the one place the formula is written; :func:`supervised_loss` wraps it.
    Works elementwise on NumPy arrays or PyTensor tensors (broadcasting applies, so
    parameters of shape ``(S, 1)`` and inputs of shape ``(P,)`` give ``(S, P)``).
    """
    xp = namespace(log_N, log_D, log_E, log_A, log_B, alpha, beta, gamma)
    inner = lse(log_A - alpha * log_N, log_B - beta * log_D, xp)
    return lse(log_E, gamma * inner, xp)


def supervised_loss(N, D, *, E, A, B, alpha, beta, gamma=1.0):
    """Supervised loss ``E + (A/N^alpha + B/D^beta)^gamma`` in nats.

    Example
    -------
    >>> round(float(supervised_loss(1.821e9, 20 * 1.821e9, E=1.220, A=3355, B=18186,
    ...       alpha=0.408, beta=0.431, gamma=0.452)), 4)
    2.2508
    """
    xp = namespace(N, D, E, A, B, alpha, beta, gamma)
    return xp.exp(
        log_supervised_loss(
            xp.log(N), xp.log(D), log_E=xp.log(E), log_A=xp.log(A), log_B=xp.log(B),
            alpha=alpha, beta=beta, gamma=gamma,
        )
    )


def compute_optimal_exponents(alpha, beta):
    """Return ``(a, b)``: N_opt ~ C^a and D_opt ~ C^b with a = beta/(alpha+beta).

    Example
    -------
    >>> a, b = compute_optimal_exponents(0.3478, 0.3658)   # Epoch 2024 estimates
    >>> round(float(a), 3)
    0.513
    """
    alpha = np.asarray(alpha, dtype=float)
    beta = np.asarray(beta, dtype=float)
    return beta / (alpha + beta), alpha / (alpha + beta)


def compute_optimal_allocation(C, *, A, B, alpha, beta, flops_per_param_token=6.0):
    """Compute-optimal ``(N_opt, D_opt)`` for budget ``C = k N D`` (Hoffmann Eq. 4).

    Valid for both forms (gamma does not move the optimum). Vectorised over draws.
    """
    C = np.asarray(C, dtype=float)
    alpha = np.asarray(alpha, dtype=float)
    beta = np.asarray(beta, dtype=float)
    a, b = compute_optimal_exponents(alpha, beta)
    G = (alpha * np.asarray(A, float) / (beta * np.asarray(B, float))) ** (1.0 / (alpha + beta))
    ND = C / flops_per_param_token
    return G * ND**a, ND**b / G
