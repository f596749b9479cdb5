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

Shifted coordinates (:data:`SHIFTS`). Even so, ``kappa`` trades against the supervised law:
the factor's exponent is ``exp(kappa + (1/f1)(log L_T - log Ltilde_S))`` and ``1/f1 ~ 11``,
so on the digitised Busbridge table (no supervised rows) log E and kappa were correlated at
0.96, the posterior's thinnest direction. The sampler therefore moves ``kappa_ref = kappa +
(1/f1)(log L_T,ref - log Ltilde_ref)``, the exponent's log at the reference student and the
median teacher loss; likewise ``log(alpha' gamma')`` and ``log(beta' gamma')``, the student
term's exponents in N and D, instead of log alpha' and log beta' (correlated with log gamma'
at -0.90 and -0.82). Each is a shift by *other* parameters (unit Jacobian), so the priors
stay exactly those declared on kappa, log alpha', log beta', which remain deterministics.
On the digitised Busbridge train split (diagonal mass matrix) that took NUTS from 834 to
495 leapfrog steps per draw, with ESS per gradient 1.26x (2 x 1000 draws) to 1.68x (4 x 1000;
``bench/geometry.py --coords unshifted,shifted``).

Prefactors are sampled at reference sizes (geometric means of the students):
``A' = A'_ref N_ref^alpha'``, ``B' = B'_ref D_ref^beta'``. Teachers enter only through
their measured loss, as in the paper's fits.

Level coordinates (:func:`student_level`). The student term's log at the reference student
is ``gamma' LSE(log A'_ref, log B'_ref)``: the rows pin that product, not its factors, so
in (log gamma', log A'_ref, log B'_ref) the posterior is a funnel, the prefactors' spread
given gamma' shrinking as 1/gamma' (log A'_ref and log B'_ref correlated with log gamma' at
-0.85 and -0.91 on the digitised Busbridge train split). Every divergence of the low-rank
metric sat in that funnel's large-gamma' tail. The sampler therefore moves the vector
``student_level_ref = (gamma' LSE(a, b), a - b)`` (level, tilt); the map has Jacobian
``1/gamma'`` (``(a, b) -> (LSE, a - b)`` has unit Jacobian), written into its density so
the declared priors on log A'_ref, log B'_ref stay exact. The tilt is not scaled by gamma':
it sets the two terms' shares, sigmoid(a - b), whatever gamma' is, and scaled it made a
funnel of its own where log B'_ref is prior-dominated (a divergence in notebook 04's fit).
On the Busbridge table (4 x 1000 draws, ``bench/geometry.py --coords exponents,shifted``)
the diagonal metric went from 658 to about 200-290 leapfrog steps per draw, and nutpie's
low-rank metric from 74-126 steps with 0-13 divergences per seed to 14 with none. Grouped
prefactors or a bounded prior on either keep the direct coordinates.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pymc as pm
import pytensor.tensor as pt
from pymc.distributions.distribution import support_point as _support_point

from ..errors import ModelError
from ..laws.distillation import log_distillation_loss
from ..priors import resolve_priors
from ._common import (
    Built,
    create,
    dim_of,
    exp_det,
    likelihood,
    median_positive,
    noise_vars,
    weight_name,
)
from .spec import ModelSpec
from .supervised import natural, reference_sizes, sup_log_loss

# Pooled over groups by default (group=): floor, student-term prefactors and exponents.
DEFAULT_DISTILLATION_GROUP_PARAMS = ("log_E", "log_A_prime_ref", "log_B_prime_ref",
                                     "log_alpha_prime", "log_beta_prime")
SUP_NAMES = ("log_E", "log_A_ref", "log_B_ref", "log_alpha", "log_beta", "log_gamma")
DIS_NAMES = ("log_A_prime_ref", "log_B_prime_ref", "log_alpha_prime", "log_beta_prime",
             "log_gamma_prime", "log_c0", "kappa", "log_inv_f1", "log_d1")


def _group_index(col: str, sup: pd.DataFrame, dist: pd.DataFrame):
    """Group levels and the per-row level index of the supervised and distillation rows."""
    both = pd.concat([sup, dist], ignore_index=True)
    if col not in both.columns:
        raise ModelError(f"group column {col!r} not in the table (columns: "
                         f"{', '.join(map(str, both.columns))})")
    if both[col].isna().any():
        i = int(np.flatnonzero(both[col].isna().to_numpy())[0])
        raise ModelError(f"group column {col!r} is empty in run {both['run_id'].iloc[i]!r}")
    levels = sorted(both[col].astype(str).unique())
    if len(levels) < 2:
        raise ModelError(f"group column {col!r} has a single value ({levels[0]!r}); fit "
                         "without group=")

    def codes(t):
        return pd.Categorical(t[col].astype(str), categories=levels).codes.astype(np.int64)

    return levels, codes(sup), codes(dist)


# Real-line families closed under a location shift (the sampled coordinate = prior + shift).
_SHIFTABLE = ("Normal", "StudentT", "Cauchy", "Logistic", "Laplace", "Gumbel", "SkewNormal")


def shiftable(prior) -> bool:
    """Whether a prior allows sampling a shifted coordinate: a scalar, untransformed
    real-line prior with numeric parameters (a grouped or bounded one is sampled as is)."""
    return (prior.distribution in _SHIFTABLE and not prior.dims
            and getattr(prior, "transform", None) is None
            and all(isinstance(v, int | float) for v in prior.parameters.values()))


def shifted(name: str, prior, coord: str, shift):
    """Variable ``name`` with prior ``prior``, sampled as ``coord = name + shift``.

    ``shift`` is an expression of *other* parameters, so the map has unit Jacobian and
    ``coord | rest ~ prior + shift`` keeps the prior on ``name`` exact: no Potential, and
    prior predictive draws stay right. ``name`` is kept as a deterministic.
    """
    base, params = prior.pymc_distribution, dict(prior.parameters)

    def dist(shift, size):
        return base.dist(**params, size=size) + shift

    return pm.Deterministic(name, pm.CustomDist(coord, shift, dist=dist) - shift)


def kappa_shift(p: dict, log_LT_ref: float):
    r"""``(1/f1) (log L_T,ref - log Ltilde_ref)``: sampled, ``kappa_ref = kappa + shift`` is
    the log of the broken power law's first-order exponent ``c1 f1 r^(1/f1)`` at the
    reference student and the median teacher loss, the quantity the rows pin down.
    ``kappa`` itself trades against the supervised law through ``(1/f1) log Ltilde``
    (1/f1 ~ 11). Grouped supervised parameters or 1/f1 enter through their mean."""
    inv_f1 = pt.mean(pt.exp(p["log_inv_f1"]))
    return inv_f1 * (log_LT_ref - pt.mean(sup_log_loss(p, 0.0, 0.0)))


# Sampled coordinates (see the module docstring): name -> (coordinate, shift, parameters
# that must be scalar for the shift to fit the name's shape).
SHIFTS = {
    "kappa": ("kappa_ref", kappa_shift, ()),
    # The student term's exponents in N and D are gamma' alpha' and gamma' beta': the data
    # pin those, and log alpha', log beta' alone trade against log gamma' (-0.90, -0.82).
    "log_alpha_prime": ("log_alpha_gamma_prime", lambda p, _: p["log_gamma_prime"],
                        ("log_gamma_prime",)),
    "log_beta_prime": ("log_beta_gamma_prime", lambda p, _: p["log_gamma_prime"],
                       ("log_gamma_prime",)),
}


# The student term's level and tilt at the reference student (see the module docstring).
LEVEL_NAMES = ("log_A_prime_ref", "log_B_prime_ref")
LEVEL_COORDS = ("level", "tilt")
# False samples the prefactors directly (bench/geometry.py measures both).
SAMPLE_LEVEL = True


def _from_level(u, tilt, gamma_prime):
    """``(log A'_ref, log B'_ref)`` from ``u = gamma' LSE(a, b)`` and ``tilt = a - b``:
    ``LSE(a, b) = a + softplus(b - a)``."""
    a = u / gamma_prime - pt.softplus(-tilt)
    return a, a - tilt


def _numpy_sampler(rv):
    """``draw(rng, size)`` of a random variable with constant parameters, straight from its
    NumPy generator (no PyTensor function to compile per call)."""
    params = [np.asarray(x.data, dtype=float) for x in rv.owner.inputs[2:]]
    return lambda rng, size: rv.owner.op.rng_fn(rng, *params, size)


def student_level(name: str, prior_a, prior_b, gamma_prime):
    r"""``(log A'_ref, log B'_ref)`` with priors ``prior_a``, ``prior_b``, sampled as the
    vector ``name = (gamma' LSE(a, b), a - b)``: the log student term at the reference
    student (its level), and the log ratio of its size and data terms there (its tilt).

    The map ``(a, b) -> (LSE(a, b), a - b)`` has unit Jacobian (softmax weights sum to 1)
    and the scaling of the level by gamma' contributes ``1/gamma'``, so the density below
    keeps both priors exact; prior draws go through the priors themselves.
    """
    dist_a = prior_a.pymc_distribution.dist(**prior_a.parameters)
    dist_b = prior_b.pymc_distribution.dist(**prior_b.parameters)
    draw_a, draw_b = _numpy_sampler(dist_a), _numpy_sampler(dist_b)

    def logp(value, g2):
        g = g2[..., 0]
        a, b = _from_level(value[..., 0], value[..., 1], g)
        return pm.logp(dist_a, a) + pm.logp(dist_b, b) - pt.log(g)

    def random(g2, rng=None, size=None):
        g = np.asarray(g2)[..., 0]
        a, b = draw_a(rng, size), draw_b(rng, size)
        return np.stack(np.broadcast_arrays(g * np.logaddexp(a, b), a - b), axis=-1)

    def start(rv, size, g2):
        g = g2[..., 0]
        a, b = _support_point(dist_a), _support_point(dist_b)
        return pt.stack([g * pt.logaddexp(a, b), a - b])

    # The parameter vector repeats gamma' so the signature gives the support its length 2.
    value = pm.CustomDist(name, pt.stack([gamma_prime, gamma_prime]), logp=logp,
                          random=random, support_point=start,
                          signature="(n)->(n)", dims="student_level")
    a, b = _from_level(value[0], value[1], gamma_prime)
    return pm.Deterministic(LEVEL_NAMES[0], a), pm.Deterministic(LEVEL_NAMES[1], b)


def build_distillation(spec: ModelSpec, table: pd.DataFrame, *,
                       fold_weights: bool = False) -> Built:
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
    coords = {"student_run": dist["run_id"].astype(str).to_numpy()}
    gidx_dist = gidx_sup = None
    group_params: tuple[str, ...] = ()
    if spec.group is not None:
        levels, gidx_sup, gidx_dist = _group_index(spec.group, sup, dist)
        coords["group"] = levels
        group_params = (spec.group_params if spec.group_params is not None
                        else DEFAULT_DISTILLATION_GROUP_PARAMS)
    priors = resolve_priors("distillation", spec.form, spec.priors, likelihood=spec.likelihood,
                            scale=scale, supervised_data=has_sup, error=spec.error,
                            group_params=group_params)
    lN_ref, lD_ref = np.log(ref["N"]), np.log(ref["D"])
    lNS = np.log(dist["N"].to_numpy(float)) - lN_ref
    lDS = np.log(dist["D"].to_numpy(float)) - lD_ref
    lLT = np.log(dist["L_T"].to_numpy(float))
    y = np.log(dist["L"].to_numpy(float))
    if has_sup:
        coords["supervised_run"] = sup["run_id"].astype(str).to_numpy()
    # The level coordinates need both prefactors' priors shiftable and a scalar gamma'.
    level = SAMPLE_LEVEL and all(shiftable(priors[n])
                                 for n in LEVEL_NAMES + ("log_gamma_prime",))
    if level:
        coords["student_level"] = list(LEVEL_COORDS)
    with pm.Model(coords=coords) as model:
        p, pd_, ps_ = {}, {}, {}  # variables; per distillation row; per supervised row
        # Shifted parameters last: their shifts are expressions of the others.
        # The level coordinates after log gamma', which scales them.
        order = [n for n in SUP_NAMES + DIS_NAMES
                 if n not in SHIFTS and not (level and n in LEVEL_NAMES)]
        for name in order + (list(LEVEL_NAMES) if level else []) + list(SHIFTS):
            if name == "log_gamma" and spec.form == "chinchilla":
                continue
            if level and name in LEVEL_NAMES:
                if name == LEVEL_NAMES[0]:  # both at once
                    p.update(zip(LEVEL_NAMES, student_level(
                        "student_level_ref", priors[LEVEL_NAMES[0]], priors[LEVEL_NAMES[1]],
                        pt.exp(p["log_gamma_prime"])), strict=True))
            elif name in SHIFTS and shiftable(priors[name]) and not any(
                    dim_of(priors[n]) for n in SHIFTS[name][2]):
                coord, shift, _ = SHIFTS[name]
                p[name] = shifted(name, priors[name], coord,
                                  shift(p, float(np.log(scale["LT_ref"]))))
            else:
                p[name] = create(priors, name, gidx_dist, "group" if spec.group else None)[0]
            grouped = dim_of(priors[name]) is not None
            pd_[name] = p[name][gidx_dist] if grouped else p[name]
            ps_[name] = p[name][gidx_sup] if grouped else p[name]
        natural(p, priors, ref, spec.form)

        def dims(*names):
            return "group" if any(dim_of(priors[n]) for n in names) else None

        inv_f1 = pt.exp(pd_["log_inv_f1"])
        log_c1f1 = pd_["kappa"] + inv_f1 * pd_["log_d1"]
        c1 = pt.exp(log_c1f1) * inv_f1
        f1 = 1.0 / inv_f1
        g_inv = dims("log_inv_f1", "kappa", "log_d1")
        pm.Deterministic("c1", pt.exp(p["kappa"] + pt.exp(p["log_inv_f1"]) * p["log_d1"])
                         * pt.exp(p["log_inv_f1"]), dims=g_inv)
        pm.Deterministic("f1", pt.exp(-p["log_inv_f1"]), dims=dims("log_inv_f1"))
        for nat in ("alpha_prime", "beta_prime", "gamma_prime", "c0", "d1"):
            exp_det(nat, p[f"log_{nat}"], dims(f"log_{nat}"))
        exp_det("A_prime", p["log_A_prime_ref"] + pt.exp(p["log_alpha_prime"]) * lN_ref,
                dims("log_A_prime_ref", "log_alpha_prime"))
        exp_det("B_prime", p["log_B_prime_ref"] + pt.exp(p["log_beta_prime"]) * lD_ref,
                dims("log_B_prime_ref", "log_beta_prime"))
        log_Ltilde = sup_log_loss(pd_, lNS, lDS)

        def law(log_LT):
            return log_distillation_loss(
                lNS, lDS, log_LT, log_Ltilde, log_A_prime=pd_["log_A_prime_ref"],
                log_B_prime=pd_["log_B_prime_ref"], alpha_prime=pt.exp(pd_["log_alpha_prime"]),
                beta_prime=pt.exp(pd_["log_beta_prime"]),
                gamma_prime=pt.exp(pd_["log_gamma_prime"]), c0=pt.exp(pd_["log_c0"]), c1=c1,
                f1=f1, log_d1=pd_["log_d1"])

        rows = pd.concat([sup, dist], ignore_index=True)
        lN = np.log(sup["N"].to_numpy(float)) - lN_ref
        lD = np.log(sup["D"].to_numpy(float)) - lD_ref
        y_sup = np.log(sup["L"].to_numpy(float))
        if spec.error == "structured":
            from .error import marginal_likelihood

            mu = law(lLT) if not has_sup else pt.concatenate(
                [sup_log_loss(ps_, lN, lD), law(lLT)])
            marginal_likelihood("log_L", mu, np.concatenate([y_sup, y]), rows,
                                "distillation", spec.group, priors)
        else:
            noise = noise_vars(priors, spec)
            likelihood("log_L_S", law(lLT), y, spec, noise, "student_run",
                       log_compute=lNS + lDS, weights=fold_weights)
            if has_sup:
                likelihood("log_L", sup_log_loss(ps_, lN, lD), y_sup, spec, noise,
                           "supervised_run", log_compute=lN + lD, weights=fold_weights)
    built = Built(model, spec, priors, ref, rows, notes)
    if fold_weights:
        built.fold_rows[weight_name("log_L_S")] = coords["student_run"]
        if has_sup:
            built.fold_rows[weight_name("log_L")] = coords["supervised_run"]
    return built
