"""`agentops-kit init DIR`: editable copies of the templates, notebooks and sample that run from there."""

from __future__ import annotations

import re

import nbformat
import papermill as pm
import pytest
from click.testing import CliRunner

from agentops_kit.cli import main
from agentops_kit.cli.init import init_project
from agentops_kit.report.kernel import SlicedPollKernelManager
from agentops_kit.resources import notebooks_dir, templates_dir

from .conftest import ROOT


def _files(root):
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def test_init_writes_copies_and_says_what_it_wrote(tmp_path):
    project = tmp_path / "proj"
    result = CliRunner().invoke(main, ["init", str(project)])
    assert result.exit_code == 0, result.output
    written = _files(project)
    assert {f"templates/{f}" for f in _files(templates_dir())} <= set(written)
    assert {f"notebooks/{f}" for f in _files(notebooks_dir())} <= set(written)
    assert {"data/sample/traces.otlp.jsonl.gz", "data/sample/labels.csv", "data/inventory.csv"} <= set(written)
    *lines, last = result.output.splitlines()
    assert sorted(line.removeprefix(f"wrote {project}/") for line in lines) == written
    assert last.startswith(f"{len(written)} files in {project}/")
    for name in written:
        packaged = ROOT / "agentops_kit" / name
        if name.endswith(".ipynb"):  # a copy's parameters name the project's copies; the rest is the notebook
            copied, original = nbformat.read(project / name, as_version=4), nbformat.read(packaged, as_version=4)
            assert [c.source for c in copied.cells if "parameters" not in c.metadata.get("tags", [])] == \
                [c.source for c in original.cells if "parameters" not in c.metadata.get("tags", [])], name
            continue
        assert (project / name).read_bytes() == packaged.read_bytes(), name


def test_copied_notebooks_name_the_projects_copies(tmp_path):
    init_project(tmp_path)
    params = {name: nbformat.read(tmp_path / "notebooks" / name, as_version=4).cells for name in
              ("weekly_review.ipynb", "inventory_scoring.ipynb", "approvals.ipynb")}
    weekly = next(c.source for c in params["weekly_review.ipynb"] if "parameters" in c.metadata.get("tags", []))
    assert "sample = False" in weekly and "mapping = '../templates/mapping.yaml'" in weekly
    assert "labels = ['../data/sample/labels.csv', '../data/sample/quality_labels.csv']" in weekly
    assert "approvals_db = None" in weekly  # not a sample setting: stays absent
    inventory = next(c.source for c in params["inventory_scoring.ipynb"] if "parameters" in c.metadata.get("tags", []))
    assert "sample = False" in inventory and "inventory = '../data/inventory.csv'" in inventory
    approvals = next(c.source for c in params["approvals.ipynb"] if "parameters" in c.metadata.get("tags", []))
    assert "sample = True" in approvals and "traces = None" in approvals  # a demo store, seeded from the sample
    for path in [(tmp_path / "notebooks" / p) for p in params]:
        for cell in nbformat.read(path, as_version=4).cells:
            for found in re.findall(r"'(\.\./[^']+)'", cell.source):
                assert (path.parent / found).exists(), (path.name, found)


def test_init_refuses_to_overwrite_unless_forced(tmp_path):
    runner = CliRunner()
    assert runner.invoke(main, ["init", str(tmp_path)]).exit_code == 0
    mine = tmp_path / "templates" / "pricing.yaml"
    mine.write_text("# my negotiated prices\n")
    (tmp_path / "notebooks" / "weekly_review.ipynb").unlink()
    result = runner.invoke(main, ["init", str(tmp_path)])
    assert result.exit_code == 2
    assert result.output.count("\n") == 1 and result.output.startswith(f"error: {tmp_path}/templates/")
    assert "nothing was written — pass --force to overwrite" in result.output
    assert mine.read_text() == "# my negotiated prices\n"
    assert not (tmp_path / "notebooks" / "weekly_review.ipynb").exists()  # nothing at all was written
    result = runner.invoke(main, ["init", str(tmp_path), "--force"])
    assert result.exit_code == 0 and f"wrote {mine}" in result.output
    assert mine.read_bytes() == (templates_dir() / "pricing.yaml").read_bytes()
    assert (tmp_path / "notebooks" / "weekly_review.ipynb").exists()


def test_init_into_a_file_is_one_clear_error(tmp_path):
    target = tmp_path / "taken"
    target.write_text("x")
    result = CliRunner().invoke(main, ["init", str(target)])
    assert result.exit_code == 2 and result.output == f"error: {target}: exists and is not a folder\n"


@pytest.mark.parametrize("name", sorted(p.name for p in notebooks_dir().glob("*.ipynb")))
def test_copied_notebooks_run_from_the_project_with_the_copied_templates(name, tmp_path, monkeypatch):
    project = tmp_path / "proj"
    CliRunner().invoke(main, ["init", str(project)], catch_exceptions=False)
    # the copies are what runs: an owner edited in the project's templates shows in the weekly review
    for copy in ("readiness.yaml", "quality.yaml"):  # the two templates that name this owner
        edited = project / "templates" / copy
        edited.write_text(edited.read_text().replace("finance@example.com", "our-finance-team"))
    monkeypatch.setenv("AGENTOPS_APPROVALS_DB", f"sqlite:///{tmp_path / 'approvals.db'}")
    params = {"save_url": f"sqlite:///{tmp_path / 'inv.db'}", "label": "init"} if name == "inventory_scoring.ipynb" else {}
    out = tmp_path / name
    pm.execute_notebook(str(project / "notebooks" / name), str(out), parameters=params,
                        cwd=str(project / "notebooks"), progress_bar=False, execution_timeout=300,
                        kernel_manager_class=SlicedPollKernelManager)
    executed = nbformat.read(out, as_version=4)
    outputs = [o for c in executed.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.output_type == "error"]
    if name == "weekly_review.ipynb":
        text = "".join(str(o.get("data", {}).get("text/html", "")) + str(o.get("text", "")) for o in outputs)
        assert "our-finance-team" in text and "finance@example.com" not in text
        assert "prices: ../templates/pricing.yaml" in text
