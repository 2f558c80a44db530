"""`agentops-kit init DIR`: editable copies of the templates, notebooks and sample that run from there."""

from __future__ import annotations

import nbformat
import papermill as pm
import pytest
from click.testing import CliRunner

from agentops_kit.cli import main
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
        assert (project / name).read_bytes() == packaged.read_bytes(), name


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
    # the copies are what runs: an owner edited in the project's readiness.yaml shows in the weekly review
    readiness = project / "templates" / "readiness.yaml"
    readiness.write_text(readiness.read_text().replace("finance@example.com", "our-finance-team"))
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
