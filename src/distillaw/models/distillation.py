r"""Distillation scaling law (Busbridge et al. 2025, Eq. 8) as a PyMC model.

Student rows (``kind == "distillation"``: N_S, D_S, measured teacher loss L_T, student loss
L_S) follow :func:`distillaw.laws.log_distillation_loss`; the student's supervised loss
``Ltilde_S = L(N_S, D_S)`` comes from the supervised law, which is

- fitted jointly on the table's supervised rows (teachers, student baselines) when there
  are any, so its uncertainty propagates into the distillation fit; or
- given informative Busbridge Table 6 priors when there are none (the digitised Busbridge
  table); see :mod:`distillaw.priors`.

Reparameterisation of the broken power law. With ``r = L_T / (d1 Ltilde_S)`` the factor is
``(1 + r^(1/f1))^(-c1 f1)``. Teachers in real tables are mostly stronger than
``d1 x`` the student's own loss (r < 1), where the factor is ``exp(-c1 f1 r^(1/f1))`` to
first order: only ``1/f1`` and ``kappa = log(c1 f1) - (1/f1) log d1`` enter. Sampling
``(kappa, log 1/f1, log d1)`` makes that data-constrained direction an axis; d1 and c1 are
then informed by their priors plus whatever rows reach r ~ 1 (c1 has a zero-width published
interval and is essentially unidentified, as the authors' own fit suggests). Sampling
``log(c1 f1)`` and ``log d1`` directly leaves a curved ridge ``log(c1 f1) = kappa +
(1/f1) log d1`` between them.

Prefactors are sampled at reference sizes (geometric means of the students):
``A' = A'_ref N_ref^alpha'``, ``B' = B'_ref D_ref^beta'``. Teachers enter only through
their measured loss, as in the paper's fits.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pymc as pm
import pytensor.tensor as pt

from ..errors import ModelError
from ..laws.distillation import log_distillation_loss
from ..priors import resolve_priors
from ._common import Built, create, exp_det, likelihood, median_positive, noise_vars
from .spec import ModelSpec
from .supervised import natural, reference_sizes, sup_log_loss

SUP_NAMES = ("log_E", "log_A_ref", "log_B_ref", "log_alpha", "log_beta", "log_gamma")
DIS_NAMES = ("log_A_prime_ref", "log_B_prime_ref", "log_alpha_prime", "log_beta_prime",
             "log_gamma_prime", "log_c0", "kappa", "log_inv_f1", "log_d1")


def build_distillation(spec: ModelSpec, table: pd.DataFrame) -> Built:
    kind = table["kind"].astype(str)
    dist = table[kind == "distillation"].reset_index(drop=True)
    sup = table[kind == "supervised"].reset_index(drop=True)
    if len(dist) == 0:
        raise ModelError("the distillation law needs rows with kind == 'distillation' "
                         "(students with N, D, L and the teacher loss L_T); this table has none")
    if dist["L_T"].isna().any():
        i = int(np.flatnonzero(dist["L_T"].isna().to_numpy())[0])
        raise ModelError(f"distillation row {dist['run_id'].iloc[i]!r} has no teacher loss L_T")
    notes = []
    has_sup = len(sup) > 0
    if not has_sup:
        notes.append("no supervised rows: the student's supervised loss uses informative "
                     "Busbridge Table 6 priors (bootstrap sds widened 10x)")
    ref = reference_sizes(spec, dist["N"], dist["D"])
    gap = median_positive(dist["L"].to_numpy(float) - dist["L_T"].to_numpy(float))
    scale = {"N_ref": ref["N"], "D_ref": ref["D"],
             "L_ref": float(np.median(np.concatenate([sup["L"], dist["L"]]))),
             "LT_ref": float(np.median(dist["L_T"])),
             **({"gap_ref": gap} if gap is not None else {})}
    priors = resolve_priors("distillation", spec.form, spec.priors, likelihood=spec.likelihood,
                            scale=scale, supervised_data=has_sup)
    lN_ref, lD_ref = np.log(ref["N"]), np.log(ref["D"])
    lNS = np.log(dist["N"].to_numpy(float)) - lN_ref
    lDS = np.log(dist["D"].to_numpy(float)) - lD_ref
    lLT = np.log(dist["L_T"].to_numpy(float))
    y = np.log(dist["L"].to_numpy(float))
    coords = {"student_run": dist["run_id"].astype(str).to_numpy()}
    if has_sup:
        coords["supervised_run"] = sup["run_id"].astype(str).to_numpy()
    with pm.Model(coords=coords) as model:
        p = {}
        for name in SUP_NAMES:
            if name == "log_gamma" and spec.form == "chinchilla":
                continue
            p[name] = create(priors, name)[0]
        for name in DIS_NAMES:
            p[name] = create(priors, name)[0]
        natural(p, priors, ref, spec.form)
        inv_f1 = pt.exp(p["log_inv_f1"])
        log_c1f1 = p["kappa"] + inv_f1 * p["log_d1"]
        c1 = pm.Deterministic("c1", pt.exp(log_c1f1) * inv_f1)
        f1 = pm.Deterministic("f1", 1.0 / inv_f1)
        alpha_p = exp_det("alpha_prime", p["log_alpha_prime"])
        beta_p = exp_det("beta_prime", p["log_beta_prime"])
        gamma_p = exp_det("gamma_prime", p["log_gamma_prime"])
        c0 = exp_det("c0", p["log_c0"])
        exp_det("d1", p["log_d1"])
        exp_det("A_prime", p["log_A_prime_ref"] + alpha_p * lN_ref)
        exp_det("B_prime", p["log_B_prime_ref"] + beta_p * lD_ref)
        log_Ltilde = sup_log_loss(p, lNS, lDS)

        def law(log_LT):
            return log_distillation_loss(
                lNS, lDS, log_LT, log_Ltilde, log_A_prime=p["log_A_prime_ref"],
                log_B_prime=p["log_B_prime_ref"], alpha_prime=alpha_p, beta_prime=beta_p,
                gamma_prime=gamma_p, c0=c0, c1=c1, f1=f1, log_d1=p["log_d1"])

        noise = noise_vars(priors, spec)
        likelihood("log_L_S", law(lLT), y, spec, noise, "student_run")
        if has_sup:
            lN = np.log(sup["N"].to_numpy(float)) - lN_ref
            lD = np.log(sup["D"].to_numpy(float)) - lD_ref
            likelihood("log_L", sup_log_loss(p, lN, lD), np.log(sup["L"].to_numpy(float)),
                       spec, noise, "supervised_run")
    rows = pd.concat([sup, dist], ignore_index=True)
    return Built(model, spec, priors, ref, rows, notes)
