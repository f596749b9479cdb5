"""Every example in every ``--help`` runs, against the shipped data (data/, models/), in a
temporary folder, and exits 0 (issue 15: help examples that point at missing models)."""

from __future__ import annotations

import contextlib
import io
import re
import shlex
from pathlib import Path

import pytest
import typer

from distillaw.cli import main
from distillaw.cli._app import app

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.filterwarnings("ignore:PyTensor could not link to a BLAS")


def _run(argv):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main(argv)
    return rc, out.getvalue(), err.getvalue()


def _command_paths(cmd, prefix=()):
    yield prefix
    for name, sub in sorted(getattr(cmd, "commands", {}).items()):
        yield from _command_paths(sub, (*prefix, name))


def _examples() -> list[tuple[str, str]]:
    """(command, example) for each paragraph of a help text that starts with 'Example'."""
    found = []
    for path in _command_paths(typer.main.get_command(app)):
        rc, text, _ = _run([*path, "--help"])
        assert rc == 0, path
        for para in re.split(r"\n\s*\n", text):
            # click re-wraps help text, also after a hyphen inside a word
            # ("--optimal-" / "teacher"): such a break is joined without a space.
            para = re.sub(r"(?<=[A-Za-z]-)\n\s*", "", para.strip())
            para = " ".join(line.strip() for line in para.splitlines())
            m = re.match(r"Example[^:]*: (distillaw .*)$", para)
            if m:
                found.append((" ".join(("distillaw", *path)), m.group(1)))
    return found


EXAMPLES = _examples()


def test_every_command_with_work_to_show_has_an_example():
    have = {c for c, _ in EXAMPLES}
    for cmd in ("fit", "predict", "report", "plan", "run", "data validate", "data simulate"):
        assert f"distillaw {cmd}" in have, cmd
    for _, ex in EXAMPLES:  # the paths of issue 15 that did not exist
        assert "busbridge-sim" not in ex and "models/chin " not in ex


@pytest.mark.parametrize("command, example", EXAMPLES, ids=[e for _, e in EXAMPLES])
def test_help_example_runs(command, example, tmp_path, monkeypatch):
    argv = shlex.split(example)
    assert argv[0] == "distillaw" and " ".join(argv[:len(command.split())]) == command
    for name in ("data", "models"):       # shipped inputs, read-only by convention
        (tmp_path / name).symlink_to(REPO / name, target_is_directory=True)
    monkeypatch.chdir(tmp_path)
    before = {p: p.stat().st_mtime_ns for p in (REPO / "models").rglob("*") if p.is_file()}
    rc, out, err = _run(argv[1:])
    assert rc == 0, f"{example}\n{err}"
    after = {p: p.stat().st_mtime_ns for p in (REPO / "models").rglob("*") if p.is_file()}
    assert after == before                 # an example never writes into the shipped models
