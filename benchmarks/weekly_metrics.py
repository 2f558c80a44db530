"""weekly_metrics by agent × week on 2 million runs in canonical Parquet, against DuckDB doing the same
aggregation on the same files in the same run.

    python benchmarks/weekly_metrics.py [--runs 2000000] [--repeat 3]

Prints the best of --repeat timings of each engine and their ratio (target: polars ≤ 1.5 × DuckDB).
"""

from __future__ import annotations

import argparse
import datetime as dt
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl

from agentops_kit import TraceSet, weekly_metrics
from agentops_kit.model import conform, empty
from agentops_kit.tableset import table_paths, write_set

DUCKDB_SQL = """
WITH impact AS (SELECT run_id FROM '{labels}'
                WHERE name = 'customer_impact' AND lower(trim(value)) IN ('true','1','yes','y','t')),
     appr AS (SELECT run_id, count(*) AS n FROM '{steps}' WHERE kind = 'approval' GROUP BY run_id),
     r AS (SELECT runs.*, strftime(started_at, '%G-W%V') AS week, coalesce(appr.n, 0) AS approvals,
                  impact.run_id IS NOT NULL AS impacted
           FROM '{runs}' runs LEFT JOIN impact USING (run_id) LEFT JOIN appr USING (run_id))
SELECT agent, week, count(*) AS runs, count(*) FILTER (outcome = 'success') AS successes,
       count(*) FILTER (outcome = 'escalated') AS escalations, count(*) FILTER (outcome = 'failure') AS failures,
       count(*) FILTER (outcome = 'unknown') AS unknown, sum(cost_usd) AS cost_usd,
       count(*) FILTER (cost_usd IS NULL) AS cost_unknown_runs, count(*) FILTER (impacted) AS customer_impact_errors,
       quantile_cont(duration_s, 0.5) AS p50, quantile_cont(duration_s, 0.95) AS p95, avg(tool_calls) AS tools,
       sum(approvals) FILTER (mode = 'active') AS approvals
FROM r GROUP BY agent, week ORDER BY agent, week
"""


def build(directory: Path, n: int) -> None:
    rng = np.random.default_rng(7)
    start = dt.datetime(2026, 1, 5, tzinfo=dt.timezone.utc)
    offsets = rng.integers(0, 52 * 7 * 86400, n)
    durations = rng.gamma(2.0, 20.0, n)
    runs = pl.DataFrame({
        "run_id": [f"r{i:08d}" for i in range(n)],
        "agent": rng.choice(["SupportRefundAgent", "InvoiceCategorizer", "SocAlertTriage", "CrmHygiene"], n),
        "workflow": rng.choice(["support_refunds", "invoice_categorisation", "soc_alert_triage", "crm_hygiene"], n),
        "mode": rng.choice(["active", "shadow"], n, p=[0.9, 0.1]),
        "outcome": rng.choice(["success", "failure", "escalated", "unknown"], n, p=[0.7, 0.1, 0.15, 0.05]),
        "cost_usd": np.where(rng.random(n) < 0.01, np.nan, rng.gamma(2.0, 0.01, n)),
        "duration_s": durations, "tool_calls": rng.integers(0, 9, n),
    }).with_columns(
        (pl.lit(start) + pl.duration(seconds=pl.Series(offsets))).alias("started_at"),
        pl.col("cost_usd").fill_nan(None),
    ).with_columns((pl.col("started_at") + pl.duration(seconds=pl.col("duration_s"))).alias("ended_at"))
    impacted = runs.sample(fraction=0.01, seed=1).select("run_id", pl.lit("customer_impact").alias("name"),
                                                         pl.lit("true").alias("value"), pl.lit("bench").alias("source"))
    approvals = runs.sample(fraction=0.2, seed=2).select("run_id", pl.lit("a").alias("step_id"),
                                                         pl.lit("approval").alias("kind"))
    write_set({"runs": conform(runs, "runs"), "steps": conform(approvals, "steps"), "sources": empty("sources"),
               "labels": impacted, "rejected": empty("rejected")}, directory)


def best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=2_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    import duckdb

    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        build(d, args.runs)
        ts = TraceSet.read_parquet(d)
        ours = best(lambda: weekly_metrics(ts, by=("agent", "week")), args.repeat)
        con = duckdb.connect()
        con.execute("SET TimeZone = 'UTC'")
        sql = DUCKDB_SQL.format(**table_paths(d))
        theirs = best(lambda: con.execute(sql).fetchall(), args.repeat)
        rows = weekly_metrics(ts, by=("agent", "week")).height
        print(f"runs: {args.runs:,}  groups (agent x week): {rows}")
        print(f"agentops weekly_metrics: {ours:.3f} s (best of {args.repeat})")
        print(f"duckdb same aggregation: {theirs:.3f} s (best of {args.repeat})")
        print(f"ratio: {ours / theirs:.2f} x DuckDB (target <= 1.5 x)")


if __name__ == "__main__":
    main()
