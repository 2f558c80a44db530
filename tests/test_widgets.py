"""Widgets driven through their Python objects, with real SQLite behind them."""

from __future__ import annotations

import polars as pl

import agentops_kit as ak
from agentops_kit.approvals.demo import seed_from_traces
from agentops_kit.widgets import (
    ApprovalsWidget,
    InventoryExplorer,
    RunInspector,
    current_user,
)

from .conftest import ROOT


def test_approvals_widget_approve_reject_conflict(sample_ts, tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'a.db'}"
    q = ak.ApprovalQueue(url)
    made = seed_from_traces(q, sample_ts, count=3)
    assert len(made) == 3 and len(seed_from_traces(q, sample_ts, count=3)) == 3 and len(q.pending()) == 3
    monkeypatch.setenv("JUPYTERHUB_USER", "hub-alice")
    assert current_user() == "hub-alice"
    widget = ApprovalsWidget(q, traceset=sample_ts)
    assert widget.user == "hub-alice" and len(widget.requests.options) == 3
    first = widget.requests.value
    assert "The run so far" in widget.detail.value and "Sources:" in widget.detail.value
    widget.approve_button.click()
    assert q.get(first).status == "approved" and q.get(first).decided_by == "hub-alice"
    assert "approved" in widget.status.value and len(widget.requests.options) == 2
    # rejecting needs a reason: said plainly, nothing decided
    second = widget.requests.value
    widget.reject_button.click()
    assert "needs a reason" in widget.status.value and q.get(second).status == "pending"
    widget.reason.value = "wrong customer"
    widget.reject_button.click()
    assert q.get(second).status == "rejected" and q.get(second).decision_note == "wrong customer"
    # someone else decides the last one first: the conflict is shown, not overwritten
    third = widget.requests.value
    q.approve(third, "bob")
    widget.approve_button.click()
    assert "already approved by bob" in widget.status.value
    assert q.get(third).decided_by == "bob" and widget.requests.options == ()
    assert q.verify().ok


def test_approvals_widget_filters_and_escapes(tmp_path):
    q = ak.ApprovalQueue(f"sqlite:///{tmp_path / 'a.db'}")
    q.submit(agent="A", action="pay", params={"note": "<img src=x onerror=alert(1)>"}, requested_by="svc",
             before={"x": "<script>alert(1)</script>"}, after={"x": "ok"})
    q.submit(agent="B", action="mail", params={}, requested_by="svc")
    widget = ApprovalsWidget(q, user="carol")
    assert len(widget.requests.options) == 2
    widget.agent.value = "B"
    assert len(widget.requests.options) == 1
    widget.agent.value = None
    widget.action.value = "pay"
    assert len(widget.requests.options) == 1
    assert "<script>" not in widget.detail.value and "<img src=x" not in widget.detail.value
    assert "&lt;script&gt;" in widget.detail.value


def test_run_inspector(sample_ts):
    result = ak.check_policy(sample_ts, ROOT / "agentops_kit" / "templates" / "policies")
    inspector = RunInspector(sample_ts, policy_result=result)
    total = len(inspector.picker.options)
    inspector.agent.value = "SupportRefundAgent"
    inspector.outcome.value = "failure"
    runs = sample_ts.runs.filter((pl.col("agent") == "SupportRefundAgent") & (pl.col("outcome") == "failure")).collect()
    assert len(inspector.picker.options) == runs.height < total
    inspector.outcome.value = None
    inspector.only_impact.value = True
    impacted = {v for _, v in inspector.picker.options}
    assert impacted and impacted <= inspector.impacted
    inspector.only_impact.value = False
    inspector.only_violations.value = True
    assert {v for _, v in inspector.picker.options} <= set(result.violations["run_id"])
    # one run, the whole story
    run_id = result.violations.filter(pl.col("rule") == "unapproved_action")["run_id"][0]
    page = inspector.render(run_id)
    for part in ("What it saw", "Sources it used", "What it called", "What it cost", "Policy rules it broke",
                 "unapproved_action", "Labels"):
        assert part in page, part
    steps = sample_ts.steps.filter(pl.col("run_id") == run_id).collect()
    for tool in steps.filter(pl.col("kind").is_in(["tool", "action"]))["tool_name"]:
        assert tool in page
    inspector.run_id.value = run_id
    assert inspector.current == run_id
    assert "No run with id" in inspector.render("nope")


def test_run_inspector_escapes_trace_text(sample_ts):
    inspector = RunInspector(sample_ts)
    nasty = sample_ts.steps.filter(pl.col("output").str.contains("<script>", literal=True)).collect()["run_id"][0]
    page = inspector.render(nasty)
    assert "<script>" not in page and "onerror=alert(1)>" not in page and "&lt;script&gt;" in page


def test_inventory_explorer_reranks_live():
    explorer = InventoryExplorer(ROOT / "agentops_kit" / "data" / "inventory.csv")
    before = explorer.scored["workflow"].to_list()
    for name in ("impact", "clarity", "data", "safety"):
        explorer.sliders[name].value = 0.0
    explorer.sliders["volume"].value = 1.0
    after = explorer.scored
    assert after["workflow"].to_list() != before
    automate = after.filter(pl.col("tier") == "automate first")["hours_per_week"].to_list()
    assert automate == sorted(automate, reverse=True)
