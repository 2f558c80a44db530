"""Shared column expressions of the analytics."""

from __future__ import annotations

import polars as pl

from ..labels import TRUTHY


def truthy_label(labels: pl.LazyFrame, name: str) -> pl.LazyFrame:
    """run_id of runs whose label ``name`` is true (last value wins when a run has several)."""
    return (labels.filter(pl.col("name") == name).group_by("run_id")
            .agg(pl.col("value").last().str.to_lowercase().str.strip_chars().is_in(TRUTHY).alias(name))
            .filter(pl.col(name)).select("run_id"))


def primary_model(steps: pl.LazyFrame) -> pl.LazyFrame:
    """(run_id, model): the model of most of a run's LLM calls (ties: alphabetical)."""
    return (steps.filter((pl.col("kind") == "llm") & pl.col("model").is_not_null())
            .group_by("run_id", "model").agg(pl.len().alias("_n"))
            .sort(["run_id", "_n", "model"], descending=[False, True, False])
            .group_by("run_id", maintain_order=True).agg(pl.col("model").first()))
