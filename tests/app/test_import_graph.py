"""The import graph of `app/`: no cycles, and the schema rule stays a leaf the API can load cheaply.

Read from the source with `ast` (every import, including those inside functions), so a lazy
import that closes a cycle counts too.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

import pytest

APP = Path(__file__).resolve().parents[2] / "app"


def module_name(path: Path) -> str:
    parts = path.relative_to(APP.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path, modules: set[str]) -> set[str]:
    """The app modules `path` imports (`from app.x import y` counts as app.x.y if that is one)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [f"{node.module}.{alias.name}" for alias in node.names] + [node.module]
        else:
            continue
        for name in names:
            if name in modules:
                found.add(name)
    return found


def graph() -> dict[str, set[str]]:
    paths = {module_name(path): path for path in APP.rglob("*.py")}
    modules = set(paths)
    graph = {name: imports_of(path, modules) - {name} for name, path in paths.items()}
    # A package's __init__ running is not an import of the package by its own modules.
    return {
        name: {dep for dep in deps if not name.startswith(dep + ".")}
        for name, deps in graph.items()
    }


def test_the_graph_is_read_from_the_source() -> None:
    edges = graph()
    assert "app.revisions.window" in edges["app.migrate.runner"]
    assert "app.migrate.apply" in edges["app.migrate.runner"]  # the lazy import is seen


def test_app_has_no_import_cycle() -> None:
    try:
        TopologicalSorter(graph()).prepare()
    except CycleError as exc:
        pytest.fail(f"import cycle: {' -> '.join(exc.args[1])}")


def test_a_cycle_would_be_found() -> None:
    edges = graph()
    edges["app.revisions.window"] = edges["app.revisions.window"] | {"app.migrate.runner"}
    with pytest.raises(CycleError):
        TopologicalSorter(edges).prepare()


def test_the_revisions_package_imports_nothing_else_of_app() -> None:
    for name, deps in graph().items():
        if name.startswith("app.revisions"):
            assert {dep for dep in deps if not dep.startswith("app.revisions")} == set(), name


def test_the_api_never_loads_alembic_or_sqlalchemy() -> None:
    probe = (
        "import sys, app.main, app.serve; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('alembic', 'sqlalchemy')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
