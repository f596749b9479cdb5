"""Reliability: outputs checked before the work, OS errors as one line (exit 2).

Read-only and full-disk targets are real file systems: a 64 KiB tmpfs mounted for the test
(we run as root in CI). Where mounting is not allowed the tests are skipped with the reason.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

from distillaw.cli import main
from distillaw.data import append_runs, read_runs
from distillaw.errors import StorageError
from distillaw.posterior import Posterior

REPO = Path(__file__).resolve().parents[1]
SUP_CSV = REPO / "data" / "simulated" / "supervised.csv"
ROW = {"run_id": "r1", "kind": "supervised", "N": 1e6, "D": 2e7, "L": 3.0}


def _post(S: int = 40, name: str = "p", seed: int = 0) -> Posterior:
    rng = np.random.default_rng(seed)
    p = {k: v * np.exp(0.01 * rng.standard_normal(S)) for k, v in
         dict(E=1.8, A=400.0, B=400.0, alpha=0.34, beta=0.28).items()}
    p["sigma"] = np.full(S, 0.01)
    return Posterior.from_params("supervised", p, name=name)


def _mount(point: Path, opts: str) -> None:
    point.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(point)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({(r.stderr or r.stdout).strip()}); the "
                    "read-only and full-disk targets need one")


@pytest.fixture
def tmpfs(tmp_path):
    """Mount 64 KiB tmpfs file systems: ``tmpfs("ro")`` or ``tmpfs("rw")``."""
    mounted: list[Path] = []

    def make(mode: str = "rw", name: str = "fs") -> Path:
        point = tmp_path / name
        _mount(point, f"size=64k,mode=0777{',ro' if mode == 'ro' else ''}")
        mounted.append(point)
        return point

    yield make
    for point in mounted:
        subprocess.run(["umount", "-l", str(point)], capture_output=True)


def _cli(argv, capsys):
    rc = main([str(a) for a in argv])
    err = capsys.readouterr().err.strip().splitlines()
    return rc, err


def _boom(*a, **k):
    raise AssertionError("the work started although the output cannot be written")


@pytest.fixture
def no_work(monkeypatch):
    """Make every expensive entry point fail loudly: the checks must come first."""
    import importlib

    import distillaw.planning
    import distillaw.report

    monkeypatch.setattr(importlib.import_module("distillaw.sampling"), "fit", _boom)
    monkeypatch.setattr(distillaw.planning, "plan", _boom)
    monkeypatch.setattr(distillaw.report, "write_report", _boom)
    monkeypatch.setattr(Posterior, "load", classmethod(lambda cls, d: _boom()))


# ---------------------------------------------------------------------------- read-only FS
def test_read_only_targets_fail_before_the_work_with_one_line(tmpfs, tmp_path, capsys,
                                                              no_work):
    ro = tmpfs("ro")
    model = tmp_path / "m"
    cases = {
        "fit": ["fit", SUP_CSV, "--law", "supervised", "--out", ro / "model"],
        "report": ["report", model, "--budget", "1e21", "--out", ro / "rep"],
        "plan": ["plan", model, "--ranges", "N=1e8:1e9:3; M=20", "--k", "2", "--budget",
                 "1e20", "--out", ro / "plan.csv"],
        "predict": ["predict", model, "--points", SUP_CSV, "--out", ro / "p.csv"],
        "data import": ["data", "import", SUP_CSV, "--out", ro / "runs.csv"],
        "run": ["run", "--teacher", "1e4", "--student", "5e3", "--runs", ro / "runs.csv"],
    }
    model.mkdir()
    for what, argv in cases.items():
        rc, err = _cli(argv, capsys)
        assert rc == 2, (what, err)
        assert len(err) == 1 and err[0].startswith("error: ") and str(ro) in err[0], (what, err)
        assert "read-only file system" in err[0], (what, err)
    assert list(ro.iterdir()) == []


def test_read_only_api_writes_raise_storage_error(tmpfs):
    ro = tmpfs("ro")
    with pytest.raises(StorageError, match="read-only file system"):
        append_runs(ro / "runs.csv", ROW)
    with pytest.raises(StorageError, match="read-only file system"):
        _post().save(ro / "model")


# ---------------------------------------------------------------------------- full disk
def _fill(fs: Path, leave: int = 0) -> None:
    """Fill the file system up to ``leave`` bytes (whole pages)."""
    fd = os.open(fs / "filler", os.O_WRONLY | os.O_CREAT)
    try:
        while True:
            os.write(fd, b"\0" * 4096)
    except OSError:
        pass
    finally:
        os.close(fd)
    if leave:
        size = (fs / "filler").stat().st_size
        os.truncate(fs / "filler", max(0, size - leave))


def test_full_disk_append_leaves_the_table_intact(tmpfs):
    fs = tmpfs("rw")
    runs = fs / "runs.csv"
    append_runs(runs, ROW)
    before = runs.read_bytes()
    _fill(fs)
    rows = [{**ROW, "run_id": f"x{i}", "source": "y" * 200} for i in range(50)]
    with pytest.raises(StorageError, match=f"{runs}.*no space left on device"):
        append_runs(runs, rows)
    assert runs.read_bytes() == before
    assert list(read_runs(runs)["run_id"]) == ["r1"]
    assert sorted(p.name for p in fs.iterdir() if not p.name.endswith(".lock")) == [
        "filler", "runs.csv"]  # no temp file left behind


def test_full_disk_posterior_save_keeps_the_old_posterior(tmpfs):
    fs = tmpfs("rw")
    out = fs / "model"
    _post(20, "old").save(out)
    _fill(fs, leave=8192)
    with pytest.raises(StorageError, match="no space left on device"):
        _post(400, "new", seed=1).save(out)
    assert Posterior.load(out).name == "old"
    assert [p.name for p in fs.iterdir() if ".new-" in p.name or ".old-" in p.name] == []


def test_full_disk_cli_one_line(tmpfs, tmp_path, capsys):
    fs = tmpfs("rw")
    model = _post(40).save(tmp_path / "m")
    _fill(fs, leave=4096)
    pts = tmp_path / "pts.csv"
    n = 2000
    pts.write_text("N,D\n" + "".join(f"{1e8 + i},{2e9}\n" for i in range(n)))
    rc, err = _cli(["predict", model, "--points", pts, "--out", fs / "pred.csv"], capsys)
    assert rc == 2 and len(err) == 1
    assert err[0].startswith(f"error: {fs / 'pred.csv'}") and "no space left" in err[0]
    assert not (fs / "pred.csv").exists()


# ---------------------------------------------------------------------------- other OS errors
def test_directory_long_name_and_not_a_folder_fail_before_the_work(tmp_path, capsys, no_work):
    model = tmp_path / "m"
    model.mkdir()
    a_file = tmp_path / "file.txt"
    a_file.write_text("keep")
    long = tmp_path / ("x" * 245 + ".csv")  # fits the OS limit, not with the temp suffix
    cases = [
        (["predict", model, "--points", SUP_CSV, "--out", tmp_path], "is a directory"),
        (["data", "import", SUP_CSV, "--out", tmp_path], "is a directory"),
        (["plan", model, "--ranges", "N=1e8:1e9:3", "--k", "1", "--budget", "1e20", "--out",
          long], "too long"),
        (["fit", SUP_CSV, "--law", "supervised", "--out", tmp_path / ("y" * 250)], "too long"),
        (["fit", SUP_CSV, "--law", "supervised", "--out", a_file / "sub"], "not a folder"),
        (["report", model, "--budget", "1e21", "--out", a_file], "not a directory"),
        (["run", "--teacher", "1e4", "--student", "5e3", "--runs", tmp_path], "is a directory"),
        (["fit", SUP_CSV, "--law", "supervised", "--out", REPO / "src"], "holds other files"),
    ]
    for argv, msg in cases:
        rc, err = _cli(argv, capsys)
        assert rc == 2 and len(err) == 1 and msg in err[0], (argv, err)
    assert a_file.read_text() == "keep"


def test_lock_waits_are_bounded_with_a_clear_message(tmp_path):
    from filelock import FileLock

    runs = tmp_path / "runs.csv"
    holder = FileLock(str(runs) + ".lock")
    with holder:
        with pytest.raises(StorageError, match=r"could not lock the run table within 0.2 s"):
            append_runs(runs, ROW, timeout=0.2)
    assert not runs.exists()
    append_runs(runs, ROW, timeout=0.2)  # free again: lands
    # a lock that cannot be created at all fails at once, naming the path
    with pytest.raises(StorageError, match="/proc/self/runs.csv"):
        append_runs("/proc/self/runs.csv", ROW, timeout=0.2)


def test_os_errors_map_to_one_line_naming_the_path():
    import errno

    from distillaw._io import os_error

    for code, words in ((errno.EACCES, "permission denied"), (errno.EROFS, "read-only"),
                        (errno.ENOSPC, "no space left"), (errno.ENAMETOOLONG, "too long"),
                        (errno.EISDIR, "is a directory")):
        e = os_error(OSError(code, os.strerror(code), "/x/y"))
        assert isinstance(e, StorageError) and isinstance(e, OSError)
        assert str(e).startswith("/x/y: ") and words in str(e) and "\n" not in str(e)
