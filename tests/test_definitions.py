"""One definition of each metric: weekly metrics, readiness, error budgets, shadow mode and the inventory's
measured facts give the same number for the same runs; readiness's completion rate is that of the active runs."""

from __future__ import annotations

import polars as pl
import pytest

import agentops_kit as ak
from agentops_kit.analytics.baseline import load_baselines
from agentops_kit.analytics.definitions import ACTIVE, measure
from agentops_kit.inventory_reality import compare_with_traces

from .conftest import ROOT, TEMPLATES

EVERY_CHECK = ["completion_rate", "escalation_rate", "cost_vs_human", "shadow_agreement"]


def readiness_values(ts, baselines):
    """Readiness over a window holding every run of the sample."""
    config = {"window_weeks": 520, "checks": [{"area": "Quality", "metric": m, "min": 0, "owner": "me"}
                                              for m in EVERY_CHECK]}
    lines = ak.readiness(ts, config, baselines=baselines).lines
    return {(r["agent"], r["check"]): r["measured"] for r in lines.iter_rows(named=True)}


def test_readiness_measures_with_the_weekly_metrics_definitions(sample_ts):
    baselines = load_baselines(TEMPLATES / "baselines.yaml")
    ready = readiness_values(sample_ts, baselines)
    by_agent = {r["agent"]: r for r in ak.weekly_metrics(sample_ts, by="agent").iter_rows(named=True)}
    by_mode = {(r["agent"], r["mode"]): r for r in ak.weekly_metrics(sample_ts, by=("agent", "mode")).iter_rows(named=True)}
    runs = sample_ts.runs.collect()
    differ = 0
    for agent, row in by_agent.items():
        # completion: the same definition over the active runs only
        assert ready[(agent, "completion_rate")] == by_mode[(agent, "active")]["completion_rate"]
        differ += ready[(agent, "completion_rate")] != row["completion_rate"]
        assert ready[(agent, "escalation_rate")] == row["escalation_rate"]
        workflow = runs.filter(pl.col("agent") == agent)["workflow"].mode()[0]
        base = baselines.workflows[workflow]
        human = base.human_minutes_per_run / 60 * base.hourly_cost_usd
        if row["cost_per_successful_run"] is None:
            assert ready[(agent, "cost_vs_human")] is None
        else:
            assert ready[(agent, "cost_vs_human")] == pytest.approx(row["cost_per_successful_run"] / human, rel=1e-12)
    assert differ > 0  # the sample has shadow runs: over every run the completion rate is another number
    shadow = ak.shadow_report(sample_ts).by_agent()
    assert shadow.height > 0
    for r in shadow.iter_rows(named=True):
        assert ready[(r["agent"], "shadow_agreement")] == r["agreement_rate"]


def test_error_budget_rate_is_the_customer_impact_rate(sample_ts):
    agents = sample_ts.runs.select("agent").unique().collect()["agent"].to_list()
    last = sample_ts.runs.select(pl.col("started_at").max()).collect().item()
    budgets = ak.error_budget(sample_ts, {"budgets": [{"agent": a, "max_customer_impact_rate": 0.5, "window_days": 366}
                                                      for a in agents]}, as_of=last)
    metrics = {r["agent"]: r for r in ak.weekly_metrics(sample_ts, by="agent").iter_rows(named=True)}
    for r in budgets.iter_rows(named=True):
        m = metrics[r["target"].removeprefix("agent ")]
        assert (r["runs"], r["customer_impact_errors"], r["error_rate"]) == (
            m["runs"], m["customer_impact_errors"], m["customer_impact_rate"])


def test_inventory_measures_active_runs_with_the_same_definitions(sample_ts):
    scored = ak.score_inventory(ROOT / "agentops_kit" / "data" / "inventory.csv")
    measured = compare_with_traces(scored, sample_ts.runs).filter(pl.col("measured_runs").is_not_null())
    assert measured.height > 0
    metrics = {r["workflow"]: r for r in ak.weekly_metrics(sample_ts, by=("workflow", "mode")).iter_rows(named=True)
               if r["mode"] == "active"}
    for r in measured.iter_rows(named=True):
        m = metrics[r["workflow"]]
        assert r["measured_runs"] == m["runs"]
        assert r["completion_rate"] == round(m["completion_rate"], 4)
        assert r["escalation_rate"] == round(m["escalation_rate"], 4)


def test_a_rate_over_no_runs_is_undefined(sample_ts):
    none = sample_ts.runs.filter(pl.lit(False))
    got = measure(none, "runs", "completion_rate", "escalation_rate", "cost_per_successful_run")
    assert got == {"runs": 0, "completion_rate": None, "escalation_rate": None, "cost_per_successful_run": None}
    active = measure(sample_ts.runs.filter(ACTIVE), "runs", "successes", "completion_rate")
    assert active["completion_rate"] == active["successes"] / active["runs"]
