"""bench/runner_sweep.py: the GPU options run the same code on the CPU (CI has no GPU).

The throughput timer and the sweep with ``--device``, ``--seq-len`` and ``--eval-tokens`` are
what the GPU run uses; here they run at toy sizes on the CPU so a broken option fails in CI,
not on a lent accelerator.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pandas as pd
import pytest

pytest.importorskip("torch")

BENCH = Path(__file__).resolve().parents[2] / "bench" / "runner_sweep.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("runner_sweep_bench", BENCH)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_throughput_rows_on_cpu(bench):
    rows = bench.throughput([2e4], device="cpu", vocab=64, seq_len=16, micro_seqs=2, steps=1,
                            compile_modes=(False,), teacher_size=4e4)
    assert [r["teacher_N"] is None for r in rows] == [True, False]
    for r in rows:
        assert r["tokens_per_s"] > 0 and r["batch_tokens"] == 32 and r["compile"] is False
        assert r["mfu"] is None  # no peak FLOP/s known for a CPU: no made-up MFU
    # The distillation step adds the teacher's forward FLOPs per token.
    assert rows[1]["tflops"] * rows[0]["tokens_per_s"] >= rows[0]["tflops"] * rows[1]["tokens_per_s"]


def test_sweep_with_gpu_options_on_cpu(bench, tmp_path):
    out = tmp_path / "sweep.csv"
    rc = bench.main(["--device", "cpu", "--students", "4e3", "--teachers", "4e3", "1e4",
                     "--student-tokens", "1e4", "--teacher-tokens", "2e4", "--seq-len", "32",
                     "--eval-tokens", "2048", "--corpus", "synthetic:vocab=64,order=2,support=4",
                     "--out", str(out), "--cache", str(tmp_path / "cache"), "--no-progress",
                     "--throughput", "1e4", "--throughput-vocab", "64", "--throughput-seq",
                     "16", "--throughput-micro", "2", "--throughput-steps", "1"])
    assert rc == 0
    table = pd.read_csv(out)
    assert len(table) == 5  # 1 baseline + 2 teachers + 2 distilled students
    assert set(table["device"]) == {"cpu"}
    meta = json.loads(out.with_suffix(".json").read_text())
    assert meta["machine"]["device"] == "cpu" and len(meta["throughput"]) == 2
    (v,) = meta["u_shape"]
    assert v["N_T"] == sorted(v["N_T"]) and len(v["L_S"]) == 2
    assert json.loads((tmp_path / "sweep_throughput.json").read_text()) == meta["throughput"]
