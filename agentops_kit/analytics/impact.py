"""Customer-impact errors as their own list: averages hide rare, high-impact failures."""

from __future__ import annotations

import polars as pl

from .common import TRUTHY
from .redteam import production


def customer_impact_errors(ts) -> pl.DataFrame:
    """Every run labelled customer_impact = true: run, agent, workflow, when, outcome, what it did (its tool
    and action calls in order), the error, and where the label came from."""
    labels = (ts.labels.filter(pl.col("name") == "customer_impact").group_by("run_id")
              .agg(pl.col("value").last(), pl.col("source").last().alias("label_source"))
              .filter(pl.col("value").str.to_lowercase().str.strip_chars().is_in(TRUTHY)).drop("value"))
    actions = (ts.steps.filter(pl.col("kind").is_in(["tool", "action"]))
               .sort("started_at", "step_id", nulls_last=True).group_by("run_id")
               .agg(pl.col("tool_name").str.join(" → ").alias("what_it_did")))
    return (ts.runs.filter(production()).join(labels, on="run_id", how="inner").join(actions, on="run_id", how="left")
            .select("run_id", "agent", "workflow", "mode", pl.col("started_at").alias("when"), "outcome",
                    "error_type", "what_it_did", "label_source", "cost_usd")
            .sort("when", descending=True).collect())
