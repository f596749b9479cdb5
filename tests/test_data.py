"""Run-table schema: every validation case through the API and the CLI; atomic append."""

from __future__ import annotations

import multiprocessing as mp
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from distillaw import RunTableError, append_runs, read_runs, validate_runs, write_runs
from distillaw.data import data_hash, empty_runs

GOOD = """run_id,kind,group,N,D,L,N_T,D_T,L_T
s1,supervised,fam,1e8,2e9,3.1,,,
s2,supervised,fam,3e8,6e9,2.9,,,
d1,distillation,fam,1e8,2e9,2.95,3e8,6e9,2.9
"""

# (description, mutate(lines) -> lines, column, row, message fragment)
BAD_CASES = [
    ("missing column", lambda t: t.replace("run_id,kind,group,N,", "run_id,kind,group,")
     .replace(",fam,1e8,", ",fam,").replace(",fam,3e8,", ",fam,"), "N", None, "missing column"),
    ("non-numeric", lambda t: t.replace("3e8,6e9,2.9,,,", "3e8,lots,2.9,,,"), "D", 2,
     "expected a number, got 'lots'"),
    ("NaN", lambda t: t.replace("s2,supervised,fam,3e8,6e9,2.9", "s2,supervised,fam,3e8,6e9,nan"),
     "L", 2, "missing value (NaN)"),
    ("empty", lambda t: t.replace("s2,supervised,fam,3e8,6e9,2.9", "s2,supervised,fam,3e8,6e9,"),
     "L", 2, "missing value"),
    ("inf", lambda t: t.replace("1e8,2e9,3.1", "inf,2e9,3.1"), "N", 1, "must be finite"),
    ("N <= 0", lambda t: t.replace("1e8,2e9,3.1", "0,2e9,3.1"), "N", 1, "N must be > 0"),
    ("D <= 0", lambda t: t.replace("1e8,2e9,3.1", "1e8,-2e9,3.1"), "D", 1, "D must be > 0"),
    ("loss <= 0", lambda t: t.replace("1e8,2e9,3.1", "1e8,2e9,-3.1"), "L", 1, "loss must be > 0"),
    ("teacher loss <= 0", lambda t: t.replace("6e9,2.9\n", "6e9,0\n"), "L_T", 3,
     "loss must be > 0"),
    ("duplicate run id", lambda t: t.replace("s2,", "s1,"), "run_id", 2,
     "duplicate run id 's1' (first at row 1)"),
    ("teacher loss missing", lambda t: t.replace("6e9,2.9\n", "6e9,\n"), "L_T", 3,
     "teacher loss missing on a distillation row"),
    ("unknown kind", lambda t: t.replace("s2,supervised", "s2,supervized"), "kind", 2,
     "kind must be one of"),
]


@pytest.mark.parametrize(("desc", "mutate", "column", "row", "fragment"), BAD_CASES,
                         ids=[c[0] for c in BAD_CASES])
def test_validation_errors_name_file_row_and_column(tmp_path, desc, mutate, column, row,
                                                    fragment):
    bad = tmp_path / "runs.csv"
    bad.write_text(mutate(GOOD))
    with pytest.raises(RunTableError) as ei:
        read_runs(bad)
    err = ei.value
    assert err.column == column and err.row == row and err.file == str(bad)
    msg = str(err)
    assert fragment in msg and str(bad) in msg and f"column '{column}'" in msg
    if row is not None:
        assert f"row {row} (line {row + 1})" in msg
    assert "\n" not in msg


@pytest.mark.parametrize(("desc", "mutate", "column", "row", "fragment"), BAD_CASES,
                         ids=[c[0] for c in BAD_CASES])
def test_cli_rejects_bad_input_with_one_line_and_exit_2(tmp_path, desc, mutate, column, row,
                                                        fragment):
    bad = tmp_path / "runs.csv"
    bad.write_text(mutate(GOOD))
    out = tmp_path / "out.csv"
    for args in (["data", "validate", str(bad)],
                 ["data", "import", str(bad), "--format", "runs", "--out", str(out)]):
        r = subprocess.run([sys.executable, "-m", "distillaw", *args], capture_output=True,
                           text=True)
        assert r.returncode == 2, r.stderr
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and fragment in lines[0]
        assert "Traceback" not in r.stderr
        assert not out.exists()  # nothing half-written
    assert sorted(p.name for p in tmp_path.iterdir()) == ["runs.csv"]


def test_dataframe_validation_reports_rows_without_lines():
    df = pd.DataFrame({"run_id": ["a", "b"], "kind": ["supervised"] * 2, "N": [1e8, -1.0],
                       "D": [1e9, 1e9], "L": [3.0, 3.0]})
    with pytest.raises(RunTableError, match=r"^row 2, column 'N': N must be > 0"):
        validate_runs(df)


def test_good_table_is_typed_and_canonical(tmp_path):
    p = tmp_path / "runs.csv"
    p.write_text(GOOD)
    t = read_runs(p)
    assert list(t.columns[:9]) == ["run_id", "kind", "group", "N", "D", "L", "N_T", "D_T", "L_T"]
    assert t["N"].dtype == float and t.loc[2, "L_T"] == 2.9 and np.isnan(t.loc[0, "L_T"])
    assert len(empty_runs()) == 0


def test_plan_mode_allows_missing_losses_but_needs_teacher_shape():
    plan = pd.DataFrame({"run_id": ["p1"], "kind": ["distillation"], "N": [1e8], "D": [2e9],
                         "L": [np.nan], "N_T": [3e8], "D_T": [6e9]})
    assert len(validate_runs(plan, require_loss=False)) == 1
    with pytest.raises(RunTableError, match="column 'L'"):
        validate_runs(plan)
    with pytest.raises(RunTableError, match="column 'D_T'.*teacher loss L_T is unknown"):
        validate_runs(plan.drop(columns="D_T"), require_loss=False)


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_roundtrip_csv_and_parquet(tmp_path, suffix):
    src = tmp_path / "runs.csv"
    src.write_text(GOOD)
    t = read_runs(src)
    t["device"] = "cpu"  # extra columns survive
    t["train_ce"] = [2.5, 2.625, np.nan]  # ... numbers as numbers (the runner writes these)
    t["note"] = ["ok", "7", ""]  # ... and a text column stays text, digits and all
    dst = write_runs(t, tmp_path / f"copy{suffix}")
    back = read_runs(dst)
    assert data_hash(back) == data_hash(t)
    assert list(back["device"]) == ["cpu"] * 3
    assert back["train_ce"].dtype == float and back["train_ce"].iloc[1] == 2.625
    assert np.isnan(back["train_ce"].iloc[2])
    assert list(back["note"].fillna("")) == ["ok", "7", ""]


def test_append_is_idempotent_by_run_id(tmp_path):
    p = tmp_path / "runs.csv"
    rows = [{"run_id": f"r{i}", "kind": "supervised", "N": 1e6 * (i + 1), "D": 2e7, "L": 3.0}
            for i in range(3)]
    r1 = append_runs(p, rows[:2])
    r2 = append_runs(p, rows)  # r0, r1 again + r2
    assert r1.added == ["r0", "r1"] and r2.added == ["r2"] and r2.skipped == ["r0", "r1"]
    assert list(read_runs(p)["run_id"]) == ["r0", "r1", "r2"]


def test_append_validates_before_touching_the_table(tmp_path):
    p = tmp_path / "runs.csv"
    append_runs(p, {"run_id": "ok", "kind": "supervised", "N": 1e6, "D": 2e7, "L": 3.0})
    before = p.read_bytes()
    with pytest.raises(RunTableError, match="<new rows>, row 1, column 'L'"):
        append_runs(p, {"run_id": "bad", "kind": "supervised", "N": 1e6, "D": 2e7, "L": -1})
    assert p.read_bytes() == before
    assert [f.name for f in tmp_path.iterdir() if f.suffix == ".tmp"] == []


def _append_many(path: str, worker: int, n: int) -> None:
    for i in range(n):
        append_runs(path, {"run_id": f"w{worker}-{i}", "kind": "supervised",
                           "N": 1e6 + i, "D": 2e7, "L": 3.0, "seed": worker})


def test_concurrent_appends_from_two_processes_all_land(tmp_path):
    p = str(tmp_path / "runs.csv")
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_append_many, args=(p, w, 25)) for w in range(2)]
    for pr in procs:
        pr.start()
    for pr in procs:
        pr.join(120)
        assert pr.exitcode == 0
    t = read_runs(p)
    assert len(t) == 50 and t["run_id"].is_unique


def test_atomic_write_leaves_old_file_when_interrupted(tmp_path, monkeypatch):
    p = tmp_path / "runs.csv"
    append_runs(p, {"run_id": "a", "kind": "supervised", "N": 1e6, "D": 2e7, "L": 3.0})
    before = p.read_bytes()

    def boom(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr("os.replace", boom)
    with pytest.raises(KeyboardInterrupt):
        append_runs(p, {"run_id": "b", "kind": "supervised", "N": 1e6, "D": 2e7, "L": 3.0})
    assert p.read_bytes() == before
    assert sorted(f.name for f in Path(tmp_path).iterdir() if not f.name.endswith(".lock")) == [
        "runs.csv"]
