"""Compute once, render many: every analytics result shows the same face (to_polars, to_dict, _repr_html_,
figure where it has a chart, write_html), built from one computation, with trace content escaped everywhere.
The written pages are opened in Chromium with the network cut off."""

from __future__ import annotations

import html
import json
from pathlib import Path

import plotly.graph_objects as go
import polars as pl
import pytest
from polars.testing import assert_frame_equal

import agentops_kit as ak
from agentops_kit.analytics.error_budget import ErrorBudgetResult
from agentops_kit.analytics.impact import ImpactList
from agentops_kit.analytics.metrics import MetricsResult
from agentops_kit.results import Result

from .conftest import SAMPLE, TEMPLATES

CHROMIUM = "/usr/bin/chromium"
# untrusted names, as a trace can carry them
AGENT = "Evil<script>alert('agent')</script>"
WORKFLOW = "<img src=x onerror=alert('workflow')>"
TOOL = "<a href='javascript:alert(1)'>wire_funds</a>"
DECISION = "<b onmouseover=alert(2)>refund</b>"
RAW = ("<script>alert", "<img src=x", "<a href='javascript", "<b onmouseover")
WITH_CHART = {"metrics", "policy", "shadow", "error_budget"}


@pytest.fixture(scope="module")
def hostile_ts(tmp_path_factory):
    records = []
    outcomes = ["success", "failure", "escalated", "success"]
    for i in range(12):
        run_id = f"r{i:02d}"
        shadow = i % 3 == 0
        day = f"2026-11-{2 + i:02d}T10:00:00Z"
        records.append({"record": "run", "run_id": run_id, "agent": AGENT, "workflow": WORKFLOW,
                        "mode": "shadow" if shadow else "active", "outcome": outcomes[i % 4]})
        attrs = {"agentops.recommendation": DECISION if i % 2 else "deny"} if shadow else {}
        records.append({"record": "step", "run_id": run_id, "step_id": "root", "kind": "agent", "name": AGENT,
                        "started_at": day, "ended_at": day.replace("10:00:00", "10:00:30"), "attributes": attrs})
        records.append({"record": "step", "run_id": run_id, "step_id": "t1", "parent_id": "root", "kind": "tool",
                        "tool_name": TOOL, "input": f"{{\"to\": \"{WORKFLOW}\"}}", "cost_usd": 0.01,
                        "started_at": day.replace("10:00:00", "10:00:05")})
        if i in (1, 2, 5):
            records.append({"record": "label", "run_id": run_id, "name": "customer_impact", "value": "true",
                            "source": WORKFLOW})
        if shadow:
            records.append({"record": "label", "run_id": run_id, "name": "human_decision", "value": DECISION})
    path = tmp_path_factory.mktemp("hostile") / "traces.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in records) + "\n")
    return ak.load_traces(path, mapping=TEMPLATES / "mapping.yaml")


@pytest.fixture(scope="module")
def results(hostile_ts):
    ts = hostile_ts
    policy = {"name": AGENT, "tools_allowlist": ["lookup"], "max_tool_calls": 0}
    readiness_config = {"checks": [{"area": "Quality", "metric": "completion_rate", "min": 0.9, "owner": WORKFLOW},
                                   {"area": "Escalation", "metric": "escalation_rate", "max": 0.1, "owner": "ops"}]}
    budgets = {"budgets": [{"agent": AGENT, "max_customer_impact_rate": 0.05, "window_days": 60}]}
    return {
        "metrics": MetricsResult.compute(ts, by=("agent", "week")),
        "policy": ak.check_policy(ts, policy),
        "readiness": ak.readiness(ts, readiness_config),
        "shadow": ak.shadow_report(ts),
        "error_budget": ErrorBudgetResult.compute(ts, budgets),
        "impact": ImpactList.compute(ts),
    }


def test_every_result_shows_the_same_face(results):
    for name, result in results.items():
        assert isinstance(result, Result), name
        frame = result.to_polars()
        assert isinstance(frame, pl.DataFrame) and frame.height > 0, name
        as_dict = result.to_dict()
        assert json.loads(json.dumps(as_dict)) == as_dict, name  # plain, JSON-ready values
        shown = result._repr_html_()
        assert not any(raw in shown for raw in RAW), name
        assert hasattr(result, "figure") == (name in WITH_CHART), name
        if name in WITH_CHART:
            fig = result.figure()
            assert isinstance(fig, go.Figure) and len(fig.data) > 0, name
            assert not any(raw in json.dumps(fig.to_plotly_json(), default=str) for raw in RAW), name
    assert html.escape(AGENT) in results["metrics"]._repr_html_()
    assert html.escape(TOOL) in results["policy"].html() and html.escape(AGENT) in results["policy"]._repr_html_()
    assert html.escape(DECISION) in results["shadow"]._repr_html_()
    assert html.escape(WORKFLOW) in results["impact"]._repr_html_()


def test_each_face_shows_the_one_computation(hostile_ts, results):
    metrics = results["metrics"]
    # money is summed by parallel threads, in an order that can differ from one run to the next: to 1e-12
    assert_frame_equal(metrics.to_polars(), ak.weekly_metrics(hostile_ts, by=("agent", "week")),
                       check_exact=False, rel_tol=1e-12, abs_tol=1e-15)
    assert [r["runs"] for r in metrics.to_dict()["rows"]] == metrics.to_polars()["runs"].to_list()
    assert sum(metrics.to_polars()["runs"]) == 12
    assert results["impact"].to_polars().equals(ak.customer_impact_errors(hostile_ts))
    assert results["impact"].to_polars()["run_id"].sort().to_list() == ["r01", "r02", "r05"]
    budget = results["error_budget"]
    assert budget.to_polars().drop("as_of", "window_start").equals(
        ak.error_budget(hostile_ts, {"budgets": [{"agent": AGENT, "max_customer_impact_rate": 0.05,
                                                  "window_days": 60}]}).drop("as_of", "window_start"))
    assert budget.breached.height == 1 and budget.to_dict()["rows"][0]["breached"] is True
    policy = results["policy"]
    assert policy.to_polars() is policy.violations
    assert set(policy.to_dict()) == {"runs_checked", "violations"} and policy.to_dict()["runs_checked"] == 12
    assert set(policy.violations["rule"]) == {"tool_not_allowed", "max_tool_calls"}
    ready = results["readiness"]
    assert ready.to_dict()["verdicts"] == [{"agent": AGENT, "verdict": "no-go", "open_items": 3}]  # 3: no rollback plan named
    shadow = results["shadow"].to_dict()
    assert shadow["compared"] == 4 and shadow["agreement_rate"] == 0.5
    assert {c for row in shadow["confusion"] for c in row} == {"recommendation", DECISION}
    # the trend has a line per group for each of its three panels; the confusion heatmap holds every pair
    assert len(metrics.figure().data) == 3
    assert sum(sum(row) for row in results["shadow"].figure().data[0].z) == 4


def test_write_html_pages_are_whole_offline_and_escaped(results, tmp_path):
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail("Debian's Chromium is needed at /usr/bin/chromium (apt-get install chromium)")
    pages = {name: result.write_html(tmp_path / f"{name}.html") for name, result in results.items()}
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(f"{n}.html" for n in results)  # no temporary left
    fetched, dialogs, errors = [], [], []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
            "--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run"])
        try:
            context = browser.new_context(offline=True)
            context.route("**/*", lambda route: (route.continue_() if route.request.url.startswith("file://")
                                                 else (fetched.append(route.request.url), route.abort())))
            page = context.new_page()
            page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            for name, path in pages.items():
                page.goto(path.as_uri())
                text = page.inner_text("body")
                assert results[name].title in text, name
                if name in WITH_CHART:
                    page.wait_for_selector(".plot-container .main-svg", timeout=30_000)
                    page.hover(".plot-container .main-svg")
                if name in ("metrics", "readiness", "error_budget"):
                    assert AGENT in text, name  # shown as the text it is
                if name == "shadow":
                    assert DECISION in text
        finally:
            browser.close()
    assert fetched == [] and dialogs == [] and errors == []


def test_write_html_replaces_a_page_whole_or_not_at_all(results, tmp_path):
    result = results["error_budget"]
    path = result.write_html(tmp_path / "budget.html")
    first = path.read_text()
    assert first.startswith("<!DOCTYPE html>") and "Plotly.newPlot" in first and first.count("<html") == 1

    class Broken(ErrorBudgetResult):
        def figure(self):
            raise RuntimeError("no figure today")

    with pytest.raises(RuntimeError):
        Broken(result.to_polars()).write_html(path)
    assert path.read_text() == first and [p.name for p in tmp_path.iterdir()] == ["budget.html"]


def test_results_on_the_sample(sample_ts):
    m = MetricsResult.compute(sample_ts, by="agent", baselines=TEMPLATES / "baselines.yaml")
    assert m.by == ("agent",) and m.to_polars().height == 3 and len(m.figure().data) == 3
    assert "616 runs in 3 groups" in m._repr_html_()
    shadow = ak.shadow_report(sample_ts)
    assert shadow.to_dict()["agreement_rate"] == shadow.agreement_rate and shadow.figure().data[0].type == "heatmap"
    policy = ak.check_policy(sample_ts, TEMPLATES / "policies")
    assert policy.to_polars().height == policy.violations.height > 0
    labels = ak.load_traces(SAMPLE / "traces.otlp.jsonl.gz", labels=SAMPLE / "labels.csv")
    assert ImpactList.compute(labels).to_polars().height == ak.customer_impact_errors(labels).height > 0
