"""The package's floors: ``core`` imports neither napari nor Qt, ``layers`` imports no
Qt, nothing imports a floor above its own, and no module imports itself back."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "napari_kmeans_seg"
GUI = {"qtpy", "magicgui", "vispy", "PyQt5", "PyQt6", "PySide2", "PySide6", "superqt"}
#: what each floor may not import (third-party roots, and our own floors above it)
FORBIDDEN = {
    "core": GUI | {"napari", "napari_kmeans_seg.layers", "napari_kmeans_seg._qt"},
    "layers": GUI | {"napari_kmeans_seg._qt"},
    "cli": GUI | {"napari", "napari_kmeans_seg.layers", "napari_kmeans_seg._qt"},
}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    """Absolute names of every module ``path`` imports (at any depth of the file)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")
            if node.level:
                base = base[: len(base) - node.level + 1]
                prefix = ".".join(base + ([node.module] if node.module else []))
            else:
                prefix = node.module
            found.add(prefix)
            found |= {f"{prefix}.{a.name}" for a in node.names}
    return found


MODULES = {module_name(p): p for p in PACKAGE.rglob("*.py")}


def floor_of(name: str) -> str | None:
    parts = name.split(".")
    return parts[1] if len(parts) > 1 else None


@pytest.mark.parametrize("name", sorted(MODULES))
def test_a_floor_imports_nothing_above_it(name):
    forbidden = FORBIDDEN.get(floor_of(name), set())
    bad = sorted(
        i
        for i in imports_of(MODULES[name])
        if any(i == f or i.startswith(f + ".") for f in forbidden)
    )
    assert not bad, f"{name} imports {bad}"


def test_no_import_cycles():
    graph = {
        name: {i for i in imports_of(path) if i in MODULES and i != name}
        for name, path in MODULES.items()
    }
    graph = {
        n: {d for d in deps if d != "napari_kmeans_seg"} for n, deps in graph.items()
    }
    state: dict[str, int] = {}

    def visit(node, trail):
        state[node] = 1
        for dep in sorted(graph[node]):
            if state.get(dep) == 1:
                raise AssertionError(" -> ".join([*trail, node, dep]))
            if dep not in state:
                visit(dep, [*trail, node])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [])


def test_the_test_knows_every_floor():
    floors = {floor_of(n) for n in MODULES} - {None}
    # _version: written by setuptools-scm when the package is installed
    allowed = {"core", "layers", "_qt", "cli", "__main__", "_sample_data", "_version"}
    assert floors <= allowed
