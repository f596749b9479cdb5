r"""Distillation scaling law (Busbridge et al. 2025, arXiv:2502.08606, Eq. 8 / Eq. 46).

::

    L_S(N_S, D_S, L_T) = L_T + L_T^(-c0)
                         * (1 + (L_T / (Ltilde_S d1))^(1/f1))^(-c1 f1)
                         * (A' / N_S^alpha' + B' / D_S^beta')^gamma'

with ``Ltilde_S = L(N_S, D_S)`` the loss the student would reach by supervised training
(:mod:`distillaw.laws.supervised`). Units: N_S non-embedding parameters, D_S distillation
tokens (raw counts), losses in nats (cross-entropy against data).

Evaluated in log space (their Eq. 49)::

    log L_S = LSE(log L_T,
                  -c0 log L_T - c1 f1 LSE(0, (log L_T - log Ltilde_S - log d1) / f1)
                  + gamma' LSE(log A' - alpha' log N_S, log B' - beta' log D_S))

Check value (Table 6 coefficients; Table 7 pair N_T = 1.821e9, D_T = 20 N_T, N_S = 0.546e9,
D_S = 20 N_S): L_T = 2.2508, Ltilde_S = 2.5149, L_S = 2.4238 (paper, measured: 2.42).
"""

from __future__ import annotations

from .._xp import lse, namespace

PARAMS = ("A_prime", "B_prime", "alpha_prime", "beta_prime", "gamma_prime", "c0", "c1", "f1", "d1")


def log_distillation_loss(log_NS, log_DS, log_LT, log_LS_tilde, *, log_A_prime, log_B_prime,
                          alpha_prime, beta_prime, gamma_prime, c0, c1, f1, log_d1):
    """Log student loss from log inputs (the one place Eq. 8 is written)."""
    xp = namespace(log_NS, log_DS, log_LT, log_LS_tilde, log_A_prime, log_B_prime,
                   alpha_prime, beta_prime, gamma_prime, c0, c1, f1, log_d1)
    # Broken power law in the teacher/student learning-capacity ratio (Caballero et al.).
    broken = -c1 * f1 * lse(0.0, (log_LT - log_LS_tilde - log_d1) / f1, xp)
    student_term = gamma_prime * lse(log_A_prime - alpha_prime * log_NS,
                                     log_B_prime - beta_prime * log_DS, xp)
    return lse(log_LT, -c0 * log_LT + broken + student_term, xp)


def distillation_loss(N_S, D_S, L_T, L_S_tilde, *, A_prime, B_prime, alpha_prime, beta_prime,
                      gamma_prime, c0, c1, f1, d1):
    """Student cross-entropy after distillation, in nats (Busbridge Eq. 8).

    Example
    -------
    >>> from distillaw.laws.supervised import supervised_loss
    >>> sup = dict(E=1.220, A=3355, B=18186, alpha=0.408, beta=0.431, gamma=0.452)
    >>> dis = dict(A_prime=2243, B_prime=24181, alpha_prime=0.321, beta_prime=0.637,
    ...            gamma_prime=0.764, c0=2.549, c1=522.6, f1=0.090, d1=1.315)
    >>> LT = supervised_loss(1.821e9, 20 * 1.821e9, **sup)
    >>> LS_tilde = supervised_loss(0.546e9, 20 * 0.546e9, **sup)
    >>> round(float(distillation_loss(0.546e9, 20 * 0.546e9, LT, LS_tilde, **dis)), 4)
    2.4238
    """
    xp = namespace(N_S, D_S, L_T, L_S_tilde, A_prime, B_prime, alpha_prime, beta_prime,
                   gamma_prime, c0, c1, f1, d1)
    return xp.exp(
        log_distillation_loss(
            xp.log(N_S), xp.log(D_S), xp.log(L_T), xp.log(L_S_tilde),
            log_A_prime=xp.log(A_prime), log_B_prime=xp.log(B_prime),
            alpha_prime=alpha_prime, beta_prime=beta_prime, gamma_prime=gamma_prime,
            c0=c0, c1=c1, f1=f1, log_d1=xp.log(d1),
        )
    )
