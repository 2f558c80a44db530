"""`import agentops_kit as ak`: a small front door, every name documented with an example that runs,
and notebooks that use only public names."""

from __future__ import annotations

import ast
import doctest
import importlib
import io

import nbformat
import pytest

import agentops_kit as ak
from agentops_kit.cli.init import init_project

from .conftest import ROOT, SAMPLE, TEMPLATES


@pytest.fixture(scope="module")
def ts():
    return ak.load_traces(SAMPLE / "traces.otlp.jsonl.gz", mapping=TEMPLATES / "mapping.yaml",
                          labels=SAMPLE / "labels.csv")


def test_the_front_door_is_small_and_everything_else_still_resolves():
    assert ak.__all__ == sorted(ak.FRONT_DOOR) and len(ak.__all__) <= 16  # the first wave's 13, the store's two, the kill switch
    assert set(ak.__all__) <= set(dir(ak))
    assert not set(ak._ALSO) & set(dir(ak))  # reachable, but not offered
    for name, module in {**ak.FRONT_DOOR, **ak._ALSO}.items():
        assert getattr(ak, name) is getattr(importlib.import_module(f"agentops_kit.{module}"), name), name
    for name in ak._ALSO:  # their documented home is a public module
        home = getattr(ak, name).__module__
        assert any(home == m or home.startswith(m + ".") for m in ak.PUBLIC_MODULES[1:]), (name, home)
    with pytest.raises(AttributeError):
        ak.no_such_name  # noqa: B018


@pytest.mark.parametrize("name", sorted(ak.FRONT_DOOR))
def test_every_public_name_has_a_docstring_with_an_example(name):
    doc = getattr(ak, name).__doc__ or ""
    assert "Example" in doc, f"ak.{name} has no example in its docstring"
    examples = doctest.DocTestParser().get_examples(doc)
    assert examples, f"ak.{name}: the example has no >>> lines"
    assert any(f"ak.{name}" in ex.source for ex in examples), f"ak.{name}: the example does not use it"


@pytest.mark.parametrize("name", sorted(ak.FRONT_DOOR))
def test_every_example_runs_in_a_project_made_by_init(name, ts, tmp_path, monkeypatch):
    init_project(tmp_path)
    monkeypatch.chdir(tmp_path)
    [test] = doctest.DocTestFinder(recurse=False).find(getattr(ak, name), f"ak.{name}", globs={"ak": ak, "ts": ts})
    out = io.StringIO()
    result = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE).run(test, out=out.write)
    assert result.attempted and not result.failed, out.getvalue()


def _public_names(module_name: str) -> set[str]:
    module = importlib.import_module(module_name)
    if module_name == "agentops_kit":
        return set(ak.FRONT_DOOR) | set(ak._ALSO)
    return set(getattr(module, "__all__", None) or [n for n in vars(module) if not n.startswith("_")])


NOTEBOOKS = sorted((ROOT / "agentops_kit" / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebooks_use_only_public_names(path):
    nb = nbformat.read(path, as_version=4)
    used: list[tuple[str, str]] = []  # (module, name)
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        for node in ast.walk(ast.parse(cell.source)):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("agentops_kit"):
                used += [(node.module, alias.name) for alias in node.names]
            elif isinstance(node, ast.Import):
                used += [(alias.name, "") for alias in node.names if alias.name.startswith("agentops_kit")]
            elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "ak":
                used.append(("agentops_kit", node.attr))
    assert used, "the notebook does not use the kit?"
    for module, name in used:
        assert module in ak.PUBLIC_MODULES, f"{path.name} imports the internal module {module}"
        assert not name or name in _public_names(module), f"{path.name} uses {module}.{name}, not a public name"
