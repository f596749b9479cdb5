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
    assert {"kappa", "log_inv_f1", "log_d1"} <= {v.name for v in full.model.free_RVs}
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
    pt_["kappa"] = np.array(0.5)
    pt_["log_inv_f1"] = np.array(np.log(10.0))
    pt_["log_d1"] = np.array(np.log(1.3))
    v = _eval_det(m, ["c1", "f1", "d1"], pt_)
    assert v["f1"] == pytest.approx(0.1)
    assert v["c1"] * v["f1"] == pytest.approx(np.exp(0.5 + 10 * np.log(1.3)))


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
