"""Import rules of docs/architecture.md, read from the source with ``ast`` (nothing imported).

Every module of ``src/distillaw`` sits in one layer; a module imports only from its own unit
(its subpackage, or itself) and from lower layers, never upward; imports have no cycles;
only ``sampling`` samples, only ``runner/`` imports torch, only ``plots`` imports matplotlib.
Function-level (lazy) imports count like top-level ones.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PKG = SRC / "distillaw"

# Bottom (0) to top. A unit is a top-level module or a subpackage; docs/architecture.md
# draws the same table.
LAYERS: dict[str, int] = {
    # 0 foundation: no distillaw imports beyond this layer
    "errors": 0, "_version": 0, "_compat": 0, "_xp": 0,
    # 1 the formulas; file IO, guards and number formatting (they import only errors)
    "laws": 1, "_io": 1, "guards": 1, "presentation": 1,
    # 2 the run table
    "data": 2,
    # 3 things read or derived from tables and laws
    "loaders": 3, "priors": 3, "risk": 3, "draws": 3, "published": 3, "extrapolation": 3,
    "error_terms": 3, "discrepancy": 3, "hsgp": 3, "cards": 3, "teachers": 3,
    # the peers' Huber + bootstrap fit (laws, published coefficients)
    "baseline": 4,
    # 4 models (PyMC builders), the posterior, the simulator
    "models": 4, "posterior": 4, "simulate": 4,
    # 5 fitting (the one sampler), decisions on draws, LOO and comparison of fits
    "sampling": 5, "decision": 5, "comparing": 5,
    # 6 planning the next runs (uses the decision module's allocation as a target)
    "planning": 6,
    # fold finished runs into a posterior (re-weighting; refits through sampling.fit)
    "refit": 6,
    # fit on part of a table, score the rest against our fit and the peers' baseline
    "backtesting": 6,
    # 7 figures; the optional PyTorch runner (never imported by the library)
    "plots": 7, "runner": 7,
    # 8 the report (draws figures with plots)
    "report": 8,
    # 9 entry points: the command line, the demo, the package's re-exports
    "cli": 9, "demo": 9, "__init__": 9,
    # 10 ``python -m distillaw``
    "__main__": 10,
}


def _modules() -> dict[str, Path]:
    out = {}
    for p in sorted(PKG.rglob("*.py")):
        parts = list(p.relative_to(SRC).with_suffix("").parts)
        if parts[-1] == "__init__" and len(parts) > 2:
            parts = parts[:-1]
        out[".".join(parts)] = p
    return out


MODULES = _modules()


def _unit(mod: str) -> str:
    """``distillaw.decision.search`` -> ``decision``; ``distillaw.__init__`` -> ``__init__``."""
    return mod.split(".")[1]


def _imports(mod: str, path: Path) -> list[tuple[str, int]]:
    """(imported module, line) for every import in ``path``, relative ones resolved."""
    is_pkg = path.name == "__init__.py"
    here = mod.split(".")
    if mod.endswith(".__init__"):
        here = here[:-1]
    base_pkg = here if is_pkg else here[:-1]
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out += [(a.name, node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = base_pkg[:len(base_pkg) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if node.module:
                out.append((target, node.lineno))
            # ``from . import plots`` imports the submodule distillaw.plots (else a name of
            # the package itself)
            for a in node.names:
                sub = f"{target}.{a.name}"
                if sub in MODULES or sub + ".__init__" in MODULES:
                    out.append((sub, node.lineno))
                elif not node.module:
                    out.append((target, node.lineno))
    return out


def _internal(target: str) -> str | None:
    """The distillaw module an import names (a package's ``__init__`` for ``distillaw``)."""
    if target == "distillaw":
        return "distillaw.__init__"
    if not target.startswith("distillaw."):
        return None
    parts = target.split(".")
    while parts and ".".join(parts) not in MODULES:
        parts = parts[:-1]      # ``from distillaw.laws.compute import X`` -> the module
    return ".".join(parts) if parts else None


GRAPH = {m: sorted({(t, ln) for t, ln in _imports(m, p)}) for m, p in MODULES.items()}


def test_every_module_has_a_layer():
    missing = sorted({_unit(m) for m in MODULES} - set(LAYERS))
    assert not missing, f"place these in LAYERS (and docs/architecture.md): {missing}"


def test_layers_import_downward_only():
    bad = []
    for m, imps in GRAPH.items():
        for t, ln in imps:
            dep = _internal(t)
            if dep is None or _unit(dep) == _unit(m):
                continue
            if LAYERS[_unit(dep)] >= LAYERS[_unit(m)]:
                bad.append(f"{MODULES[m].relative_to(SRC)}:{ln} imports {dep} "
                           f"(layer {LAYERS[_unit(dep)]} >= {LAYERS[_unit(m)]})")
    assert not bad, "\n".join(bad)


def test_no_import_cycles():
    edges = {m: {d for t, _ in imps if (d := _internal(t)) and d != m}
             for m, imps in GRAPH.items()}
    # A package __init__ re-exports its submodules; the submodules never import it back.
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> None:
        state[m] = 1
        stack.append(m)
        for d in sorted(edges.get(m, ())):
            if state.get(d) == 1:
                cycle = stack[stack.index(d):] + [d]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if d not in state:
                visit(d)
        stack.pop()
        state[m] = 2

    for m in sorted(edges):
        if m not in state:
            visit(m)


def _importers(*prefixes: str) -> set[str]:
    return {m for m, imps in GRAPH.items()
            if any(t == p or t.startswith(p + ".") for t, _ in imps for p in prefixes)}


def test_only_runner_imports_torch():
    assert {_unit(m) for m in _importers("torch")} <= {"runner"}


def test_only_plots_imports_matplotlib():
    assert {_unit(m) for m in _importers("matplotlib")} <= {"plots"}


def test_only_presentation_renders_templates():
    """One template renderer (jinja2), in ``presentation`` alone; its templates ship as
    package data."""
    assert {_unit(m) for m in _importers("jinja2", "markupsafe")} <= {"presentation"}
    assert {p.name for p in (PKG / "templates").glob("*.j2")} >= {"report.html.j2",
                                                                   "report.md.j2"}


def test_only_sampling_samples():
    """NUTS engines are imported, and ``pm.sample`` called, in ``sampling`` alone; PyMC
    itself is imported only where models are built (models/) and sampled."""
    samplers = _importers("nutpie", "numpyro", "pymc.sampling", "jax")
    assert {_unit(m) for m in samplers} <= {"sampling"}
    assert {_unit(m) for m in _importers("pymc")} <= {"models", "sampling"}
    calls = []
    for m, p in MODULES.items():
        for node in ast.walk(ast.parse(p.read_text())):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr in ("sample", "sample_posterior_predictive",
                                           "sample_prior_predictive")
                    and isinstance(node.func.value, ast.Name)
                    and node.func.value.id in ("pm", "pymc")):
                calls.append(m)
    assert {_unit(m) for m in calls} <= {"sampling"}


def test_library_never_imports_the_runner_or_the_cli():
    users = {_unit(m) for m in _importers("distillaw.runner")} - {"runner"}
    assert users <= {"cli", "demo"}
    assert {_unit(m) for m in _importers("distillaw.cli")} - {"cli"} <= {"__main__"}


def test_fit_is_a_function_not_a_module():
    import types

    import distillaw

    assert not (PKG / "fit.py").exists()
    assert isinstance(distillaw.fit, types.FunctionType)
    from distillaw import fit
    from distillaw.sampling import fit as sampling_fit

    assert fit is sampling_fit is distillaw.fit


# ``distillaw.published`` (the module of coefficient files) predates the rule; the package
# binds the name to the function, which is what ``from distillaw import published`` gives.
SHADOW_KNOWN = {("distillaw", "published")}


def test_no_package_exports_a_function_named_like_its_own_module():
    """``import distillaw.decision.allocate as m`` must not hand back a function when a
    module was meant (it did, until the module became ``allocation.py``)."""
    import importlib
    import types

    bad = []
    for init in sorted(PKG.rglob("__init__.py")):
        pkg = ".".join(init.parent.relative_to(SRC).parts)
        mod = importlib.import_module(pkg)
        for name in getattr(mod, "__all__", ()):
            if not isinstance(getattr(mod, name, None), types.FunctionType):
                continue
            if ((init.parent / f"{name}.py").exists() or (init.parent / name).is_dir()) \
                    and (pkg, name) not in SHADOW_KNOWN:
                bad.append(f"{pkg}.{name}")
    assert not bad, f"a module shares its name with the function its package exports: {bad}"


def test_rules_catch_an_upward_import(tmp_path):
    """The checker itself: an upward import in a fake module is reported."""
    src = "from ..decision import allocate\n"
    p = tmp_path / "x.py"
    p.write_text(src)
    imps = _imports("distillaw.laws.x", p)
    dep = _internal(imps[0][0])
    assert dep == "distillaw.decision"
    assert LAYERS[_unit(dep)] > LAYERS["laws"]
