r"""Default priors of the Bayesian scaling-law models, as ``pymc_extras`` :class:`Prior` objects.

Priors are keyed by the name of the quantity the model *samples*. Every positive
coefficient is sampled on its log (``log_alpha``, ``log_E``, ...), and prefactors are
sampled as the value of their term at a reference size taken from the data, which removes
the strong ``log A`` / ``alpha`` correlation of the raw parameterisation (measured: NUTS
steps per draw fall from ~300 to ~40-50 on Epoch's Chinchilla data)::

    log_A_ref = log A - alpha * log N_ref        (the N-term A / N^alpha at N = N_ref)
    log_B_ref = log B - beta  * log D_ref        (the D-term at D = D_ref)

so ``A = exp(log_A_ref + alpha log N_ref)``. ``N_ref``, ``D_ref`` default to the geometric
means of the fitted sizes; they and every data-scaled prior are resolved when the model is
built and recorded with the posterior (never written back into the spec).

=====================  =========================================================================
name                   meaning (defaults; sd on the log scale unless stated)
=====================  =========================================================================
log_E                  entropy floor E; centred on the published E of the form (Epoch 1.817 for
                       Chinchilla, Busbridge 1.220), sd 0.7: the floor is specific to each
                       data set, so the 95% range 0.3x-4x covers byte-level models (0.5-2 nats)
                       as well as published scale.
log_A_ref, log_B_ref   N- and D-terms at the reference size; data-scaled: centred on a quarter
                       of the median observed loss, sd 1.0 (a factor e either way).
log_alpha, log_beta    exponents, published-centred, sd 0.5 (95%: 0.37x-2.7x of published).
log_gamma              Busbridge's outer exponent, published-centred (0.452), sd 0.4.
log_A_prime_ref, ...   distillation law, same construction for the student term
log_alpha_prime, ...   (published Busbridge Table 6 centres, sd 0.4-0.5).
log_c0                 L_T^-c0 factor, centred on 2.549, sd 0.4.
kappa                  break strength kappa = log(c1 f1) - (1/f1) log d1: the combination the
                       data constrain when teachers are stronger than students (r << 1, where
                       the broken factor is ~ exp(-c1 f1 r^(1/f1))). Centred on the published
                       value 0.81, sd 1.5. See :mod:`distillaw.models.distillation`.
log_inv_f1             1/f1, the sharpness of the break; centred on 11.1, sd 0.5.
log_d1                 break position in L_T / Ltilde_S; centred on 1.315, sd 0.1.
log_k_ref              capacity gap: N_T*/N_S at the reference student size; Zhang: k = 2.5,
                       sd 0.5.
s                      capacity-gap slope; Normal(1, 0.25) (Zhang: s = 1).
log_L_min              per-student minimum loss (hierarchical over students).
log_curvature          per-student curvature of log L_S in log N_T (hierarchical).
sigma                  noise scale of log-loss; HalfNormal(0.1) (1-2% noise is typical).
nu                     Student-t degrees of freedom; nu = 2 + Gamma(2, 0.1) (the Gamma of Juarez &
                       Steel 2010, shifted so that the noise has a variance: nu > 2; sampled as
                       ``nu_raw`` = nu - 2 with the ``plus_two`` transform). Saved fits keep the
                       prior they were fitted with. iid error model only. The structured model uses
                       Normal noise: its heavy tails were the iid model's way of explaining
                       systematic error (nu ~ 1.85, i.e. no variance, on the digitised
                       Busbridge table), which the structured terms now carry.
sigma_trend            error="heteroscedastic": change of log sigma per decade of compute
                       (sigma_i = sigma * exp(sigma_trend * log10(C_i / C_ref))); Normal(0, 0.3).
tau_curve              structured: sd of the per-curve offset on log-loss (distillation: one
                       student configuration N_S, D_S); HalfNormal(0.02). The teacher axis is
                       the tau_lt discrepancy inside each curve.
tau_rw                 structured: discrepancy sd per sqrt(e-fold of compute N D) (a Brownian
                       motion in log compute, anchored at the data's median); HalfNormal(0.02).
tau_lt                 structured: the same along log L_T inside each curve (per sqrt(unit of
                       log L_T)); HalfNormal(0.05). See :mod:`distillaw.error_terms`.
gp_eta                 error="gp" (supervised law): sd of the GP discrepancy on log-loss;
                       HalfNormal(0.02). See :mod:`distillaw.hsgp`.
gp_ls_N, gp_ls_D       its length scales in decades of N and of D; LogNormal(0, 0.4).
=====================  =========================================================================

c1 is not sampled: it is ``c1 = (c1 f1) / f1`` with ``log(c1 f1) = kappa + (1/f1) log d1``;
its published interval has zero width, and only data with teachers weaker than ``d1`` times
the student's supervised loss would identify it.

Distillation fits without supervised rows (e.g. the digitised Busbridge table, which has
only ``N_S, D_S, L_T, L_S``) cannot learn the student's supervised loss ``Ltilde_S`` from
data, so its law gets *informative* priors from Busbridge Table 6, with standard deviations
10x the published bootstrap ones (their 90% intervals, e.g. A 3346-3360, are implausibly
narrow: the bootstrap ignores shared teachers, data splits and misspecification; 10x still
keeps Ltilde_S within a few percent, which is what makes the break position meaningful).
That path is meant for published-scale data.

Example
-------
>>> from pymc_extras.prior import Prior
>>> p = resolve_priors("supervised", "chinchilla", {"log_alpha": Prior("Normal", mu=-1.0,
...                    sigma=0.1)})
>>> p["log_alpha"].parameters["mu"]
-1.0
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from .errors import PriorError
from .laws import FORMS, LAWS

LIKELIHOODS = ("student_t", "normal")
ERRORS = ("structured", "iid", "heteroscedastic", "gp")
# The default error model, chosen by measurement (issue 11, held-out largest runs, each
# fitted with the calibrated extrapolation, 90% target 0.85-0.95): heteroscedastic covered
# 0.94 of Porian's 87 (iid: 1.00 at 4x the width) and 0.92 of Epoch's 38 (iid: 0.82),
# both at a better interval score than iid, and 25 of the digitised Busbridge test
# split's 26 rows (as iid did). It nests iid (sigma_trend = 0, prior Normal(0, 0.3) per
# decade). The capacity-gap law has its own noise: iid.
DEFAULT_ERROR = "heteroscedastic"


def default_error(law: str) -> str:
    """The error model ``fit`` uses when none is given (see ``DEFAULT_ERROR``)."""
    return "iid" if law == "capacity-gap" else DEFAULT_ERROR

# Published centres (Epoch 2024 for the Chinchilla form, Busbridge 2025 Table 6 otherwise).
_EPOCH = {"E": 1.817, "alpha": 0.3478, "beta": 0.3658}
_BUSBRIDGE_SUP = {"E": 1.220, "A": 3355.0, "B": 18186.0, "alpha": 0.408, "beta": 0.431,
                  "gamma": 0.452}
_BUSBRIDGE_DIS = {"A_prime": 2243.0, "B_prime": 24181.0, "alpha_prime": 0.321,
                  "beta_prime": 0.637, "gamma_prime": 0.764, "c0": 2.549, "c1": 522.6,
                  "f1": 0.090, "d1": 1.315}
# 90% bootstrap half-widths of Busbridge Table 6 -> sd = half-width / 1.645; widened 10x.
_BUSBRIDGE_CI = {"E": (1.190, 1.247), "alpha": (0.405, 0.411), "beta": (0.428, 0.433),
                 "gamma": (0.442, 0.461)}
WIDEN = 10.0
ZHANG = {"k": 2.5, "s": 1.0}

SUPERVISED_NAMES = {
    "chinchilla": ("log_E", "log_A_ref", "log_B_ref", "log_alpha", "log_beta"),
    "busbridge": ("log_E", "log_A_ref", "log_B_ref", "log_alpha", "log_beta", "log_gamma"),
}
DISTILLATION_NAMES = ("log_A_prime_ref", "log_B_prime_ref", "log_alpha_prime", "log_beta_prime",
                      "log_gamma_prime", "log_c0", "kappa", "log_inv_f1", "log_d1")
CAPACITY_GAP_NAMES = ("log_k_ref", "s", "log_L_min", "log_curvature")
NOISE_NAMES = {"student_t": ("sigma", "nu"), "normal": ("sigma",)}
# error="heteroscedastic": the iid noise's scale changes with compute,
# sigma_i = sigma * exp(sigma_trend * log10(C_i / C_ref)) (C = 6ND, the student's for
# distillation rows; C_ref from the reference sizes). Small runs are often noisier (seed
# variance, digitisation of steep curves): on Porian et al.'s IsoFLOP points the residual sd
# falls from 0.12 at 1e16 FLOPs to 0.02 at 6e18, and one constant sigma (with nu pinned at
# its bound of 2) then makes every large-scale interval several times too wide.
TREND_NAME = "sigma_trend"
TREND_SD = 0.3  # per decade of compute in log sigma: a 2x change over 2.3 decades is 1 sd
# Structured error model: Normal noise plus the systematic terms of
# :mod:`distillaw.error_terms` (curve and teacher offsets, discrepancies in compute and L_T).
STRUCTURED_NAMES = {"supervised": ("tau_rw",),
                    "distillation": ("tau_curve", "tau_rw", "tau_lt"),
                    "capacity-gap": ()}
STRUCTURED_SDS = {"tau_curve": 0.02, "tau_rw": 0.02, "tau_lt": 0.05}
# error="gp" (supervised law): heteroscedastic noise plus a Gaussian-process discrepancy in
# (log10 N, log10 D), see :mod:`distillaw.hsgp`. eta: its sd on log-loss (HalfNormal(0.02):
# a law off by a few percent somewhere in its range is the case it is for); length scales in
# decades, LogNormal around 1 decade (a scaling-law grid steps about a decade; shorter
# wiggles are noise, longer ones the law's own business).
GP_NAMES = ("gp_eta", "gp_ls_N", "gp_ls_D")
GP_ETA_SD = 0.02
GP_LS = (0.0, 0.4)  # LogNormal(mu, sigma) of each length scale, decades
# Parameters that vary by group in a hierarchical supervised fit, unless told otherwise.
DEFAULT_GROUP_PARAMS = ("log_E", "log_A_ref", "log_B_ref", "log_alpha", "log_beta")
# ... and in a hierarchical capacity-gap fit (teacher families): the slope and the ratio at
# the reference student. The per-student minima and curvatures are pooled over students
# already.
CAPACITY_GAP_GROUP_PARAMS = ("s", "log_k_ref")


NU_SHIFT = "plus_two"  # the transform of the default nu prior: nu = 2 + Gamma(2, 0.1)


def _plus_two(x):
    return x + 2.0


def _prior_cls():
    from pymc_extras.prior import CUSTOM_TRANSFORMS, Prior, register_tensor_transform

    # imports PyMC: keep it off the CLI's fast path. Registered before any Prior is made or
    # read back (a saved posterior's nu prior names the transform).
    if NU_SHIFT not in CUSTOM_TRANSFORMS:
        register_tensor_transform(NU_SHIFT, _plus_two)
    return Prior


def published_kappa(c1: float = _BUSBRIDGE_DIS["c1"], f1: float = _BUSBRIDGE_DIS["f1"],
                    d1: float = _BUSBRIDGE_DIS["d1"]) -> float:
    """``log(c1 f1) - log(d1) / f1``, the break strength the data constrain (0.81 published)."""
    return math.log(c1 * f1) - math.log(d1) / f1


def prior_names(law: str, form: str = "busbridge", likelihood: str = "student_t",
                error: str | None = None) -> tuple:
    """Names a prior can be given for, in model order.

    Example
    -------
    >>> prior_names("supervised", "chinchilla", "normal")
    ('log_E', 'log_A_ref', 'log_B_ref', 'log_alpha', 'log_beta', 'sigma', 'sigma_trend')
    >>> prior_names("supervised", "chinchilla", "normal", "iid")
    ('log_E', 'log_A_ref', 'log_B_ref', 'log_alpha', 'log_beta', 'sigma')
    >>> prior_names("supervised", "chinchilla", "normal", "structured")[-2:]
    ('sigma', 'tau_rw')
    """
    _check(law, form, likelihood)
    error = default_error(law) if error is None else error
    if error not in ERRORS:
        raise PriorError(f"unknown error model {error!r}; choose one of {', '.join(ERRORS)}")
    if error == "structured" and law != "capacity-gap":
        if likelihood != "normal":
            raise PriorError("the structured error model has Normal noise (its systematic "
                             "terms are integrated out exactly); use likelihood='normal' or "
                             "error='iid'")
        noise = ("sigma",) + STRUCTURED_NAMES[law]
    else:
        noise = NOISE_NAMES[likelihood]
        if error in ("heteroscedastic", "gp") and law != "capacity-gap":
            noise = noise + (TREND_NAME,)
        if error == "gp":
            _check_gp(law)
            noise = noise + GP_NAMES
    if law == "supervised":
        return SUPERVISED_NAMES[form] + noise
    if law == "distillation":
        return SUPERVISED_NAMES[form] + DISTILLATION_NAMES + noise
    return CAPACITY_GAP_NAMES + noise


def _check(law, form, likelihood):
    if law not in LAWS:
        raise PriorError(f"unknown law {law!r}; choose one of {', '.join(LAWS)}")
    if law != "capacity-gap" and form not in FORMS:
        raise PriorError(f"unknown form {form!r}; choose one of {', '.join(FORMS)}")
    if likelihood not in LIKELIHOODS:
        raise PriorError(f"unknown likelihood {likelihood!r}; choose one of "
                         f"{', '.join(LIKELIHOODS)}")


def _normal(mu: float, sigma: float):
    return _prior_cls()("Normal", mu=float(mu), sigma=float(sigma))


def _hierarchical(mu: float, mu_sd: float, group_sd: float, dims: str, centered: bool = False):
    """Partial pooling ``x_g ~ Normal(mu, tau)``.

    Non-centred (``x_g = mu + tau z_g``) where groups may carry little information or be
    alike (supervised groups; capacity-gap curvatures, which are often nearly equal, so tau
    -> 0 makes a funnel: measured 24-34 divergences centred). Centred for the capacity-gap
    minima L_min, which differ a lot between students and are each pinned down by their own
    U-curve: non-centred there needed ~200 leapfrog steps per draw and mixed s poorly
    (r_hat 1.08) on simulated U-curves (5 students x 5 teachers, 0.3% noise).
    """
    P = _prior_cls()
    return P("Normal", mu=P("Normal", mu=float(mu), sigma=float(mu_sd)),
             sigma=P("HalfNormal", sigma=float(group_sd)), dims=dims, centered=centered)


def default_priors(law: str, form: str = "busbridge", *, likelihood: str = "student_t",
                   scale: Mapping[str, float] | None = None,
                   group_params: Sequence[str] = (), supervised_data: bool = True,
                   error: str | None = None) -> dict:
    """Default priors of a law, keyed by sampled name.

    Parameters
    ----------
    law, form, likelihood
        As in :class:`distillaw.models.ModelSpec`.
    scale : mapping, optional
        Data scale for the data-scaled priors: ``N_ref``, ``D_ref`` (reference sizes),
        ``L_ref`` (median observed loss) and, for distillation, ``gap_ref`` (median positive
        ``L_S - L_T``) and ``LT_ref`` (median teacher loss). Missing values fall back to
        published-scale ones (N_ref 1e9, D_ref 2e10, L_ref 2.5).
    group_params : sequence of names
        Supervised parameters that vary by ``group`` (partially pooled hyperpriors).
    supervised_data : bool
        Distillation only: ``False`` when the table has no supervised rows, which switches
        the supervised law to informative Busbridge Table 6 priors.
    error : {"iid", "heteroscedastic", "structured"} or None
        Error model (``None``: :func:`default_error`, heteroscedastic for the supervised and
        distillation laws): ``"structured"`` adds the priors of the systematic terms (and
        has Normal noise, so no ``nu``); ``"heteroscedastic"`` adds ``sigma_trend``; with a
        Student-t likelihood the nu prior is on ``nu - 2`` (see the table above).

    Example
    -------
    >>> sorted(default_priors("capacity-gap", likelihood="normal"))
    ['log_L_min', 'log_curvature', 'log_k_ref', 's', 'sigma']
    """
    _check(law, form, likelihood)
    error = default_error(law) if error is None else error
    P = _prior_cls()
    sc = {"N_ref": 1e9, "D_ref": 2e10, "L_ref": 2.5, "gap_ref": 0.2, "LT_ref": 2.3,
          **(scale or {})}
    lN, lD, lL = math.log(sc["N_ref"]), math.log(sc["D_ref"]), math.log(sc["L_ref"])
    out: dict = {}
    if law in ("supervised", "distillation"):
        if law == "distillation" and not supervised_data:
            # Informative: Busbridge Table 6, bootstrap sds widened WIDEN-fold (module doc).
            pub = _BUSBRIDGE_SUP
            sd = {k: WIDEN * (hi - lo) / (2 * 1.645) / pub[k] for k, (lo, hi) in
                  _BUSBRIDGE_CI.items()}  # relative sd = sd on the log scale
            out["log_E"] = _normal(math.log(pub["E"]), sd["E"])
            # Prefactor terms at the reference sizes: 10% sd (the published interval of A
            # is +-0.2%; alpha's own sd moves the term away from N_ref).
            out["log_A_ref"] = _normal(math.log(pub["A"]) - pub["alpha"] * lN, 0.1)
            out["log_B_ref"] = _normal(math.log(pub["B"]) - pub["beta"] * lD, 0.1)
            out["log_alpha"] = _normal(math.log(pub["alpha"]), sd["alpha"])
            out["log_beta"] = _normal(math.log(pub["beta"]), sd["beta"])
            if form == "busbridge":
                out["log_gamma"] = _normal(math.log(pub["gamma"]), sd["gamma"])
            else:
                raise PriorError("the informative (no supervised rows) distillation priors "
                                 "exist for the busbridge form only; add supervised rows or "
                                 "use form='busbridge'")
        else:
            pub = _EPOCH if form == "chinchilla" else _BUSBRIDGE_SUP
            out["log_E"] = _normal(math.log(pub["E"]), 0.7)
            out["log_A_ref"] = _normal(lL - math.log(4.0), 1.0)
            out["log_B_ref"] = _normal(lL - math.log(4.0), 1.0)
            out["log_alpha"] = _normal(math.log(pub["alpha"]), 0.5)
            out["log_beta"] = _normal(math.log(pub["beta"]), 0.5)
            if form == "busbridge":
                out["log_gamma"] = _normal(math.log(pub["gamma"]), 0.4)
    if law == "distillation":
        d = _BUSBRIDGE_DIS
        # Student term K = (A'/N^a' + B'/D^b')^g' at the reference, data-scaled from the
        # observed distillation gap L_S - L_T ~ L_T^-c0 K: log K ~ log gap + c0 log L_T.
        log_K = math.log(sc["gap_ref"]) + d["c0"] * math.log(sc["LT_ref"])
        term = log_K / d["gamma_prime"] - math.log(2.0)  # split K^(1/g') between the terms
        out["log_A_prime_ref"] = _normal(term, 1.5)
        out["log_B_prime_ref"] = _normal(term, 1.5)
        out["log_alpha_prime"] = _normal(math.log(d["alpha_prime"]), 0.5)
        out["log_beta_prime"] = _normal(math.log(d["beta_prime"]), 0.5)
        out["log_gamma_prime"] = _normal(math.log(d["gamma_prime"]), 0.4)
        out["log_c0"] = _normal(math.log(d["c0"]), 0.4)
        out["kappa"] = _normal(published_kappa(), 1.5)
        out["log_inv_f1"] = _normal(math.log(1.0 / d["f1"]), 0.5)
        out["log_d1"] = _normal(math.log(d["d1"]), 0.1)
    if law == "capacity-gap":
        out["log_k_ref"] = _normal(math.log(ZHANG["k"]), 0.5)
        out["s"] = _normal(ZHANG["s"], 0.25)
        out["log_L_min"] = _hierarchical(lL, 0.5, 0.5, "student", centered=True)
        out["log_curvature"] = _hierarchical(math.log(0.02), 1.5, 1.0, "student")
    for name in group_params:
        allowed = CAPACITY_GAP_GROUP_PARAMS if law == "capacity-gap" else tuple(out)
        if name not in allowed:
            raise PriorError(f"group_params: {name!r} is not a group-level parameter of the "
                             f"{law} law; choose from {', '.join(allowed)}")
        base = out[name].parameters
        # Group-to-group spread: 0.5 on log prefactors/floor/k, 0.15 on log exponents and on
        # the capacity-gap slope s (families differ by tens of percent in s, not by 2x).
        tau = (0.15 if name == "s" or name.startswith(("log_alpha", "log_beta", "log_gamma"))
               else 0.5)
        # Capacity-gap families: centred. Each family's U-curves pin its s and k down
        # (+-0.01 in s on 5 students x 5 teachers), and a pinned-down group value is the
        # case where non-centred is the bad geometry: measured on two simulated families,
        # non-centred gave r_hat 1.095 and ESS 18 at 450 leapfrog steps per draw.
        out[name] = _hierarchical(base["mu"], base["sigma"], tau, "group",
                                  centered=law == "capacity-gap")
    out["sigma"] = P("HalfNormal", sigma=0.1)
    if error == "structured" and law != "capacity-gap":
        for name in STRUCTURED_NAMES[law]:
            out[name] = P("HalfNormal", sigma=STRUCTURED_SDS[name])
    elif likelihood == "student_t":
        # nu = 2 + Gamma(2, 0.1): a Student-t with nu <= 2 has no variance, and the iid
        # model then "explains" systematic error as ever heavier tails (nu ~ 1.85 on the
        # digitised Busbridge table under the old unshifted Gamma(2, 0.1)).
        out["nu"] = P("Gamma", alpha=2.0, beta=0.1, transform=NU_SHIFT)
    if error in ("heteroscedastic", "gp") and law != "capacity-gap":
        out[TREND_NAME] = P("Normal", mu=0.0, sigma=TREND_SD)
    if error == "gp":
        _check_gp(law)
        out["gp_eta"] = P("HalfNormal", sigma=GP_ETA_SD)
        for name in GP_NAMES[1:]:
            out[name] = P("LogNormal", mu=GP_LS[0], sigma=GP_LS[1])
    return out


def _check_gp(law: str) -> None:
    if law != "supervised":
        raise PriorError(f"error='gp' (a GP discrepancy in log N, log D) is for the supervised "
                         f"law; the {law} law has iid, heteroscedastic or structured errors")


def as_prior(name: str, value):
    """A :class:`Prior` from a Prior or its ``to_dict()`` form; anything else is an error."""
    P = _prior_cls()
    if isinstance(value, P):
        return _validated(name, value)
    if isinstance(value, Mapping):
        try:
            prior = P.from_dict(dict(value))
        except Exception as exc:  # pymc_extras raises its own types (unknown distribution)
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise PriorError(f"prior {name!r}: cannot read {dict(value)!r} ({reason})") from None
        return _validated(name, prior)
    raise PriorError(f"prior {name!r} must be a pymc_extras Prior or its dict form, got "
                     f"{type(value).__name__}")


# Parameters that must be > 0 wherever they appear (scales, shapes, rates, dofs).
_POSITIVE_PARAMS = ("sigma", "tau", "lam", "beta", "alpha", "nu", "b", "kappa", "n")
# ... except where the name means something else (a location or a bound).
_SIGNED = {"SkewNormal": {"alpha"}, "AsymmetricLaplace": {"kappa"}}


def _validated(name: str, prior):
    """Numeric parameters must be finite; scale-like ones > 0 (a negative sigma would
    otherwise reach the sampler); Uniform needs lower < upper. Nested priors are checked
    too."""
    dist = prior.distribution
    for key, v in prior.parameters.items():
        if hasattr(v, "distribution") and hasattr(v, "parameters"):
            _validated(f"{name}.{key}", v)
            continue
        try:
            import numpy as np

            arr = np.asarray(v, dtype=float).ravel().tolist()
        except (TypeError, ValueError):
            continue  # symbolic or other values are PyMC's to judge
        if not all(math.isfinite(x) for x in arr):
            raise PriorError(f"prior {name!r}: {dist} parameter {key}={v!r} must be finite")
        if key in _POSITIVE_PARAMS and key not in _SIGNED.get(dist, ()) and \
                not all(x > 0 for x in arr):
            raise PriorError(f"prior {name!r}: {dist} parameter {key}={v!r} must be > 0")
    p = prior.parameters
    if dist == "Uniform" and isinstance(p.get("lower"), int | float) and isinstance(
            p.get("upper"), int | float) and not p["lower"] < p["upper"]:
        raise PriorError(f"prior {name!r}: Uniform needs lower < upper, got {p['lower']} and "
                         f"{p['upper']}")
    return prior


def resolve_priors(law: str, form: str = "busbridge", overrides: Mapping | None = None, *,
                   likelihood: str = "student_t", scale: Mapping[str, float] | None = None,
                   group_params: Sequence[str] = (), supervised_data: bool = True,
                   error: str | None = None) -> dict:
    """Defaults with ``overrides`` merged over them (by name).

    Raises
    ------
    PriorError
        An override names no parameter of this law/form/likelihood (the message lists the
        valid names), or is not a Prior.

    Example
    -------
    >>> resolve_priors("supervised", "chinchilla", {"log_alfa": {"dist": "Normal"}})
    Traceback (most recent call last):
    ...
    distillaw.errors.PriorError: unknown prior 'log_alfa' for the supervised law (chinchilla form); valid names: log_E, log_A_ref, log_B_ref, log_alpha, log_beta, sigma, nu, sigma_trend
    """
    priors = default_priors(law, form, likelihood=likelihood, scale=scale,
                            group_params=group_params, supervised_data=supervised_data,
                            error=error)
    valid = prior_names(law, form, likelihood, error)
    for name, value in (overrides or {}).items():
        if name not in valid:
            what = f"the {law} law" + (f" ({form} form)" if law != "capacity-gap" else "")
            raise PriorError(f"unknown prior {name!r} for {what}; valid names: "
                             f"{', '.join(valid)}")
        priors[name] = as_prior(name, value)
    return priors


def priors_to_dict(priors: Mapping) -> dict[str, dict]:
    """JSON-ready ``{name: Prior.to_dict()}``."""
    return {k: as_prior(k, v).to_dict() for k, v in priors.items()}


def priors_from_dict(data: Mapping[str, Mapping]) -> dict:
    """Inverse of :func:`priors_to_dict`."""
    return {k: as_prior(k, v) for k, v in data.items()}


def prior_sd(prior) -> float | None:
    """Standard deviation of a scalar prior with numeric parameters, else ``None``.

    Used for prior-vs-posterior contraction on the card (no sampling needed).
    """
    if prior.dims:
        return None
    p = prior.parameters
    if any(not isinstance(v, int | float) for v in p.values()):
        return None
    d = prior.distribution
    if d == "Normal":
        return float(p.get("sigma", 1.0))
    if d == "HalfNormal":
        return float(p.get("sigma", 1.0)) * math.sqrt(1.0 - 2.0 / math.pi)
    if getattr(prior, "transform", None) not in (None, NU_SHIFT):
        return None  # a non-shift transform changes the spread
    if d == "Gamma" and "alpha" in p and "beta" in p:
        return math.sqrt(p["alpha"]) / p["beta"]
    if d == "StudentT" and p.get("nu", 0) > 2:
        return float(p.get("sigma", 1.0)) * math.sqrt(p["nu"] / (p["nu"] - 2))
    if d == "Uniform":
        return (p.get("upper", 1.0) - p.get("lower", 0.0)) / math.sqrt(12.0)
    return None
