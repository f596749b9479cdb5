"""``distillaw plan``: happy paths and one-line errors with exit code 2, nothing written."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from distillaw.cli import main
from distillaw.data import read_runs
from distillaw.posterior import Posterior


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    rng = np.random.default_rng(0)
    S = 120
    post = Posterior.from_params("supervised", {
        "E": 1.69 * np.exp(rng.normal(0, 0.04, S)), "A": 406.4 * np.exp(rng.normal(0, 0.1, S)),
        "B": 410.7 * np.exp(rng.normal(0, 0.1, S)), "alpha": 0.34 + rng.normal(0, 0.01, S),
        "beta": 0.28 + rng.normal(0, 0.01, S), "sigma": np.full(S, 0.01)})
    return post.save(tmp_path_factory.mktemp("model") / "chin")


def test_plan_ranges_happy_path_json(model_dir, tmp_path, capsys):
    out = tmp_path / "plan.csv"
    rc = main(["plan", str(model_dir), "--ranges", "N=1e7:1e9:4; M=10,40", "--target",
               "allocation", "--alloc-budget", "1e22", "--k", "3", "--budget", "1e20",
               "--out", str(out), "--json", "--draws", "100", "--fantasies", "16"])
    assert rc == 0
    doc = json.loads(capsys.readouterr().out)
    plan = read_runs(out, require_loss=False)
    assert 1 <= len(plan) <= 3 and doc["n_runs"] == len(plan)
    assert doc["total_cost"] <= 1e20
    assert plan["L"].isna().all()
    assert (pd.to_numeric(plan["expected_gain"]) > 0).all()  # extra columns come back as text


def test_plan_pool_and_points_target(model_dir, tmp_path, capsys):
    pool = tmp_path / "pool.csv"
    pool.write_text("run_id,kind,N,D\na,supervised,1e8,2e9\nb,supervised,3e8,6e9\n"
                    "c,supervised,1e7,2e8\n")
    pts = tmp_path / "target.csv"
    pts.write_text("N,D\n1e10,2e11\n")
    out = tmp_path / "plan.csv"
    rc = main(["plan", str(model_dir), "--pool", str(pool), "--target", str(pts), "--k", "2",
               "--budget", "1e21", "--out", str(out), "--method", "log-grid", "--draws", "50"])
    assert rc == 0
    assert len(read_runs(out, require_loss=False)) == 2
    assert "wrote 2 run(s)" in capsys.readouterr().err


@pytest.mark.parametrize("args, msg", [
    (["--k", "0"], "--k must be > 0"),
    (["--budget", "-5"], "--budget must be > 0"),
    (["--target", "elsewhere"], "unknown --target"),
    (["--ranges", "N=1e7:x:3; M=20"], "--ranges"),
    (["--method", "psychic"], "unknown method"),
    (["--target", "teacher"], "distillation posterior"),
    (["--cost", "magic"], "unknown --cost"),
    (["--n-vocab", "0"], "--n-ctx and --n-vocab must be > 0"),
    (["--no-such-option"], "No such option"),
])
def test_plan_bad_input_one_line_exit_2(model_dir, tmp_path, capsys, args, msg):
    out = tmp_path / "plan.csv"
    base = {"--ranges": "N=1e7:1e9:3; M=20", "--target": "allocation", "--k": "2",
            "--budget": "1e20", "--alloc-budget": "1e22", "--draws": "30"}
    opts = {**base, **dict(zip(args[::2], args[1::2], strict=False))}
    opts = [x for kv in opts.items() for x in kv] + (args if len(args) == 1 else [])
    rc = main(["plan", str(model_dir), *opts, "--out", str(out)])
    err = capsys.readouterr().err.strip()
    assert rc == 2
    assert len(err.splitlines()) == 1 and msg in err
    assert not out.exists()


def test_plan_missing_model_dir_and_pool_errors(model_dir, tmp_path, capsys):
    out = tmp_path / "plan.csv"
    common = ["--k", "1", "--budget", "1e20", "--alloc-budget", "1e22", "--out", str(out)]
    assert main(["plan", str(tmp_path / "nope"), "--ranges", "N=1e8; M=20", *common]) == 2
    assert "no such model directory" in capsys.readouterr().err
    pool = tmp_path / "pool.csv"
    pool.write_text("run_id,kind,N,D\na,supervised,1e8,2e9\nb,supervised,-3,6e9\n")
    assert main(["plan", str(model_dir), "--pool", str(pool), *common]) == 2
    err = capsys.readouterr().err
    assert "pool.csv" in err and "row 2" in err and "'N'" in err
    assert main(["plan", str(model_dir), "--pool", str(tmp_path / "missing.csv"), *common]) == 2
    assert "file not found" in capsys.readouterr().err
    assert main(["plan", str(model_dir), *common]) == 2
    assert "exactly one of --pool" in capsys.readouterr().err
    assert not out.exists()


# ============================================================================ --bounds (issue 15)
@pytest.fixture(scope="module")
def distil_dir(tmp_path_factory):
    from distillaw.published import published

    p = published("busbridge2025").point()
    rng = np.random.default_rng(1)
    post = Posterior.from_params("distillation", {
        **p, "E": p["E"] * np.exp(rng.normal(0, 0.01, 8)),
        "A": p["A"] * np.exp(rng.normal(0, 0.05, 8)), "sigma": np.full(8, 0.01)})
    return post.save(tmp_path_factory.mktemp("model") / "distil")


def test_plan_teacher_target_on_the_lower_bound_warns(distil_dir, tmp_path, capsys):
    """With the published law, the best teacher for a 1e7 student is about 1.7e9: a
    search starting at 1e10 finds it on the lower bound, and the plan says so."""
    out = tmp_path / "plan.csv"
    common = ["--ranges", "N=1e7; M=20; N_T=1e8; M_T=20", "--target", "teacher",
              "--student", "1e7", "--k", "1", "--budget", "1e20", "--draws", "8",
              "--out", str(out), "--json"]
    rc = main(["plan", str(distil_dir), *common, "--bounds", "N_T=1e10:1e12"])
    cap = capsys.readouterr()
    assert rc == 0, cap.err
    doc = json.loads(cap.out)
    assert doc["target"]["median"][0] == pytest.approx(1e10)
    assert "warning: the optimal teacher sits on the lower search bound (1e+10" in cap.err
    assert "8 of 8 draws; the median sits there" in doc["info"]["warnings"][0]
    rc = main(["plan", str(distil_dir), *common, "--bounds", "N_T=1e6:1e12"])
    cap = capsys.readouterr()
    assert rc == 0 and "warnings" not in json.loads(cap.out)["info"]
    assert 1e8 < json.loads(cap.out)["target"]["median"][0] < 1e10


@pytest.mark.parametrize("spec, words", [
    ("N_X=1:2", "--bounds: 'N_X=1:2' is not KEY=LOW:HIGH"),
    ("N_T=1e9:1e8", "0 < LOW < HIGH"),
    ("N_T=1e8:1e9,N_T=1e8:1e10", "given twice"),
])
def test_plan_bad_bounds_one_line_exit_2(distil_dir, tmp_path, capsys, spec, words):
    out = tmp_path / "plan.csv"
    rc = main(["plan", str(distil_dir), "--ranges", "N=1e7; M=20", "--target", "teacher",
               "--student", "1e7", "--k", "1", "--budget", "1e20", "--out", str(out),
               "--bounds", spec])
    err = capsys.readouterr().err
    assert rc == 2 and words in err and len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_plan_folds_observed_runs_in_first(tmp_path, capsys):
    """--observed re-weights the draws by the finished runs (same code path as the
    benchmark: distillaw.refit.update), saves the updated posterior, then plans; a
    hand-made posterior without resolved priors cannot be refitted: one line, exit 2."""
    import xarray as xr

    rng = np.random.default_rng(1)
    S = 400
    post = Posterior.from_params("supervised", {
        "E": 1.69 * np.exp(rng.normal(0, 0.04, S)), "A": 406.4, "B": 410.7, "alpha": 0.34,
        "beta": 0.28, "sigma": np.full(S, 0.02)})
    fitted = {"run_id": np.array(["f0"]), "kind": np.array(["supervised"]),
              "N": np.array([1e7]), "D": np.array([2e8]), "L": np.array([3.9])}
    post.idata.add_groups(constant_data=xr.Dataset({k: ("row", v) for k, v in
                                                    fitted.items()}))
    model = post.save(tmp_path / "m")
    obs = tmp_path / "done.csv"
    obs.write_text("run_id,kind,N,D,L\nr1,supervised,1e8,2e9,3.45\n")
    out = tmp_path / "plan.csv"
    args = ["plan", str(model), "--ranges", "N=1e8:1e9:3; M=20", "--target", "allocation",
            "--alloc-budget", "1e22", "--k", "2", "--budget", "1e20", "--out", str(out),
            "--draws", "200", "--fantasies", "16", "--observed", str(obs)]
    rc = main(args + ["--ess-min", "10", "--updated-out", str(tmp_path / "m2")])
    assert rc == 0, capsys.readouterr().err
    err = capsys.readouterr().err
    assert "folded 1 finished run(s) into the posterior by reweight" in err
    upd = Posterior.load(tmp_path / "m2")
    assert len(upd.fitted_rows()) == 2 and upd.model_info["update"]["method"] == "reweight"
    # The re-weighted floor moved towards what the run says.
    assert abs(np.median(upd.param_draws()["E"]) - np.median(post.param_draws()["E"])) > 1e-3
    out.unlink()
    rc = main(args + ["--ess-min", "1e9"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1 and "resolved priors" in err
    assert not out.exists()
