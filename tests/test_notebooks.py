"""Every notebook runs top to bottom under papermill: on the bundled sample when asked (``sample=True``, the
default), on exactly the inputs given otherwise; nothing to show, or a mix of the two, is one line, not a traceback."""

from __future__ import annotations

import json
import re

import nbformat
import papermill as pm
import pytest
from papermill.exceptions import PapermillExecutionError

import agentops_kit as ak
from agentops_kit.errors import UsageError
from agentops_kit.report import notebook_inputs, notebook_traces, sample_settings
from agentops_kit.report.kernel import SlicedPollKernelManager

from .conftest import ROOT, SAMPLE, write_lines

NOTEBOOK_DIR = ROOT / "agentops_kit" / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
NOT_INPUTS = {"sample": "True", "weeks_back": "8", "recommendation_attribute": '"agentops.recommendation"',
              "stop_on_breach": "False",  # opt-in: the kill switch never acts by default
              "engine": '"polars"', "spark_master": '"local[*]"'}  # where the analytics run, not an input


def execute(path, out, **parameters):
    return pm.execute_notebook(str(path), str(out), parameters=parameters, cwd=str(path.parent), progress_bar=False,
                               execution_timeout=300, kernel_manager_class=SlicedPollKernelManager)


def outputs(nb, kind):
    return [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.output_type == kind]


def test_all_six_notebooks_exist():
    assert {p.name for p in NOTEBOOKS} == {"weekly_review.ipynb", "run_inspector.ipynb", "approvals.ipynb",
                                          "inventory_scoring.ipynb", "shadow_mode.ipynb", "incident.ipynb"}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_on_the_sample_by_default(path, tmp_path):
    nb = nbformat.read(path, as_version=4)
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# ")
    params = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(params) == 1
    assert all("#" in line for line in params[0].source.splitlines() if "=" in line and not line.startswith("import"))
    assigned = {line.split("=")[0].strip() for line in params[0].source.splitlines()
                if "=" in line and not line.startswith(("#", "import", "from"))}
    inspected = pm.inspect_notebook(str(path))
    assert set(inspected) == assigned  # papermill sees every parameter (and its help)
    # no parameter defaults to a file: an input not given is absent; the sample comes only with sample=True
    defaults = {name: p["default"] for name, p in inspected.items()}
    assert {n: d for n, d in defaults.items() if d != "None"} == {n: d for n, d in NOT_INPUTS.items() if n in defaults}
    extra = {"regression_set": str(tmp_path / "regressions.jsonl")} if path.stem == "shadow_mode" else {}
    if path.stem == "inventory_scoring":
        extra = {"save_url": f"sqlite:///{tmp_path / 'inv.db'}", "label": "test"}
    beside = sorted(NOTEBOOK_DIR.iterdir())
    executed = execute(path, tmp_path / path.name, **extra)
    assert not outputs(executed, "error")
    assert sorted(NOTEBOOK_DIR.iterdir()) == beside  # nothing written beside the notebooks
    if path.stem == "approvals":
        printed = "".join(o.get("text", "") for o in outputs(executed, "stream"))
        url = re.search(r"demo approvals store: (sqlite:///\S+)", printed)[1]
        assert "/agentops-approvals-demo-" in url and str(NOTEBOOK_DIR) not in url  # a temporary folder
        assert len(ak.ApprovalQueue(url).pending()) == 3  # seeded from the sample, waiting for a human
        widget_outputs = [o for c in executed.cells for o in c.get("outputs", [])
                          if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
        assert widget_outputs
    if path.stem == "shadow_mode":
        lines = (tmp_path / "regressions.jsonl").read_text().splitlines()
        assert lines and all(json.loads(line)["expected"] for line in lines)
    if path.stem == "inventory_scoring":
        assert ak.scoring_history(f"sqlite:///{tmp_path / 'inv.db'}").height == 12
    if path.stem == "weekly_review":
        html = "".join(o.get("data", {}).get("text/html", "") for o in outputs(executed, "execute_result"))
        assert "<h2>Inputs</h2>" in html and str(SAMPLE / "labels.csv") in html
        # the practices render inside the review, on the sample's quality labels and quality file
        for heading in ("Quality floors", "Red-team exercises", "Approval gates: can one be relaxed?", "Provenance"):
            assert f"<h2>{heading}</h2>" in html, heading
        assert str(SAMPLE / "quality_labels.csv") in html and "quality.yaml" in html
        assert "Quality metrics in 2026-W47" in html and "no quality file given" not in html


@pytest.mark.parametrize("stem, parameters, expected", [
    ("weekly_review", {}, "NothingToShow: the traces hold no runs"),
    ("run_inspector", {}, "NothingToShow: run inspector: the traces hold no runs"),
    ("shadow_mode", {}, "NothingToShow: shadow mode: the traces hold no runs"),
    ("weekly_review", {"traces": [str(SAMPLE / "traces.otlp.jsonl.gz")], "agents": ["Typo"]},
     "NothingToShow: no runs for agent 'Typo'; the traces hold 616 runs; weeks: 2026-W41 .. 2026-W47; "
     "agents: InvoiceCategorizer, SocAlertTriage, SupportRefundAgent"),
], ids=["weekly-empty", "inspector-empty", "shadow-empty", "weekly-unknown-agent"])
def test_nothing_to_show_is_one_line(stem, parameters, expected, tmp_path):
    empty = write_lines(tmp_path / "empty.jsonl", [])
    parameters = {"sample": False, "traces": [str(empty)], **parameters}
    with pytest.raises(PapermillExecutionError) as failed:
        execute(NOTEBOOK_DIR / f"{stem}.ipynb", tmp_path / "out.ipynb", **parameters)
    assert f"{failed.value.ename}: {failed.value.evalue}".startswith(expected), failed.value
    errors = outputs(nbformat.read(tmp_path / "out.ipynb", as_version=4), "error")
    assert len(errors) == 1 and errors[0].traceback == [f"error: {failed.value.evalue}"]  # one line, no traceback


def test_the_sample_and_your_own_inputs_do_not_mix(tmp_path):
    with pytest.raises(PapermillExecutionError) as failed:
        execute(NOTEBOOK_DIR / "weekly_review.ipynb", tmp_path / "out.ipynb", traces=["mine.jsonl"])
    assert failed.value.ename == "UsageError"
    assert "sample=True runs this notebook on the bundled sample, but traces was given too" in failed.value.evalue
    with pytest.raises(UsageError, match="sample=False: pass inventory"):
        notebook_inputs(False, required=("inventory",), inventory=None)
    assert notebook_inputs(True, traces=None, labels=None) == {k: sample_settings()[k] for k in ("traces", "labels")}
    assert notebook_inputs(False, traces=["a"], labels=None) == {"traces": ["a"], "labels": None}


def test_a_notebook_reads_a_store_or_traces_never_a_mix(tmp_path):
    # refused before anything is read: a store's runs were assembled when ingested
    with pytest.raises(UsageError, match=r"^labels: cannot be used with a store, .* `agentops-kit ingest --into`"):
        notebook_traces({"store": str(tmp_path), "traces": None, "mapping": None, "labels": ["labels.csv"]})
    with pytest.raises(UsageError, match="^weeks reads weeks of a trace store: give store"):
        notebook_traces({"traces": [str(SAMPLE / "traces.otlp.jsonl.gz")], "store": None}, weeks="2026-W47")


def test_approvals_on_your_store_is_never_seeded_and_says_when_the_traces_are_empty(tmp_path):
    empty = write_lines(tmp_path / "empty.jsonl", [])
    url = f"sqlite:///{tmp_path / 'mine.db'}"
    executed = execute(NOTEBOOK_DIR / "approvals.ipynb", tmp_path / "out.ipynb", sample=False, db_url=url,
                       traces=[str(empty)])
    assert not outputs(executed, "error")
    printed = "".join(o.get("text", "") for o in outputs(executed, "stream"))
    assert f"{empty}: the traces hold no runs; requests are shown without their runs" in printed
    assert ak.ApprovalQueue(url).pending() == []


def test_the_run_inspector_notebook_opens_the_approvals_store_for_its_stop_button(tmp_path):
    url = f"sqlite:///{tmp_path / 'approvals.db'}"
    ak.ApprovalQueue(url).stop_agent("SupportRefundAgent", reason="refunds to the wrong card", actor="alice")
    executed = execute(NOTEBOOK_DIR / "run_inspector.ipynb", tmp_path / "run_inspector.ipynb", approvals_db=url)
    assert not outputs(executed, "error")
    with pytest.raises(PapermillExecutionError, match="no such"):  # a store that is not there is not made
        execute(NOTEBOOK_DIR / "run_inspector.ipynb", tmp_path / "again.ipynb",
                approvals_db=f"sqlite:///{tmp_path / 'missing.db'}")
