"""Plain tables as people export them: common column names, an explicit mapping, generated
run ids, inferred kinds, and every command reading through the one reader."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from distillaw import FormatError, RunTableError, load
from distillaw.cli import main
from distillaw.loaders import detect_format

BASE = {"N": [1e8, 4e8, 1.6e9], "D": [2e9, 8e9, 3.2e10], "L": [3.1, 2.8, 2.5]}


def _write(tmp_path, cols: dict, name="t.csv"):
    p = tmp_path / name
    pd.DataFrame(cols).to_csv(p, index=False)
    return p


@pytest.mark.parametrize("target,alias", [
    ("N", "N"), ("N", "params"), ("N", "n_params"), ("N", "model_size"), ("N", "Params"),
    ("D", "D"), ("D", "tokens"), ("D", "n_tokens"),
    ("L", "L"), ("L", "loss"), ("L", "val_loss"),
])
def test_each_common_name_is_read(tmp_path, target, alias):
    cols = {k: v for k, v in BASE.items() if k != target}
    cols[alias] = BASE[target]
    p = _write(tmp_path, cols)
    assert detect_format(pd.read_csv(p).columns) == "plain"
    t = load(p)
    assert np.allclose(t[target], BASE[target])
    assert (t["kind"] == "supervised").all()
    assert t["run_id"].str.fullmatch(r"row-[0-9a-f]{12}").all()


@pytest.mark.parametrize("alias", ["L_T", "teacher_loss"])
def test_teacher_column_makes_distillation_rows(tmp_path, alias):
    p = _write(tmp_path, {"params": BASE["N"], "tokens": BASE["D"], "loss": BASE["L"],
                          alias: ["2.4", "", "2.2"], "group": ["a", "b", "a"]})
    t = load(p)
    assert list(t["kind"]) == ["distillation", "supervised", "distillation"]
    assert t["L_T"].iloc[0] == 2.4 and np.isnan(t["L_T"].iloc[1])
    assert list(t["group"]) == ["a", "b", "a"]


def test_explicit_mapping_and_extras_kept(tmp_path):
    p = _write(tmp_path, {"val/loss": BASE["L"], "params": BASE["N"], "toks": BASE["D"],
                          "lr": [1e-3, 2e-3, 3e-3]})
    with pytest.raises(FormatError, match="cannot recognise"):
        load(p)  # 'toks' is no common name
    t = load(p, columns={"L": "val/loss", "D": "toks"})
    assert np.allclose(t["L"], BASE["L"]) and np.allclose(t["D"], BASE["D"])
    assert list(t["lr"]) == [0.001, 0.002, 0.003]  # unmapped columns kept (numbers as numbers)
    assert "val/loss" not in t.columns
    # CLI: the same mapping, comma-separated.
    out = tmp_path / "runs.csv"
    assert main(["data", "import", str(p), "--columns", "L=val/loss,D=toks", "--out",
                 str(out)]) == 0
    assert np.allclose(load(out)["L"], BASE["L"])


def test_run_ids_are_stable_and_distinct_for_identical_rows(tmp_path):
    p = _write(tmp_path, {"N": [1e8, 1e8, 2e8], "D": [2e9, 2e9, 2e9], "L": [3.0, 3.0, 2.9]})
    a, b = load(p), load(p)
    assert list(a["run_id"]) == list(b["run_id"])
    assert a["run_id"].nunique() == 3 and a["run_id"].iloc[1] == a["run_id"].iloc[0] + "-2"


def test_errors_name_file_row_and_column(tmp_path):
    p = _write(tmp_path, {"params": [1e8, -4e8], "tokens": [2e9, 8e9], "loss": [3.1, 2.8]})
    with pytest.raises(RunTableError, match=r"t\.csv, row 2 \(line 3\), column 'N'"):
        load(p)
    p2 = _write(tmp_path, {"params": [1e8], "n_params": [1e8], "tokens": [2e9],
                           "loss": [3.0]}, "amb.csv")
    with pytest.raises(RunTableError, match="ambiguous.*'params', 'n_params'.*--columns N="):
        load(p2)
    assert load(p2, columns={"N": "n_params"})["N"].iloc[0] == 1e8
    p3 = _write(tmp_path, {"params": [1e8], "loss": [3.0]}, "nod.csv")
    with pytest.raises(RunTableError, match="column 'D'"):
        load(p3, columns={"N": "params"})
    with pytest.raises(RunTableError, match="no such column"):
        load(p2, columns={"L": "val/loss"})
    with pytest.raises(FormatError, match="unknown run-table column 'loss'"):
        load(p2, columns={"loss": "loss"})
    p4 = _write(tmp_path, {"params": [1e8], "tokens": [2e9]}, "noloss.csv")
    with pytest.raises(RunTableError, match="column 'L'"):
        load(p4)
    assert load(p4, require_loss=False)["L"].isna().all()
    # CLI: one line, exit 2.
    assert main(["data", "validate", str(p2)]) == 2
    assert main(["data", "validate", str(p2), "--columns", "N"]) == 2


def test_run_table_without_run_id_gets_one(tmp_path):
    p = _write(tmp_path, {"kind": ["supervised"] * 3, **BASE})
    t = load(p)
    assert t["run_id"].str.startswith("row-").all()


def test_predict_points_reads_the_busbridge_test_file_fit_reads(jittered_busbridge, tmp_path,
                                                                 shared_data, capsys):
    """`predict --points` used to reject the digitised Busbridge split (missing 'N')."""
    post = jittered_busbridge(20, 0)
    post.save(tmp_path / "m")
    pts = shared_data / "busbridge_distillation_digitized" / "test-00000-of-00001.csv"
    out = tmp_path / "pred.csv"
    assert main(["predict", str(tmp_path / "m"), "--points", str(pts), "--out", str(out)]) == 0
    pred = pd.read_csv(out)
    raw = pd.read_csv(pts)
    assert list(pred.columns) == [*raw.columns, "median", "lower", "upper"]
    assert len(pred) == 26
    # The law's prediction tracks the measured student losses.
    assert np.median(np.abs(np.log(pred["median"] / raw["LS"]))) < 0.03
    # Plain names work too; a distillation posterior still insists on a teacher per row.
    plain = _write(tmp_path, {"params": raw["NS"], "tokens": raw["DS"],
                              "teacher_loss": raw["LT"]}, "plain.csv")
    assert main(["predict", str(tmp_path / "m"), "--points", str(plain), "--out",
                 str(tmp_path / "p2.csv")]) == 0
    assert np.allclose(pd.read_csv(tmp_path / "p2.csv")["median"], pred["median"])
    noteacher = _write(tmp_path, {"params": raw["NS"], "tokens": raw["DS"]}, "nt.csv")
    capsys.readouterr()
    assert main(["predict", str(tmp_path / "m"), "--points", str(noteacher), "--out",
                 str(tmp_path / "p3.csv")]) == 2
    assert "needs L_T" in capsys.readouterr().err


def test_plan_pool_and_target_read_plain_tables(tmp_path):
    from distillaw.planning import read_points, read_pool

    pool = read_pool(_write(tmp_path, {"params": [1e8, 2e8], "tokens": [2e9, 4e9]}, "pool.csv"))
    assert list(pool["kind"]) == ["supervised"] * 2 and pool["L"].isna().all()
    pts = read_points(_write(tmp_path, {"model_size": [1e9], "n_tokens": [2e10],
                                        "teacher_params": [3e9], "teacher_tokens": [6e10]},
                             "target.csv"))
    assert pts["kind"].iloc[0] == "distillation" and pts["N_T"].iloc[0] == 3e9
    with pytest.raises(RunTableError, match="L must be empty"):
        read_pool(_write(tmp_path, {"params": [1e8], "tokens": [2e9], "loss": [3.0]}, "p.csv"))

    assert main(["data", "validate", str(tmp_path / "pool.csv"), "--plan", "--json"]) == 0


def test_cli_validate_json_of_a_plain_table(tmp_path, capsys):
    p = _write(tmp_path, {"params": BASE["N"], "tokens": BASE["D"], "loss": BASE["L"]})
    capsys.readouterr()
    assert main(["data", "validate", str(p), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["rows"] == 3 and doc["kinds"] == {"supervised": 3}


def test_fit_and_backtest_take_the_mapping(tmp_path, capsys):
    """Bad mappings stop `fit` and `backtest` with one line before any sampling."""
    p = _write(tmp_path, {"params": BASE["N"], "toks": BASE["D"], "val/loss": BASE["L"]})
    for cmd in (["fit", str(p), "--law", "supervised", "--out", str(tmp_path / "m")],
                ["backtest", str(p), "--holdout", "top-size:1"]):
        capsys.readouterr()
        assert main([*cmd, "--columns", "L"]) == 2
        assert "NAME=COLUMN" in capsys.readouterr().err
        assert main([*cmd, "--columns", "L=val/loss,D=nope"]) == 2
        assert "D=nope: no such column" in capsys.readouterr().err
    assert not (tmp_path / "m").exists()
