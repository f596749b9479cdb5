"""Existing teachers (issue 15): reading the table, choosing among them under the posterior,
what a new teacher would add, and ``distillaw report --teachers``."""

from __future__ import annotations

import contextlib
import io
import json

import numpy as np
import pandas as pd
import pytest

from distillaw.cli import main
from distillaw.decision import allocate, choose_teacher, score_allocations
from distillaw.errors import DecisionError, FormatError, RunTableError
from distillaw.laws.compute import DEFAULT_FLOPS, student_tokens_for_budget
from distillaw.laws.supervised import supervised_loss
from distillaw.loaders import load_teachers
from distillaw.posterior import Posterior
from distillaw.published import published


def _posterior(S=40, seed=0):
    rng = np.random.default_rng(seed)
    point = published("busbridge2025").point()
    p = {k: v * np.exp(rng.normal(0, 0.01, S)) for k, v in point.items()}
    p["c1"] = np.full(S, point["c1"])
    return Posterior.from_params("distillation", p, name="busbridge-test")


TEACHERS = pd.DataFrame({"teacher_id": ["small", "mid", "big"], "N_T": [1e9, 3e9, 7e9],
                         "D_T": [2e10, 6e10, 1.4e11]})


def _run(argv):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main([str(a) for a in argv])
    return rc, out.getvalue(), err.getvalue()


# ---------------------------------------------------------------------------- reading
def test_reader_aliases_ids_and_a_run_table(tmp_path):
    f = tmp_path / "t.csv"
    f.write_text("name,teacher_params,teacher_tokens,teacher_loss\na,1e9,2e10,\nb,,,2.3\n")
    t = load_teachers(f)
    assert list(t.columns) == ["teacher_id", "N_T", "D_T", "L_T"]
    assert list(t["teacher_id"]) == ["a", "b"]
    assert t["N_T"].iloc[0] == 1e9 and np.isnan(t["L_T"].iloc[0]) and t["L_T"].iloc[1] == 2.3
    # a table of trained models under their own names
    own = load_teachers(pd.DataFrame({"params": [1e9], "tokens": [2e10], "loss": [2.4]}))
    assert own[["N_T", "D_T", "L_T"]].iloc[0].tolist() == [1e9, 2e10, 2.4]
    # a run table: its supervised rows (models trained from data) are the teachers
    runs = load_teachers("data/runs/cpu_sweep.csv")
    table = pd.read_csv("data/runs/cpu_sweep.csv")
    sup = table[table["kind"] == "supervised"]
    assert list(runs["teacher_id"]) == list(sup["run_id"])
    assert np.allclose(runs["L_T"], sup["L"])
    # explicit names, --columns style
    t2 = load_teachers(pd.DataFrame({"p": [1e9], "tok": [2e10]}),
                       columns={"N_T": "p", "D_T": "tok"})
    assert t2["N_T"].iloc[0] == 1e9


@pytest.mark.parametrize("text, row, column, words", [
    ("teacher_id,N_T,D_T,L_T\na,1e9,,\n", "row 1 (line 2)", "D_T", "needs its measured loss"),
    ("teacher_id,N_T,D_T\na,1e9,2e10\nb,big,2e10\n", "row 2 (line 3)", "N_T", "expected a number"),
    ("teacher_id,N_T,D_T\na,-1e9,2e10\n", "row 1 (line 2)", "N_T", "must be positive"),
    ("teacher_id,L_T\na,2.3\na,2.4\n", None, "teacher_id", "duplicate teacher id"),
    ("teacher_id,size\na,1e9\n", None, "N_T", "no teacher columns"),
])
def test_reader_errors_name_file_row_column(tmp_path, text, row, column, words):
    f = tmp_path / "t.csv"
    f.write_text(text)
    with pytest.raises(RunTableError) as e:
        load_teachers(f)
    msg = str(e.value)
    assert str(f) in msg and f"column '{column}'" in msg and words in msg
    if row:
        assert row in msg
    with pytest.raises(FormatError, match="unknown teacher column"):
        load_teachers(f, columns={"X": "teacher_id"})


# ---------------------------------------------------------------------------- choosing
@pytest.mark.parametrize("scenario", ["best-case", "teacher-inference"])
def test_choice_agrees_with_the_scoring_kernel(scenario):
    """Each teacher's student loss is the allocation scoring kernel's at the D_S the budget
    leaves (Eq. 9 with the teacher's pretraining never charged)."""
    post, C, NS = _posterior(), 1e21, 1e9
    tc = choose_teacher(post, C, TEACHERS, student=NS, scenario=scenario, risk="mean")
    t = tc.table.set_index("teacher_id")
    charged_scenario = "teacher-inference" if scenario == "teacher-inference" else "best-case"
    for _, r in TEACHERS.iterrows():
        DS = float(student_tokens_for_budget(C, NS, r["N_T"], r["D_T"], charged_scenario,
                                             DEFAULT_FLOPS))
        assert t.loc[r["teacher_id"], "D_S"] == pytest.approx(DS, rel=1e-12)
        ref = score_allocations(post, {"N_S": [NS], "D_S": [DS], "N_T": [r["N_T"]],
                                       "D_T": [r["D_T"]]}, risk="mean")[0]
        assert t.loc[r["teacher_id"], "score"] == pytest.approx(ref, rel=1e-10)
    assert tc.best == tc.table["teacher_id"].iloc[0]
    assert (np.diff(tc.table["score"]) >= 0).all()
    assert tc.inference_charged == (scenario == "teacher-inference")


def test_measured_loss_is_used_as_given():
    point = published("busbridge2025").point()
    post = Posterior.from_params("distillation", point)
    sup = {k: point[k] for k in ("E", "A", "B", "alpha", "beta", "gamma")}
    LT = float(supervised_loss(3e9, 6e10, **sup))
    both = pd.DataFrame({"teacher_id": ["law", "measured", "worse"], "N_T": [3e9, 3e9, 3e9],
                         "D_T": [6e10, np.nan, np.nan], "L_T": [np.nan, LT, LT + 0.3]})
    tc = choose_teacher(post, 1e21, both, student=1e9, scenario="best-case")
    t = tc.table.set_index("teacher_id")
    assert t.loc["measured", "L_T_source"] == "measured" and t.loc["law", "L_T_source"] == "law"
    assert t.loc["measured", "score"] == pytest.approx(t.loc["law", "score"], rel=1e-9)
    assert t.loc["worse", "score"] > t.loc["measured", "score"]


def test_new_teacher_comparison_is_paired_on_the_same_draws():
    post = _posterior()
    kw = dict(student=1e9, scenario="teacher-pretraining", risk="cvar:0.9")
    new = allocate(post, 1e21, regret=False, frontier=False, **kw)
    tc = choose_teacher(post, 1e21, TEACHERS, new=new, **kw)
    n = tc.new
    best = tc.best_row
    assert n["score_gain"] == pytest.approx(best["score"] - n["score"])
    assert n["p_new_beats_best"] == pytest.approx(np.mean(new.loss_draws < tc.best_loss_draws))
    assert n["pretraining_charged"] and n["pretraining_flops"] > 0
    assert "P(new beats" in tc.headline() and tc.best in tc.headline()
    d = tc.to_dict()
    assert d["best"] == tc.best and len(d["teachers"]) == 3 and d["new_teacher"]["N_T"] > 0
    other = allocate(post, 1e21, student=1e9, scenario="teacher-pretraining", risk="mean",
                     regret=False, frontier=False)
    with pytest.raises(DecisionError, match="same budget, scenario and risk"):
        choose_teacher(post, 1e21, TEACHERS, new=other, **kw)
    # a free student takes the new allocation's student; without one it is an error
    with pytest.raises(DecisionError, match="student size"):
        choose_teacher(post, 1e21, TEACHERS, scenario="best-case")


def test_chosen_teacher_states_its_extrapolation(repo):
    post = Posterior.load(repo / "models" / "distillation")
    t = pd.DataFrame({"teacher_id": ["huge", "small"], "N_T": [7e9, 1e9], "D_T": [1.4e12, 2e10]})
    tc = choose_teacher(post, 1e21, t, student=1e9, scenario="best-case", max_draws=200)
    assert tc.best == "huge"
    assert any(w.startswith("huge: the teacher size N_T (7e+09)") for w in tc.warnings)
    assert tc.to_dict()["warnings"] == tc.warnings


def test_logits_charged_need_the_teachers_size():
    t = pd.DataFrame({"teacher_id": ["a"], "L_T": [2.3]})
    with pytest.raises(DecisionError, match="'a' has no size N_T"):
        choose_teacher(_posterior(), 1e21, t, student=1e9, scenario="teacher-inference")
    assert choose_teacher(_posterior(), 1e21, t, student=1e9, scenario="best-case").best == "a"


# ---------------------------------------------------------------------------- CLI
@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("post") / "busbridge"
    _posterior().save(d)
    return d


def test_report_with_teachers(model_dir, tmp_path):
    f = tmp_path / "teachers.csv"
    TEACHERS.to_csv(f, index=False)
    out = tmp_path / "report"
    rc, _, err = _run(["report", model_dir, "--budget", "1e21", "--student", "1e9",
                       "--scenario", "teacher-pretraining", "--teachers", f, "--out", out])
    assert rc == 0, err
    doc = json.loads((out / "allocation.json").read_text())
    e = doc["existing_teachers"]
    assert e["best"] in set(TEACHERS["teacher_id"]) and e["new_teacher"]["p_new_beats_best"] >= 0
    assert e["headline"] in err
    md = (out / "report.md").read_text()
    html = (out / "report.html").read_text()
    assert "## Existing teachers" in md and "<h2>Existing teachers</h2>" in html
    for tid in TEACHERS["teacher_id"]:
        assert f"| {tid} |" in md
    # without --teachers: no section, and the JSON says so
    rc, _, _ = _run(["report", model_dir, "--budget", "1e21", "--student", "1e9",
                     "--scenario", "teacher-pretraining", "--out", tmp_path / "plain"])
    assert rc == 0
    assert json.loads((tmp_path / "plain" / "allocation.json").read_text())[
        "existing_teachers"] is None
    assert "Existing teachers" not in (tmp_path / "plain" / "report.md").read_text()


def test_report_bad_teachers_one_line_exit_2_nothing_written(model_dir, tmp_path):
    f = tmp_path / "teachers.csv"
    f.write_text("teacher_id,N_T,D_T\na,1e9,2e10\nb,1e9,lots\n")
    out = tmp_path / "report"
    rc, _, err = _run(["report", model_dir, "--budget", "1e21", "--student", "1e9",
                       "--teachers", f, "--out", out])
    assert rc == 2 and err.count("\n") == 1 and "Traceback" not in err
    assert str(f) in err and "row 2 (line 3)" in err and "column 'D_T'" in err
    assert not out.exists()
    g = tmp_path / "measured.csv"
    g.write_text("teacher_id,L_T\na,2.3\n")
    rc, _, err = _run(["report", model_dir, "--budget", "1e21", "--student", "1e9",
                       "--scenario", "teacher-inference", "--teachers", g, "--out", out])
    assert rc == 2 and "has no size N_T" in err and not out.exists()
    rc, _, err = _run(["report", model_dir, "--budget", "1e21", "--student", "1e9",
                       "--teachers-columns", "N_T=x", "--out", out])
    assert rc == 2 and "--teachers-columns needs --teachers" in err
