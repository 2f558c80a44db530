"""Where each count the weekly review shows comes from, so that every one opens as the list of its runs: the
HTML report links it to an appendix entry, the notebook to the run inspector (``widgets.RunsBehindLinks``).

Each table of counts is paired with a ``Counted`` over the same rows, keys and predicates that made it."""

from __future__ import annotations

import polars as pl

from ..analytics.cost_breakdown import UNKNOWN_COST, incurring_steps
from ..analytics.definitions import PRODUCTION, RUNS_COUNTED, impacted_runs
from ..analytics.impact import counted_impact
from ..analytics.policy_check import counted_violations
from ..runs_behind import Counted
from ..traceset import TraceSet
from ..weeks import week_bounds

HEADLINE_COUNTS = ("runs", "successes", "escalations", "failures", "customer_impact_errors", "cost_unknown_runs")
HEADLINE = "Headline numbers"
IMPACT = "Customer-impact errors"
VIOLATIONS = "Policy violations"
COST = "Cost by agent, model and tool"
LATENCY = "How long runs take"


def week_traceset(ts: TraceSet, week: str) -> TraceSet:
    """The production runs of ``week`` (what every number of the week counts)."""
    start, end = week_bounds(week)
    return ts.filter_runs((pl.col("started_at") >= start) & (pl.col("started_at") < end) & PRODUCTION)


def review_counted(ts: TraceSet, week: str, impact: pl.DataFrame, violations: pl.DataFrame | None) -> dict[str, Counted]:
    """name -> the source of one table of counts of the review of ``week``."""
    week_ts = week_traceset(ts, week)
    runs = (week_ts.runs.join(impacted_runs(ts.labels).with_columns(pl.lit(True).alias("_impact")), on="run_id",
                              how="left").with_columns(pl.col("_impact").fill_null(False)))
    counted = {
        "headline": Counted(HEADLINE, runs, ("agent",), {n: RUNS_COUNTED[n] for n in HEADLINE_COUNTS}),
        "impact": counted_impact(impact, IMPACT),
        "cost": Counted(COST, incurring_steps(week_ts), ("agent", "kind", "item"),
                        {"steps": None, "unknown_cost_steps": UNKNOWN_COST}),
        "latency": Counted(LATENCY, runs, ("agent",), {"runs": None,
                                                       "unknown_duration_runs": pl.col("duration_s").is_null()}),
    }
    if violations is not None:
        counted["violations"] = counted_violations(violations, VIOLATIONS)
    return counted
