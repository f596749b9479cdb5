"""Model building: variable names and dims, finite logp/dlogp, agreement with the numpy laws,
clear errors on bad specs and tables. No sampling here."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pymc_extras.prior import Prior

from distillaw import laws, published
from distillaw.errors import ModelError, PriorError, RunTableError
from distillaw.models import ModelSpec, build, build_model
from distillaw.simulate import (
    shipped_distillation,
    shipped_supervised,
    simulate_capacity_gap,
    simulate_supervised,
)

pytestmark = pytest.mark.filterwarnings("ignore:PyTensor could not link to a BLAS")


def _point(model):
    return model.initial_point()


def _eval(model, outs, point):
    """Evaluate graphs of the model's random variables at a point of their values (python
    mode: no C compilation in fast tests)."""
    import pytensor

    outs = model.replace_rvs_by_values(outs)
    fn = pytensor.function(model.value_vars, outs, on_unused_input="ignore",
                           mode="FAST_COMPILE")
    return fn(*[point[v.name] for v in model.value_vars])


def _eval_det(model, names, point):
    return dict(zip(names, _eval(model, [model[n] for n in names], point), strict=True))


def _point_logps(model):
    """All per-variable logps finite at the initial point (python mode)."""
    terms = _eval(model, model.logp(sum=False), model.initial_point())
    return all(np.all(np.isfinite(t)) for t in terms)


def _finite_logp_dlogp(model):
    import pytensor

    pt_ = model.initial_point()
    logp = pytensor.function(model.value_vars, model.logp(), mode="FAST_COMPILE")
    dlogp = pytensor.function(model.value_vars, model.dlogp(), mode="FAST_COMPILE")
    args = [pt_[v.name] for v in model.value_vars]
    return np.isfinite(logp(*args)) and np.all(np.isfinite(dlogp(*args)))


def test_modelspec_round_trip_and_validation():
    spec = ModelSpec("supervised", form="chinchilla", group="group",
                     priors={"log_alpha": Prior("Normal", mu=-1, sigma=0.2)},
                     group_params=("log_E",), reference={"N": 1e8})
    back = ModelSpec.from_dict(spec.to_dict())
    assert back == spec and back.group_params == ("log_E",)
    assert ModelSpec("distillation").form == "busbridge"
    assert ModelSpec("capacity-gap").form == "power"
    with pytest.raises(ModelError, match="unknown law"):
        ModelSpec("kaplan")
    with pytest.raises(ModelError, match="unknown form"):
        ModelSpec("supervised", form="kaplan")
    with pytest.raises(ModelError, match="likelihood"):
        ModelSpec("supervised", likelihood="cauchy")
    assert ModelSpec("capacity-gap", group="family").group == "family"
    with pytest.raises(PriorError, match="valid names"):
        ModelSpec("supervised", priors={"E": Prior("Normal")})
    with pytest.raises(ModelError, match="unknown model-spec keys"):
        ModelSpec.from_dict({"law": "supervised", "colour": "red"})


def test_supervised_model_variables_and_logp():
    m = build_model(ModelSpec("supervised", error="iid"), shipped_supervised())
    free = {v.name for v in m.free_RVs}
    assert free == {"log_E", "log_A_ref", "log_B_ref", "log_alpha", "log_beta", "log_gamma",
                    "sigma", "nu_raw"}  # nu = 2 + nu_raw: the noise has a variance
    assert {"E", "A", "B", "alpha", "beta", "gamma", "nu"} <= {v.name for v in m.deterministics}
    assert _finite_logp_dlogp(m)


def test_natural_parameters_reproduce_the_numpy_law():
    """A = A_ref N_ref^alpha etc.: the model's mean at a point equals laws.supervised_loss
    with the natural-scale deterministics (one formula, two back ends)."""
    table = shipped_supervised()
    built = build(ModelSpec("supervised", error="iid"), table)
    m = built.model
    pt_ = _point(m)
    rng = np.random.default_rng(0)
    pt_ = {k: v + 0.1 * rng.standard_normal(np.shape(v)) for k, v in pt_.items()}
    nat = _eval_det(m, ["E", "A", "B", "alpha", "beta", "gamma"], pt_)
    L_np = laws.supervised_loss(table["N"].to_numpy(), table["D"].to_numpy(), **nat)
    node = m["log_L"].owner
    mu = _eval(m, [node.op.dist_params(node)[1]], pt_)[0]  # StudentT(nu, mu, sigma)
    np.testing.assert_allclose(np.exp(mu), L_np, rtol=1e-10)
    assert built.reference["N"] == pytest.approx(np.exp(np.log(table["N"]).mean()))


def test_hierarchical_supervised_has_group_dims():
    N = np.tile(np.geomspace(1e7, 1e9, 6), 3)
    df = simulate_supervised(published("epoch2024").point(), N, 20 * N, sigma=0.01,
                             group=np.repeat(["a", "b", "c"], 6), seed=1)
    built = build(ModelSpec("supervised", form="chinchilla", group="group", error="iid"), df)
    m = built.model
    assert list(m.coords["group"]) == ["a", "b", "c"]
    assert m.named_vars_to_dims["E"] == ("group",)
    assert m.named_vars_to_dims["alpha"] == ("group",)
    assert "log_E_offset" in m.named_vars  # non-centred
    assert _point_logps(m)
    shared = build(ModelSpec("supervised", form="chinchilla", group="group",
                             group_params=("log_E",)), df).model
    assert shared.named_vars_to_dims.get("alpha") in (None, ())
    with pytest.raises(ModelError, match="no such|not in the table"):
        build(ModelSpec("supervised", group="family"), df)
    with pytest.raises(ModelError, match="single value"):
        build(ModelSpec("supervised", group="group"), shipped_supervised())


def test_distillation_model_joint_and_published_prior_paths():
    full = build(ModelSpec("distillation", error="iid"), shipped_distillation())
    assert {"log_L", "log_L_S"} <= set(full.model.named_vars)
    names = {v.name for v in full.model.deterministics}
    assert set(laws.distillation.PARAMS) <= names and {"E", "gamma"} <= names
    free = {v.name for v in full.model.free_RVs}
    assert {"kappa_ref", "log_inv_f1", "log_d1", "log_alpha_gamma_prime"} <= free
    assert "kappa" not in free  # sampled shifted; kept as a deterministic
    assert _point_logps(full.model)
    only = shipped_distillation()
    only = only[only["kind"] == "distillation"]
    b = build(ModelSpec("distillation", error="iid"), only)
    assert "log_L" not in b.model.named_vars
    assert any("informative" in n for n in b.notes)
    assert b.priors["log_E"].parameters["sigma"] < 0.5  # informative
    assert full.priors["log_E"].parameters["sigma"] == 0.7  # weakly informative


def test_distillation_c1_f1_from_the_reparameterisation():
    built = build(ModelSpec("distillation"), shipped_distillation())
    m = built.model
    pt_ = _point(m)
    pt_["kappa_ref"] = np.array(0.5)
    pt_["log_inv_f1"] = np.array(np.log(10.0))
    pt_["log_d1"] = np.array(np.log(1.3))
    v = _eval_det(m, ["c1", "f1", "d1", "kappa"], pt_)
    assert v["f1"] == pytest.approx(0.1)
    assert v["c1"] * v["f1"] == pytest.approx(np.exp(v["kappa"] + 10 * np.log(1.3)))
    # kappa_ref = kappa + (1/f1) (log L_T,ref - log Ltilde_ref), Ltilde at the reference
    # student (centred sizes 0) from the supervised law's parameters at this point.
    sup = _eval_det(m, ["E", "alpha", "beta", "gamma"], pt_)
    lt = np.log(sup["E"] + np.exp(sup["gamma"] * np.logaddexp(
        float(pt_["log_A_ref"]), float(pt_["log_B_ref"]))))
    t = shipped_distillation()
    lT = np.log(np.median(t.loc[t["kind"] == "distillation", "L_T"]))
    assert v["kappa"] == pytest.approx(0.5 - 10 * (lT - lt))


def _prior_logp(prior, value):
    import pymc as pm

    return float(pm.logp(prior.pymc_distribution.dist(**prior.parameters), value).eval())


def test_distillation_shifted_coordinates_keep_the_priors_exact():
    """The sampled kappa_ref, log(alpha' gamma'), log(beta' gamma') are shifts of kappa,
    log alpha', log beta' by other parameters (unit Jacobian); the sampled level/tilt vector
    is a nonlinear map of (log A'_ref, log B'_ref) given gamma'. At any point the model's
    prior density is the sum of the declared priors at the deterministics' values plus the
    log |Jacobian| of that map, taken here by finite differences (not from the model's own
    formula); prior draws of kappa and both prefactors follow their own priors."""
    import pymc as pm

    from distillaw.models.distillation import LEVEL_NAMES

    built = build(ModelSpec("distillation", error="iid"), shipped_distillation())
    m = built.model
    assert "student_level_ref" in {v.name for v in m.free_RVs}
    rng = np.random.default_rng(1)
    names = ["kappa", "log_alpha_prime", "log_beta_prime", *LEVEL_NAMES]
    for _ in range(3):
        pt_ = {k: v + rng.normal(0, 0.3, np.shape(v)) for k, v in _point(m).items()}
        prior_terms = _eval(m, m.logp(vars=m.free_RVs, sum=False), pt_)
        model_prior = sum(float(np.sum(t)) for t in prior_terms)
        vals = _eval_det(m, names, pt_)
        declared = 0.0
        for v in m.free_RVs:
            name = {"kappa_ref": "kappa", "log_alpha_gamma_prime": "log_alpha_prime",
                    "log_beta_gamma_prime": "log_beta_prime"}.get(v.name, v.name)
            if name == "student_level_ref":
                declared += sum(_prior_logp(built.priors[n], vals[n]) for n in LEVEL_NAMES)
                continue
            x = vals[name] if name in vals else pt_[m.rvs_to_values[v].name]
            if name in built.priors and m.rvs_to_transforms[v] is None:
                declared += _prior_logp(built.priors[name], x)
            else:  # positive scales (sigma, nu): same variable, same (transformed) term
                declared += float(np.sum(_eval(m, [m.logp(vars=[v])], pt_)[0]))
        # d(log A'_ref, log B'_ref) / d(level, tilt), central differences.
        jac = np.empty((2, 2))
        for j in range(2):
            step = np.zeros(2)
            step[j] = 1e-6
            hi, lo = dict(pt_), dict(pt_)
            hi["student_level_ref"] = pt_["student_level_ref"] + step
            lo["student_level_ref"] = pt_["student_level_ref"] - step
            up, dn = _eval_det(m, LEVEL_NAMES, hi), _eval_det(m, LEVEL_NAMES, lo)
            jac[:, j] = [(up[n] - dn[n]) / 2e-6 for n in LEVEL_NAMES]
        log_jac = float(np.log(abs(np.linalg.det(jac))))
        assert model_prior == pytest.approx(declared + log_jac, rel=1e-7, abs=1e-7)
    draws = pm.sample_prior_predictive(draws=4000, model=m, random_seed=0,
                                       var_names=["kappa", "log_alpha_prime", *LEVEL_NAMES],
                                       compile_kwargs={"mode": "FAST_COMPILE"}).prior
    for name in ("kappa", *LEVEL_NAMES):
        k = built.priors[name].parameters
        assert float(draws[name].mean()) == pytest.approx(k["mu"], abs=4 * k["sigma"] / 63)
        assert float(draws[name].std()) == pytest.approx(k["sigma"], rel=0.05)
    a = built.priors["log_alpha_prime"].parameters
    assert float(draws["log_alpha_prime"].std()) == pytest.approx(a["sigma"], rel=0.05)


def test_distillation_samples_grouped_or_bounded_priors_unshifted():
    t = shipped_distillation()
    uni = build(ModelSpec("distillation", error="iid",
                          priors={"kappa": {"dist": "Uniform", "lower": -20, "upper": 20}}), t)
    free = {v.name for v in uni.model.free_RVs}
    assert "kappa" in free and "kappa_ref" not in free
    assert "log_alpha_gamma_prime" in free
    # A grouped gamma' cannot shift a scalar alpha': alpha' and beta' are sampled as is.
    t["family"] = np.where(np.arange(len(t)) % 2 == 0, "a", "b")
    grp = build(ModelSpec("distillation", error="iid", group="family",
                          group_params=("log_E", "log_gamma_prime")), t)
    free = {v.name for v in grp.model.free_RVs}
    assert {"log_alpha_prime", "log_beta_prime", "kappa_ref"} <= free
    assert "log_alpha_gamma_prime" not in free
    # Grouped prefactors (the default group_params) are sampled as is, as are prefactors
    # under a bounded prior: the level coordinates need both scalar and on the real line.
    grp = build(ModelSpec("distillation", error="iid", group="family"), t)
    assert "student_level_ref" not in {v.name for v in grp.model.free_RVs}
    assert grp.model.named_vars_to_dims["log_A_prime_ref"] == ("group",)
    bounded = build(ModelSpec("distillation", error="iid", priors={
        "log_B_prime_ref": {"dist": "Uniform", "lower": -10, "upper": 10}}), t)
    free = {v.name for v in bounded.model.free_RVs}
    assert {"log_A_prime_ref", "log_B_prime_ref"} <= free and "student_level_ref" not in free


def test_capacity_gap_model():
    df = simulate_capacity_gap(k=2.5, s=1.0, students=[1e7, 3e7, 1e8, 3e8],
                               teacher_ratios=[0.5, 1, 2.5, 6, 15], L_min=[3.2, 3.0, 2.8, 2.6],
                               curvature=0.05, D_S=1e9, sigma=0.003, seed=0)
    built = build(ModelSpec("capacity-gap"), df)
    m = built.model
    assert len(m.coords["student"]) == 4
    assert {"k", "L_min", "curvature"} <= {v.name for v in m.deterministics}
    assert "s" in m.named_vars
    assert _point_logps(m)
    # A student with only two teachers is left out, with a note.
    extra = df.iloc[:2].assign(run_id=["x1", "x2"], N=5e9, N_T=[1e10, 2e10])
    b = build(ModelSpec("capacity-gap"), pd.concat([df, extra], ignore_index=True))
    assert len(b.model.coords["student"]) == 4 and b.notes
    with pytest.raises(ModelError, match="at least 3"):
        build(ModelSpec("capacity-gap"), extra)
    with pytest.raises(ModelError, match="N_T"):
        build(ModelSpec("capacity-gap"), shipped_supervised())


def test_bad_tables_raise_typed_errors():
    with pytest.raises(ModelError, match="kind == 'supervised'"):
        dist = shipped_distillation()
        build(ModelSpec("supervised"), dist[dist["kind"] == "distillation"])
    with pytest.raises(ModelError, match="kind == 'distillation'"):
        build(ModelSpec("distillation"), shipped_supervised())
    bad = shipped_supervised().assign(L=-1.0)
    with pytest.raises(RunTableError):
        build(ModelSpec("supervised"), bad)
    with pytest.raises(ModelError, match="DataFrame"):
        build(ModelSpec("supervised"), "not a table")


def test_prior_dims_must_match_the_model():
    spec = ModelSpec("supervised", priors={"log_E": Prior("Normal", mu=Prior("Normal"),
                                                          sigma=1.0, dims="group")})
    with pytest.raises(ModelError, match="dims"):
        build(spec, shipped_supervised())


def test_capacity_gap_model_with_families():
    kw = dict(students=[1e7, 3e7, 1e8], teacher_ratios=[0.5, 1, 2.5, 6], L_min=[3.0, 2.8, 2.6],
              curvature=0.04, D_S=2e10)
    a = simulate_capacity_gap(k=2.5, s=1.0, group="famA", **kw)
    b = simulate_capacity_gap(k=2.0, s=1.1, group="famB", seed=1, **kw).assign(
        run_id=lambda d: "b-" + d["run_id"])
    df = pd.concat([a, b], ignore_index=True)
    built = build(ModelSpec("capacity-gap", group="group"), df)
    m = built.model
    # One U-curve per (family, student); s and log_k_ref per family, centred (pinned down by
    # each family's curves); k per family.
    assert len(m.coords["student"]) == 6 and list(m.coords["group"]) == ["famA", "famB"]
    for name in ("s", "log_k_ref", "k"):
        assert m.named_vars_to_dims[name] == ("group",), name
    assert "s_mu" in m.named_vars and "s_sigma" in m.named_vars
    only_s = build(ModelSpec("capacity-gap", group="group", group_params=("s",)), df).model
    assert "log_k_ref" not in only_s.named_vars_to_dims
    assert only_s.named_vars_to_dims["k"] == ("group",)
    with pytest.raises(PriorError, match="group-level parameter"):
        build(ModelSpec("capacity-gap", group="group", group_params=("log_L_min",)), df)
    with pytest.raises(ModelError, match="single value"):
        build(ModelSpec("capacity-gap", group="group"), a)


def test_fold_weights_drop_exactly_the_weighted_out_rows():
    """A model built with fold weights has density prior + sum_i w_i log p(y_i): with
    weights of 1 it is the plain model's, and setting rows' weights to 0 removes exactly
    their pointwise log-likelihood (supervised and distillation rows alike)."""
    import pymc as pm
    import pytensor

    for law, table in (("supervised", shipped_supervised()),
                       ("distillation", shipped_distillation())):
        plain = build(ModelSpec(law, error="heteroscedastic"), table)
        built = build(ModelSpec(law, error="heteroscedastic"), table, fold_weights=True)
        m, p = built.model, plain.model
        assert not m.observed_RVs  # the weighted Potentials are the likelihood
        assert set(built.fold_rows) == {f"{v.name}_fold_weight" for v in p.observed_RVs}
        rng = np.random.default_rng(0)
        pt_ = {k: v + rng.normal(0, 0.05, np.shape(v)) for k, v in _point(m).items()}
        args = [pt_[v.name] for v in m.value_vars]
        pargs = [pt_[v.name] for v in p.value_vars]
        logp = pytensor.function(m.value_vars, m.logp(), mode="FAST_COMPILE")
        full = float(logp(*args))
        assert full == pytest.approx(float(pytensor.function(
            p.value_vars, p.logp(), mode="FAST_COMPILE")(*pargs)), rel=1e-12)
        pointwise = pytensor.function(p.value_vars, p.logp(vars=p.observed_RVs, sum=False),
                                      mode="FAST_COMPILE")(*pargs)
        dropped = 0.0
        for rv, ll in zip(p.observed_RVs, pointwise, strict=True):
            w = (np.arange(ll.size) % 3 == 0).astype(float)
            pm.set_data({f"{rv.name}_fold_weight": w}, model=m)
            dropped += float(np.sum((1 - w) * ll))
        # (the weights are shared data: the function compiled above sees the new values)
        assert float(logp(*args)) == pytest.approx(full - dropped, rel=1e-10)
        assert dropped != 0.0


def test_fold_weights_are_for_row_wise_error_models():
    with pytest.raises(ModelError, match="fold weights"):
        build(ModelSpec("supervised", error="structured"), shipped_supervised(),
              fold_weights=True)
