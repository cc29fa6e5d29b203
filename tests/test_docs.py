"""The documentation site cannot drift from the code.

The fenced Python blocks of every page run, in order, one namespace per page (blocks marked
``<!-- needs: mnist -->`` only in the slow tests, on the real MNIST); the plugin guide's
snippets run as the scripts they say they are; the CLI reference is the parsers' own help;
and every public name has a docstring and a place in the API reference.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import importlib
import importlib.util
import inspect
import io
import pkgutil
import re
import runpy
import sys
from pathlib import Path
from types import ModuleType

import pytest

import nnplug
from nnplug import plugins

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PLUGIN_GUIDE = DOCS / "writing-a-plugin.md"


def load_path(name: str, path: Path) -> ModuleType:
    """Import the file ``path`` as a module named ``name``."""
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


codeblocks = load_path("docs_codeblocks", DOCS / "scripts" / "codeblocks.py")
cli_reference = load_path("docs_cli_reference", DOCS / "hooks" / "cli_reference.py")


def pages_with_code() -> list[Path]:
    """Every page with Python blocks, but the plugin guide, whose snippets are scripts."""
    pages = sorted(DOCS.rglob("*.md"))
    return [p for p in pages if p != PLUGIN_GUIDE and codeblocks.python_blocks(p)]


def page_id(page: Path) -> str:
    return page.relative_to(DOCS).as_posix()


CODE_PAGES = pages_with_code()
MNIST_PAGES = [p for p in CODE_PAGES if any(b.needs for b in codeblocks.python_blocks(p))]


def test_every_tutorial_has_code_that_runs_here():
    tutorials = sorted((DOCS / "tutorials").glob("*.md"))
    assert tutorials and set(tutorials) <= set(CODE_PAGES)


def test_the_blocks_are_found_with_their_line_numbers():
    page = DOCS / "tutorials" / "mnist.md"
    lines = page.read_text(encoding="utf-8").splitlines()
    blocks = codeblocks.python_blocks(page)
    for block in blocks:
        assert lines[block.line - 2] == "```python"
        assert lines[block.line - 1] == block.code.splitlines()[0]
    assert {block.needs for block in blocks} == {None, "mnist"}


@pytest.mark.parametrize("page", CODE_PAGES, ids=page_id)
def test_page_code_runs(page, tmp_path, monkeypatch, capsys):
    """The page's blocks that need no real data, in order, in a scratch directory."""
    monkeypatch.chdir(tmp_path)
    blocks = [b for b in codeblocks.python_blocks(page) if b.needs is None]
    codeblocks.run_blocks(page, blocks, {"__name__": "__docs__"})


@pytest.mark.slow
@pytest.mark.mnist
@pytest.mark.parametrize("page", MNIST_PAGES, ids=page_id)
def test_page_code_runs_on_the_real_mnist(page, mnist_dir, tmp_path, monkeypatch, capsys):
    """All of the page's blocks, in order, with the real MNIST files."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NNPLUG_DATA_DIR", str(mnist_dir))
    codeblocks.run_blocks(page, codeblocks.python_blocks(page), {"__name__": "__docs__"})


PLUGIN_SCRIPTS = [
    b for b in codeblocks.python_blocks(PLUGIN_GUIDE) if 'if __name__ == "__main__":' in b.code
]


@pytest.mark.parametrize("block", PLUGIN_SCRIPTS, ids=lambda b: f"line {b.line}")
def test_plugin_guide_snippet_runs_as_a_script(block, tmp_path, capsys):
    """Each snippet that says it runs as a script does, with a plugin host of its own."""
    script = tmp_path / f"snippet_line_{block.line}.py"
    script.write_text(block.code, encoding="utf-8")
    previous = plugins.host()
    plugins.reset(plugins.PluginHost())
    try:
        runpy.run_path(str(script), run_name="__main__")
    finally:
        plugins.reset(previous)
    assert capsys.readouterr().out


def test_the_plugin_guide_has_script_snippets():
    assert len(PLUGIN_SCRIPTS) >= 4


# --- the CLI reference ------------------------------------------------------------------


def help_text(words: tuple[str, ...]) -> str:
    """What ``nnplug WORDS --help`` prints."""
    from nnplug.cli import build_parser

    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit):
        build_parser().parse_args([*words, "--help"])
    return out.getvalue()


def test_cli_reference_is_the_help_of_every_command(monkeypatch):
    from nnplug.cli import build_parser

    rendered = cli_reference.render()
    found = [words for words, _ in cli_reference.commands(build_parser())]
    assert ("train", "mnist") in found and ("check",) in found and () in found
    monkeypatch.setenv("COLUMNS", cli_reference.WIDTH)
    for words in found:
        heading = f"## `{' '.join(('nnplug', *words))}`"
        assert f"{heading}\n\n```text\n{help_text(words)}```\n" in rendered


def test_cli_page_holds_the_marker():
    assert cli_reference.MARKER in (DOCS / cli_reference.PAGE).read_text(encoding="utf-8")


# --- the API reference ------------------------------------------------------------------


def public_modules() -> list[ModuleType]:
    """nnplug, the modules in nnplug.__all__, and every public submodule with an __all__."""
    found = {"nnplug": nnplug}
    for name in nnplug.__all__:
        if inspect.ismodule(getattr(nnplug, name)):
            found[f"nnplug.{name}"] = getattr(nnplug, name)
    for info in pkgutil.walk_packages(nnplug.__path__, "nnplug."):
        parts = info.name.split(".")
        if any(part.startswith("_") for part in parts):
            continue  # private, and nnplug.__main__, which runs the CLI on import
        module = importlib.import_module(info.name)
        if hasattr(module, "__all__"):
            found[info.name] = module
    return [found[name] for name in sorted(found)]


def public_names(module: ModuleType) -> list[str]:
    """``__all__``, or else the classes and functions the module itself defines."""
    if hasattr(module, "__all__"):
        return list(module.__all__)
    return [
        name
        for name, value in vars(module).items()
        if not name.startswith("_")
        and (inspect.isclass(value) or inspect.isfunction(value))
        and value.__module__ == module.__name__
    ]


def attribute_docstrings(module: ModuleType) -> dict[str, str]:
    """The docstrings written under module-level assignments (``NAME = ...`` then a string)."""
    tree = ast.parse(inspect.getsource(module))
    found = {}
    for statement, following in zip(tree.body, tree.body[1:], strict=False):
        if isinstance(statement, ast.Assign | ast.AnnAssign) and (
            isinstance(following, ast.Expr)
            and isinstance(following.value, ast.Constant)
            and isinstance(following.value.value, str)
        ):
            targets = statement.targets if isinstance(statement, ast.Assign) else [statement.target]
            for target in targets:
                if isinstance(target, ast.Name):
                    found[target.id] = following.value.value
    return found


def docstring_of(module: ModuleType, name: str) -> str | None:
    """The docstring the reference shows for ``module.name``."""
    value = getattr(module, name)
    if inspect.ismodule(value) or inspect.isclass(value) or inspect.isroutine(value):
        return inspect.getdoc(value)
    # A constant: its docstring sits under its assignment, in the module that defines it.
    for source in (module, *public_modules(), *submodules(module)):
        docstring = attribute_docstrings(source).get(name)
        if docstring and getattr(source, name, None) is value:
            return docstring
    return None


def submodules(module: ModuleType) -> list[ModuleType]:
    if not hasattr(module, "__path__"):
        return []
    return [
        importlib.import_module(info.name)
        for info in pkgutil.walk_packages(module.__path__, f"{module.__name__}.")
        if not any(part.startswith("_") for part in info.name.split("."))
    ]


def undocumented_methods(cls: type) -> list[str]:
    """Public methods and properties ``cls`` defines whose docstring (or inherited one) is empty."""
    missing = []
    for name, value in vars(cls).items():
        if name.startswith("_"):
            continue
        function = value.fget if isinstance(value, property) else getattr(value, "__func__", value)
        if inspect.isfunction(function) and not inspect.getdoc(getattr(cls, name, function)):
            missing.append(name)
    return missing


def public_name_params() -> list[object]:
    params: list[object] = []
    for module in public_modules():
        params.append(pytest.param(module, None, id=module.__name__))
        for name in public_names(module):
            params.append(pytest.param(module, name, id=f"{module.__name__}.{name}"))
    return params


@pytest.mark.parametrize(("module", "name"), public_name_params())
def test_public_name_has_a_docstring(module, name):
    if name is None:
        assert inspect.getdoc(module), f"{module.__name__} has no module docstring"
        return
    assert docstring_of(module, name), f"{module.__name__}.{name} has no docstring"
    value = getattr(module, name)
    if inspect.isclass(value) and value.__module__.startswith("nnplug"):
        assert undocumented_methods(value) == [], f"{module.__name__}.{name}"


def test_the_docstring_check_sees_a_missing_docstring():
    module = ModuleType("nnplug_fake")
    module.__all__ = ["documented", "bare"]

    def documented():
        """Say what it does."""

    def bare():
        pass

    module.documented, module.bare = documented, bare
    assert docstring_of(module, "documented") == "Say what it does."
    assert docstring_of(module, "bare") is None


def referenced_modules() -> set[str]:
    """The modules the API reference pages render (``::: module`` lines)."""
    names = set()
    for page in (DOCS / "reference").glob("*.md"):
        names.update(re.findall(r"^::: ([\w.]+)$", page.read_text(encoding="utf-8"), re.M))
    return names


def test_api_reference_renders_every_public_module():
    missing = {m.__name__ for m in public_modules()} - referenced_modules()
    assert not missing, f"add a docs/reference page with '::: NAME' for {sorted(missing)}"


def test_every_reference_page_is_in_the_navigation():
    config = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    for page in (DOCS / "reference").glob("*.md"):
        assert f"reference/{page.name}" in config


def test_argparse_walk_sees_nested_commands():
    parser = argparse.ArgumentParser(prog="tool")
    outer = parser.add_subparsers().add_parser("outer")
    outer.add_subparsers().add_parser("inner")
    assert [words for words, _ in cli_reference.commands(parser)] == [
        (),
        ("outer",),
        ("outer", "inner"),
    ]


def test_figure_script_draws_the_xor_loss_curve_from_the_tutorials_run(tmp_path, capsys):
    figures = load_path("docs_figures", DOCS / "scripts" / "figures.py")
    output = tmp_path / "xor-loss.png"
    figures.xor_loss_curve(output)
    assert output.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
