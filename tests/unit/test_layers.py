"""The package's layers, checked on its source with ``ast`` (every import, function-level ones too):

- ``client/`` imports neither Airflow nor anything of the package outside ``client/``;
- ``operators/`` and ``sensors/`` do not import each other;
- ``triggers/`` imports nothing from ``operators/`` or ``sensors/``;
- ``operators/`` and ``sensors/`` import from ``triggers/`` only ``triggers.oneatlas``'s trigger class
  and its event reader;
- outside ``hooks/``, nothing reaches through a hook to its client (``hook.client``);
- production code never imports ``sandbox/``;
- module-level imports form no cycle.

The checker runs on a synthetic package too (``test_the_checker_finds_each_violation``), so a rule that
could never fire would be seen. Also: every package module has a test module that names it.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

import airflow_provider_oneatlas

PACKAGE_DIR = Path(airflow_provider_oneatlas.__file__).parent
TESTS_UNIT = Path(__file__).parent

#: What operators and sensors may take from triggers/: the trigger they defer to and its event reader.
TRIGGER_MODULE = "triggers.oneatlas"
TRIGGER_NAMES = frozenset({"OneAtlasOrderTrigger", "orders_from_event"})


@dataclass(frozen=True)
class Import:
    importer: str  # module path inside the package, e.g. "operators.order" ("" for the package itself)
    target: str  # absolute dotted module imported, e.g. "airflow_provider_oneatlas.client.query"
    names: tuple[str, ...]  # for "from X import a, b": ("a", "b")
    line: int
    module_level: bool  # executed on import (not in a function, not under TYPE_CHECKING)


def module_name(package_dir: Path, path: Path) -> str:
    parts = list(path.relative_to(package_dir).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imports_of(package_dir: Path, path: Path) -> list[Import]:
    """Every import statement of a module, with whether it runs when the module is imported."""
    package = package_dir.name
    importer = module_name(package_dir, path)
    is_package = path.name == "__init__.py"
    found: list[Import] = []

    def visit(node: ast.AST, module_level: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Import):
                for alias in child.names:
                    found.append(Import(importer, alias.name, (), child.lineno, module_level))
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base = [package, *importer.split(".")] if importer else [package]
                    if not is_package:
                        base = base[:-1]
                    base = base[: len(base) - (child.level - 1)]
                    target = ".".join(base + ([child.module] if child.module else []))
                else:
                    target = child.module or ""
                found.append(Import(importer, target, tuple(a.name for a in child.names), child.lineno, module_level))
            elif isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                visit(child, False)
            elif isinstance(child, ast.If) and _is_type_checking(child.test):
                for stmt in child.body:
                    visit(ast.Module(body=[stmt], type_ignores=[]), False)
                for stmt in child.orelse:
                    visit(ast.Module(body=[stmt], type_ignores=[]), module_level)
            else:
                visit(child, module_level)

    visit(ast.parse(path.read_text(), str(path)), True)
    return found


def targets(package_dir: Path, imp: Import, modules: set[str]) -> list[str]:
    """The package modules an import names (``from pkg.client import query`` names ``client.query``)."""
    package = package_dir.name
    if imp.target != package and not imp.target.startswith(package + "."):
        return []
    base = imp.target[len(package) + 1 :] if imp.target != package else ""
    submodules = [f"{base}.{n}" if base else n for n in imp.names if (f"{base}.{n}" if base else n) in modules]
    return submodules or [base]


def attribute_through_hook(tree: ast.AST) -> list[int]:
    """Lines reaching a hook's client: ``hook.client`` or ``self.hook.client``."""
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr == "client":
            value = node.value
            if (isinstance(value, ast.Name) and value.id == "hook") or (
                isinstance(value, ast.Attribute) and value.attr == "hook"
            ):
                lines.append(node.lineno)
    return lines


def in_layer(module: str, layer: str) -> bool:
    return module == layer or module.startswith(layer + ".")


def check_layers(package_dir: Path) -> list[str]:
    """Every layering violation in the package at ``package_dir``, one line each."""
    paths = sorted(package_dir.rglob("*.py"))
    modules = {module_name(package_dir, p) for p in paths}
    violations: list[str] = []
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for path in paths:
        here = module_name(package_dir, path)
        where = f"{path.relative_to(package_dir)}"
        for imp in imports_of(package_dir, path):
            at = f"{where}:{imp.line}"
            named = targets(package_dir, imp, modules)
            top = imp.target.split(".")[0]
            if in_layer(here, "client"):
                if top == "airflow":
                    violations.append(f"{at}: client imports Airflow ({imp.target})")
                violations += [
                    f"{at}: client imports {t} (outside client/)" for t in named if not in_layer(t, "client")
                ]
            for t in named:
                for a, b in (("operators", "sensors"), ("sensors", "operators")):
                    if in_layer(here, a) and in_layer(t, b):
                        violations.append(f"{at}: {a} imports {b} ({t})")
                if in_layer(here, "triggers") and (in_layer(t, "operators") or in_layer(t, "sensors")):
                    violations.append(f"{at}: triggers imports {t}")
                if (in_layer(here, "operators") or in_layer(here, "sensors")) and in_layer(t, "triggers"):
                    extra = set(imp.names) - TRIGGER_NAMES
                    if t != TRIGGER_MODULE or extra or not imp.names:
                        violations.append(
                            f"{at}: {here} imports {t} {sorted(extra or imp.names)} "
                            f"(only {TRIGGER_MODULE}'s {sorted(TRIGGER_NAMES)})"
                        )
                if not in_layer(here, "sandbox") and in_layer(t, "sandbox"):
                    violations.append(f"{at}: production code imports {t}")
                if imp.module_level and t != here:
                    graph[here].add(t)
        if not in_layer(here, "hooks"):
            tree = ast.parse(path.read_text())
            violations += [
                f"{where}:{line}: reaches through a hook to its client" for line in attribute_through_hook(tree)
            ]
    violations += [f"import cycle: {' -> '.join(cycle)}" for cycle in find_cycles(graph)]
    return violations


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle per strongly connected component of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def strongconnect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                strongconnect(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append([*sorted(component), sorted(component)[0]])

    for node in sorted(graph):
        if node not in index:
            strongconnect(node)
    return cycles


# -- the package -------------------------------------------------------------------------------------


def test_the_package_keeps_its_layers() -> None:
    assert check_layers(PACKAGE_DIR) == []


def test_the_checker_reads_the_package() -> None:
    """Guards against a checker that passes because it read nothing."""
    order = imports_of(PACKAGE_DIR, PACKAGE_DIR / "operators" / "order.py")
    assert any(i.target.endswith("triggers.oneatlas") and "OneAtlasOrderTrigger" in i.names for i in order)
    trigger = imports_of(PACKAGE_DIR, PACKAGE_DIR / "triggers" / "oneatlas.py")
    assert any(i.target.endswith("hooks.oneatlas") and not i.module_level for i in trigger)  # function-level seen


def test_every_package_module_has_a_test_module_naming_it() -> None:
    """``<sub>/<mod>.py`` -> ``tests/unit/<sub>/test_<mod>.py`` (sandbox modules: tests/sandbox)."""
    missing = []
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        relative = path.relative_to(PACKAGE_DIR)
        if path.name == "__init__.py" or relative.parts[0] == "sandbox":
            continue
        expected = TESTS_UNIT.joinpath(*relative.parts[:-1], f"test_{path.name}")
        if not expected.is_file():
            missing.append(str(expected.relative_to(TESTS_UNIT.parent.parent)))
    assert missing == []


# -- the checker, on a synthetic package -------------------------------------------------------------


def write(root: Path, files: dict[str, str]) -> Path:
    package = root / "pkg"
    for name, text in files.items():
        path = package / name
        path.parent.mkdir(parents=True, exist_ok=True)
        for parent in [path.parent, *path.parent.parents]:
            if parent == root:
                break
            (parent / "__init__.py").touch()
        path.write_text(text)
    return package


CLEAN = {
    "client/api.py": "from pkg.client import errors\n",
    "client/errors.py": "class E(Exception): ...\n",
    "hooks/oneatlas.py": "from pkg.client import api\n\nclass Hook:\n    def go(self):\n        return self.client.x\n",
    "triggers/oneatlas.py": "from pkg.client.errors import E\n\ndef run():\n    from pkg.hooks.oneatlas import Hook\n",
    "operators/order.py": (
        "from pkg.triggers.oneatlas import OneAtlasOrderTrigger, orders_from_event\n"
        "from pkg.hooks.oneatlas import Hook\n"
    ),
    "sensors/oneatlas.py": "from pkg.triggers.oneatlas import orders_from_event\n",
    "sandbox/server.py": "from pkg.client import api\n",
    # TYPE_CHECKING imports are not executed: no cycle.
    "client/client.py": "from pkg.client import ordering\n",
    "client/ordering.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.client.client import C\n",
}


def test_the_checker_passes_a_clean_package(tmp_path: Path) -> None:
    assert check_layers(write(tmp_path, CLEAN)) == []


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({"client/api.py": "import airflow.sdk\n"}, "client imports Airflow"),
        ({"client/api.py": "def f():\n    from airflow.sdk import BaseHook\n"}, "client imports Airflow"),
        ({"client/api.py": "def f():\n    from pkg.hooks import oneatlas\n"}, "client imports hooks.oneatlas"),
        ({"client/api.py": "from ..hooks.oneatlas import Hook\n"}, "client imports hooks.oneatlas"),
        ({"operators/order.py": "from pkg.sensors.oneatlas import S\n"}, "operators imports sensors"),
        ({"sensors/oneatlas.py": "from pkg.operators import order\n"}, "sensors imports operators"),
        ({"triggers/oneatlas.py": "def run():\n    import pkg.operators.order\n"}, "triggers imports operators.order"),
        (
            {"triggers/poller.py": "x = 1\n", "operators/order.py": "from pkg.triggers import poller\n"},
            "triggers.poller",
        ),
        ({"sensors/oneatlas.py": "from pkg.triggers.oneatlas import OrderWaitError\n"}, "OrderWaitError"),
        ({"operators/order.py": "def f(hook):\n    return hook.client.get_order('x')\n"}, "through a hook"),
        ({"operators/order.py": "class O:\n    def f(self):\n        self.hook.client.x()\n"}, "through a hook"),
        ({"operators/order.py": "from pkg.sandbox import server\n"}, "production code imports sandbox.server"),
        ({"client/a.py": "from pkg.client import b\n", "client/b.py": "from pkg.client import a\n"}, "import cycle"),
    ],
)
def test_the_checker_finds_each_violation(tmp_path: Path, files: dict[str, str], expected: str) -> None:
    violations = check_layers(write(tmp_path, CLEAN | files))
    assert any(expected in v for v in violations), violations
