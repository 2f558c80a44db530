"""Sessions: the runs of one conversation (``gen_ai.conversation.id``, OpenInference ``session.id``, Langfuse
``sessionId``) together, with their outcomes and cost.

A conversation's cost is unknown when any of its runs' cost is unknown (never a partial sum shown as the
total); the known part and the count of unknown runs are given beside it. Runs without a session id are
left out and counted by ``runs_without_session``.
"""

from __future__ import annotations

import polars as pl

from ..model import Outcome


def sessions(ts) -> pl.DataFrame:
    """One row per conversation: its agents, first and last run start, runs, runs per outcome, cost (null when
    any run's cost is unknown), the known part of the cost and the runs of unknown cost; latest first."""
    runs = ts.runs.filter(pl.col("session_id").is_not_null())
    unknown_cost = pl.col("cost_usd").is_null() & (pl.col("cost_source") == "unknown")
    return (
        runs.group_by("session_id")
        .agg(
            pl.col("agent").unique().sort().str.join(", ").alias("agents"),
            pl.col("started_at").min().alias("first_run"),
            pl.col("started_at").max().alias("last_run"),
            pl.len().cast(pl.Int64).alias("runs"),
            *[(pl.col("outcome") == o.value).sum().cast(pl.Int64).alias(o.value) for o in Outcome],
            pl.when(unknown_cost.any()).then(None).otherwise(pl.col("cost_usd").sum()).alias("cost_usd"),
            pl.col("cost_usd").sum().alias("cost_known_usd"),
            unknown_cost.sum().cast(pl.Int64).alias("cost_unknown_runs"),
        )
        .sort("last_run", "session_id", descending=[True, False], nulls_last=True)
        .collect()
    )


def runs_without_session(ts) -> int:
    return ts.runs.filter(pl.col("session_id").is_null()).select(pl.len()).collect().item()
