"""Probe of the issue-12 failure cases: each case's exit code, wall time and stderr line.

Runs the real CLI in subprocesses against throw-away files, the way the original probe
found the failures, and prints one row per case: what a user sees now. The time column
shows that refusals come *before* the work (e.g. the 10^6-point grid is refused in about
the time Python takes to start, not after 2 minutes). Read-only and full-disk cases use a
64 KiB tmpfs where mounting is allowed (root) and say "skipped" otherwise.

Usage::

    .venv/bin/python bench/reliability_probe.py
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(REPO / "src") + os.pathsep
       + os.environ.get("PYTHONPATH", "")}
SUP = REPO / "data" / "simulated" / "supervised.csv"


def cli(*args) -> tuple[int, float, str]:
    t0 = time.perf_counter()
    p = subprocess.run([sys.executable, "-m", "distillaw", *map(str, args)], env=ENV,
                       capture_output=True, text=True, timeout=600)
    lines = [ln for ln in p.stderr.strip().splitlines() if ln]
    return p.returncode, time.perf_counter() - t0, lines[-1] if lines else ""


def mount(point: Path, opts: str) -> bool:
    point.mkdir()
    return subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(point)],
                          capture_output=True).returncode == 0


def main() -> int:
    tmp = Path(tempfile.mkdtemp(prefix="distillaw-probe-"))
    mounts: list[Path] = []
    try:
        sup, dis = REPO / "models" / "supervised", REPO / "models" / "distillation"
        mixed = tmp / "mixed"
        shutil.copytree(sup, mixed)
        shutil.copy(dis / "posterior.nc", mixed / "posterior.nc")
        dup = tmp / "dup.csv"
        dup.write_text("run_id,kind,N,D,L,L\na,supervised,1e6,2e7,3.0,2.0\n")
        blank = tmp / "blank.csv"
        blank.write_text("run_id,kind,N,D,L\n\n\na,supervised,1e6,2e7,x\n")
        epoch = tmp / "epoch.csv"
        epoch.write_text("N_params,D_tokens,C_flops,loss\n1e7,2e8,1.2e16,3.1\n2e7,4e8,4.8e16,3.0\n")
        a_file = tmp / "file.txt"
        a_file.write_text("x")
        cases = [
            ("card beside other draws", ["predict", mixed, "--N", "1e9", "--D", "2e10"]),
            ("NaN prediction (--L-T 1e-300)", ["predict", dis, "--N", "1e9", "--D", "2e10",
                                                "--L-T", "1e-300"]),
            ("duplicate header L,L", ["data", "validate", dup]),
            ("blank lines: true line number", ["data", "validate", blank]),
            ("--drop-highest-loss > table", ["data", "import", epoch, "--out", tmp / "o.csv",
                                             "--drop-highest-loss", "5"]),
            ("--group on non-hierarchical", ["predict", sup, "--N", "1e9", "--D", "2e10",
                                             "--group", "x"]),
            ("10^6-point --ranges grid", ["plan", sup, "--ranges",
                                          "N=1e8:1e10:1000; M=1:100:1000", "--k", "2",
                                          "--budget", "1e20", "--out", tmp / "p.csv"]),
            ("empty plan (budget 1e3)", ["plan", sup, "--ranges", "N=1e8:1e9:3; M=20",
                                         "--k", "2", "--budget", "1e3", "--alloc-budget",
                                         "1e22", "--draws", "100", "--out", tmp / "e.csv"]),
            ("fit --out is a file's child", ["fit", SUP, "--law", "supervised", "--out",
                                             a_file / "m"]),
            ("predict --out is a directory", ["predict", sup, "--points", SUP, "--out", tmp]),
            ("report --out name too long", ["report", dis, "--budget", "1e21", "--out",
                                            tmp / ("r" * 250)]),
            ("run --runs on /proc (lock)", ["run", "--teacher", "1e4", "--student", "5e3",
                                            "--runs", "/proc/self/runs.csv"]),
        ]
        ro, full = tmp / "ro", tmp / "full"
        if mount(ro, "size=64k,ro"):
            mounts.append(ro)
            cases += [("fit --out on read-only FS", ["fit", SUP, "--law", "supervised",
                                                     "--out", ro / "m"]),
                      ("run --runs on read-only FS", ["run", "--teacher", "1e4", "--student",
                                                      "5e3", "--runs", ro / "runs.csv"])]
        else:
            print("read-only FS cases: skipped (cannot mount a tmpfs here)")
        if mount(full, "size=64k"):
            mounts.append(full)
            with open(full / "filler", "wb") as fh:  # leave ~4 KiB
                fh.write(b"\0" * (60 * 1024))
            pts = tmp / "pts.csv"
            pts.write_text("N,D\n" + "".join(f"{1e8 + i},{2e9}\n" for i in range(3000)))
            cases.append(("predict --out on a full disk", ["predict", sup, "--points", pts,
                                                           "--out", full / "pred.csv"]))
        else:
            print("full-disk case: skipped (cannot mount a tmpfs here)")
        print(f"{'case':34s} {'rc':>3s} {'time':>6s}  stderr (last line)")
        rows = []
        for name, args in cases:
            rc, secs, line = cli(*args)
            rows.append({"case": name, "rc": rc, "seconds": round(secs, 2), "stderr": line})
            print(f"{name:34s} {rc:3d} {secs:5.1f}s  {line[:150]}")
        bad = [r for r in rows if "Traceback" in r["stderr"]]
        print(json.dumps({"cases": len(rows), "tracebacks": len(bad)}))
        return 1 if bad else 0
    finally:
        for m in mounts:
            subprocess.run(["umount", "-l", str(m)], capture_output=True)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
