"""The documentation builds strict (warnings are errors) and covers the public API.

Sphinx runs in a subprocess (as `make docs` does) into a temporary folder; about 10-15 s on
2 cores, so it stays in the normal suite.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sphinx.util.inventory import InventoryFile

import distillaw

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("docs") / "html"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-E", "-b", "html",
         str(ROOT / "docs"), str(out)], capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, f"strict docs build failed:\n{proc.stderr[-4000:]}"
    return out


def test_every_public_name_is_documented(built):
    with open(built / "objects.inv", "rb") as f:
        inv = InventoryFile.load(f, "", lambda base, uri: uri)
    documented = {name for entries in inv.values() for name in entries}
    missing = [n for n in distillaw.__all__
               if n != "__version__" and f"distillaw.{n}" not in documented]
    assert not missing, f"public names without an API entry: {missing}"


def test_cli_reference_is_every_commands_help(built):
    from typer.main import get_command

    from distillaw.cli import app

    html = (built / "cli.html").read_text()
    commands = list(get_command(app).commands)
    assert "fit" in commands and "report" in commands
    for name in commands:
        assert f"Usage: distillaw {name} [OPTIONS]" in html, name


def test_pages_exist(built):
    for page in ("index", "quickstart", "data", "architecture", "cli", "api/fit",
                 "api/decision", "api/runner"):
        assert (built / f"{page}.html").is_file(), page
    # The quickstart is the README's walk-through, included: its commands are on the page.
    assert "distillaw report models/distillation" in (built / "quickstart.html").read_text()
