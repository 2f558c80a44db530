"""Shared column expressions of the analytics."""

from __future__ import annotations

import narwhals as nw
import polars as pl

from ..labels import true_runs


def truthy_label(labels: pl.LazyFrame, name: str) -> pl.LazyFrame:
    """run_id of runs whose label ``name`` is true, by the one true/false rule of ``labels.py``."""
    return true_runs(labels, name).select("run_id")


def primary_model(steps: pl.LazyFrame) -> pl.LazyFrame:
    """(run_id, model): the model of most of a run's LLM calls (ties: alphabetical)."""
    return engine_primary_model(nw.from_native(steps)).to_native()


def engine_primary_model(steps: nw.LazyFrame) -> nw.LazyFrame:
    """``primary_model`` on any engine (narwhals; no order-dependent aggregation)."""
    calls = (steps.filter((nw.col("kind") == "llm") & ~nw.col("model").is_null())
             .group_by("run_id", "model").agg(nw.len().alias("_n")))
    top = calls.group_by("run_id").agg(nw.col("_n").max().alias("_top"))
    return (calls.join(top, on="run_id").filter(nw.col("_n") == nw.col("_top"))
            .group_by("run_id").agg(nw.col("model").min()))
