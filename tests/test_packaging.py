"""pyproject.toml is the source of truth; environment.yml mirrors it; the front door is small and true."""

from __future__ import annotations

import re

import tomllib
import yaml

import agentops_kit as ak

from .conftest import ROOT


def _name(spec: str) -> str:
    return re.split(r"[<>=!~\[ ]", spec.strip(), maxsplit=1)[0].lower().replace("_", "-")


def test_environment_yml_mirrors_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    build_tools = ("python", "pip", "c-compiler")  # the interpreter and what builds the package, not deps
    conda = [d for d in env["dependencies"] if isinstance(d, str) and not d.startswith(build_tools)]
    pip_deps = {_name(d): d.replace(" ", "") for d in project["dependencies"]}
    conda_deps = {_name(d): d.replace(" ", "") for d in conda}
    assert conda_deps == pip_deps
    assert any(d.startswith("python>=") for d in env["dependencies"] if isinstance(d, str))
    [pip_section] = [d["pip"] for d in env["dependencies"] if isinstance(d, dict)]
    test_extra = {_name(d): d.replace(" ", "") for d in project["optional-dependencies"]["test"]}
    assert {_name(d): d.replace(" ", "") for d in pip_section if d != "-e ."} == test_extra


def test_public_names_resolve():
    for name in ak.__all__:
        assert getattr(ak, name) is not None, name


def test_top_level_layout():
    for entry in ("agentops_kit", "tests", "benchmarks", "environment.yml", "pyproject.toml", "README.md", ".ci/run",
                  "LICENSE"):
        assert (ROOT / entry).exists(), entry
    # what users copy and run ships inside the package (found with importlib.resources)
    for entry in ("notebooks", "data/sample", "templates", "report/templates"):
        assert (ROOT / "agentops_kit" / entry).is_dir(), entry


def test_canonical_json_schema_is_current():
    import json

    from agentops_kit.schema_json import canonical_schema

    shipped = json.loads((ROOT / "agentops_kit" / "schemas" / "canonical.schema.json").read_text())
    assert shipped == canonical_schema(), "regenerate: python -m agentops_kit.schema_json > agentops_kit/schemas/canonical.schema.json"


def test_the_version_is_written_once():
    from click.testing import CliRunner

    from agentops_kit.cli import main

    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "version" not in pyproject["project"] and "version" in pyproject["project"]["dynamic"]
    assert pyproject["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "agentops_kit.version.__version__"}
    assert re.fullmatch(r"\d+\.\d+\.\d+", ak.__version__)
    assert CliRunner().invoke(main, ["--version"]).output == f"agentops-kit, version {ak.__version__}\n"


def test_the_type_checker_covers_the_public_api():
    checked = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mypy"]["files"]
    modules = [*ak.PUBLIC_MODULES, *(f"agentops_kit.{m}" for m in ak.FRONT_DOOR.values())]
    for module in modules:
        path = module.replace(".", "/")
        assert any(path == c.removesuffix(".py").removesuffix("/__init__") or path.startswith(c + "/")
                   for c in checked), f"{module} is public but mypy does not check it"
