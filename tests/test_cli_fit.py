"""CLI: ``distillaw fit`` / ``distillaw predict`` shapes, files and one-line errors.

One real (small) NUTS fit is shared by the module; bad input is checked in-process (fast)
and once end-to-end through a subprocess.
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from distillaw.cli import main

pytestmark = pytest.mark.filterwarnings("ignore:PyTensor could not link to a BLAS")

SUP_NAMES = ["E", "A", "B", "alpha", "beta", "gamma"]


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    """A cheap saved posterior (hand-built draws of the Epoch law plus noise draws) for the
    predict and bad-input tests; the real NUTS path is tested once below."""
    from distillaw import published
    from distillaw._compat import import_arviz
    from distillaw.posterior import Posterior

    rng = np.random.default_rng(0)
    p = published("epoch2024").point()
    S = 400
    draws = {k: v * np.exp(0.02 * rng.standard_normal(S)) for k, v in p.items()}
    base = Posterior.from_params("supervised", draws)
    data = {k: base.idata.posterior[k].values for k in base.idata.posterior.data_vars}
    data |= {"sigma": np.full((1, S), 0.01), "nu": np.full((1, S), 5.0)}
    post = Posterior(import_arviz().from_dict(posterior=data), base.spec,
                     diagnostics={"r_hat_max": 1.0, "ess_bulk_min": 400.0, "divergences": 0})
    out = tmp_path_factory.mktemp("cli") / "model"
    post.save(out)
    return out, None


def test_fit_json_shape_names_files_and_recovery(repo, tmp_path):
    """Real (small) NUTS through the CLI on the shipped simulated supervised set."""
    import io
    from contextlib import redirect_stdout

    out = tmp_path / "model"
    buf = io.StringIO()
    with redirect_stdout(buf):
        rc = main(["fit", str(repo / "data" / "simulated" / "supervised.csv"), "--law",
                   "supervised", "--form", "busbridge", "--out", str(out), "--draws", "150",
                   "--tune", "200", "--chains", "2", "--seed", "3", "--json", "--no-progress",
                   "--error", "iid", "--prior", "log_E=Normal(mu=0.2, sigma=0.05)"])
    assert rc == 0
    doc = json.loads(buf.getvalue())
    assert set(doc) == {"law", "parameters", "ci", "diagnostics", "out", "notes"}
    assert doc["out"] == str(out) and isinstance(doc["notes"], list)
    assert doc["law"] == "supervised" and doc["ci"] == 0.95
    assert list(doc["parameters"]) == SUP_NAMES
    for v in doc["parameters"].values():
        assert set(v) == {"median", "lower", "upper"} and v["lower"] <= v["median"] <= v["upper"]
    assert set(doc["diagnostics"]) == {"r_hat_max", "ess_bulk_min", "divergences"}
    assert doc["diagnostics"]["divergences"] == 0
    assert sorted(p.name for p in out.iterdir()) == ["card.json", "card.md", "posterior.nc"]
    truth = json.loads((repo / "data" / "simulated" / "supervised.truth.json").read_text())
    for name in SUP_NAMES:
        v = doc["parameters"][name]
        assert v["lower"] <= truth[name] <= v["upper"], name
    card = json.loads((out / "card.json").read_text())
    assert card["model"]["data_file"].endswith("supervised.csv")
    assert card["model"]["priors"]["log_E"] == {"dist": "Normal",
                                                "kwargs": {"mu": 0.2, "sigma": 0.05}}


def test_predict_points_file(fitted, tmp_path, capsys):
    out, _ = fitted
    pts = tmp_path / "points.csv"
    pd.DataFrame({"N": [1e8, 1e9], "D": [2e9, 2e10], "note": ["a", "b"]}).to_csv(pts, index=False)
    dest = tmp_path / "pred.csv"
    assert main(["predict", str(out), "--points", str(pts), "--ci", "0.8", "--out",
                 str(dest)]) == 0
    pred = pd.read_csv(dest)
    assert list(pred.columns) == ["N", "D", "note", "median", "lower", "upper"]
    assert np.all(pred["lower"] < pred["median"]) and np.all(pred["median"] < pred["upper"])
    assert pred["median"][0] > pred["median"][1]  # bigger model, lower loss
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temp left


def test_predict_single_point_json(fitted, capsys):
    out, _ = fitted
    capsys.readouterr()
    assert main(["predict", str(out), "--N", "1e9", "--D", "2e10", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["quantity"] == "loss" and doc["ci"] == 0.9
    assert doc["lower"] < doc["median"] < doc["upper"]
    assert main(["predict", str(out), "--N", "1e9", "--D", "2e10", "--predictive",
                 "--json"]) == 0
    wide = json.loads(capsys.readouterr().out)
    assert wide["upper"] - wide["lower"] > doc["upper"] - doc["lower"]


@pytest.mark.parametrize("args,needle", [
    (["fit", "{missing}", "--law", "supervised", "--out", "{out}"], "no such data file"),
    (["fit", "{data}", "--law", "kaplan", "--out", "{out}"], "unknown law"),
    (["fit", "{data}", "--law", "supervised", "--form", "x", "--out", "{out}"], "unknown form"),
    (["fit", "{data}", "--law", "supervised", "--sampler", "emcee", "--out", "{out}"],
     "unknown sampler"),
    (["fit", "{data}", "--law", "supervised", "--draws", "0", "--out", "{out}"], "--draws"),
    (["fit", "{data}", "--law", "supervised", "--error", "arima", "--out", "{out}"],
     "unknown error"),
    (["fit", "{data}", "--law", "supervised", "--mass-matrix", "dense", "--out", "{out}"],
     "unknown mass matrix 'dense'; choose one of low-rank, diag"),
    (["fit", "{data}", "--law", "supervised", "--target-accept", "1.2", "--out", "{out}"],
     "--target-accept must be in [0.5, 1)"),
    (["predict", "{model}", "--N", "1e9", "--D", "2e10", "--ci", "1.2"], "--ci"),
    (["predict", "{missing}", "--N", "1e9", "--D", "2e10"], "no such model directory"),
    (["predict", "{model}", "--points", "{missing}", "--out", "{out}.csv"], "no such points"),
    (["predict", "{model}", "--N", "-3", "--D", "2e10"], "positive"),
    (["predict", "{model}", "--N", "1e9"], "needs --D"),
    (["predict", "{model}", "--N", "1e9", "--D", "2e10", "--L-T", "2.1"], "distillation"),
    (["fit", "{data}", "--law", "supervised", "--out", "{out}", "--prior",
      "log_alfa=Normal(mu=0, sigma=1)"], "unknown prior 'log_alfa' for the supervised law; "
     "valid names: log_E, log_A_ref"),
    (["fit", "{data}", "--law", "supervised", "--out", "{out}", "--prior",
      "log_E=Normal(mu=0, sigma=-1)"], "must be > 0"),
    (["fit", "{data}", "--law", "supervised", "--out", "{out}", "--prior",
      "log_E=Normal(0, 1)"], "keyword arguments only"),
    (["fit", "{data}", "--law", "supervised", "--out", "{out}", "--prior", "log_E"],
     "use NAME=Dist(key=value, ...)"),
    (["fit", "{data}", "--law", "supervised", "--out", "{out}", "--prior",
      "log_E={{\"dist\": 1"], "not valid JSON"),
    (["fit", "{data}", "--law", "supervised", "--out", "{out}", "--priors", "{missing}"],
     "no such file"),
])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(args, needle, fitted, repo, tmp_path,
                                                          capsys):
    model, _ = fitted
    fill = {"missing": str(tmp_path / "nope.csv"), "out": str(tmp_path / "out"),
            "data": str(repo / "data" / "simulated" / "supervised.csv"), "model": str(model)}
    capsys.readouterr()
    rc = main([a.format(**fill) for a in args])
    err = capsys.readouterr().err
    assert rc == 2
    assert err.startswith("error: ") and err.count("\n") == 1 and needle in err
    assert list(tmp_path.iterdir()) == []


def test_bad_points_file_names_row_and_column(fitted, tmp_path, capsys):
    model, _ = fitted
    pts = tmp_path / "p.csv"
    pts.write_text("N,D\n1e9,2e10\n1e9,abc\n")
    capsys.readouterr()
    assert main(["predict", str(model), "--points", str(pts), "--out",
                 str(tmp_path / "o.csv")]) == 2
    err = capsys.readouterr().err
    assert "row 2" in err and "'D'" in err
    assert not (tmp_path / "o.csv").exists()


def test_subprocess_error_has_no_traceback(tmp_path):
    r = subprocess.run([sys.executable, "-m", "distillaw", "fit", str(tmp_path / "x.csv"),
                        "--law", "supervised", "--out", str(tmp_path / "m")],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2
    assert r.stderr.strip().count("\n") == 0 and "Traceback" not in r.stderr
    assert not (tmp_path / "m").exists()


def test_priors_file_and_prior_flags_merge(tmp_path):
    from distillaw.cli.prior_args import gather_priors

    f = tmp_path / "priors.json"
    f.write_text(json.dumps({"log_E": "Normal(mu=0.2, sigma=0.05)",
                             "sigma": {"dist": "HalfNormal", "kwargs": {"sigma": 0.02}}}))
    got = gather_priors(f, ["log_E=Normal(mu=0.3, sigma=HalfNormal(sigma=0.1))"])
    assert got == {"log_E": {"dist": "Normal", "kwargs": {
        "mu": 0.3, "sigma": {"dist": "HalfNormal", "kwargs": {"sigma": 0.1}}}},
        "sigma": {"dist": "HalfNormal", "kwargs": {"sigma": 0.02}}}
    from distillaw.errors import DistillawError

    with pytest.raises(DistillawError, match="given twice"):
        gather_priors(None, ["log_E=Normal(mu=0, sigma=1)", "log_E=Normal(mu=1, sigma=1)"])
    f.write_text("[1, 2]")
    with pytest.raises(DistillawError, match="expected a JSON object"):
        gather_priors(f, None)


def test_version_and_labelled_intervals(fitted, capsys):
    from distillaw import __version__

    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"distillaw {__version__}"
    model, _ = fitted
    assert main(["predict", str(model), "--N", "1e9", "--D", "2e10"]) == 0
    # labelled with its level and with what it is (the law's interval, not a new run's)
    assert "90% law interval" in capsys.readouterr().out


def test_predict_optimal_teacher_for_a_distillation_posterior(tmp_path, capsys):
    """The published law: the optimal 20-tokens/param teacher of a 1B student on 20B tokens
    (one draw, so the interval is a point); a 1T student's optimum is above the searched
    range, and predict says so."""
    from distillaw import published
    from distillaw.posterior import Posterior

    post = Posterior.from_params("distillation", published("busbridge2025").point())
    model = post.save(tmp_path / "distil")
    ref = post.optimal_teacher([1e9], [2e10]).draws["N_T"][0, 0]
    assert main(["predict", str(model), "--N", "1e9", "--D", "2e10", "--optimal-teacher",
                 "--json"]) == 0
    cap = capsys.readouterr()
    doc = json.loads(cap.out)
    assert doc["quantity"] == "optimal_teacher" and doc["warnings"] == [] and cap.err == ""
    assert doc["N_T"]["median"] == pytest.approx(ref)
    assert doc["L_S"]["median"] > doc["L_T"]["median"] > 0
    assert main(["predict", str(model), "--N", "1e12", "--D", "2e13", "--optimal-teacher"]) == 0
    cap = capsys.readouterr()
    assert "optimal teacher size N_T* (teachers on 20 tokens/param): median 1e+14, 90% " \
           "interval" in cap.out
    assert "warning: the optimal teacher size sits on the upper bound" in cap.err
    rc = main(["predict", str(model), "--N", "1e9", "--D", "2e10", "--L-T", "2",
               "--optimal-teacher"])
    assert rc == 2 and "--optimal-teacher takes a single student" in capsys.readouterr().err


def test_fit_extrapolation_bad_values_are_one_line_errors(repo, tmp_path, capsys):
    data = repo / "data" / "simulated" / "supervised.csv"
    rc = main(["fit", str(data), "--law", "supervised", "--out", str(tmp_path / "m"),
               "--extrapolation", "sometimes"])
    err = capsys.readouterr().err
    assert rc == 2 and "unknown extrapolation 'sometimes'" in err and "Traceback" not in err
    rc = main(["fit", str(data), "--law", "capacity-gap", "--out", str(tmp_path / "m"),
               "--extrapolation", "calibrate"])
    err = capsys.readouterr().err
    assert rc == 2 and "calibrate applies to the supervised and distillation" in err


def test_fit_extrapolation_calibrate_survives_save_and_load(repo, tmp_path, capsys):
    """Real NUTS: the calibrated discrepancy is on the card, reloads, and widens a predictive
    interval far from the data but not at a fitted run."""
    from distillaw.posterior import Posterior

    out = tmp_path / "cal"
    rc = main(["fit", str(repo / "data" / "simulated" / "supervised.csv"), "--law",
               "supervised", "--out", str(out), "--draws", "150", "--tune", "200",
               "--chains", "2", "--no-progress", "--extrapolation", "calibrate",
               "--mass-matrix", "diag", "--target-accept", "0.85"])
    assert rc == 0, capsys.readouterr().err
    card = json.loads((out / "card.json").read_text())
    assert card["spec"]["discrepancy"]["method"] == "leave-largest-out"
    assert len(card["spec"]["discrepancy"]["folds"]) >= 2
    # the metric the caller chose is the fit's and, chosen explicitly, the folds' too
    settings = json.dumps(card)
    assert '"mass_matrix": "diag"' in settings and '"target_accept": 0.85' in settings
    assert {f["mass_matrix"] for f in card["spec"]["discrepancy"]["folds"]} == {"diag"}
    post = Posterior.load(out)
    assert post.discrepancy is not None
    fitted = post.fitted_rows().iloc[[0]]
    far = fitted.assign(N=fitted["N"] * 100, D=fitted["D"] * 100)
    bare = post.without_discrepancy()
    for pts, wider in ((fitted, False), (far, True)):
        w_cal = np.ptp(np.log(np.quantile(post.predictive_draws(pts)[:, 0], [0.05, 0.95])))
        w_bare = np.ptp(np.log(np.quantile(bare.predictive_draws(pts)[:, 0], [0.05, 0.95])))
        assert (w_cal > w_bare * 1.0001) == wider
