"""The package's structure: no import cycle, and a backend choice that stays in its thread."""

from __future__ import annotations

import ast
import threading
from pathlib import Path

import nnplug

PACKAGE = Path(nnplug.__file__).resolve().parent


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path, modules: set[str]) -> set[str]:
    """The nnplug modules ``path`` imports anywhere: in functions and for typing too."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = (
        module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    )
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            names = [base] + [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        found.update(name for name in names if name in modules)
    return found


def import_graph() -> dict[str, set[str]]:
    paths = {module_name(path): path for path in PACKAGE.rglob("*.py")}
    modules = set(paths)
    graph = {name: imports_of(path, modules) for name, path in paths.items()}
    # Importing a submodule runs its package's __init__ first; that is not a cycle of ours.
    return {
        name: {other for other in edges if not name.startswith(other + ".") and other != name}
        for name, edges in graph.items()
    }


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for other in sorted(graph[node]):
            if state.get(other) == 1:
                return stack[stack.index(other) :] + [other]
            if other not in state and (cycle := visit(other)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_the_package_has_no_import_cycle():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_the_cycle_finder_finds_one():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]


def test_use_backend_in_one_thread_leaves_the_other_on_its_own():
    outer = nnplug.current_backend()
    inside = threading.Event()
    release = threading.Event()
    seen: dict[str, str] = {}

    def worker() -> None:
        with nnplug.use_backend("numpy"):
            seen["worker, inside"] = nnplug.current_backend().name
            inside.set()
            release.wait(5)
        seen["worker, after"] = nnplug.current_backend().name

    thread = threading.Thread(target=worker)
    thread.start()
    assert inside.wait(5)
    seen["main, meanwhile"] = nnplug.current_backend().name
    release.set()
    thread.join(5)
    assert seen == {
        "worker, inside": "numpy",
        "main, meanwhile": outer.name,
        "worker, after": outer.name,
    }


def test_set_backend_is_for_the_whole_process():
    other = "numpy" if nnplug.current_backend().name != "numpy" else "c"
    if other not in nnplug.registry.backends:
        return
    nnplug.set_backend(other)
    seen = []
    thread = threading.Thread(target=lambda: seen.append(nnplug.current_backend().name))
    thread.start()
    thread.join(5)
    assert seen == [other]
