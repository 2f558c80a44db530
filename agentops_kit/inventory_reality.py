"""Inventory estimates against what the agents actually did (once a workflow has an agent running)."""

from __future__ import annotations

import polars as pl

from .analytics.definitions import ACTIVE, counts, rates
from .weeks import iso_week


def compare_with_traces(scored: pl.DataFrame, runs: pl.DataFrame | pl.LazyFrame) -> pl.DataFrame:
    """Join the scored inventory with measured facts per workflow, from active runs.

    measured_runs_per_week = active runs / ISO weeks with runs; completion_rate and escalation_rate are
    those of ``analytics/definitions.py`` over the active runs; measured_hours_saved_per_week = successful
    active runs per week × human_minutes_per_run / 60 (the inventory's own baseline; review time is not
    subtracted here).
    """
    measured = (
        runs.lazy().filter(ACTIVE)
        .group_by("workflow")
        .agg(*counts("runs", "successes", "escalations"), iso_week().n_unique().alias("weeks_observed"))
        .collect()
    )
    return (
        scored.select("workflow", "tier", "score", "runs_per_week", "human_minutes_per_run", "hours_per_week")
        .join(measured, on="workflow", how="left")
        .with_columns((pl.col("runs") / pl.col("weeks_observed")).round(1).alias("measured_runs_per_week"),
                      *rates("completion_rate", "escalation_rate"))
        .with_columns(
            pl.col("completion_rate", "escalation_rate").round(4),
            (pl.col("successes") / pl.col("weeks_observed") * pl.col("human_minutes_per_run") / 60)
            .round(2).alias("measured_hours_saved_per_week"),
        )
        .with_columns(
            (pl.col("measured_hours_saved_per_week") / pl.col("hours_per_week")).round(4).alias("share_of_estimate_realised"),
        )
        .rename({"runs": "measured_runs"})
        .drop("successes", "escalations")
    )
