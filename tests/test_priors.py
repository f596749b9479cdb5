"""Default priors: names, merging, errors, JSON round trip, plausibility (no sampling)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from pymc_extras.prior import Prior

from distillaw.errors import PriorError
from distillaw.priors import (
    default_priors,
    prior_names,
    prior_sd,
    priors_from_dict,
    priors_to_dict,
    published_kappa,
    resolve_priors,
)


@pytest.mark.parametrize("law,form", [("supervised", "chinchilla"), ("supervised", "busbridge"),
                                      ("distillation", "busbridge"),
                                      ("distillation", "chinchilla"),
                                      ("capacity-gap", "power")])
@pytest.mark.parametrize("likelihood", ["student_t", "normal"])
def test_defaults_cover_exactly_the_named_parameters(law, form, likelihood):
    pri = default_priors(law, form, likelihood=likelihood)
    assert tuple(pri) == prior_names(law, form, likelihood)
    assert ("nu" in pri) == (likelihood == "student_t")
    assert all(isinstance(p, Prior) for p in pri.values())


def test_exponents_are_published_centred():
    ch = default_priors("supervised", "chinchilla")
    bb = default_priors("supervised", "busbridge")
    assert math.exp(ch["log_alpha"].parameters["mu"]) == pytest.approx(0.3478)
    assert math.exp(bb["log_gamma"].parameters["mu"]) == pytest.approx(0.452)
    assert math.exp(bb["log_E"].parameters["mu"]) == pytest.approx(1.22)
    cg = default_priors("capacity-gap")
    assert math.exp(cg["log_k_ref"].parameters["mu"]) == pytest.approx(2.5)
    assert cg["s"].parameters["mu"] == 1.0


def test_override_merges_by_name_and_keeps_the_rest():
    new = Prior("Normal", mu=-1.2, sigma=0.05)
    pri = resolve_priors("supervised", "chinchilla", {"log_alpha": new})
    assert pri["log_alpha"] == new
    assert pri["log_beta"] == default_priors("supervised", "chinchilla")["log_beta"]
    # The dict form (what JSON gives back) is accepted too.
    pri = resolve_priors("supervised", "chinchilla", {"log_alpha": new.to_dict()})
    assert pri["log_alpha"] == new


def test_unknown_prior_name_lists_valid_names():
    with pytest.raises(PriorError) as exc:
        resolve_priors("supervised", "chinchilla", {"alpha": Prior("Normal")})
    msg = str(exc.value)
    assert "unknown prior 'alpha'" in msg and "log_alpha" in msg and "\n" not in msg
    # gamma does not exist in the Chinchilla form, nu not with a Normal likelihood.
    with pytest.raises(PriorError, match="log_gamma"):
        resolve_priors("supervised", "chinchilla", {"log_gamma": Prior("Normal")})
    with pytest.raises(PriorError, match="'nu'"):
        resolve_priors("supervised", "busbridge", {"nu": Prior("Gamma", alpha=2, beta=0.1)},
                       likelihood="normal")


def test_override_must_be_a_prior():
    with pytest.raises(PriorError, match="must be a pymc_extras Prior"):
        resolve_priors("supervised", "busbridge", {"log_E": 1.2})
    with pytest.raises(PriorError, match="cannot read"):
        resolve_priors("supervised", "busbridge", {"log_E": {"kwargs": {}}})


def test_json_round_trip_of_all_defaults_including_hierarchical():
    pri = default_priors("supervised", "busbridge", group_params=("log_E", "log_alpha"))
    data = json.loads(json.dumps(priors_to_dict(pri)))
    back = priors_from_dict(data)
    assert back == pri
    assert back["log_E"].dims == ("group",) and back["log_E"].centered is False
    assert back["log_A_ref"].dims is None


def test_data_scaled_priors_follow_the_data_scale():
    tiny = default_priors("supervised", "chinchilla", scale={"L_ref": 1.6, "N_ref": 1e5,
                                                              "D_ref": 1e7})
    big = default_priors("supervised", "chinchilla", scale={"L_ref": 2.8})
    assert tiny["log_A_ref"].parameters["mu"] == pytest.approx(math.log(1.6 / 4))
    assert big["log_A_ref"].parameters["mu"] == pytest.approx(math.log(2.8 / 4))


def test_informative_distillation_priors_are_widened_busbridge():
    pri = default_priors("distillation", "busbridge", supervised_data=False,
                         scale={"N_ref": 1e9, "D_ref": 2e10})
    e = pri["log_E"].parameters
    assert math.exp(e["mu"]) == pytest.approx(1.22)
    boot_sd = (1.247 - 1.190) / (2 * 1.645) / 1.22  # relative sd of the published interval
    assert e["sigma"] == pytest.approx(10 * boot_sd)
    a = pri["log_A_ref"].parameters
    assert a["mu"] == pytest.approx(math.log(3355) - 0.408 * math.log(1e9))
    with pytest.raises(PriorError, match="busbridge form only"):
        default_priors("distillation", "chinchilla", supervised_data=False)


def test_kappa_is_the_published_break_strength():
    k = published_kappa()
    assert k == pytest.approx(math.log(522.6 * 0.09) - math.log(1.315) / 0.09)
    # c1 f1 recovered from kappa and d1, f1:
    assert math.exp(k + math.log(1.315) / 0.09) / 0.09 == pytest.approx(522.6)


def test_group_params_must_be_supervised_names():
    with pytest.raises(PriorError, match="not a group-level parameter of the supervised law"):
        default_priors("supervised", "busbridge", group_params=("log_c0",))


def test_prior_sd_matches_sampling():
    rng = np.random.default_rng(0)
    assert prior_sd(Prior("Normal", mu=1, sigma=0.3)) == pytest.approx(0.3)
    hn = prior_sd(Prior("HalfNormal", sigma=0.1))
    assert hn == pytest.approx(np.abs(rng.normal(0, 0.1, 200_000)).std(), rel=0.02)
    assert prior_sd(Prior("Gamma", alpha=2, beta=0.1)) == pytest.approx(math.sqrt(2) / 0.1)
    assert prior_sd(Prior("Normal", mu=Prior("Normal"), sigma=1, dims="group")) is None


def test_prior_predictive_losses_are_plausible_at_both_scales():
    """Losses drawn from the default priors land in a sane range, at published scale and
    at the byte-level scale of the runner (N ~ 1e5, D ~ 1e7)."""
    import pymc as pm

    from distillaw.laws import supervised_loss

    for N, D, L_ref in ((1e9, 2e10, 2.5), (1e5, 1e7, 1.8)):
        pri = default_priors("supervised", "busbridge", scale={"N_ref": N, "D_ref": D,
                                                               "L_ref": L_ref})
        with pm.Model():
            v = {k: pri[k].create_variable(k) for k in ("log_E", "log_A_ref", "log_B_ref",
                                                        "log_alpha", "log_beta", "log_gamma")}
            draws = pm.draw(list(v.values()), draws=2000, random_seed=1)
        d = dict(zip(v, draws, strict=True))
        alpha, beta = np.exp(d["log_alpha"]), np.exp(d["log_beta"])
        L = supervised_loss(N, D, E=np.exp(d["log_E"]), A=np.exp(d["log_A_ref"]) * N ** alpha,
                            B=np.exp(d["log_B_ref"]) * D ** beta, alpha=alpha, beta=beta,
                            gamma=np.exp(d["log_gamma"]))
        med = np.median(L)
        assert 0.5 * L_ref < med < 3 * L_ref
        assert np.mean((L > 0.3) & (L < 20)) > 0.9


def test_nu_prior_keeps_the_noise_variance_finite():
    """nu = 2 + Gamma(2, 0.1): every prior draw has nu > 2 (a Student-t with nu <= 2 has no
    variance), the shift survives the JSON round trip, and its sd is the Gamma's."""
    import pymc as pm

    nu = default_priors("supervised", "chinchilla")["nu"]
    back = priors_from_dict(json.loads(json.dumps(priors_to_dict({"nu": nu}))))["nu"]
    assert back == nu and back.transform == nu.transform
    with pm.Model():
        back.create_variable("nu")
        draws = pm.draw(pm.modelcontext(None)["nu"], draws=4000, random_seed=0)
    assert draws.min() > 2.0
    # 2 + Gamma(2, 0.1): mean 22, sd sqrt(2)/0.1.
    assert draws.mean() == pytest.approx(22.0, rel=0.05)
    assert prior_sd(nu) == pytest.approx(math.sqrt(2) / 0.1)
    assert draws.std() == pytest.approx(prior_sd(nu), rel=0.08)
