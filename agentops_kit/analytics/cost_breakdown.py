"""Cost by week × agent × model × tool, with the calls of unknown cost counted beside it, never left out.

Only the steps where cost is incurred count (LLM calls, tools, actions, retrievals — as in a run's cost), so the
known costs of a week add up to the known cost of its runs. An LLM call whose model has no price is *unknown*:
it adds nothing to ``cost_usd`` and one to ``unknown_cost_steps``.
"""

from __future__ import annotations

import polars as pl

from ..assemble import INCURRING
from ..weeks import week_number, week_text

UNKNOWN_COST = pl.col("cost_source") == "unknown"  # a step whose cost could not be known (no price for its model)


def incurring_steps(ts) -> pl.LazyFrame:
    """The steps a cost breakdown counts, one row each: run_id, week, agent, kind, item, cost_usd, cost_source
    (the rows behind its counts: ``runs_behind.Counted``)."""
    runs = ts.runs.select("run_id", "agent", week_number("started_at").alias("_week"))
    return (
        ts.steps.filter(pl.col("kind").is_in(INCURRING))
        .select("run_id", "kind", "cost_usd", "cost_source",
                pl.coalesce(pl.when(pl.col("kind") == "llm").then(pl.col("model")),
                            pl.when(pl.col("kind").is_in(["tool", "action"])).then(pl.col("tool_name")),
                            pl.col("name"), pl.lit("(unnamed)")).alias("item"))
        .join(runs, on="run_id", how="inner")
    )


def cost_breakdown(ts) -> pl.DataFrame:
    """One row per (week, agent, kind, item) — item is the model of an LLM call, the tool of a tool or action
    call, the step name otherwise — with ``steps``, ``cost_usd`` (known cost), ``unknown_cost_steps`` and
    ``no_cost_steps`` (steps that record no cost, such as unpriced tools)."""
    return (
        incurring_steps(ts)
        .group_by("_week", "agent", "kind", "item")
        .agg(pl.len().alias("steps"),
             pl.col("cost_usd").filter(pl.col("cost_source").is_in(["export", "pricing"])).sum().alias("cost_usd"),
             UNKNOWN_COST.sum().alias("unknown_cost_steps"),
             (pl.col("cost_source") == "none").sum().alias("no_cost_steps"))
        .sort("_week", "agent", "kind", "item", nulls_last=True)
        .with_columns(week_text(pl.col("_week")).alias("week"))
        .select("week", "agent", "kind", "item", "steps", "cost_usd", "unknown_cost_steps", "no_cost_steps")
        .collect()
    )
