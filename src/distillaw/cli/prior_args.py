"""The ``--prior NAME=...`` and ``--priors FILE.json`` grammar of ``distillaw fit``: text ->
the ``priors=`` mapping of :func:`distillaw.fit` (whose validation then applies: unknown
names are refused with the list of valid ones, bad parameters with one line).

A prior is written ``Dist(key=value, ...)`` (a pymc_extras ``Prior``; values are numbers,
lists of numbers or nested ``Dist(...)``), or as the JSON of its ``to_dict()`` form
(``{"dist": "Normal", "kwargs": {"mu": 0.22, "sigma": 0.05}}``).
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

from ._common import CLIError

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def parse_prior(text: str) -> tuple[str, dict]:
    """``'log_E=Normal(mu=0.22,sigma=0.05)'`` -> ``('log_E', {'dist': 'Normal', 'kwargs':
    {'mu': 0.22, 'sigma': 0.05}})``.

    Example
    -------
    >>> parse_prior("log_E=Normal(mu=0.22, sigma=0.05)")
    ('log_E', {'dist': 'Normal', 'kwargs': {'mu': 0.22, 'sigma': 0.05}})
    >>> parse_prior('sigma={"dist": "HalfNormal", "kwargs": {"sigma": 0.02}}')[1]["dist"]
    'HalfNormal'
    """
    name, sep, spec = text.partition("=")
    name, spec = name.strip(), spec.strip()
    if not sep or not _NAME.fullmatch(name) or not spec:
        raise CLIError(f"--prior {text!r}: use NAME=Dist(key=value, ...), e.g. "
                       f"'log_E=Normal(mu=0.22, sigma=0.05)', or NAME=JSON")
    if spec.startswith("{"):
        try:
            value = json.loads(spec)
        except json.JSONDecodeError as exc:
            raise CLIError(f"--prior {name}: not valid JSON ({exc.msg} at column "
                           f"{exc.colno})") from None
        if not isinstance(value, dict) or "dist" not in value:
            raise CLIError(f"--prior {name}: the JSON form is {{\"dist\": ..., \"kwargs\": "
                           f"{{...}}}}")
        return name, value
    try:
        node = ast.parse(spec, mode="eval").body
    except SyntaxError:
        raise CLIError(f"--prior {name}: cannot read {spec!r} (use Dist(key=value, ...))") \
            from None
    return name, _call(node, name, spec)


def _call(node, name: str, spec: str) -> dict:
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and not node.args
            and all(k.arg for k in node.keywords)):
        raise CLIError(f"--prior {name}: {spec!r} is not Dist(key=value, ...) "
                       f"(keyword arguments only)")
    return {"dist": node.func.id,
            "kwargs": {k.arg: _value(k.value, name, spec) for k in node.keywords}}


def _value(node, name: str, spec: str):
    if isinstance(node, ast.Call):
        return _call(node, name, spec)
    try:
        v = ast.literal_eval(node)
    except ValueError:
        raise CLIError(f"--prior {name}: {ast.unparse(node)!r} in {spec!r} is not a number, "
                       f"a list of numbers or Dist(...)") from None
    ok = (isinstance(v, int | float) and not isinstance(v, bool)) or (
        isinstance(v, list | tuple) and all(isinstance(x, int | float) for x in v))
    if not ok:
        raise CLIError(f"--prior {name}: {ast.unparse(node)!r} in {spec!r} is not a number or "
                       f"a list of numbers")
    return list(v) if isinstance(v, tuple) else v


def read_priors(path: Path) -> dict:
    """``--priors FILE.json``: ``{name: Dist-string or to_dict() form}``."""
    try:
        data = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise CLIError(f"--priors {path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CLIError(f"--priors {path}: cannot read ({exc})") from None
    except json.JSONDecodeError as exc:
        raise CLIError(f"--priors {path}: not valid JSON ({exc.msg}, line {exc.lineno} column "
                       f"{exc.colno})") from None
    if not isinstance(data, dict):
        raise CLIError(f"--priors {path}: expected a JSON object {{name: prior, ...}}")
    out = {}
    for name, value in data.items():
        if isinstance(value, str):
            out[name] = parse_prior(f"{name}={value}")[1]
        elif isinstance(value, dict):
            out[name] = value
        else:
            raise CLIError(f"--priors {path}: prior {name!r} must be \"Dist(key=value, ...)\" "
                           f"or {{\"dist\": ..., \"kwargs\": {{...}}}}")
    return out


def gather_priors(priors_file: Path | None, prior: list[str] | None) -> dict | None:
    """The file's priors, then each ``--prior`` over them (a name given twice on the command
    line is an error)."""
    out = read_priors(priors_file) if priors_file is not None else {}
    seen = set()
    for text in prior or []:
        name, value = parse_prior(text)
        if name in seen:
            raise CLIError(f"--prior {name} given twice")
        seen.add(name)
        out[name] = value
    return out or None
