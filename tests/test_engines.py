"""One definition, three engines: the analytics give the same numbers on polars, DuckDB and Spark (local mode).

Counts equal, money to 1e-9, quantiles to 1e-9 relative, the same violations and readiness verdicts, on the
sample and on a generated set of several weeks read from a table set (DuckDB and Spark scan its files).
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

import agentops_kit as ak
from agentops_kit.analytics.engine import get_engine
from agentops_kit.errors import UsageError
from agentops_kit.model import conform, empty

from .conftest import SAMPLE, TEMPLATES

AS_OF = dt.datetime(2026, 12, 1, tzinfo=dt.timezone.utc)


@pytest.fixture(scope="module")
def engines(spark):
    import duckdb

    return {"duckdb": get_engine(duckdb.connect()), "spark": get_engine(spark)}


def same(expected: pl.DataFrame, got: pl.DataFrame, key: list[str] | None = None) -> None:
    """Equal columns and types; integers exactly, floats to 1e-9 relative (and 1e-9 absolute: money near 0)."""
    if key:
        expected, got = expected.sort(key, nulls_last=True), got.sort(key, nulls_last=True)
    assert_frame_equal(expected, got, check_exact=False, rel_tol=1e-9, abs_tol=1e-9)


def multi_week(directory) -> ak.TraceSet:
    """A generated set of 9 weeks across a year end (2026-W50 .. 2027-W05): runs, tool and approval steps,
    customer-impact labels; written as a table set and read back (DuckDB and Spark scan its files)."""
    n = 3000
    rng = np.random.default_rng(11)
    start = dt.datetime(2026, 12, 7, tzinfo=dt.timezone.utc)
    runs = pl.DataFrame({
        "run_id": [f"g{i:05d}" for i in range(n)],
        "agent": rng.choice(["SupportRefundAgent", "InvoiceCategorizer", "SocAlertTriage"], n),
        "mode": rng.choice(["active", "shadow", "red_team"], n, p=[0.85, 0.1, 0.05]),
        "outcome": rng.choice(["success", "failure", "escalated", "unknown"], n, p=[0.7, 0.1, 0.15, 0.05]),
        "cost_usd": np.where(rng.random(n) < 0.02, np.nan, rng.gamma(2.0, 0.01, n)),
        "duration_s": rng.gamma(2.0, 20.0, n), "tool_calls": rng.integers(0, 9, n),
        "started_at": [start + dt.timedelta(seconds=int(s)) for s in rng.integers(0, 9 * 7 * 86400, n)],
    }).with_columns(pl.col("cost_usd").fill_nan(None),
                    pl.col("agent").replace({"SupportRefundAgent": "support_refunds",
                                             "InvoiceCategorizer": "invoice_categorisation",
                                             "SocAlertTriage": "soc_alert_triage"}).alias("workflow"))
    calls = runs.sample(n=4 * n, with_replacement=True, seed=3).with_row_index("i").select(
        "run_id", pl.format("s{}", "i").alias("step_id"),
        pl.Series(rng.choice(["tool", "action", "approval", "llm"], 4 * n)).alias("kind"),
        pl.Series(rng.choice(["issue_refund", "lookup_order", "send_email", "categorize"], 4 * n)).alias("tool_name"),
        pl.Series(rng.choice(["gpt-4o", "claude-sonnet"], 4 * n)).alias("model"),
        pl.Series(rng.choice(["{}", '{"q": 1}'], 4 * n)).alias("input"),
        (pl.col("started_at") + pl.duration(seconds=pl.Series(rng.integers(0, 60, 4 * n)))).alias("started_at"),
        pl.lit("approved").alias("approval_decision"))
    labels = runs.sample(fraction=0.03, seed=4).select(
        "run_id", pl.lit("customer_impact").alias("name"), pl.lit("true").alias("value"), pl.lit("review").alias("source"))
    ak.TraceSet(runs=conform(runs, "runs").lazy(), steps=conform(calls, "steps").lazy(),
                sources=empty("sources").lazy(), labels=conform(labels, "labels").lazy(),
                rejected=empty("rejected").lazy()).write_parquet(directory)
    return ak.TraceSet.read_parquet(directory)


POLICY = {"agent": {"name": "SupportRefundAgent", "max_runtime_seconds": 90, "max_tool_calls": 6, "max_cost_usd": 0.05,
                    "max_retries": 1, "tools_allowlist": ["lookup_order"], "actions_require_approval": ["issue_refund"],
                    "logging": {"retention_days": 30}}}
BUDGETS = {"budgets": [{"agent": "SupportRefundAgent", "max_customer_impact_rate": 0.02, "window_days": 28},
                       {"workflow": "soc_alert_triage", "max_customer_impact_rate": 0.05, "window_days": 14}]}


def test_sample_gives_the_same_numbers_on_every_engine(sample_ts, engines):
    baselines = TEMPLATES / "baselines.yaml"
    metrics = ak.weekly_metrics(sample_ts, by=("agent", "week"), baselines=baselines)
    policy = ak.check_policy(sample_ts, TEMPLATES / "policies", as_of=AS_OF)
    budgets = ak.error_budget(sample_ts, TEMPLATES / "error_budget.yaml")
    impact = ak.customer_impact_errors(sample_ts)
    ready = ak.readiness(sample_ts, TEMPLATES / "readiness.yaml", policies=TEMPLATES / "policies",
                         baselines=baselines, mapping=TEMPLATES / "mapping.yaml")
    assert policy.violations.height > 50 and impact.height > 0 and metrics["p95_duration_s"].null_count() == 0
    assert set(ready.lines["verdict"]) == {"go", "no-go", "unknown"}
    for name, engine in engines.items():
        same(metrics, ak.weekly_metrics(sample_ts, by=("agent", "week"), baselines=baselines, engine=engine))
        got = ak.check_policy(sample_ts, TEMPLATES / "policies", as_of=AS_OF, engine=engine)
        assert got.runs_checked == policy.runs_checked, name
        same(policy.violations, got.violations, key=["run_id", "rule", "step_id", "detail"])
        same(budgets, ak.error_budget(sample_ts, TEMPLATES / "error_budget.yaml", engine=engine))
        same(impact, ak.customer_impact_errors(sample_ts, engine=engine))
        got_ready = ak.readiness(sample_ts, TEMPLATES / "readiness.yaml", policies=TEMPLATES / "policies",
                                 baselines=baselines, mapping=TEMPLATES / "mapping.yaml", engine=engine)
        same(ready.lines, got_ready.lines)  # the shadow agreement lines included
        same(ready.verdicts(), got_ready.verdicts())


def test_generated_weeks_across_a_year_end_on_every_engine(tmp_path, engines):
    ts = multi_week(tmp_path / "tables")
    assert ts.files is not None  # DuckDB and Spark read the Parquet files, not polars' frames
    metrics = ak.weekly_metrics(ts, by=("agent", "week"))
    assert metrics["week"].unique().sort().to_list()[0] == "2026-W50" and "2027-W05" in metrics["week"].to_list()
    assert "2026-W53" in metrics["week"].to_list()  # 2026 has 53 ISO weeks
    by_model = ak.weekly_metrics(ts, by=("workflow", "mode", "model", "day"))
    policy = ak.check_policy(ts, POLICY, as_of=AS_OF)
    assert set(policy.violations["rule"]) >= {"max_runtime", "max_tool_calls", "max_cost", "cost_unknown",
                                              "max_retries", "tool_not_allowed"}
    budgets = ak.error_budget(ts, BUDGETS)
    for name, engine in engines.items():
        same(metrics, ak.weekly_metrics(ts, by=("agent", "week"), engine=engine))
        if name == "duckdb":  # every dimension: the model and day keys (Spark runs the same definitions above)
            same(by_model, ak.weekly_metrics(ts, by=("workflow", "mode", "model", "day"), engine=engine))
        same(policy.violations, ak.check_policy(ts, POLICY, as_of=AS_OF, engine=engine).violations,
             key=["run_id", "rule", "step_id", "detail"])
        same(budgets, ak.error_budget(ts, BUDGETS, engine=engine))


def test_engine_names_and_handles(spark):
    import duckdb

    assert get_engine(None).name == get_engine("polars").name == "polars"
    assert get_engine("duckdb").name == "duckdb" and get_engine(duckdb.connect()).name == "duckdb"
    assert get_engine(spark).name == "spark"
    with pytest.raises(UsageError, match="choose one of polars, duckdb, spark"):
        get_engine("postgres")
    with pytest.raises(UsageError, match="a DuckDB connection or a SparkSession"):
        get_engine(42)


def test_cli_engine_option_gives_the_same_table(tmp_path, sample_ts):
    import json

    from click.testing import CliRunner

    from agentops_kit.cli import main

    sample_ts.write_parquet(tmp_path / "tables")
    outputs = {}
    for engine in ("polars", "duckdb"):
        result = CliRunner().invoke(main, ["metrics", str(tmp_path / "tables"), "--by", "agent,week",
                                           "--format", "json", "--engine", engine])
        assert result.exit_code == 0, result.output
        outputs[engine] = pl.DataFrame(json.loads(result.output))
    same(outputs["polars"], outputs["duckdb"])
    checked = CliRunner().invoke(main, ["policy", "check", str(TEMPLATES / "policies"), "--traces",
                                        str(tmp_path / "tables"), "--engine", "duckdb"])
    assert checked.exit_code == 1 and "616 runs checked" in checked.output
    wrong = CliRunner().invoke(main, ["metrics", str(tmp_path / "tables"), "--engine", "oracle"])
    assert wrong.exit_code == 2 and "'oracle' is not one of 'polars', 'duckdb', 'spark'" in wrong.output


def test_a_store_is_scanned_by_each_engine_from_its_live_files(tmp_path, engines):
    from .conftest import SAMPLE

    ak.ingest([SAMPLE / "traces.otlp.jsonl.gz"], into=tmp_path / "store", mapping=TEMPLATES / "mapping.yaml",
              pricing=TEMPLATES / "pricing.yaml", labels=[SAMPLE / "labels.csv"])
    ts = ak.open_store(tmp_path / "store", weeks=["2026-W46", "2026-W47"])
    assert ts.files is not None and all(f.endswith(".parquet") for f in ts.files["runs"])
    metrics = ak.weekly_metrics(ts, by=("agent", "week"))
    policy = ak.check_policy(ts, TEMPLATES / "policies", as_of=AS_OF)
    assert set(metrics["week"]) == {"2026-W46", "2026-W47"}
    for name, engine in engines.items():
        same(metrics, ak.weekly_metrics(ts, by=("agent", "week"), engine=engine))
        if name == "duckdb":  # the policy check on the store's files; on Spark it is tested on the table set above
            same(policy.violations, ak.check_policy(ts, TEMPLATES / "policies", as_of=AS_OF, engine=engine).violations,
                 key=["run_id", "rule", "step_id", "detail"])


def test_the_weekly_review_on_duckdb_shows_the_same_numbers(sample_ts):
    from agentops_kit.report import WeeklyReview

    kw = dict(policies=TEMPLATES / "policies", error_budget_file=TEMPLATES / "error_budget.yaml",
              readiness_file=TEMPLATES / "readiness.yaml", baselines=TEMPLATES / "baselines.yaml",
              mapping=TEMPLATES / "mapping.yaml")
    polars_review = WeeklyReview.from_traceset(sample_ts, "2026-W47", **kw)
    duck_review = WeeklyReview.from_traceset(sample_ts, "2026-W47", engine="duckdb", **kw)
    for part in ("metrics", "headline", "budgets", "impact", "readiness", "readiness_changes"):
        same(getattr(polars_review, part), getattr(duck_review, part))
    same(polars_review.violations, duck_review.violations, key=["run_id", "rule", "step_id", "detail"])


def test_spark_that_cannot_start_says_where_to_look(tmp_path):
    """A JVM told to fetch a package it cannot have (here a coordinate no repository holds) exits at start:
    the line names the start-up options, not a missing Java."""
    env = {**os.environ, "PYSPARK_SUBMIT_ARGS": "--packages org.example.none:nothing:0.0.1 pyspark-shell",
           "PYSPARK_PYTHON": sys.executable}
    said = subprocess.run([str(Path(sys.executable).with_name("agentops-kit")), "metrics",
                           str(SAMPLE / "traces.otlp.jsonl.gz"), "--engine", "spark", "--spark-master", "local[1]"],
                          env=env, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    last = said.stderr.strip().splitlines()[-1]
    assert said.returncode == 2 and said.stdout == "" and "Traceback" not in said.stderr, said.stderr[-2000:]
    assert last.startswith("error: Spark could not start (") and "Java 17 must be installed" not in last
    assert last.endswith("its start-up options are in PYSPARK_SUBMIT_ARGS='--packages org.example.none:nothing:0.0.1 "
                         "pyspark-shell' (--packages downloads from Maven Central: is it reachable?); Spark's own "
                         "lines above say more")
