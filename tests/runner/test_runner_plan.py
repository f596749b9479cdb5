"""Runner: plan execution into a valid run table, teacher cache, resume, Slurm, CLI errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

torch = pytest.importorskip("torch")

from distillaw.cli import main  # noqa: E402
from distillaw.data import read_runs  # noqa: E402
from distillaw.errors import DistillawError  # noqa: E402
from distillaw.laws.compute import FlopsModel, distillation_flops, supervised_flops  # noqa: E402
from distillaw.runner import TrainConfig, emit_slurm, run_pair, run_plan  # noqa: E402
from distillaw.runner import executor as plan_mod  # noqa: E402
from distillaw.runner.model import shape_for_params  # noqa: E402

TC = TrainConfig(seq_len=32, eval_tokens=1024, batch_tokens=256, checkpoint_every=2)
KW = {"device": "cpu", "progress": False, "train": TC}


def _plan(path=None):
    df = pd.DataFrame({
        "run_id": ["base-s", "kd-a", "kd-b"],
        "kind": ["supervised", "distillation", "distillation"],
        "group": ["g", "g", "g"],
        "N": [6e3, 6e3, 4e3], "D": [3072, 3072, 2048],
        "N_T": [np.nan, 1.2e4, 1.2e4], "D_T": [np.nan, 4096, 4096],
        "teacher_id": [np.nan, "tch", "tch"],  # the planner's name for the new teacher
        "L": [np.nan] * 3, "seed": [0, 0, 0],
        "predicted_median": [2.9, 2.8, 3.0], "cost": [1.0, 2.0, 2.0],
    })
    if path is not None:
        df.to_csv(path, index=False)
        return path
    return df


def test_plan_of_three_runs_end_to_end(tmp_path):
    runs = tmp_path / "runs.csv"
    s = run_plan(_plan(tmp_path / "plan.csv"), runs, cache_dir=tmp_path / "cache", **KW)
    table = read_runs(runs)  # validates
    teacher_id = "tch"
    assert s.added == ["base-s", teacher_id, "kd-a", "kd-b"]
    assert len(s.teachers_trained) == 1
    assert s.teachers_reused == s.teachers_trained  # second student reuses the cached teacher
    assert len(table) == 4 and table["run_id"].is_unique
    t = table.set_index("run_id")
    # actual sizes are the built shapes', tokens are whole batches
    assert t.loc["kd-b", "N"] == shape_for_params(4e3).non_embedding_params
    assert t.loc[teacher_id, "N"] == shape_for_params(1.2e4).non_embedding_params
    assert t.loc["kd-a", "D"] == 3072 and t.loc[teacher_id, "D"] == 4096
    # teacher linked once; its loss and size copied into the students
    for kd in ("kd-a", "kd-b"):
        assert t.loc[kd, "teacher_id"] == teacher_id
        assert t.loc[kd, "L_T"] == pytest.approx(t.loc[teacher_id, "L"])
        assert t.loc[kd, "N_T"] == t.loc[teacher_id, "N"]
    # FLOPs from the package's compute accounting (context 32, vocabulary 32)
    fm = FlopsModel(n_ctx=32, n_vocab=32)
    assert t.loc["base-s", "flops"] == pytest.approx(supervised_flops(t.loc["base-s", "N"], 3072, fm))
    assert t.loc["kd-a", "flops"] == pytest.approx(distillation_flops(
        t.loc["kd-a", "N"], 3072, t.loc[teacher_id, "N"], 4096, "teacher-inference", fm))
    # provenance and truth
    assert float(t.loc["kd-a", "E_true"]) == pytest.approx(1.2424577879, abs=1e-8)
    assert float(t.loc["kd-a", "lambda"]) == 1.0 and float(t.loc["kd-a", "tau"]) == 1.0
    assert {"wall_s", "tokens_per_s", "device", "distillaw_version", "git_commit",
            "corpus"} <= set(table.columns)
    assert (table["L"] > 1.24).all() and (table["L"] < 3.6).all()
    assert float(t.loc["kd-a", "predicted_median"]) == 2.8
    # re-running appends nothing and trains nothing
    again = run_plan(tmp_path / "plan.csv", runs, cache_dir=tmp_path / "cache", **KW)
    assert again.added == [] and sorted(again.skipped) == ["base-s", "kd-a", "kd-b"]
    assert len(read_runs(runs)) == 4


def test_interrupted_run_resumes_to_same_row_without_duplicates(tmp_path, monkeypatch):
    plan = _plan().iloc[[1]]  # one distillation (its teacher is trained first)
    ref_runs = tmp_path / "ref.csv"
    run_plan(plan, ref_runs, cache_dir=tmp_path / "ref-cache", **KW)
    ref = read_runs(ref_runs).set_index("run_id")

    real = plan_mod.train_model
    calls = {"n": 0}

    def interrupted(*args, **kw):
        calls["n"] += 1
        if calls["n"] == 2:  # the student: stop after 5 of 12 steps
            def stop(info):
                if info["step"] == 5:
                    raise KeyboardInterrupt
            kw["on_step"] = stop
        return real(*args, **kw)

    monkeypatch.setattr(plan_mod, "train_model", interrupted)
    runs = tmp_path / "runs.csv"
    with pytest.raises(KeyboardInterrupt):
        run_plan(plan, runs, cache_dir=tmp_path / "cache", **KW)
    partial = read_runs(runs)
    assert "kd-a" not in set(partial["run_id"])  # no partial row
    assert len(list((tmp_path / "cache" / "work").glob("kd-*.pt"))) == 1  # checkpoint kept
    monkeypatch.setattr(plan_mod, "train_model", real)
    s = run_plan(plan, runs, cache_dir=tmp_path / "cache", **KW)
    assert s.added == ["kd-a"] and s.teachers_reused
    out = read_runs(runs).set_index("run_id")
    assert len(out) == 2
    for col in ("N", "D", "L", "N_T", "D_T", "L_T", "flops"):
        assert out.loc["kd-a", col] == ref.loc["kd-a", col], col
    assert not list((tmp_path / "cache" / "work").glob("*.pt"))  # checkpoint removed
    run_plan(plan, runs, cache_dir=tmp_path / "cache", **KW)
    assert len(read_runs(runs)) == 2


def test_pair_text_corpus_and_duplicates(tmp_path):
    f = tmp_path / "c.txt"
    f.write_text("a teacher, a student and a law of capacity gap. " * 500)
    runs = tmp_path / "runs.csv"
    s = run_pair(4e3, 2048, 8e3, 2048, runs, corpus=str(f), cache_dir=tmp_path / "cache", **KW)
    assert len(s.added) == 3
    table = read_runs(runs)
    assert set(table["group"]) == {"c.txt"}
    assert pd.to_numeric(table["E_true"], errors="coerce").isna().all()  # unknown for text
    assert (table["vocab"].astype(int) == 256).all()
    # a supervised plan row asking for the teacher's model is recognised as a duplicate
    t = table[table["kind"] == "supervised"].iloc[0]
    plan = pd.DataFrame({"run_id": ["again"], "kind": ["supervised"], "N": [t["N"]],
                         "D": [t["D"]], "L": [np.nan]})
    s2 = run_plan(plan, runs, corpus=str(f), cache_dir=tmp_path / "cache", **KW)
    assert s2.duplicates == {"again": t["run_id"]} and s2.added == []


def test_max_runs_dry_run_and_bad_plans(tmp_path):
    runs = tmp_path / "runs.csv"
    dry = run_plan(_plan(), runs, cache_dir=tmp_path, dry_run=True, **KW)
    assert [p["run_id"] for p in dry.planned] == ["base-s", "kd-a", "kd-b"]
    assert not runs.exists()
    s = run_plan(_plan(), runs, cache_dir=tmp_path, max_runs=1, **KW)
    assert s.added == ["base-s"] and s.not_run == ["kd-a", "kd-b"]
    bad = pd.DataFrame({"run_id": ["x"], "kind": ["distillation"], "N": [5e3], "D": [2048],
                        "L_T": [2.5], "teacher_id": ["nobody"], "L": [np.nan]})
    with pytest.raises(DistillawError, match="not a cached runner model"):
        run_plan(bad, runs, cache_dir=tmp_path, **KW)
    with pytest.raises(DistillawError, match="not in the plan"):
        run_plan(_plan(), runs, cache_dir=tmp_path, run_ids=["zzz"], **KW)


def test_teacher_only_trains_and_records_just_the_teacher(tmp_path):
    runs = tmp_path / "runs.csv"
    s = run_plan(_plan(), runs, cache_dir=tmp_path, run_ids=["kd-a"], teacher_only=True, **KW)
    assert s.added == ["tch"] and list(read_runs(runs)["run_id"]) == ["tch"]
    s2 = run_plan(_plan(), runs, cache_dir=tmp_path, run_ids=["kd-a", "kd-b"], **KW)
    assert s2.added == ["kd-a", "kd-b"] and not s2.teachers_trained


def test_emit_slurm(tmp_path):
    files = emit_slurm(_plan(tmp_path / "plan.csv"), tmp_path / "runs.csv", tmp_path / "slurm",
                       run_args=["--corpus", "synthetic"], gpus=2, partition="gpu")
    names = {f.name for f in files}
    assert {"teachers.sbatch", "runs.sbatch", "submit.sh", "commands_runs.txt"} <= names
    teachers = (tmp_path / "slurm" / "commands_teachers.txt").read_text().splitlines()
    assert len(teachers) == 1 and "--teacher-only" in teachers[0]  # one shared teacher
    cmds = (tmp_path / "slurm" / "commands_runs.txt").read_text().splitlines()
    assert len(cmds) == 3 and all("torchrun --standalone --nproc_per_node=2" in c for c in cmds)
    sb = (tmp_path / "slurm" / "runs.sbatch").read_text()
    assert "#SBATCH --array=0-2" in sb and "--partition=gpu" in sb and "--gres=gpu:2" in sb
    assert "afterok" in (tmp_path / "slurm" / "submit.sh").read_text()


# -- CLI ----------------------------------------------------------------------------------

def _cli(capsys, *args):
    rc = main(["run", *map(str, args)])
    return rc, capsys.readouterr()


def test_cli_bad_input_one_line_exit_2(tmp_path, capsys):
    plan = _plan(tmp_path / "plan.csv")
    runs = tmp_path / "runs.csv"
    bad = tmp_path / "bad.csv"
    bad.write_text("run_id,kind,N,D,L\nr1,supervised,abc,100,\n")
    cases = [
        (bad, "--runs", runs),                                   # bad plan file
        (tmp_path / "missing.csv", "--runs", runs),              # missing plan
        (plan, "--runs", runs, "--device", "tpu"),               # unknown device
        ("--runs", runs),                                        # nothing to run
        ("--teacher", "1e5", "--runs", runs),                    # half a pair
        (plan, "--teacher", "1e5", "--student", "1e4", "--runs", runs),
        (plan, "--runs", runs, "--corpus", tmp_path / "nope.txt"),
    ]
    if not torch.cuda.is_available():
        cases.append((plan, "--runs", runs, "--device", "cuda"))  # cuda without a GPU
    for args in cases:
        rc, cap = _cli(capsys, *args)
        assert rc == 2, args
        lines = cap.err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error:"), (args, cap.err)
        assert "Traceback" not in cap.err
    assert not runs.exists()


def test_cli_without_torch_says_how_to_install(tmp_path, capsys, monkeypatch):
    import sys
    monkeypatch.setitem(sys.modules, "torch", None)  # makes `import torch` raise ImportError
    rc, cap = _cli(capsys, _plan(tmp_path / "plan.csv"), "--runs", tmp_path / "r.csv")
    assert rc == 2 and "pip install 'distillaw[runner]'" in cap.err


def test_progress_and_log_show_cross_entropy(tmp_path, capsys):
    """The progress bar and the per-run log lines show train/val cross-entropy (issue 15), and
    each row records its training cross-entropy next to its training objective."""
    run_plan(_plan(tmp_path / "plan.csv"), tmp_path / "runs.csv",
             cache_dir=tmp_path / "cache", **{**KW, "progress": True})
    err = capsys.readouterr().err
    assert "train CE" in err and "loss " not in err
    lines = [ln for ln in err.splitlines() if ln.startswith(("base-s:", "kd-a:", "kd-b:"))]
    assert len(lines) == 3 and all("val CE L=" in ln and "train CE " in ln for ln in lines)
    assert "teacher tch: val CE L=" in err
    # extra run-table columns come back as text: compare as numbers
    t = read_runs(tmp_path / "runs.csv").set_index("run_id")[["train_loss", "train_ce"]]
    t = t.astype(float)
    assert (t["train_ce"] > 0).all()
    assert t.loc["kd-a", "train_loss"] < 0.5 * t.loc["kd-a", "train_ce"]  # KD term: not a CE


def test_cli_plan_run_and_json(tmp_path, capsys):
    plan = _plan(tmp_path / "plan.csv")
    runs = tmp_path / "runs.csv"
    common = ["--runs", runs, "--device", "cpu", "--cache", tmp_path / "cache", "--seq-len", 32,
              "--batch-tokens", 256, "--eval-tokens", 1024, "--no-progress"]
    rc, cap = _cli(capsys, plan, *common, "--max-runs", 1, "--json")
    assert rc == 0 and '"added"' in cap.out
    assert list(read_runs(runs)["run_id"]) == ["base-s"]
    rc, cap = _cli(capsys, plan, *common, "--emit-slurm", tmp_path / "sl")
    assert rc == 0 and (tmp_path / "sl" / "submit.sh").exists()
    assert "--batch-tokens 256" in (tmp_path / "sl" / "commands_runs.txt").read_text()


@pytest.mark.slow
def test_ddp_two_cpu_ranks_match_single_process(tmp_path):
    """torchrun with 2 gloo ranks gives the rows of a single process (same global batches)."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    torchrun = Path(sys.executable).with_name("torchrun")
    if not torchrun.exists():
        pytest.skip("torchrun not installed next to the interpreter")
    plan = _plan(tmp_path / "plan.csv")
    common = ["--device", "cpu", "--seq-len", "32", "--batch-tokens", "512", "--eval-tokens",
              "2048", "--no-progress", "--threads", "1"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    subprocess.run([str(torchrun), "--standalone", "--nproc_per_node=2", "-m", "distillaw", "run",
                    str(plan), "--runs", str(tmp_path / "ddp.csv"), "--cache",
                    str(tmp_path / "c2"), *common], check=True, env=env, capture_output=True)
    assert main(["run", str(plan), "--runs", str(tmp_path / "one.csv"), "--cache",
                 str(tmp_path / "c1"), *common]) == 0
    a = read_runs(tmp_path / "ddp.csv").set_index("run_id")
    b = read_runs(tmp_path / "one.csv").set_index("run_id")
    assert set(a.index) == set(b.index) and len(a) == 4
    assert (a["world_size"].astype(int) == 2).all()
    for rid in a.index:
        assert a.loc[rid, "L"] == pytest.approx(b.loc[rid, "L"], abs=1e-5)
