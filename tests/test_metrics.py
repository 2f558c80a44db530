"""weekly_metrics, checked by hand on small fixtures and against DuckDB SQL on the sample."""

from __future__ import annotations

import datetime as dt
import json

import duckdb
import polars as pl
import pytest

import agentops_kit as ak
from agentops_kit.analytics.baseline import Baselines
from agentops_kit.analytics.metrics import weekly_metrics
from agentops_kit.tableset import table_paths

from .conftest import TEMPLATES


def canonical_runs(tmp_path, runs, labels=(), approvals=()):
    """Write canonical JSONL: each run is (run_id, agent, workflow, mode, outcome, start, seconds, cost)."""
    lines = []
    for run_id, agent, workflow, mode, outcome, start, seconds, cost in runs:
        lines.append({"record": "run", "run_id": run_id, "agent": agent, "workflow": workflow, "mode": mode,
                      "outcome": outcome})
        end = start + dt.timedelta(seconds=seconds)
        lines.append({"record": "step", "run_id": run_id, "step_id": "root", "kind": "agent",
                      "started_at": start.isoformat(), "ended_at": end.isoformat()})
        lines.append({"record": "step", "run_id": run_id, "step_id": "llm", "parent_id": "root", "kind": "llm",
                      "model": "m", "input_tokens": 10, "output_tokens": 5, "cost_usd": cost,
                      "started_at": start.isoformat(), "ended_at": start.isoformat()})
    for run_id in approvals:
        lines.append({"record": "step", "run_id": run_id, "step_id": "ok", "parent_id": "root", "kind": "approval",
                      "approval_decision": "approved"})
    for run_id, name, value in labels:
        lines.append({"record": "label", "run_id": run_id, "name": name, "value": value})
    path = tmp_path / "runs.jsonl"
    path.write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    return ak.load_traces(path)


UTC = dt.timezone.utc
MON = dt.datetime(2026, 11, 9, 9, 0, tzinfo=UTC)  # Monday of 2026-W46


def test_by_hand_with_cost_rules_and_empty_weeks(tmp_path):
    ts = canonical_runs(tmp_path, [
        ("a", "Bot", "wf", "active", "success", MON, 10, 0.10),
        ("b", "Bot", "wf", "active", "failure", MON + dt.timedelta(hours=1), 20, 0.30),
        ("c", "Bot", "wf", "active", "escalated", MON + dt.timedelta(hours=2), 30, 0.20),
        ("d", "Bot", "wf", "active", "success", MON + dt.timedelta(days=1), 40, 0.40),
        ("e", "Bot", "wf", "shadow", "unknown", MON + dt.timedelta(days=2), 50, 0.0),
        # 2026-W47 has no run; 2026-W48: one failure, cost unknown
        ("f", "Bot", "wf", "active", "failure", MON + dt.timedelta(weeks=2), 60, None),
    ], labels=[("b", "customer_impact", "true"), ("c", "customer_impact", "no")], approvals=["a", "d"])
    base = Baselines.model_validate({"workflows": {"wf": {"human_minutes_per_run": 30, "review_minutes_per_approval": 3,
                                                          "minutes_per_escalation": 6}}})
    m = weekly_metrics(ts, by=("agent", "week"), baselines=base)
    assert m["week"].to_list() == ["2026-W46", "2026-W47", "2026-W48"]
    w46, w47, w48 = m.iter_rows(named=True)
    assert (w46["runs"], w46["successes"], w46["failures"], w46["escalations"], w46["unknown"]) == (5, 2, 1, 1, 1)
    assert w46["completion_rate"] == 2 / 5 and w46["escalation_rate"] == 1 / 5
    assert w46["cost_usd"] == pytest.approx(1.0)
    assert w46["cost_per_successful_run"] == pytest.approx(1.0 / 2)  # all cost, failed and escalated included
    assert w46["customer_impact_errors"] == 1 and w46["customer_impact_rate"] == 1 / 5
    assert w46["p50_duration_s"] == 30 and w46["p95_duration_s"] == pytest.approx(10 + 0.95 * 4 * 10)
    # active only: 2 successes × 30 min − 2 approvals × 3 min − 1 escalation × 6 min
    assert w46["time_saved_hours"] == pytest.approx((2 * 30 - 2 * 3 - 6) / 60)
    assert w47["runs"] == 0 and w47["completion_rate"] is None and w47["cost_per_successful_run"] is None
    assert w48["cost_unknown_runs"] == 1 and w48["successes"] == 0
    assert w48["cost_per_successful_run"] is None  # undefined: not 0, not infinite
    assert w48["runs_wow"] == 1 and w47["runs_wow"] == -5


def test_midnight_week_boundary_and_time_zones(tmp_path):
    sunday_late = dt.datetime(2026, 11, 15, 23, 50, tzinfo=UTC)  # Sunday of W46, runs past midnight into W47
    in_new_york = dt.datetime(2026, 11, 15, 20, 30, tzinfo=dt.timezone(dt.timedelta(hours=-5)))  # = Mon 01:30 UTC
    new_year = dt.datetime(2027, 1, 1, 12, 0, tzinfo=UTC)  # ISO week 2026-W53
    ts = canonical_runs(tmp_path, [
        ("x", "Bot", "wf", "active", "success", sunday_late, 1200, 0.1),
        ("y", "Bot", "wf", "active", "success", in_new_york, 10, 0.1),
        ("z", "Bot", "wf", "active", "success", new_year, 10, 0.1),
        ("w", "Bot", "wf", "active", "success", dt.datetime(2027, 1, 5, 9, 0, tzinfo=UTC), 10, 0.1),  # 2027-W01
    ])
    runs = ts.runs.collect()
    assert runs.filter(pl.col("run_id") == "x")["duration_s"][0] == 1200  # across midnight
    m = weekly_metrics(ts, by=("week",))
    counts = dict(m.select("week", "runs").iter_rows())
    assert counts["2026-W46"] == 1 and counts["2026-W47"] == 1  # a run belongs to the week it started in (UTC)
    assert counts["2026-W53"] == 1 and m.filter(pl.col("week") == "2026-W48")["runs"][0] == 0
    assert counts["2027-W01"] == 1 and list(m["week"])[-2:] == ["2026-W53", "2027-W01"]
    days = weekly_metrics(ts, by=("day",))
    assert dt.date(2026, 11, 16) in days["day"].to_list()  # the New York evening run is Monday in UTC


def test_all_costs_unknown(tmp_path):
    ts = canonical_runs(tmp_path, [("a", "B", "w", "active", "success", MON, 1, None),
                                   ("b", "B", "w", "active", "success", MON, 1, None)])
    row = weekly_metrics(ts, by=("agent",)).row(0, named=True)
    assert row["cost_unknown_runs"] == 2 and row["cost_per_successful_run"] is None
    assert row["cost_known_per_successful_run"] is None


def test_bad_dimension():
    with pytest.raises(ValueError, match="cannot group by"):
        weekly_metrics(None, by=("colour",))


def test_sample_against_duckdb(sample_ts, tmp_path):
    sample_ts.write_parquet(tmp_path)
    tables = table_paths(tmp_path)
    m = weekly_metrics(sample_ts, by=("agent", "week"), baselines=TEMPLATES / "baselines.yaml")
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    cur = con.execute(f"""
        WITH impact AS (SELECT run_id FROM '{tables['labels']}'
                        WHERE name = 'customer_impact' AND lower(value) IN ('true','1','yes','y','t')),
             appr AS (SELECT run_id, count(*) AS n FROM '{tables['steps']}' WHERE kind = 'approval' GROUP BY run_id),
             base(workflow, minutes, review, esc) AS (VALUES ('support_refunds', 9, 2, 3),
                  ('invoice_categorisation', 3, 1, 2), ('soc_alert_triage', 12, 4, 5)),
             r AS (SELECT runs.*, strftime(started_at, '%G-W%V') AS week, coalesce(appr.n, 0) AS approvals,
                          impact.run_id IS NOT NULL AS impacted, base.*
                   FROM '{tables['runs']}' runs LEFT JOIN impact USING (run_id)
                   LEFT JOIN appr USING (run_id) LEFT JOIN base USING (workflow))
        SELECT agent, week, count(*) AS runs,
               count(*) FILTER (outcome = 'success') AS successes,
               count(*) FILTER (outcome = 'escalated') AS escalations,
               count(*) FILTER (outcome = 'success') / count(*) AS completion_rate,
               coalesce(sum(cost_usd), 0) AS cost_usd,
               count(*) FILTER (cost_usd IS NULL) AS cost_unknown_runs,
               CASE WHEN count(*) FILTER (outcome = 'success') > 0 AND count(*) FILTER (cost_usd IS NULL) = 0
                    THEN sum(cost_usd) / count(*) FILTER (outcome = 'success') END AS cost_per_successful_run,
               count(*) FILTER (impacted) AS customer_impact_errors,
               quantile_cont(duration_s, 0.5) AS p50_duration_s, quantile_cont(duration_s, 0.95) AS p95_duration_s,
               avg(tool_calls) AS tool_calls_per_run,
               sum(CASE WHEN mode = 'active' THEN (CASE WHEN outcome = 'success' THEN minutes ELSE 0 END)
                        - approvals * review - (CASE WHEN outcome = 'escalated' THEN esc ELSE 0 END) ELSE 0 END) / 60
                   AS time_saved_hours
        FROM r GROUP BY agent, week ORDER BY agent, week""")
    expected = pl.DataFrame(cur.fetchall(), schema=[d[0] for d in cur.description], orient="row")
    ours = m.select(expected.columns).sort("agent", "week")
    assert ours.height == expected.height == 21
    for col in expected.columns:
        a, b = ours[col].to_list(), expected[col].to_list()
        assert [x is None for x in a] == [y is None for y in b], col
        pairs = [(x, y) for x, y in zip(a, b, strict=True) if x is not None]
        if isinstance(pairs[0][0], str):
            assert a == b, col
            continue
        assert [x for x, _ in pairs] == pytest.approx([float(y) for _, y in pairs], rel=1e-9, abs=1e-12), col


def test_by_workflow_mode_and_model(sample_ts):
    m = weekly_metrics(sample_ts, by=("workflow", "mode"))
    assert m.filter(pl.col("mode") == "shadow")["runs"].sum() == sample_ts.runs.filter(
        pl.col("mode") == "shadow").collect().height
    by_model = weekly_metrics(sample_ts, by="model")
    assert by_model["runs"].sum() == 616 and "mistral-large-2411" in by_model["model"].to_list()
    assert by_model.filter(pl.col("model") == "mistral-large-2411")["cost_per_successful_run"][0] is None


def test_time_saved_formula_is_shown(tmp_path):
    ts = canonical_runs(tmp_path, [("a", "B", "wf", "active", "success", MON, 1, 0.1),
                                   ("b", "B", "wf", "active", "escalated", MON, 1, 0.1)], approvals=["a"])
    base = {"workflows": {"wf": {"human_minutes_per_run": 30, "review_minutes_per_approval": 3, "minutes_per_escalation": 6}}}
    row = weekly_metrics(ts, by="agent", baselines=Baselines.model_validate(base)).row(0, named=True)
    assert row["time_saved_formula"] == "(1 successes × 30.0 min − 1 approvals × 3.0 min − 1 escalations × 6.0 min) / 60"
    assert row["time_saved_hours"] == pytest.approx((30 - 3 - 6) / 60)
    assert weekly_metrics(ts, by="agent").row(0, named=True)["time_saved_formula"] == "no human baseline for this workflow"


def test_an_inventory_of_hundreds_of_workflows_gives_the_baselines_of_the_few_that_ran(sample_ts):
    """A run's baseline is a choice among a few workflows and a join among many (an inventory as baselines):
    both give the same time saved, on polars and DuckDB."""
    from polars.testing import assert_frame_equal

    ran = sample_ts.runs.select("workflow").unique().collect()["workflow"].drop_nulls().sort().to_list()
    few = {w: {"human_minutes_per_run": 5 + i, "review_minutes_per_approval": 1.5} for i, w in enumerate(ran)}
    many = {**{f"candidate-{i}": {"human_minutes_per_run": 1} for i in range(300)}, **few}
    frames = {}
    for name, workflows in (("few", few), ("many", many)):
        baselines = Baselines(workflows=workflows)
        baselines._from_inventory = True  # an inventory lists candidates without runs
        frames[name] = weekly_metrics(sample_ts, baselines=baselines)
        frames[name + " duckdb"] = weekly_metrics(sample_ts, baselines=baselines, engine="duckdb")
    assert frames["few"]["time_saved_hours"].drop_nulls().len() > 0
    for frame in frames.values():
        assert_frame_equal(frame, frames["few"], check_exact=False, rel_tol=1e-9)
