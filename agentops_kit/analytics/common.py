"""Shared column expressions of the analytics."""

from __future__ import annotations

import polars as pl

from ..labels import true_runs


def truthy_label(labels: pl.LazyFrame, name: str) -> pl.LazyFrame:
    """run_id of runs whose label ``name`` is true, by the one true/false rule of ``labels.py``."""
    return true_runs(labels, name).select("run_id")


def primary_model(steps: pl.LazyFrame) -> pl.LazyFrame:
    """(run_id, model): the model of most of a run's LLM calls (ties: alphabetical)."""
    return (steps.filter((pl.col("kind") == "llm") & pl.col("model").is_not_null())
            .group_by("run_id", "model").agg(pl.len().alias("_n"))
            .sort(["run_id", "_n", "model"], descending=[False, True, False])
            .group_by("run_id", maintain_order=True).agg(pl.col("model").first()))
