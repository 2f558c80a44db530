"""Every notebook runs top to bottom under papermill with its defaults on the bundled sample data."""

from __future__ import annotations

import json

import nbformat
import papermill as pm
import pytest

import agentops_kit as ak
from agentops_kit.report.kernel import SlicedPollKernelManager

from .conftest import ROOT

NOTEBOOKS = sorted((ROOT / "agentops_kit" / "notebooks").glob("*.ipynb"))


def test_all_five_notebooks_exist():
    assert {p.name for p in NOTEBOOKS} == {"weekly_review.ipynb", "run_inspector.ipynb", "approvals.ipynb",
                                          "inventory_scoring.ipynb", "shadow_mode.ipynb"}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_with_defaults(path, tmp_path, monkeypatch):
    monkeypatch.setenv("AGENTOPS_APPROVALS_DB", f"sqlite:///{tmp_path / 'approvals.db'}")
    nb = nbformat.read(path, as_version=4)
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# ")
    params = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(params) == 1
    assert all("#" in line for line in params[0].source.splitlines() if "=" in line and not line.startswith("import"))
    assigned = {line.split("=")[0].strip() for line in params[0].source.splitlines()
                if "=" in line and not line.startswith(("#", "import", "from"))}
    assert set(pm.inspect_notebook(str(path))) == assigned  # papermill sees every parameter (and its help)
    extra = {"regression_set": str(tmp_path / "regressions.jsonl")} if path.stem == "shadow_mode" else {}
    if path.stem == "inventory_scoring":
        extra = {"save_url": f"sqlite:///{tmp_path / 'inv.db'}", "label": "test"}
    out = tmp_path / path.name
    pm.execute_notebook(str(path), str(out), parameters=extra, cwd=str(path.parent), progress_bar=False,
                        execution_timeout=300, kernel_manager_class=SlicedPollKernelManager)
    executed = nbformat.read(out, as_version=4)
    errors = [o for c in executed.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors
    if path.stem == "approvals":
        q = ak.ApprovalQueue(f"sqlite:///{tmp_path / 'approvals.db'}")
        assert len(q.pending()) == 3  # seeded from the sample, waiting for a human
        widget_outputs = [o for c in executed.cells for o in c.get("outputs", [])
                          if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
        assert widget_outputs
    if path.stem == "shadow_mode":
        lines = (tmp_path / "regressions.jsonl").read_text().splitlines()
        assert lines and all(json.loads(line)["expected"] for line in lines)
    if path.stem == "inventory_scoring":
        assert ak.scoring_history(f"sqlite:///{tmp_path / 'inv.db'}").height == 12
