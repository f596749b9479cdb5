"""Loaders for the public formats, read from ../shared/data."""

from __future__ import annotations

import subprocess
import sys

import pytest

from distillaw import FormatError, RunTableError, load
from distillaw.loaders import detect_format


def test_epoch_raw_and_tidy(shared_data):
    raw = load(shared_data / "epoch_chinchilla" / "svg_extracted_data.csv")
    tidy = load(shared_data / "epoch_chinchilla" / "chinchilla_epoch_tidy.csv")
    assert len(raw) == 245 and len(tidy) == 245
    dropped = load(shared_data / "epoch_chinchilla" / "svg_extracted_data.csv",
                   drop_highest_loss=5)
    assert len(dropped) == 240 and dropped["L"].max() < raw["L"].nlargest(5).min()
    # D = C / (6N)
    assert (raw["D"] * 6 * raw["N"] / raw["flops"]).sub(1).abs().max() < 1e-12
    assert (raw["kind"] == "supervised").all()


def test_busbridge_digitised(shared_data):
    folder = shared_data / "busbridge_distillation_digitized"
    full = load(folder / "all_data.csv")
    train = load(folder / "train-00000-of-00001.csv")
    test = load(folder / "test-00000-of-00001.csv")
    assert (len(full), len(train), len(test)) == (354, 328, 26)
    assert (full["kind"] == "distillation").all() and full["L_T"].notna().all()
    assert int((full["L"] < full["L_T"]).sum()) == 41
    assert set(train["run_id"]).isdisjoint(test["run_id"])


def test_porian_groups(shared_data):
    t = load(shared_data / "porian2024" / "porian2024_isoflop_points.csv")
    assert len(t) == 1745 and t["group"].nunique() == 15


def test_detection_and_forced_format(shared_data):
    f = shared_data / "busbridge_distillation_digitized" / "test-00000-of-00001.csv"
    assert detect_format(["NS", "DS", "LT", "LS"]) == "busbridge"
    with pytest.raises(RunTableError, match="missing column for format 'porian'"):
        load(f, format="porian")
    with pytest.raises(FormatError, match="unknown format"):
        load(f, format="csv")
    with pytest.raises(FormatError, match="cannot recognise"):
        detect_format(["a", "b"])


def test_bad_value_in_public_file_names_row_and_column(tmp_path):
    p = tmp_path / "bb.csv"
    p.write_text("NS,DS,LT,LS\n1e8,2e9,2.5,2.7\n1e8,2e9,abc,2.7\n")
    with pytest.raises(RunTableError, match=r"row 2 \(line 3\), column 'LT': expected a number"):
        load(p)


def test_cli_import_writes_run_table(tmp_path, shared_data):
    out = tmp_path / "epoch.parquet"
    r = subprocess.run([sys.executable, "-m", "distillaw", "data", "import",
                        str(shared_data / "epoch_chinchilla" / "svg_extracted_data.csv"),
                        "--drop-highest-loss", "5", "--out", str(out)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert len(load(out)) == 240
    r = subprocess.run([sys.executable, "-m", "distillaw", "data", "validate", str(out),
                        "--format", "nope"], capture_output=True, text=True)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "unknown --format" in r.stderr
