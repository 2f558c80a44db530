"""How long runs take, per agent: the quantiles of a box plot, computed where the data is (never a list of
every duration), with the runs of unknown duration counted."""

from __future__ import annotations

import polars as pl


def latency_by_agent(ts) -> pl.DataFrame:
    """Per agent: ``runs``, ``unknown_duration_runs`` and duration quantiles in seconds (``min``, ``p05``, ``p25``,
    ``p50``, ``p75``, ``p95``, ``max``; linear interpolation)."""
    d = pl.col("duration_s")
    return (
        ts.runs.group_by("agent")
        .agg(pl.len().alias("runs"), d.null_count().alias("unknown_duration_runs"), d.min().alias("min"),
             *[d.quantile(q / 100, interpolation="linear").alias(f"p{q:02d}") for q in (5, 25, 50, 75, 95)],
             d.max().alias("max"))
        .sort("agent", nulls_last=True)
        .collect()
    )
