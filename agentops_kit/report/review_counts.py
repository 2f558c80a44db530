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
BUDGETS = "Error budgets"


def week_traceset(ts: TraceSet, week: str) -> TraceSet:
    """The production runs of ``week`` (what every number of the week counts)."""
    start, end = week_bounds(week)
    return ts.week(start, end).filter_runs(PRODUCTION)


def budget_rows(ts: TraceSet, budgets: pl.DataFrame) -> pl.LazyFrame:
    """The production runs each error budget counted (``error_budget``: its agent or workflow, in its window
    ``window_start`` < started_at <= ``as_of``), tagged with the budget's ``target``, with the ``_impact`` flag."""
    runs = _with_impact(ts, ts.runs.filter(PRODUCTION))
    parts = []
    for target, start, as_of in budgets.select("target", "window_start", "as_of").iter_rows():  # one per budget
        column, _, name = target.partition(" ")  # "agent X" / "workflow Y", as error_budget names its targets
        parts.append(runs.filter((pl.col(column) == name) & (pl.col("started_at") > start)
                                 & (pl.col("started_at") <= as_of)).with_columns(pl.lit(target).alias("target")))
    return pl.concat(parts) if parts else runs.clear().with_columns(pl.lit(None, pl.String).alias("target"))


def _with_impact(ts: TraceSet, runs: pl.LazyFrame) -> pl.LazyFrame:
    return (runs.join(impacted_runs(ts.labels).with_columns(pl.lit(True).alias("_impact")), on="run_id", how="left")
            .with_columns(pl.col("_impact").fill_null(False)))


def review_counted(ts: TraceSet, week: str, impact: pl.DataFrame, violations: pl.DataFrame | None,
                   budgets: pl.DataFrame | None = None) -> dict[str, Counted]:
    """name -> the source of one table of counts of the review of ``week``."""
    week_ts = week_traceset(ts, week)
    runs = _with_impact(ts, week_ts.runs)
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
    if budgets is not None:
        counted["budgets"] = Counted(BUDGETS, budget_rows(ts, budgets), ("target",),
                                     {n: RUNS_COUNTED[n] for n in ("runs", "customer_impact_errors")})
    return counted
