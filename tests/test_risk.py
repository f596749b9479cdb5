"""Risk measures: values, CVaR properties, parsing and its errors."""

from __future__ import annotations

import numpy as np
import pytest

from distillaw.errors import DecisionError
from distillaw.risk import STANDARD, Risk, custom, cvar, mean, mean_sd, parse_risk, quantile


def _cvar_bruteforce(x: np.ndarray, alpha: float) -> float:
    """Empirical CVaR by expanding each draw into many equal atoms (no fractional logic)."""
    reps = 1000
    xs = np.sort(np.repeat(np.asarray(x, float), reps))[::-1]
    k = int(round((1 - alpha) * len(xs)))
    return float(xs[:max(k, 1)].mean())


def test_simple_values():
    x = np.array([2.0, 3.0, 4.0, 5.0])
    assert mean()(x) == pytest.approx(3.5)
    assert quantile(0.5)(x) == pytest.approx(3.5)
    assert cvar(0.5)(x) == pytest.approx(4.5)
    assert cvar(0.75)(x) == pytest.approx(5.0)
    assert mean_sd(2.0)(x) == pytest.approx(3.5 + 2 * np.std(x))


def test_reduces_axis_zero_of_a_matrix():
    rng = np.random.default_rng(0)
    draws = rng.normal(2.0, 0.1, size=(50, 7))
    for r in (mean(), quantile(0.8), cvar(0.9), mean_sd(1.0)):
        out = r(draws)
        assert out.shape == (7,)
        np.testing.assert_allclose(out, [r(draws[:, k]) for k in range(7)])


@pytest.mark.parametrize("alpha", [0.0, 0.3, 0.5, 0.75, 0.9, 0.95, 0.99])
def test_cvar_matches_bruteforce_with_fractional_tails(alpha):
    x = np.random.default_rng(1).gamma(3.0, 1.0, size=13)   # 13 draws: fractional tails
    assert cvar(alpha)(x) == pytest.approx(_cvar_bruteforce(x, alpha), rel=2e-3)


def test_cvar_between_mean_and_max_and_monotone_in_alpha():
    x = np.random.default_rng(2).normal(size=(200, 5))
    levels = [0.0, 0.5, 0.8, 0.9, 0.99]
    vals = np.array([cvar(a)(x) for a in levels])
    np.testing.assert_allclose(vals[0], x.mean(axis=0))
    assert np.all(np.diff(vals, axis=0) >= -1e-12)
    assert np.all(vals <= x.max(axis=0) + 1e-12)
    assert np.all(vals >= x.mean(axis=0) - 1e-12)


def test_two_draws_cvar_half_is_the_worse_draw():
    draws = np.array([[2.0, 2.1], [2.4, 2.2]])
    np.testing.assert_allclose(cvar(0.5)(draws), [2.4, 2.2])
    np.testing.assert_allclose(mean()(draws), [2.2, 2.15])


def test_quantile_and_mean_sd_on_point_mass():
    x = np.full((1, 3), 2.5)
    for r in (mean(), quantile(0.9), cvar(0.9), mean_sd(1.0)):
        np.testing.assert_allclose(r(x), 2.5)


@pytest.mark.parametrize("spec, name, param", [
    ("mean", "mean", None), (" Mean ", "mean", None), ("quantile:0.9", "quantile", 0.9),
    ("cvar:0.95", "cvar", 0.95), ("cvar:0", "cvar", 0.0), ("mean-sd:1", "mean-sd", 1.0),
    ("mean_sd:0.5", "mean-sd", 0.5),
])
def test_parse_risk(spec, name, param):
    r = parse_risk(spec)
    assert (r.name, r.param) == (name, param)
    assert parse_risk(r.spec) == r


def test_standard_measures_parse_and_have_labels():
    for s in STANDARD:
        r = parse_risk(s)
        assert r.spec == s and r.label


@pytest.mark.parametrize("spec, words", [
    ("foo", "unknown risk measure"), ("quantile", "needs a number"),
    ("quantile:abc", "not a number"), ("quantile:1.5", "(0, 1)"), ("quantile:0", "(0, 1)"),
    ("cvar:1", "[0, 1)"), ("cvar:-0.1", "[0, 1)"), ("mean-sd:-1", ">= 0"),
    ("mean:0.5", "takes no number"), ("cvar:nan", "finite"), (3, "must be a string"),
])
def test_parse_risk_errors(spec, words):
    with pytest.raises(DecisionError, match=None) as info:
        parse_risk(spec)
    assert words in str(info.value)


def test_custom_and_passthrough():
    worst = custom(lambda x: np.max(x, axis=0), name="worst")
    assert isinstance(worst, Risk)
    assert parse_risk(worst) is worst
    assert worst([1.0, 3.0, 2.0]) == 3.0
    r = parse_risk(lambda x: np.median(x, axis=0))
    assert r.name == "custom" and r([1.0, 2.0, 9.0]) == 2.0
