"""Reliability: guards and one-line errors for nonsense input (issue 12, items 6-8), and the
card/draws hash of saved posteriors."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest

from distillaw.cli import main
from distillaw.errors import DistillawError, PlanningError, PosteriorError, PriorError
from distillaw.posterior import Posterior


def _cli(argv, capsys):
    rc = main([str(a) for a in argv])
    cap = capsys.readouterr()
    return rc, cap.out, cap.err.strip().splitlines()


def _sup(S: int = 60, seed: int = 0, name: str = "sup") -> Posterior:
    rng = np.random.default_rng(seed)
    p = {k: v * np.exp(0.02 * rng.standard_normal(S)) for k, v in
         dict(E=1.69, A=406.4, B=410.7, alpha=0.34, beta=0.28).items()}
    p["sigma"] = np.full(S, 0.01)
    return Posterior.from_params("supervised", p, name=name)


@pytest.fixture(scope="module")
def sup_dir(tmp_path_factory):
    return _sup().save(tmp_path_factory.mktemp("m") / "sup")


@pytest.fixture(scope="module")
def dis_dir(tmp_path_factory, jittered_busbridge):
    return jittered_busbridge(40, 0).save(tmp_path_factory.mktemp("m") / "dis")


# ---------------------------------------------------------------------------- sizes
def test_huge_ranges_grid_is_refused_before_any_work(sup_dir, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(Posterior, "load", classmethod(lambda cls, d: pytest.fail("loaded")))
    rc, _, err = _cli(["plan", sup_dir, "--ranges", "N=1e8:1e10:1000; M=1:100:1000", "--k",
                       "2", "--budget", "1e20", "--out", tmp_path / "p.csv"], capsys)
    assert rc == 2 and len(err) == 1
    assert "1,000,000 candidate runs" in err[0] and "GiB" in err[0]
    assert not (tmp_path / "p.csv").exists()


def test_plan_api_states_the_size_of_a_too_large_pool(monkeypatch):
    import distillaw.guards as guards
    from distillaw.planning import candidate_grid, plan

    monkeypatch.setattr(guards, "MAX_EVAL_BYTES", 8 * 40 * 60 - 1)
    pool = candidate_grid(N=list(np.geomspace(1e8, 1e9, 10)), M=[10.0, 20.0, 40.0, 80.0])
    with pytest.raises(PlanningError, match=r"40 candidate runs x 60 draws need"):
        plan(_sup(), pool, target="allocation", alloc_budget=1e22, k=2, budget=1e20)


def test_empty_plan_says_why(sup_dir, tmp_path, capsys):
    rc, _, err = _cli(["plan", sup_dir, "--ranges", "N=1e8:1e9:3; M=20", "--k", "2",
                       "--budget", "1e3", "--alloc-budget", "1e22", "--draws", "50",
                       "--out", tmp_path / "p.csv"], capsys)
    assert rc == 0
    assert any("no candidate fits the budget of 1e+03 FLOPs" in line for line in err), err


# ---------------------------------------------------------------------------- nonsense input
def test_nan_prediction_is_an_error_not_a_number(dis_dir, capsys):
    rc, out, err = _cli(["predict", dis_dir, "--N", "1e9", "--D", "2e10", "--L-T", "1e-300"],
                        capsys)
    assert rc == 2 and out == "" and len(err) == 1 and "not a finite number" in err[0]


def test_group_on_a_non_hierarchical_posterior_is_rejected(sup_dir, capsys):
    rc, _, err = _cli(["predict", sup_dir, "--N", "1e9", "--D", "2e10", "--group", "x"],
                      capsys)
    assert rc == 2 and len(err) == 1 and "not hierarchical" in err[0]


def test_duplicate_header_via_cli(tmp_path, capsys):
    f = tmp_path / "t.csv"
    f.write_text("run_id,kind,N,D,L,L\na,supervised,1e6,2e7,3.0,2.0\n")
    rc, _, err = _cli(["data", "validate", f], capsys)
    assert rc == 2 and err == [f"error: {f}, column 'L': duplicate column 'L' in the header"]


def test_drop_highest_loss_never_ignored_nor_larger_than_the_table(tmp_path, capsys):
    epoch = tmp_path / "epoch.csv"
    epoch.write_text("N_params,D_tokens,C_flops,loss\n" + "".join(
        f"{n:g},{20 * n:g},{120 * n * n:g},{2 + 1e3 / n ** 0.3:.4f}\n"
        for n in (1e7, 2e7, 4e7)))
    rc, _, err = _cli(["data", "import", epoch, "--out", tmp_path / "o.csv",
                       "--drop-highest-loss", "3"], capsys)
    assert rc == 2 and "would drop all 3 rows" in err[0]
    rc, _, err = _cli(["data", "import", epoch, "--out", tmp_path / "o.csv",
                       "--drop-highest-loss", "1"], capsys)
    assert rc == 0 and len(pd.read_csv(tmp_path / "o.csv")) == 2
    runs = tmp_path / "runs.csv"
    runs.write_text("run_id,kind,N,D,L\na,supervised,1e6,2e7,3.0\n")
    rc, _, err = _cli(["data", "import", runs, "--out", tmp_path / "o2.csv",
                       "--drop-highest-loss", "1"], capsys)
    assert rc == 2 and "only to the Epoch formats" in err[0]


def test_bad_priors_are_prior_errors_before_sampling(monkeypatch):
    from pymc_extras.prior import Prior

    import distillaw
    import distillaw.sampling.engine as fit_mod
    from distillaw.simulate import shipped_supervised

    monkeypatch.setattr(fit_mod, "_sample", lambda *a, **k: pytest.fail("sampled"))
    table = shipped_supervised()
    for priors, msg in (({"log_alpha": {"dist": "NoSuchDist", "kwargs": {"mu": 0}}},
                         "NoSuchDist"),
                        ({"log_alpha": Prior("Normal", mu=-1.0, sigma=-0.5)}, "must be > 0"),
                        ({"sigma": {"dist": "HalfNormal", "kwargs": {"sigma": 0}}},
                         "must be > 0")):
        with pytest.raises(PriorError, match=msg):
            distillaw.fit(table, "supervised", form="chinchilla", priors=priors, draws=10,
                        tune=10, chains=1, progressbar=False)


# ---------------------------------------------------------------------------- card hash
def test_card_and_draws_that_do_not_belong_together_are_refused(sup_dir, dis_dir, tmp_path,
                                                                  capsys):
    mixed = tmp_path / "mixed"
    shutil.copytree(sup_dir, mixed)
    shutil.copy(dis_dir / "posterior.nc", mixed / "posterior.nc")
    with pytest.raises(PosteriorError, match="do not belong together"):
        Posterior.load(mixed)
    rc, out, err = _cli(["predict", mixed, "--N", "1e9", "--D", "2e10"], capsys)
    assert rc == 2 and out == "" and len(err) == 1 and "do not belong together" in err[0]
    # same law, other draws: caught by the hash too
    other = tmp_path / "other"
    _sup(60, seed=5).save(other)
    shutil.copy(other / "posterior.nc", mixed / "posterior.nc")
    with pytest.raises(PosteriorError, match="do not belong together"):
        Posterior.load(mixed)


def test_cards_saved_before_the_hash_still_load_and_are_checked_for_law(sup_dir, dis_dir,
                                                                        tmp_path):
    old = tmp_path / "old"
    shutil.copytree(sup_dir, old)
    card = json.loads((old / "card.json").read_text())
    del card["draws_hash"]
    (old / "card.json").write_text(json.dumps(card))
    assert Posterior.load(old).law == "supervised"  # tolerant: no hash, still loads
    shutil.copy(dis_dir / "posterior.nc", old / "posterior.nc")
    with pytest.raises(PosteriorError, match="do not belong together"):
        Posterior.load(old)


def test_shipped_models_load(repo):
    for name, law in (("supervised", "supervised"), ("distillation", "distillation")):
        assert Posterior.load(repo / "models" / name).law == law


def test_folder_with_other_files_is_not_swapped_away(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(DistillawError, match="holds other files"):
        _sup().save(tmp_path)
    assert (tmp_path / "notes.txt").read_text() == "mine"
