"""Queue real-looking requests from a TraceSet's action calls (for the demo and the approvals notebook)."""

from __future__ import annotations

import datetime as dt
import json

import polars as pl


def seed_from_traces(queue, ts, count: int = 3, expires_in: dt.timedelta = dt.timedelta(days=7)) -> list:
    """Submit the last ``count`` action calls of the traces as pending requests (idempotent: same runs, same
    requests). The traces hold no before state, so the approver sees each parameter as set; the agent's claim is
    that the parameters are applied as they are. Sources come from the run's retrievals."""
    actions = (ts.steps.filter(pl.col("kind") == "action").join(ts.runs.select("run_id", "agent"), on="run_id")
               .sort("started_at", descending=True, nulls_last=True).head(count).collect())
    sources = ts.sources.collect()
    made = []
    for step in actions.iter_rows(named=True):
        try:
            params = json.loads(step["input"] or "{}")
        except json.JSONDecodeError:
            params = {"raw": step["input"]}
        params = params if isinstance(params, dict) else {"value": params}
        docs = sources.filter(pl.col("run_id") == step["run_id"]).select("document_id", "version").to_dicts()
        made.append(queue.submit(
            agent=step["agent"], run_id=step["run_id"], action=step["tool_name"], params=params,
            before=None, after=params, sources=docs,
            uncertainty="replayed from the sample traces for the demo", requested_by=f"svc-{step['agent']}",
            expires_in=expires_in, idempotency_key=f"demo:{step['run_id']}:{step['step_id']}"))
    return made
